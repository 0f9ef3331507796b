# One cell's summary on demand (not part of the study's targets: the study's summary is computed
# for all cells at once by the aggregate rule): snakemake results/summarise/<cell>.csv


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
    log:
        res("logs/summarise/{cell}.log"),
    benchmark:
        res("benchmarks/summarise/{cell}.tsv")
    conda:
        ENV
    script:
        "../scripts/summarise.py"
