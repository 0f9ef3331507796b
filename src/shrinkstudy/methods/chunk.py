"""One chunk of a cell's datasets fitted as the study asks (``settings``, see
``config.fit_settings``): every study estimator in the long form (``estimators.fit_estimators``;
with the statsmodels engine, MixedLM's variance components and its diagnostics per replication)
or, for a known-SE cell, in the summary form (``knownse.fit_known_se``)."""

from __future__ import annotations

from pathlib import Path
import numpy as np

from ..design.cells import Cell
from ..design.simulate import chunk_observations
from .estimators import Fit, Truth, fit_estimators
from .hierbayes import HierPrior
from .plugins import TIME_LIMIT, Observations, estimator_entries

__all__ = ["fit_cell_chunk", "known_se_fit"]


def fit_cell_chunk(cell: Cell, reps, data: dict, stats, settings: dict, root: Path | str):
    """The fit of the datasets ``data`` (columns rep, group, y; sufficient statistics ``stats``)
    of replications ``reps`` of ``cell`` by the study's estimators (user estimators' files
    relative to ``root``), and MixedLM's per-replication diagnostics (a DataFrame with the
    statsmodels engine, else None)."""
    estimators = estimator_entries(settings["estimators"], root, settings.get("time_limit", TIME_LIMIT))
    truth = Truth.from_cell(cell)
    if cell.known_se:
        return known_se_fit(cell, stats, estimators, truth, settings), None
    return _long_fit(cell, reps, data, stats, estimators, truth, settings)


def known_se_fit(cell: Cell, stats, estimators, truth: Truth, settings: dict) -> Fit:
    """The fit of a known-SE cell's datasets (one estimate y_j per group, ``stats.ybar``): every
    study estimator with a summary form (``knownse.fit_known_se``; the others, bayesglm and a
    user's, have none and no rows), the study's method and level, its hier_bayes prior in the
    summary form (``knownse.meta_prior``). The engine is always the exact summary-form REML (or
    ML): MixedLM has no known-variance form."""
    from .knownse import fit_known_se, meta_prior

    return fit_known_se(
        stats.ybar,
        np.broadcast_to(np.asarray(cell.ses, dtype=float), stats.ybar.shape),
        estimators,
        truth=truth,
        method=settings["method"],
        level=settings["level"],
        prior=meta_prior(HierPrior(**settings["prior"]), cell.ses),
    )


def _long_fit(cell: Cell, reps, data: dict, stats, estimators, truth: Truth, settings: dict):
    """The long form's fit of a chunk (``fit_estimators``) and, with the statsmodels engine,
    MixedLM's per-replication diagnostics (else None)."""
    # the observations: for a user's estimator that takes them, and for the oracle under t errors
    # (under normal errors the group means are sufficient and it does without them)
    needs_data = any("data" in e.needs and (not e.builtin or not truth.mean_sufficient) for e in estimators)
    varcomp, extra = None, None
    if settings["engine"] == "statsmodels":
        import pandas as pd

        from .engines import statsmodels_varcomp

        varcomp, extra = statsmodels_varcomp(pd.DataFrame(data), reml=settings["method"] == "REML")
        if not np.array_equal(extra["rep"].to_numpy(), reps):
            raise ValueError(f"{cell.name}: statsmodels fits do not cover replications {reps[0]}-{reps[-1]}")
    fit = fit_estimators(
        stats,
        estimators,
        truth=truth,
        method=settings["method"],
        level=settings["level"],
        prior=HierPrior(**settings["prior"]),
        varcomp=varcomp,
        data=Observations(*chunk_observations(data, cell, reps)) if needs_data else None,
        time_limit=settings.get("time_limit", TIME_LIMIT),
    )
    return fit, extra
