"""Spread ratio SD(estimates) / SD(true means) against n in the balanced cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .catalog import figure
from .facets import _cell_rows, _drawn, _facet_by_n, _sort_rows
from .style import DOUBLE, _placeholder, _styled, estimator_order

__all__ = ["spread_data", "plot_spread"]

#: Its catalog entry: the cells and estimators it draws, its measure.
FIGURE = figure("spread")


def spread_data(summary: pd.DataFrame, estimators=None) -> pd.DataFrame:
    """Spread ratio sd_j(estimates) / sd_j(true means) of the balanced cells, by n: the rows
    plotted by ``plot_spread``. pooled (spread 0) is left out unless asked for.

    Returns columns cell, J, n, sigma, tau, mu, estimator, spread, spread_mcse.
    """
    df = _cell_rows(summary, FIGURE)
    df = df[df["estimator"].isin(_drawn(FIGURE, df, estimators)) & np.isfinite(df["spread"])]
    cols = ["cell", "J", "n", "sigma", "tau", "mu", "estimator", "spread", "spread_mcse"]
    return _sort_rows(df[cols], ["J", "sigma", "tau", "mu", "n"])


@_styled
def plot_spread(summary: pd.DataFrame, estimators=None, width: float = DOUBLE) -> Figure:
    """Spread ratio sqrt(sum var_j(estimates) / sum var_j(true means)) against n (balanced cells):
    columns J, rows sigma, +-1.96 MCSE bars, a reference line at 1 (the true means' spread)."""
    data = spread_data(summary, estimators)
    if data.empty:
        return _placeholder("no balanced cells in this study")
    ests = estimator_order(data["estimator"].unique())
    return _facet_by_n(
        data,
        "spread",
        "spread_mcse",
        estimators=ests,
        ylabel=FIGURE.ylabel,
        log_y=True,
        reference=1.0,
        ref_label="right spread (1)",
        width=width,
    )
