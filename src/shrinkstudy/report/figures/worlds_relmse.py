"""Relative MSE by the distribution of the effects, in the worlds where the normal model is wrong."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from .catalog import figure
from .facets import _cell_rows, _drawn
from .style import DOUBLE, _placeholder, _styled, estimator_order
from .worlds_facets import NO_WORLDS, _facet_by_effects, _world_data

__all__ = ["worlds_relmse_data", "plot_worlds_relmse"]

#: Its catalog entry: the cells and estimators it draws, its measure and axis label.
FIGURE = figure("worlds_relmse")


def worlds_relmse_data(summary: pd.DataFrame, estimators=None) -> pd.DataFrame:
    """Relative MSE (MSE / MSE of the raw means) of the cells outside the normal world and of
    their matching normal-world cells (``all`` groups): the rows plotted by
    ``plot_worlds_relmse``. Every estimator but raw (the line at 1) and pooled unless asked for.

    Returns columns cell, J, design, n, sigma, tau, mu, effects, effects_param, errors, errors_df,
    sigma_ratio, estimator, rel_mse, rel_mse_mcse.
    """
    chosen = _drawn(FIGURE, _cell_rows(summary, FIGURE), estimators)
    return _world_data(summary, "rel_mse", "rel_mse_mcse", chosen)


@_styled
def plot_worlds_relmse(summary: pd.DataFrame, estimators=None, width: float = DOUBLE) -> Figure:
    """Relative MSE by the distribution of the effects (x), one marker per estimator with
    +-1.96 MCSE bars, log scale; columns J, rows errors and sigma ratio; the oracle (the Bayes
    rule under the true effects distribution, the floor) and the linear oracle as segments; the
    line at 1 is the raw means."""
    data = worlds_relmse_data(summary, estimators)
    if data.empty:
        return _placeholder(NO_WORLDS)
    return _facet_by_effects(
        data,
        "rel_mse",
        "rel_mse_mcse",
        estimators=estimator_order(data["estimator"].unique()),
        ylabel=FIGURE.ylabel,
        log_y=True,
        reference=1.0,
        ref_label="raw means (1)",
        width=width,
    )
