"""Histogram accuracy (Wasserstein-1 distance between the estimates and the true means) by the
distribution of the effects, in the worlds where the normal model is wrong."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from .catalog import figure
from .facets import _cell_rows, _drawn
from .style import DOUBLE, _placeholder, _styled, estimator_order
from .worlds_facets import NO_WORLDS, _facet_by_effects, _world_data

__all__ = ["worlds_w1_data", "plot_worlds_w1"]

#: Its catalog entry: the cells and estimators it draws, its measure.
FIGURE = figure("worlds_w1")


def worlds_w1_data(summary: pd.DataFrame, estimators=None) -> pd.DataFrame:
    """W1 between the J estimates and the J true means (mean over replications) of the cells
    outside the normal world and of their matching normal-world cells (``all`` groups): the
    rows plotted by ``plot_worlds_w1``. Every estimator unless asked for (raw and pooled too).

    Returns columns cell, J, design, n, sigma, tau, mu, effects, effects_param, errors, errors_df,
    sigma_ratio, estimator, w1, w1_mcse.
    """
    chosen = _drawn(FIGURE, _cell_rows(summary, FIGURE), estimators)
    return _world_data(summary, "w1", "w1_mcse", chosen)


@_styled
def plot_worlds_w1(summary: pd.DataFrame, estimators=None, width: float = DOUBLE) -> Figure:
    """W1 histogram accuracy by the distribution of the effects (x), one marker per estimator
    with +-1.96 MCSE bars; columns J, rows errors and sigma ratio; the oracles as segments."""
    data = worlds_w1_data(summary, estimators)
    if data.empty:
        return _placeholder(NO_WORLDS)
    return _facet_by_effects(
        data,
        "w1",
        "w1_mcse",
        estimators=estimator_order(data["estimator"].unique()),
        ylabel=FIGURE.ylabel,
        log_y=False,
        width=width,
    )
