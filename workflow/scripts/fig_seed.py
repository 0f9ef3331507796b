"""A figure of the seed example (the answer's figures 1 and 2), its entry of
``shrinkstudy.report.figures.catalog.SEED_FIGURES`` found by the rule's name: the seed example's files it
names as inputs (the data and estimates tables, the fit's JSON), in that order, are the arguments of
its drawing function."""

from shrinkstudy.study.figures import seed_figure_job


def main(smk):
    seed_figure_job(smk.log[0], smk.rule, smk.input, smk.output.png, smk.output.pdf)


if "snakemake" in globals():
    main(snakemake)
