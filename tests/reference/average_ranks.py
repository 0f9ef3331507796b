"""Average ranks per row as ``ensemble.spearman`` computed them before it used
``scipy.stats.rankdata`` (frozen copy).

Kept verbatim to test that scipy's ranks are the same, bit for bit, ties and NaN included.
"""

import numpy as np


def average_ranks(x) -> np.ndarray:
    """Ranks 1..J_r along each row, ties given their average rank, NaN kept NaN (scipy's 'average')."""
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
