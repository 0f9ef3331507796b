"""Coverage of the BLUP's and hierarchical Bayes's intervals (and the oracles') by the
distribution of the effects, in the worlds where the normal model is wrong."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from .catalog import figure
from .facets import _cell_rows, _drawn
from .style import DOUBLE, _placeholder, _styled, estimator_order
from .worlds_facets import NO_WORLDS, _facet_by_effects, _world_data

__all__ = ["worlds_coverage_data", "plot_worlds_coverage", "WORLDS_COVERAGE_ESTIMATORS"]

#: The intervals drawn by default (an oracle only where it has one: the Bayes rule under the
#: true effects distribution has intervals in the normal world only); the captions read it too.
from .catalog import WORLDS_COVERAGE_ESTIMATORS  # noqa: E402

#: Its catalog entry: the cells and estimators it draws, its measure.
FIGURE = figure("worlds_coverage")


def worlds_coverage_data(summary: pd.DataFrame, estimators=None) -> pd.DataFrame:
    """Coverage of the intervals of the cells outside the normal world and of their matching
    normal-world cells (``all`` groups), rows with a coverage only: the rows plotted by
    ``plot_worlds_coverage``. Default estimators: every one of a study that chose its estimators,
    ``WORLDS_COVERAGE_ESTIMATORS`` of the default list (``registry.figure_estimators``).

    Returns columns cell, J, design, n, sigma, tau, mu, effects, effects_param, errors, errors_df,
    sigma_ratio, estimator, coverage, coverage_mcse.
    """
    chosen = _drawn(FIGURE, _cell_rows(summary, FIGURE), estimators)
    return _world_data(summary, "coverage", "coverage_mcse", chosen)


@_styled
def plot_worlds_coverage(summary: pd.DataFrame, level: float | None = None, estimators=None,
                         width: float = DOUBLE) -> Figure:
    """Coverage by the distribution of the effects (x), one marker per interval with +-1.96 MCSE
    bars; columns J, rows errors and sigma ratio; the nominal ``level`` as the reference line
    (default: the table's ``level`` column, else 0.95)."""
    data = worlds_coverage_data(summary, estimators)
    if data.empty:
        return _placeholder(NO_WORLDS)
    if level is None:
        levels = summary["level"].dropna().unique() if "level" in summary else []
        level = float(levels[0]) if len(levels) == 1 else 0.95
    return _facet_by_effects(
        data,
        "coverage",
        "coverage_mcse",
        estimators=estimator_order(data["estimator"].unique()),
        ylabel=FIGURE.ylabel,
        log_y=False,
        reference=float(level),
        ref_label=f"nominal {float(level):g}",
        width=width,
    )
