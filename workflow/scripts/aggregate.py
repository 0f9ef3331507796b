"""The summaries of every cell from their fits, stacked into the study's tables, with their
provenance and failures."""

from pathlib import Path

from shrinkstudy.study.aggregate import aggregate_job


def main(smk):
    aggregate_job(
        smk.log[0],
        smk.params.cells,
        smk.input.losses,
        smk.input.varcomp,
        smk.input.plans,
        smk.input.user,
        smk.params.level,
        smk.params.config,
        Path(smk.scriptdir).resolve().parents[1],  # the project that holds the workflow
        smk.input.study,
        smk.params.configfiles,
        smk.params.headline,
        smk.output.summary,
    )


if "snakemake" in globals():
    main(snakemake)
