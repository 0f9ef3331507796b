"""Figure: spread ratio SD(estimates) / SD(true means) against n (balanced cells)."""

from shrinkstudy.figures import plot_spread, read_summary, save_figure
from shrinkstudy.smkio import logged


def main(smk):
    fig = plot_spread(read_summary(smk.input.summary))
    save_figure(fig, smk.output.png, smk.output.pdf)


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
