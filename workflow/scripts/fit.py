"""Fit every estimator on the datasets of one chunk; store per-replication losses and fits."""

from pathlib import Path

from shrinkstudy.study.fit import fit_job


def main(smk):
    fit_job(
        smk.log[0],
        smk.params.cell,
        smk.wildcards.cell,
        int(smk.wildcards.start),
        int(smk.wildcards.stop),
        smk.input.data,
        smk.input.truth,
        smk.params.settings,
        Path(smk.scriptdir).resolve().parents[1],  # the project: user estimators' files are relative to it
        smk.output.losses,
        smk.output.varcomp,
    )


if "snakemake" in globals():
    main(snakemake)
