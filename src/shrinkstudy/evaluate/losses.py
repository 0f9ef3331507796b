"""Per-replication losses: the stored unit from which every performance measure is computed.

A replication (one simulated dataset) is the unit of the study (docs/formulas.md section 5). The estimand
is the vector of J group means, so each replication is reduced, per estimator and per set of
groups, to a handful of numbers (its losses) averaged over those groups. Performance measures
and their Monte Carlo standard errors (``measures``) are means and standard deviations of these
numbers across replications. Because every measure is a function of the per-replication rows
only, chunks of replications stored separately merge exactly: concatenate the rows, sort by
``rep``, summarise.

Loss table (``replication_losses``), long format, one row per (rep, estimator, groups):

======== ===================================================================================
rep      replication index (int64)
estimator estimator name (str)
groups   ``"all"``, or a group-size class ``"n=2"``, ``"n=100"`` (unbalanced cells only)
...      the loss columns of the measures (``measures.LOSS_COLUMNS``), each computed by its
         measure's ``statistic`` (``measures.MEASURES``) over the class's groups; a measure of
         the "all" rows leaves them NaN on class rows
failed   bool, from ``Fit.failed``; a failed replication keeps its row, with NaN losses
message  why it failed (``Fit.messages``), "" where it did not
======== ===================================================================================

An estimator that does not apply to a replication (``james_stein`` on an unbalanced dataset:
all estimates NaN and not failed) has no row for it.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from ..methods import registry
from ..design.cells import Cell, group_classes
from .measures import LOSS_COLUMNS as MEASURE_LOSSES
from .measures import MEASURES, Replications

if TYPE_CHECKING:  # the engine is not imported where the losses are only summarised
    from ..methods.estimators import Fit

__all__ = [
    "LOSS_COLUMNS",
    "VARCOMP_COLUMNS",
    "loss_columns",
    "replication_losses",
    "varcomp_columns",
    "varcomp_table",
]

#: Columns of the table written by ``replication_losses``, in order.
LOSS_COLUMNS = ("rep", "estimator", "groups", *MEASURE_LOSSES, "failed", "message")
#: numpy dtypes of the loss columns (strings as objects, written by pyarrow as text).
LOSS_DTYPES = {
    "rep": np.int64,
    "estimator": object,
    "groups": object,
    **dict.fromkeys(MEASURE_LOSSES, np.float64),
    "failed": bool,
    "message": object,
}
#: Columns of the table written by ``varcomp_table``, in order.
VARCOMP_COLUMNS = ("rep", "mu", "tau2", "sigma2", "gamma", "crit", "boundary", "status")


def _columns(x: np.ndarray, idx) -> np.ndarray:
    """The columns ``idx`` of ``x``, laid out by rows (C-contiguous)."""
    return np.ascontiguousarray(x[:, idx])


def loss_columns(fit: Fit, means, reps, cell: Cell) -> dict:
    """Per-replication losses of every estimator in ``fit``, overall and per group-size class.

    Parameters
    ----------
    fit : Fit
        Output of ``fit_estimators`` on the R datasets of ``reps``.
    means : (R, J) array
        True group means m_j = mu + theta_j of each replication.
    reps : (R,) array of int
        Replication indices (row labels of ``means`` and ``fit``).
    cell : Cell
        The cell the replications belong to (its group sizes define the classes).

    Returns
    -------
    dict of numpy columns ``LOSS_COLUMNS`` (see the module docstring), rows ordered by
    estimator (in registry order), then groups (``"all"`` first), then replication.
    Computation is row-wise, so a replication's losses do not depend on which other
    replications are in the same call.
    """
    means = np.atleast_2d(np.asarray(means, dtype=float))
    reps = np.asarray(reps, dtype=np.int64).reshape(-1)
    R, J = means.shape
    if reps.shape[0] != R:
        raise ValueError(f"reps has {reps.shape[0]} entries, means has {R} rows")
    if J != cell.J:
        raise ValueError(f"means has {J} groups, cell {cell.name} has {cell.J}")
    classes = group_classes(cell)

    parts = []
    for name in registry.order(fit.estimates):
        est = np.asarray(fit.estimates[name], dtype=float)
        if est.shape != (R, J):
            raise ValueError(f"estimates of {name} have shape {est.shape}, expected {(R, J)}")
        failed = np.asarray(fit.failed.get(name, np.zeros(R, bool)), dtype=bool).reshape(R)
        messages = fit.messages.get(name)
        if messages is None:
            messages = np.where(failed, "failed", "").astype(object)
        applies = failed | np.any(np.isfinite(est), axis=1)
        if not applies.any():
            continue
        keep = np.flatnonzero(applies)
        est_k, means_k, failed_k = est[keep], means[keep], failed[keep]
        message_k = np.where(failed_k, np.asarray(messages, dtype=object)[keep], "").astype(object)
        d = np.where(failed_k[:, None], np.nan, est_k - means_k)
        interval = fit.intervals.get(name)
        lo, hi = (np.asarray(a, dtype=float)[keep] for a in interval) if interval is not None else (None, None)
        nk = keep.size
        for label, idx in classes.items():
            # contiguous rows: a row's mean is then summed in the same order whatever the number
            # of rows (a column selection is laid out by columns), so a replication's losses are
            # the same bits in a chunk of 1,000 and alone (shrinkstudy replicate)
            lo_c, hi_c = (None, None) if lo is None else (_columns(lo, idx), _columns(hi, idx))
            reps_k = Replications(_columns(d, idx), _columns(est_k, idx), _columns(means_k, idx), failed_k, lo_c, hi_c)
            part = {
                "rep": reps[keep],
                "estimator": np.full(nk, name, dtype=object),
                "groups": np.full(nk, label, dtype=object),
            }
            for m in MEASURES:
                if m.statistic is None:
                    continue
                if m.groups == "all" and label != "all":
                    values = (np.full(nk, np.nan),) * len(m.losses)
                else:
                    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows of failed fits
                        values = m.statistic(reps_k)
                    values = values if isinstance(values, tuple) else (values,)
                part.update(zip(m.losses, values))
            parts.append({**part, "failed": failed_k, "message": message_k})
    return {
        c: (np.concatenate([p[c] for p in parts]) if parts else np.zeros(0)).astype(t)
        for c, t in LOSS_DTYPES.items()
    }


def replication_losses(fit: Fit, means, reps, cell: Cell):
    """``loss_columns`` as a pandas DataFrame (columns ``LOSS_COLUMNS``)."""
    import pandas as pd

    return _loss_dtypes(pd.DataFrame(loss_columns(fit, means, reps, cell)))


def _loss_dtypes(df):
    df = df.loc[:, list(LOSS_COLUMNS)]
    return df.astype({c: "str" if t is object else t for c, t in LOSS_DTYPES.items()})


def varcomp_columns(fit: Fit, reps) -> dict:
    """The variance components of each replication, one row per rep.

    Returns
    -------
    dict of numpy columns rep (int64), mu, tau2, sigma2, gamma, crit (float64),
    boundary (bool: tau2 == 0) and status (int64: ``reml.OK``, ``ZERO_WITHIN``,
    ``CONSTANT`` or ``NOT_IDENTIFIED``).
    """
    vc = fit.varcomp
    reps = np.asarray(reps, dtype=np.int64).reshape(-1)
    R = reps.shape[0]
    cols = {"rep": reps}
    for k in ("mu", "tau2", "sigma2", "gamma", "crit"):
        v = np.asarray(getattr(vc, k), dtype=np.float64).reshape(-1)
        if v.shape[0] != R:
            raise ValueError(f"varcomp.{k} has {v.shape[0]} entries, reps has {R}")
        cols[k] = v
    cols["boundary"] = np.asarray(vc.boundary, dtype=bool).reshape(-1)
    cols["status"] = np.asarray(vc.status).astype(np.int64).reshape(-1)
    return {c: cols[c] for c in VARCOMP_COLUMNS}


def varcomp_table(fit: Fit, reps):
    """``varcomp_columns`` as a pandas DataFrame."""
    import pandas as pd

    return pd.DataFrame(varcomp_columns(fit, reps), columns=list(VARCOMP_COLUMNS))
