# The summaries of every cell (each measure with its Monte Carlo SE, from the cells' per-chunk
# fits) in one job, and the study's tables from them.


rule aggregate:
    input:
        losses=study_chunks(FIT_LOSSES),
        varcomp=study_chunks(FIT_VARCOMP),
        plans=plan_files(),
        code=code("aggregate.py"),
        user=STUDY.user_files,  # the files of the user's own estimators (hashed in provenance.json)
        study=STUDY_FILES,  # the study's files (hashed in provenance.json)
    output:
        # each table with its checksum record (tables/.checksums/<name>.sha256), checked by the
        # jobs that read it
        **sealed(
            summary=res("tables/summary.csv"),
            markdown=res("tables/summary.md"),
            latex=res("tables/summary.tex"),
            headline=res("tables/headline.md"),
            headline_csv=res("tables/headline.csv"),
            replication=res("tables/replication.md"),
            replication_csv=res("tables/replication.csv"),
            provenance=res("tables/provenance.json"),
            failures=res("tables/failures.csv"),
            failures_md=res("tables/failures.md"),
        ),
    params:
        # every cell (Cell.spec, its block), in the study's order
        cells=[{"spec": cell.spec(), "block": cell.block} for cell in STUDY.cells],
        level=float(config["level"]),
        config=STUDY.config,
        # the headline table: the seed example's design and sigma
        headline={"design": STUDY.seed_cell.design, "sigma": float(STUDY.seed_cell.sigma)},
        # the study's config files as given (the failures table's `shrinkstudy replicate` commands)
        configfiles=[str(f) for f in workflow.config_settings.configfiles],
    log:
        res("logs/aggregate.log"),
    benchmark:
        res("benchmarks/aggregate.tsv")
    conda:
        ENV
    script:
        "../scripts/aggregate.py"
