"""Figure: one of the study's figures from the summary table (``params.figure`` names it).

``params.figure`` is the figure's name (``relmse_by_n``, ``coverage``, ...); the figure is drawn
by ``shrinkstudy.figures.plot_<name>``, given every other param as a keyword (the coverage
figure's ``level``).
"""

from shrinkstudy import figures
from shrinkstudy.smkio import logged


def main(smk):
    plot = getattr(figures, f"plot_{smk.params.figure}")
    options = {k: v for k, v in smk.params.items() if k != "figure"}
    fig = plot(figures.read_summary(smk.input.summary), **options)
    figures.save_figure(fig, smk.output.png, smk.output.pdf)


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
