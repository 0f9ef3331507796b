rule aggregate:
    input:
        summaries=expand(rules.summarise.output.summary, cell=CELLS),
        failures=expand(rules.summarise.output.failures, cell=CELLS),
        plans=plan_files(),
        code=code("aggregate.py"),
    output:
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
    params:
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
