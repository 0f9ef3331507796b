"""Figure: nested loop plot of relative MSE over every balanced cell."""

from shrinkstudy.figures import plot_nested_loop, read_summary, save_figure
from shrinkstudy.smkio import logged


def main(smk):
    fig = plot_nested_loop(read_summary(smk.input.summary))
    save_figure(fig, smk.output.png, smk.output.pdf)


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
