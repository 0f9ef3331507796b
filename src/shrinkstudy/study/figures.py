"""The drawing jobs: the seed example's figures, the study's figures from the summary, and the
report's pages of the tables."""

from __future__ import annotations

import io
import json
from pathlib import Path

from ..report import figures
from ..report.figures.cache import CACHE_DIR, draw_summary_figure
from ..report.figures.catalog import SEED_FIGURES
from ..report.tables import read_summary
from ..store.smkio import job, read_checked

__all__ = ["seed_figure_job", "summary_figures_job", "report_tables_job"]


def _frame(raw: bytes):
    import pandas as pd

    return pd.read_csv(io.BytesIO(raw))


#: How each of the seed example's files is read.
READ = {"data": _frame, "estimates": _frame, "fit": json.loads}


@job
def seed_figure_job(rule: str, inputs, png_out, pdf_out) -> None:
    """The figure of the seed example that rule ``rule`` draws (``figures.catalog.SEED_FIGURES``),
    from the seed example's files ``inputs`` as written (checksums; else one line naming the file)."""
    (fig,) = [f for f in SEED_FIGURES if f.rule == rule]
    args = [READ[key](read_checked(inputs[key])) for key in fig.inputs]
    draw = getattr(figures, fig.draw.partition(":")[2])
    figures.save_figure(draw(*args), png_out, pdf_out)


@job
def summary_figures_job(summary_in, options: dict, outputs) -> None:
    """The study's figures (``options``: each figure's name and keywords) from the summary as
    aggregate wrote it (its checksum), to ``outputs[f"{name}_png"]`` and ``outputs[f"{name}_pdf"]``;
    a figure whose cache entry matches is not redrawn (``figures.cache``)."""
    summary = read_summary(summary_in)
    drawn = []
    for name, kwargs in options.items():
        paths = [outputs[f"{name}_png"], outputs[f"{name}_pdf"]]
        cache = Path(paths[0]).parent / CACHE_DIR
        if draw_summary_figure(name, summary, paths, kwargs, cache=cache):
            drawn.append(name)
    kept = [name for name in options if name not in drawn]
    print(f"drawn: {', '.join(drawn) or 'none'}; unchanged (from the cache): {', '.join(kept) or 'none'}")


@job
def report_tables_job(summary_in, headline_in, replication_in, summary_out, headline_out, replication_out) -> None:
    """The report's pages of the tables, each as aggregate wrote it (its checksum; else one line
    naming the file)."""
    summary = read_summary(summary_in)
    texts = {"headline": read_checked(headline_in).decode("utf-8"),
             "replication": read_checked(replication_in).decode("utf-8")}
    Path(summary_out).parent.mkdir(parents=True, exist_ok=True)
    Path(summary_out).write_text(figures.summary_html(summary))
    for name, title, out in (
        ("headline", "Headline results", headline_out),
        ("replication", "Monte Carlo error by cell", replication_out),
    ):
        Path(out).write_text(figures.text_html(texts[name], title))
