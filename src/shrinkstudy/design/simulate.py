"""Generate datasets of the one-way random-effects model and reduce them to sufficient statistics.

Model (docs/formulas.md section 1): ``y_ij = mu + theta_j + e_ij``, ``theta_j ~ N(0, tau^2)``,
``e_ij ~ N(0, sigma^2)``. A dataset reduces to ``(n_j, ybar_j, SSW)``.

Beyond the normal world (docs/formulas.md section 7, ``worlds``): theta_j is drawn from the cell's
effects distribution (mean 0, SD tau) and e_ij from its errors distribution at the group's
own SD sigma_j (``Cell.group_sigmas``). Per replication, the J effects are drawn first (none when
tau = 0), then the N errors in the order of the observations; a normal world draws exactly
the random numbers it drew before non-normal worlds existed (same datasets, bit for bit).

A known-SE cell (``Cell.known_se``) is simulated as a design of one observation per group
with SD s_j: ``y_j = mu + theta_j + s_j e_j``, e_j from the errors distribution standardised to
SD 1; its dataset has one row per group and replication.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .cells import Cell, rep_generator

__all__ = [
    "SuffStats",
    "chunk_columns",
    "chunk_observations",
    "chunk_stats",
    "factorize_sorted",
    "simulate_reps",
    "suffstats_from_long",
    "truth_means",
]


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class SuffStats:
    """Sufficient statistics of R datasets with up to J groups each.

    Attributes
    ----------
    n : (R, J) float array of group sizes; 0 marks a group a dataset does not have.
    ybar : (R, J) float array of group means (0 where n == 0).
    ssw : (R,) float array, within-group sum of squares ``sum_j sum_i (y_ij - ybar_j)^2``.
    """

    n: np.ndarray
    ybar: np.ndarray
    ssw: np.ndarray

    def __post_init__(self):
        n = np.atleast_2d(np.asarray(self.n, dtype=float))
        ybar = np.atleast_2d(np.asarray(self.ybar, dtype=float))
        n, ybar = np.broadcast_arrays(n, ybar)
        ssw = np.asarray(self.ssw, dtype=float).reshape(-1)
        if ssw.shape[0] == 1 and n.shape[0] > 1:
            ssw = np.broadcast_to(ssw, (n.shape[0],))
        if ssw.shape[0] != n.shape[0]:
            raise ValueError(f"ssw has {ssw.shape[0]} datasets, ybar has {n.shape[0]}")
        object.__setattr__(self, "n", np.ascontiguousarray(n))
        object.__setattr__(self, "ybar", np.ascontiguousarray(np.where(n > 0, ybar, 0.0)))
        object.__setattr__(self, "ssw", np.ascontiguousarray(ssw))

    @property
    def R(self) -> int:
        return self.n.shape[0]

    def rows(self, idx) -> SuffStats:
        """The statistics of datasets ``idx`` (an index, a slice or a mask of rows)."""
        return SuffStats(self.n[idx], self.ybar[idx], self.ssw[idx])

    # computed once per instance (the statistics are fixed), read-only so a cached array stays true
    @functools.cached_property
    def N(self) -> np.ndarray:
        """Observations per dataset, shape (R,)."""
        return _frozen(self.n.sum(axis=1))

    @functools.cached_property
    def J(self) -> np.ndarray:
        """Groups present per dataset, shape (R,)."""
        return _frozen((self.n > 0).sum(axis=1))

    @functools.cached_property
    def present(self) -> np.ndarray:
        return _frozen(self.n > 0)

    def grand_mean(self) -> np.ndarray:
        """Mean of all observations (complete pooling), shape (R,)."""
        return (self.n * self.ybar).sum(axis=1) / self.N

    def sst(self) -> np.ndarray:
        """Total sum of squares about the grand mean, shape (R,)."""
        d = self.ybar - self.grand_mean()[:, None]
        return self.ssw + (self.n * d * d).sum(axis=1)


def simulate_reps(cell: Cell, reps, base_seed: int):
    """Simulate replications ``reps`` of ``cell``.

    Returns
    -------
    y : (len(reps), N) observations, groups in order of ``cell.sizes``.
    means : (len(reps), J) true group means ``mu + theta_j``.
    """
    reps = np.asarray(reps, dtype=np.int64)
    sizes = np.asarray(cell.sizes)
    group = np.repeat(np.arange(cell.J), sizes)
    y = np.empty((len(reps), cell.N))
    means = np.empty((len(reps), cell.J))
    effects, errors = cell.effects_dist(), cell.errors_dist()
    # one scalar SD (today's call) unless the groups have their own (an SD ratio, or a known-SE
    # cell's standard errors: one "observation" per group, y_j = mu + theta_j + s_j e_j)
    scale = cell.sigma if cell.sigma_ratio == 1 and not cell.known_se else cell.group_sigmas()[group]
    for i, rep in enumerate(reps):
        rng = rep_generator(base_seed, cell, int(rep))
        means[i] = cell.mu + effects.draw(rng, cell.J, cell.tau, cell.effects_param) if cell.tau > 0 else cell.mu
        y[i] = means[i, group] + errors.draw(rng, cell.N, scale, cell.errors_df)
    return y, means


def chunk_columns(cell: Cell, reps, base_seed: int) -> tuple[dict, dict]:
    """Long-format datasets and truth for replications ``reps`` of ``cell``, as columns (numpy
    arrays, no pandas needed): data rep (int64), group (int32), y (float64); truth rep, group,
    n (group size), mean (true group mean)."""
    reps = np.asarray(reps, dtype=np.int64)
    y, means = simulate_reps(cell, reps, base_seed)
    group = np.repeat(np.arange(cell.J, dtype=np.int32), cell.sizes)
    data = {"rep": np.repeat(reps, cell.N), "group": np.tile(group, len(reps)), "y": y.reshape(-1)}
    truth = {
        "rep": np.repeat(reps, cell.J),
        "group": np.tile(np.arange(cell.J, dtype=np.int32), len(reps)),
        "n": np.tile(np.asarray(cell.sizes, dtype=np.int64), len(reps)),
        "mean": means.reshape(-1),
    }
    return data, truth


def factorize_sorted(values) -> tuple[np.ndarray, np.ndarray]:
    """``pandas.factorize(values, sort=True)``: codes (int64) and the sorted distinct labels.
    Small non-negative integer codes (what ``shrinkstudy fit`` passes) by counting, and text of
    few distinct values (the loss tables' estimator and group columns) by a dictionary, without
    pandas' hash table or a sort of every value; anything else by pandas."""
    a = np.asarray(values)
    if a.dtype.kind in "iu" and a.size and a.min() >= 0 and a.max() < 1 << 26:
        counts = np.bincount(a)
        labels = np.flatnonzero(counts)
        rank = np.cumsum(counts > 0) - 1
        return rank[a], labels.astype(a.dtype)
    if a.dtype.kind in "OU" and a.ndim == 1:
        distinct = set(a.tolist())
        if all(isinstance(v, str) for v in distinct):
            names = sorted(distinct)
            index = {v: k for k, v in enumerate(names)}
            codes = np.fromiter(map(index.__getitem__, a.tolist()), dtype=np.int64, count=a.size)
            return codes, np.array(names, dtype=object)
    import pandas as pd

    codes, labels = pd.factorize(pd.Series(values), sort=True)
    return codes.astype(np.int64, copy=False), np.asarray(labels)


def suffstats_from_long(dataset, group, y) -> tuple[SuffStats, np.ndarray, list]:
    """Reduce long-format observations to sufficient statistics, vectorised over datasets.

    Group means and SSW are computed in two passes about each group's own mean, so a common
    offset (a mean of 1e8) costs no precision beyond what float64 data already lost.

    Parameters
    ----------
    dataset, group : array-like labels (any hashable values); y : float array.

    Returns
    -------
    stats : SuffStats with one row per dataset (in sorted label order), groups padded.
    datasets : the dataset labels, one per row of ``stats``.
    groups : list (per dataset) of the group labels in column order.
    """
    y = np.asarray(y, dtype=float)
    d_codes, d_labels = factorize_sorted(dataset)
    g_codes, g_labels = factorize_sorted(group)
    R, G = len(d_labels), len(g_labels)
    # the (dataset, group) pairs present, sorted, as keys d * G + g; a group's column is its rank
    # among its dataset's groups
    key = d_codes.astype(np.int64) * G + g_codes
    dense = R * G <= 1 << 25  # a flag per possible pair (at most 32 MB), else sort the keys
    if dense:
        seen = np.zeros(R * G, dtype=bool)
        seen[key] = True
        uniq = np.flatnonzero(seen)
    else:
        uniq = np.unique(key)
    ud, ug = uniq // G if G else uniq, uniq % G if G else uniq
    col = np.arange(uniq.size) - np.searchsorted(ud, np.arange(R))[ud]
    J = int(col.max()) + 1 if len(col) else 0
    if dense:
        column_of = np.zeros(R * G, dtype=np.int64)
        column_of[uniq] = col
        g_codes_all = column_of[key]
    else:
        g_codes_all = col[np.searchsorted(uniq, key)]
    groups_per_dataset = [g_labels[a].tolist() for a in np.split(ug, np.flatnonzero(np.diff(ud)) + 1)]
    flat = d_codes * J + g_codes_all
    n = np.bincount(flat, minlength=R * J).astype(float)
    # shift by the first observation of each dataset before summing (precision)
    first = np.full(R, np.nan)
    first[d_codes[::-1]] = y[::-1]  # assigned last to first: each dataset's first value stays
    ys = y - first[d_codes]
    s = np.bincount(flat, weights=ys, minlength=R * J)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_s = np.where(n > 0, s / np.where(n > 0, n, 1), 0.0)
    resid = ys - mean_s[flat]
    # second pass: correct the mean by the mean residual, then SSW about the corrected mean
    corr = np.bincount(flat, weights=resid, minlength=R * J)
    mean_s = mean_s + np.where(n > 0, corr / np.where(n > 0, n, 1), 0.0)
    resid = ys - mean_s[flat]
    ssw = np.bincount(d_codes, weights=resid * resid, minlength=R)
    ybar = (mean_s.reshape(R, J) + first[:, None]) * (n.reshape(R, J) > 0)
    return SuffStats(n.reshape(R, J), ybar, ssw), np.asarray(d_labels), groups_per_dataset


def suffstats_from_array(y: np.ndarray, sizes) -> SuffStats:
    """Sufficient statistics of datasets that share one design: ``y`` is (R, N), groups in order."""
    y = np.atleast_2d(np.asarray(y, dtype=float))
    sizes = np.asarray(sizes, dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    ybar = np.add.reduceat(y, bounds[:-1], axis=1) / sizes
    resid = y - np.repeat(ybar, sizes, axis=1)
    ybar = ybar + np.add.reduceat(resid, bounds[:-1], axis=1) / sizes
    resid = y - np.repeat(ybar, sizes, axis=1)
    ssw = np.einsum("ij,ij->i", resid, resid)
    n = np.broadcast_to(sizes.astype(float), ybar.shape)
    return SuffStats(n, ybar, ssw)


def chunk_stats(data: dict, cell: Cell, reps) -> SuffStats:
    """Sufficient statistics of the datasets ``data`` (``chunk_columns``' columns rep, group, y)
    of replications ``reps`` of ``cell``: by reshaping when the columns hold whole datasets in
    order, else by grouping (which checks that the file holds exactly ``reps``)."""
    reps = np.asarray(reps, dtype=np.int64)
    expected_rows = len(reps) * cell.N
    group = np.repeat(np.arange(cell.J), cell.sizes)
    if (
        len(data["y"]) == expected_rows
        and np.array_equal(data["rep"], np.repeat(reps, cell.N))
        and np.array_equal(data["group"], np.tile(group, len(reps)))
    ):
        return suffstats_from_array(data["y"].reshape(len(reps), cell.N), cell.sizes)
    stats, labels, _ = suffstats_from_long(data["rep"], data["group"], data["y"])
    if not np.array_equal(labels, reps):
        raise ValueError(f"{cell.name}: dataset file holds replications {labels[:3]}..., expected {reps[:3]}...")
    return stats


def chunk_observations(data: dict, cell: Cell, reps) -> tuple[np.ndarray, np.ndarray]:
    """The raw observations of ``data`` (``chunk_columns``' columns), (R, N) arrays y and group,
    rows by replication and, within a group, in file order: for the estimators that need more
    than the sufficient statistics (``plugins.Observations``)."""
    order = np.lexsort((data["group"], data["rep"]))  # stable: within a group, file order
    y = data["y"][order].reshape(len(reps), cell.N)
    group = np.tile(np.repeat(np.arange(cell.J), cell.sizes), (len(reps), 1))
    return y, group


def truth_means(truth: dict, cell: Cell, reps) -> np.ndarray:
    """(R, J) true group means from the truth columns (``chunk_columns``: rep, group, mean)."""
    order = np.lexsort((truth["group"], truth["rep"]))
    return truth["mean"][order].reshape(len(reps), cell.J)
