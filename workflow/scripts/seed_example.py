"""The seed answer's illustration: one dataset of its design and every estimator on it."""

from shrinkstudy.study.seed_example import seed_example_job


def main(smk):
    seed_example_job(
        smk.log[0],
        smk.params.cell,
        smk.params.choice,
        smk.params.settings,
        smk.output.data,
        smk.output.estimates,
        smk.output.fit,
    )


if "snakemake" in globals():
    main(snakemake)
