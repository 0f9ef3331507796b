"""Losses of the J estimates as an ensemble: their histogram and their ranks (docs/formulas.md section 5).

Per replication (row), over the groups present (finite true means); vectorised over R. A row
whose estimate is NaN for a present group (a failed fit) gives NaN.
"""

from __future__ import annotations

import numpy as np

__all__ = ["wasserstein1", "average_ranks", "spearman"]


def _aligned(est, true):
    est = np.atleast_2d(np.asarray(est, dtype=float))
    true = np.atleast_2d(np.asarray(true, dtype=float))
    present = np.isfinite(true)
    bad = np.any(present & ~np.isfinite(est), axis=1)
    return np.where(present, est, np.nan), np.where(present, true, np.nan), present, bad


def wasserstein1(est, true) -> np.ndarray:
    """W1 between the empirical distributions of the estimates and of the true means, per row.

    With equal weights 1/J on each, W1 = (1/J) sum_i |est_(i) - true_(i)| (order statistics):
    the optimal coupling of two equal-size samples on the line pairs them in sorted order
    (Villani 2003, Topics in Optimal Transportation, remark 2.19). O(J log J). Shape (R,).
    """
    e, t, present, bad = _aligned(est, true)
    d = np.abs(np.sort(e, axis=1) - np.sort(t, axis=1))  # NaNs sort last in both
    J = present.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(np.isfinite(d), d, 0.0).sum(axis=1) / J
    return np.where(bad | (J == 0), np.nan, out)


def average_ranks(x) -> np.ndarray:
    """Ranks 1..J_r along each row, ties given their average rank, NaN kept NaN (scipy's 'average').

    Bit for bit ``scipy.stats.rankdata(x, axis=1, nan_policy="omit")`` on finite values and NaN
    (tests/test_ebayes.py), written out because every fit job computes it and importing
    scipy.stats would add about a second to each of those jobs' start."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    R, J = x.shape
    order = np.argsort(x, axis=1, kind="stable")  # NaNs last
    xs = np.take_along_axis(x, order, axis=1)
    pos = np.broadcast_to(np.arange(J), (R, J))
    new = np.ones((R, J), dtype=bool)
    new[:, 1:] = xs[:, 1:] != xs[:, :-1]
    first = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    end = np.ones((R, J), dtype=bool)
    end[:, :-1] = new[:, 1:]
    last = np.flip(np.minimum.accumulate(np.flip(np.where(end, pos, J), axis=1), axis=1), axis=1)
    ranks_sorted = 0.5 * (first + last) + 1.0
    ranks = np.empty((R, J))
    np.put_along_axis(ranks, order, ranks_sorted, axis=1)
    return np.where(np.isfinite(x), ranks, np.nan)


def spearman(est, true) -> np.ndarray:
    """Spearman rank correlation of the estimates and the true means, per row, shape (R,).

    The Pearson correlation of their average ranks (ties averaged, as ``scipy.stats.spearmanr``).
    NaN when either has no spread (every estimate equal: pooled, or a boundary fit; or every
    true mean equal: tau = 0), or fewer than 2 groups.
    """
    e, t, present, bad = _aligned(est, true)
    re, rt = average_ranks(e), average_ranks(t)
    J = present.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        de = np.where(present, re - np.nanmean(re, axis=1, keepdims=True), 0.0)
        dt = np.where(present, rt - np.nanmean(rt, axis=1, keepdims=True), 0.0)
        out = (de * dt).sum(axis=1) / np.sqrt((de * de).sum(axis=1) * (dt * dt).sum(axis=1))
    return np.where(bad | (J < 2) | ~np.isfinite(out), np.nan, out)
