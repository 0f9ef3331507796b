FIT_LOSSES = res("fit/{cell}/reps{start}-{stop}.losses.parquet")
FIT_VARCOMP = res("fit/{cell}/reps{start}-{stop}.varcomp.parquet")


rule fit:
    input:
        data=rules.simulate.output.data,
        truth=rules.simulate.output.truth,
        code=code("fit.py"),
        user=STUDY.user_files,  # the files of the user's own estimators
        effects=effects_files,  # a user's own effects distribution (the oracle's prior)
    output:
        losses=FIT_LOSSES,
        varcomp=FIT_VARCOMP,
    params:
        cell=cell_spec,
        settings=fit_settings(STUDY.config),
    log:
        res("logs/fit/{cell}/reps{start}-{stop}.log"),
    benchmark:
        res("benchmarks/fit/{cell}/reps{start}-{stop}.tsv")
    conda:
        ENV
    script:
        "../scripts/fit.py"
