SIM_DATA = res("simulate/{cell}/reps{start}-{stop}.parquet")
SIM_TRUTH = res("simulate/{cell}/reps{start}-{stop}.truth.parquet")


rule simulate:
    input:
        code=code("simulate.py"),
        effects=effects_files,  # a user's own effects distribution
    output:
        data=maybe_temp(SIM_DATA),
        truth=SIM_TRUTH,
    params:
        cell=cell_spec,
        base_seed=config["base_seed"],
    log:
        res("logs/simulate/{cell}/reps{start}-{stop}.log"),
    benchmark:
        res("benchmarks/simulate/{cell}/reps{start}-{stop}.tsv")
    conda:
        ENV
    script:
        "../scripts/simulate.py"
