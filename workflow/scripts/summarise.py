"""One cell's performance measures with Monte Carlo SEs, and its failed replications with their
messages (on demand: the study's summary is written by aggregate.py for all cells)."""

from shrinkstudy.study.aggregate import summarise_job


def main(smk):
    summarise_job(
        smk.log[0],
        smk.params.cell,
        smk.params.block,
        smk.input.losses,
        smk.input.varcomp,
        smk.params.level,
        smk.output.summary,
        smk.output.failures,
    )


if "snakemake" in globals():
    main(snakemake)
