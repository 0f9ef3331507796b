"""The plan of one cell: the replications its Monte Carlo SE targets need, from its pilot."""

from shrinkstudy.study.plan import plan_job


def main(smk):
    plan_job(
        smk.log[0],
        smk.params.cell,
        smk.params.block,
        smk.wildcards.cell,
        smk.input.losses,
        smk.input.varcomp,
        smk.params.precision,
        smk.params.level,
        smk.output.plan,
    )


if "snakemake" in globals():
    main(snakemake)
