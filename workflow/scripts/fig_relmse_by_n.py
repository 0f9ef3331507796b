"""Figure: relative MSE against the group size n, by J and sigma (balanced cells)."""

from shrinkstudy.figures import plot_relmse_by_n, read_summary, save_figure
from shrinkstudy.smkio import logged


def main(smk):
    fig = plot_relmse_by_n(read_summary(smk.input.summary))
    save_figure(fig, smk.output.png, smk.output.pdf)


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
