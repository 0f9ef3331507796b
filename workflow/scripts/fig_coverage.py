"""Figure: coverage of the intervals against the nominal level (balanced cells)."""

from shrinkstudy.figures import plot_coverage, read_summary, save_figure
from shrinkstudy.smkio import logged


def main(smk):
    fig = plot_coverage(read_summary(smk.input.summary), level=smk.params.level)
    save_figure(fig, smk.output.png, smk.output.pdf)


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
