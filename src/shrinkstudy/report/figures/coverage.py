"""Coverage of the intervals against n in the balanced cells, against the nominal level."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .catalog import figure
from .facets import _cell_rows, _drawn, _facet_by_n, _sort_rows
from .style import DOUBLE, _placeholder, _styled, estimator_order

__all__ = ["coverage_data", "plot_coverage"]

#: Its catalog entry: the cells and estimators it draws, its measure.
FIGURE = figure("coverage")


def coverage_data(summary: pd.DataFrame, estimators=None) -> pd.DataFrame:
    """Coverage of the intervals in the balanced cells, by n: the rows plotted by
    ``plot_coverage``. Returns columns cell, J, n, sigma, tau, mu, estimator, coverage,
    coverage_mcse."""
    df = _cell_rows(summary, FIGURE)
    df = df[df["estimator"].isin(_drawn(FIGURE, df, estimators)) & np.isfinite(df["coverage"])]
    cols = ["cell", "J", "n", "sigma", "tau", "mu", "estimator", "coverage", "coverage_mcse"]
    return _sort_rows(df[cols], ["J", "sigma", "tau", "mu", "n"])


@_styled
def plot_coverage(summary: pd.DataFrame, level: float | None = None, estimators=None,
                  width: float = DOUBLE) -> Figure:
    """Coverage of the intervals against n (balanced cells), +-1.96 MCSE bars, the nominal
    ``level`` as the reference line (default: the table's ``level`` column, else 0.95)."""
    data = coverage_data(summary, estimators)
    if data.empty:
        return _placeholder("no balanced cells in this study")
    if level is None:
        levels = summary["level"].dropna().unique() if "level" in summary else []
        level = float(levels[0]) if len(levels) == 1 else 0.95
    ests = estimator_order(data["estimator"].unique())
    return _facet_by_n(
        data,
        "coverage",
        "coverage_mcse",
        estimators=ests,
        ylabel=FIGURE.ylabel,
        log_y=False,
        reference=float(level),
        ref_label=f"nominal {float(level):g}",
        width=width,
    )
