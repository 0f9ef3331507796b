"""The study's figures from the summary table, in one job: each redrawn only when the rows it
plots (or its options, or the code that draws it) changed, else copied from the figure cache
(``shrinkstudy.report.figures.cache``).

``params.figures`` maps each figure's name (``relmse_by_n``, ``coverage``, ...) to its keyword
options (the coverage figure's ``level``); the figure is drawn by
``shrinkstudy.report.figures.plot_<name>`` and written to the outputs ``<name>_png`` and ``<name>_pdf``.
"""

from pathlib import Path

from shrinkstudy.report.figures.cache import CACHE_DIR, draw_summary_figure
from shrinkstudy.store.smkio import logged
from shrinkstudy.report.tables import read_summary


def main(smk):
    # the summary as aggregate wrote it (its checksum), else one line naming the file
    summary = read_summary(smk.input.summary)
    drawn = []
    for name, options in smk.params.figures.items():
        paths = [smk.output[f"{name}_png"], smk.output[f"{name}_pdf"]]
        cache = Path(paths[0]).parent / CACHE_DIR
        if draw_summary_figure(name, summary, paths, options, cache=cache):
            drawn.append(name)
    kept = [name for name in smk.params.figures if name not in drawn]
    print(f"drawn: {', '.join(drawn) or 'none'}; unchanged (from the cache): {', '.join(kept) or 'none'}")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
