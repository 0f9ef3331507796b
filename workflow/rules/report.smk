# The study's protocol and the README's numbers, written from the tables, the config and the
# registries: results/protocol.md (and a page of the report), results/tables/findings.json.


rule findings:
    input:
        summary=rules.aggregate.output.summary,
        replication=rules.aggregate.output.replication_csv,
        seed_fit=rules.seed_example.output.fit if SEED_EXAMPLE else [],  # none without a seed example
        code=code("findings.py"),
    output:
        findings=res("tables/findings.json"),
    params:
        # the seed's cell: the seed example's design and sigma; the intervals' level
        seed={"design": STUDY.seed_cell.design, "sigma": float(STUDY.seed_cell.sigma)},
        level=float(config["level"]),
    log:
        res("logs/findings.log"),
    benchmark:
        res("benchmarks/findings.tsv")
    conda:
        ENV
    script:
        "../scripts/findings.py"


rule protocol:
    input:
        summary=rules.aggregate.output.summary,
        replication=rules.aggregate.output.replication_csv,
        provenance=rules.aggregate.output.provenance,
        seed_fit=rules.seed_example.output.fit if SEED_EXAMPLE else [],  # none without a seed example
        user_files=STUDY.user_files,
        code=code("protocol.py"),
    output:
        protocol=res("protocol.md"),
        page=report(
            res("report/protocol.html"),
            caption="../report/protocol.rst",
            category="0. Protocol",
        ),
    params:
        config=STUDY.config,
        config_file=CONFIG_FILE,
    log:
        res("logs/protocol.log"),
    benchmark:
        res("benchmarks/protocol.tsv")
    conda:
        ENV
    script:
        "../scripts/protocol.py"


REPORT_TARGETS = list(rules.findings.output) + list(rules.protocol.output)
