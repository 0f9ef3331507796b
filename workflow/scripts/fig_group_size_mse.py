"""Figure: MSE by group-size class in the unbalanced (seed) design."""

from shrinkstudy.figures import plot_group_size_mse, read_summary, save_figure
from shrinkstudy.smkio import logged


def main(smk):
    fig = plot_group_size_mse(read_summary(smk.input.summary))
    save_figure(fig, smk.output.png, smk.output.pdf)


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
