"""The study's figures from the summary table, in one job: each redrawn only when the rows it
plots (or its options, or the code that draws it) changed, else copied from the figure cache
(``shrinkstudy.report.figures.cache``).

``params.figures`` maps each figure's name (``relmse_by_n``, ``coverage``, ...) to its keyword
options (the coverage figure's ``level``); the figure is drawn by
``shrinkstudy.report.figures.plot_<name>`` and written to the outputs ``<name>_png`` and ``<name>_pdf``.
"""

from shrinkstudy.study.figures import summary_figures_job


def main(smk):
    summary_figures_job(smk.log[0], smk.input.summary, smk.params.figures, smk.output)


if "snakemake" in globals():
    main(snakemake)
