rule aggregate:
    input:
        summaries=expand(rules.summarise.output.summary, cell=CELLS),
        code=lib("tables", "provenance"),
    output:
        summary="results/tables/summary.csv",
        markdown="results/tables/summary.md",
        latex="results/tables/summary.tex",
        headline="results/tables/headline.md",
        headline_csv="results/tables/headline.csv",
        replication="results/tables/replication.md",
        replication_csv="results/tables/replication.csv",
        provenance="results/tables/provenance.json",
    params:
        config=STUDY.config,
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    conda:
        ENV
    script:
        "../scripts/aggregate.py"
