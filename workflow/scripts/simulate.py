"""Simulate replications [start, stop) of one cell: datasets and true group means (Parquet)."""

from shrinkstudy.study.simulate import simulate_job


def main(smk):
    simulate_job(
        smk.log[0],
        smk.params.cell,
        smk.wildcards.cell,
        int(smk.wildcards.start),
        int(smk.wildcards.stop),
        smk.params.base_seed,
        smk.output.data,
        smk.output.truth,
    )


if "snakemake" in globals():
    main(snakemake)
