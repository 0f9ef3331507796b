"""Relative MSE (against raw) against the group size n in the balanced cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .catalog import figure
from .facets import _cell_rows, _drawn, _facet_by_n, _sort_rows
from .style import DOUBLE, _placeholder, _styled, estimator_order

__all__ = ["relmse_by_n_data", "plot_relmse_by_n"]

#: Its catalog entry: the cells and estimators it draws, its measure.
FIGURE = figure("relmse_by_n")


def relmse_by_n_data(summary: pd.DataFrame, estimators=None) -> pd.DataFrame:
    """Relative MSE (against raw) of the balanced cells, by group size n: the rows plotted by
    ``plot_relmse_by_n``.

    raw itself (1 by definition) is the reference line, not a row. Returns columns cell, J, n,
    sigma, tau, mu, estimator, rel_mse, rel_mse_mcse, ordered by estimator, J, sigma, tau, mu, n.
    """
    df = _cell_rows(summary, FIGURE)
    df = df[df["estimator"].isin(_drawn(FIGURE, df, estimators)) & np.isfinite(df["rel_mse"])]
    cols = ["cell", "J", "n", "sigma", "tau", "mu", "estimator", "rel_mse", "rel_mse_mcse"]
    return _sort_rows(df[cols], ["J", "sigma", "tau", "mu", "n"])


@_styled
def plot_relmse_by_n(summary: pd.DataFrame, estimators=None, width: float = DOUBLE) -> Figure:
    """Relative MSE against n (balanced cells): columns J, rows sigma, one line per estimator
    with +-1.96 MCSE bars, raw = 1 as the reference line, the oracle (dashed) as the floor.

    The y axis is logarithmic; pooled, whose relative MSE grows without bound in n, leaves the
    top of a panel rather than setting its scale.
    """
    data = relmse_by_n_data(summary, estimators)
    if data.empty:
        return _placeholder("no balanced cells in this study")
    ests = estimator_order(data["estimator"].unique())
    return _facet_by_n(
        data,
        "rel_mse",
        "rel_mse_mcse",
        estimators=ests,
        ylabel=FIGURE.ylabel,
        log_y=True,
        reference=1.0,
        ref_label="raw (= 1)",
        clip=("pooled",),
        width=width,
    )
