rule summarise:
    input:
        losses=cell_chunks(FIT_LOSSES),
        varcomp=cell_chunks(FIT_VARCOMP),
        code=code("summarise.py"),
    output:
        summary=res("summarise/{cell}.csv"),
        failures=res("summarise/{cell}.failures.csv"),
    params:
        cell=cell_spec,
        block=cell_block,
        level=float(config["level"]),
        chunks=[[a, b] for a, b in CHUNKS],  # the replications of each input file, in order
    log:
        res("logs/summarise/{cell}.log"),
    benchmark:
        res("benchmarks/summarise/{cell}.tsv")
    conda:
        ENV
    script:
        "../scripts/summarise.py"
