# Replications from target precision (config `precision`; unused with fixed `replications`):
# per cell, from the fits of its pilot chunks, the replications its Monte Carlo SE targets need,
# in whole chunks, at most the block's max (shrinkstudy.evaluate.precision). A checkpoint: the cell's
# summary asks it for the chunks to read, so only the missing chunks run.


checkpoint plan:
    input:
        losses=pilot_chunks(FIT_LOSSES),
        varcomp=pilot_chunks(FIT_VARCOMP),
        code=code("plan.py"),
    output:
        plan=res("plan/{cell}.json"),
    params:
        cell=cell_spec,
        block=cell_block,
        level=float(config["level"]),
        precision=precision_settings() if PRECISION is not None else None,
    log:
        res("logs/plan/{cell}.log"),
    benchmark:
        res("benchmarks/plan/{cell}.tsv")
    conda:
        ENV
    script:
        "../scripts/plan.py"
