"""Figure: share of boundary fits (tau^2 = 0) against n, with the F-distribution probability."""

from shrinkstudy.figures import plot_boundary, read_summary, save_figure
from shrinkstudy.smkio import logged


def main(smk):
    fig = plot_boundary(read_summary(smk.input.summary))
    save_figure(fig, smk.output.png, smk.output.pdf)


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
