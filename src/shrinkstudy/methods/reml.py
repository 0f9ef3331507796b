"""Exact REML / ML variance components of the one-way random-effects model, vectorised.

With ``gamma = tau^2 / sigma^2``, ``w_j = n_j / (1 + n_j gamma)``,
``mu(gamma) = sum w_j ybar_j / sum w_j`` and ``qf = SSW + sum w_j (ybar_j - mu)^2``, sigma^2
profiles out and the REML criterion (-2 log restricted likelihood, exactly lme4's
``REMLcrit()``) is::

    f(gamma) = sum log(1 + n_j gamma) + log sum w_j + (N - 1) [1 + log(2 pi qf / (N - 1))]

ML drops ``log sum w_j`` and uses N for N - 1 (lme4's ``deviance()`` of an ML fit). Its
derivative (envelope theorem for mu, ``dw_j/dgamma = -w_j^2``)::

    f'(gamma) = sum w_j - sum w_j^2 / sum w_j - (N - 1) sum w_j^2 d_j^2 / qf     (REML)
    f'(gamma) = sum w_j - N sum w_j^2 d_j^2 / qf                                 (ML)

with ``d_j = ybar_j - mu(gamma)``.

The criterion need not be unimodal: in unbalanced designs (groups of 100 beside groups of 1 or 2)
it can have two local minima in gamma, a few units apart in log gamma, and one of them can be
at gamma = 0 while the global minimum is interior (in random designs with group sizes from 1 to
100: about 0.5% of datasets for REML, 2% for ML; none seen in the seed's two-size design).
The global minimum over ``gamma >= 0`` is found by a grid in log gamma (301 points, steps of
0.25 from 1e-13 to 3e19, plus gamma = 0); every discrete local minimum of the grid
(up to ``_CANDIDATES`` of them, lowest first) is refined by safeguarded Newton steps in
log gamma on f' inside its bracket (to relative precision 1e-11 in gamma), and the lowest
refined point wins. ``gamma = 0`` exactly when f'(0) >= 0 and no interior point is lower: the
boundary ("singular") fit. For balanced designs the criterion is unimodal and the boundary
is exactly ``boundary_test`` (MSB <= MSW for REML); in general ``boundary_test`` (the local
condition f'(0) >= 0) is necessary, not sufficient. At gamma = 0 the REML test reduces to
``(N - 1) sum n_j^2 (ybar_j - ybar)^2 / SST <= N - sum n_j^2 / N`` (docs/formulas.md section 2).

Degenerate data have defined answers (``status`` codes):

* ``OK`` (0): an ordinary fit, interior or boundary;
* ``ZERO_WITHIN`` (1): SSW = 0 with N > J (no within-group noise): sigma^2 = 0, gamma = inf,
  tau^2 = sample variance of the group means, so every shrinkage estimator equals the raw means;
* ``CONSTANT`` (2): every observation equal (SST = 0): tau^2 = sigma^2 = 0, a boundary fit;
* ``NOT_IDENTIFIED`` (3): every n_j = 1, or fewer than 2 groups: tau^2 and sigma^2 are
  confounded, the fit fails (counted, never raised) and model-based estimates are NaN; mu is
  the grand mean.

The codes take precedence in the order NOT_IDENTIFIED, CONSTANT, ZERO_WITHIN.

Confidence intervals for tau (``tau_interval``) invert the profile restricted likelihood: with
``p(tau)`` the REML criterion at tau minimised over sigma^2 (``profile_criterion``), the interval
is ``{tau >= 0 : p(tau) - p(tau^) <= chi2_1(level)}`` (its hull, should the set not be one
piece), with lower end 0 when tau = 0 is inside (the data cannot rule it out). ``method="ML"``
profiles the ML deviance instead: that is what lme4's ``confint(fit, method = "profile")``
gives for the random effect's SD (``.sig01``), for an ML fit and for a REML fit alike (lme4 1.1.31
profiles the deviance of a REML fit too; tests/test_tau_interval.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..design.simulate import SuffStats

__all__ = [
    "VarComp",
    "OK",
    "ZERO_WITHIN",
    "CONSTANT",
    "NOT_IDENTIFIED",
    "criterion",
    "criterion_derivative",
    "fit_varcomp",
    "boundary_test",
    "data_status",
    "TauInterval",
    "profile_criterion",
    "tau_interval",
]

OK, ZERO_WITHIN, CONSTANT, NOT_IDENTIFIED = 0, 1, 2, 3
_LOG_GRID = np.linspace(-30.0, 45.0, 301)  # log gamma, steps of 0.25
_CANDIDATES = 3  # local minima of the grid refined per dataset
_LOG_2PI = np.log(2.0 * np.pi)


@dataclass(frozen=True)
class VarComp:
    """Variance components of R datasets (each field has shape (R,))."""

    mu: np.ndarray
    tau2: np.ndarray
    sigma2: np.ndarray
    gamma: np.ndarray
    crit: np.ndarray  # REMLcrit or ML deviance at the optimum (NaN when not defined)
    boundary: np.ndarray  # tau2 == 0
    status: np.ndarray  # OK, ZERO_WITHIN, CONSTANT or NOT_IDENTIFIED
    method: str = "REML"

    @property
    def ok(self) -> np.ndarray:
        """True where the fit gives usable estimates (status != NOT_IDENTIFIED)."""
        return self.status != NOT_IDENTIFIED


def _parts(stats: SuffStats, gamma):
    """w, S = sum w, mu, d, qf at gamma; gamma broadcasts as (R,) or (R, G) against (R, [G,] J)."""
    gamma = np.asarray(gamma, dtype=float)
    n, ybar = stats.n, stats.ybar
    ssw = stats.ssw
    if gamma.ndim == 2:  # (R, G): add a group axis
        n, ybar, ssw, g = n[:, None, :], ybar[:, None, :], ssw[:, None], gamma[..., None]
    else:
        g = gamma[:, None]
    w = n / (1.0 + n * g)
    S = w.sum(axis=-1)
    mu = (w * ybar).sum(axis=-1) / S
    d = ybar - mu[..., None]
    qf = ssw + (w * d * d).sum(axis=-1)
    return n, g, w, S, mu, d, qf


def criterion(stats: SuffStats, gamma, method: str = "REML") -> np.ndarray:
    """REML criterion (lme4 ``REMLcrit``) or ML deviance at ``gamma``; shape of ``gamma``."""
    n, g, w, S, mu, d, qf = _parts(stats, gamma)
    N = stats.N if np.ndim(gamma) == 1 else stats.N[:, None]
    logdet = np.log1p(n * g).sum(axis=-1)
    if method == "REML":
        df = N - 1.0
        return logdet + np.log(S) + df * (1.0 + _LOG_2PI + np.log(qf / df))
    return logdet + N * (1.0 + _LOG_2PI + np.log(qf / N))


def _criterion_grid(stats: SuffStats, grid: np.ndarray, method: str) -> np.ndarray:
    """Criterion at every gamma of ``grid`` for every dataset, shape (R, G).

    When all datasets share their group sizes (a simulation cell) the weights are common and
    mu and qf are matrix products over centred group means; otherwise the direct formula.
    """
    n = stats.n
    if not np.all(n == n[0]):
        return criterion(stats, np.broadcast_to(grid, (stats.R, grid.size)), method)
    n0 = n[0]
    w = n0 / (1.0 + n0 * grid[:, None])  # (G, J)
    S = w.sum(axis=1)
    logdet = np.log1p(n0 * grid[:, None]).sum(axis=1)
    yc = stats.ybar - stats.grand_mean()[:, None]
    mu_c = yc @ (w / S[:, None]).T  # (R, G)
    qf = stats.ssw[:, None] + (yc * yc) @ w.T - S * mu_c * mu_c
    qf = np.maximum(qf, stats.ssw[:, None])
    N = stats.N[:, None]
    if method == "REML":
        df = N - 1.0
        return logdet + np.log(S) + df * (1.0 + _LOG_2PI + np.log(qf / df))
    return logdet + N * (1.0 + _LOG_2PI + np.log(qf / N))


def criterion_derivative(stats: SuffStats, gamma, method: str = "REML") -> np.ndarray:
    """d criterion / d gamma at ``gamma`` (shape (R,))."""
    n, g, w, S, mu, d, qf = _parts(stats, gamma)
    w2 = w * w
    N = stats.N
    if method == "REML":
        return S - w2.sum(axis=-1) / S - (N - 1.0) * (w2 * d * d).sum(axis=-1) / qf
    return S - N * (w2 * d * d).sum(axis=-1) / qf


def boundary_test(stats: SuffStats, method: str = "REML") -> np.ndarray:
    """True where the criterion does not decrease away from gamma = 0 (f'(0) >= 0).

    REML: ``(N - 1) sum n_j^2 (ybar_j - ybar)^2 / SST <= N - sum n_j^2 / N``; ML:
    ``sum n_j^2 (ybar_j - ybar)^2 <= SST``. This is the local condition: a boundary fit always
    satisfies it, and in balanced designs (unimodal criterion) it is exactly the boundary
    (REML: MSB <= MSW). In unbalanced designs the criterion can have a lower interior minimum
    as well, and ``fit_varcomp`` then returns that one (see the module docstring).
    """
    n, N = stats.n, stats.N
    d = stats.ybar - stats.grand_mean()[:, None]
    a = (n * n * d * d).sum(axis=1)
    sst = stats.sst()
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "REML":
            return (N - 1.0) * a / sst <= N - (n * n).sum(axis=1) / N
        return N * a / sst <= N


def _derivatives(stats: SuffStats, gamma, method: str):
    """f'(gamma) and f''(gamma), shape (R,).

    With S = sum w, B_k = sum w^k, C = sum w^2 d^2, D = sum w^2 d (dmu/dgamma = -D/S)::

        f''(REML) = -B_2 + 2 B_3 / S - B_2^2 / S^2 - (N - 1) [(2 D^2 / S - 2 sum w^3 d^2) / qf + C^2 / qf^2]
        f''(ML)   = -B_2 - N [(2 D^2 / S - 2 sum w^3 d^2) / qf + C^2 / qf^2]
    """
    n, g, w, S, mu, d, qf = _parts(stats, gamma)
    w2 = w * w
    w2d = w2 * d
    B2 = w2.sum(axis=-1)
    C = (w2d * d).sum(axis=-1)
    D = w2d.sum(axis=-1)
    E = (w2d * d * w).sum(axis=-1)
    inner = (2.0 * D * D / S - 2.0 * E) / qf + (C / qf) ** 2
    N = stats.N
    if method == "REML":
        B3 = (w2 * w).sum(axis=-1)
        d1 = S - B2 / S - (N - 1.0) * C / qf
        d2 = -B2 + 2.0 * B3 / S - (B2 / S) ** 2 - (N - 1.0) * inner
    else:
        d1 = S - N * C / qf
        d2 = -B2 - N * inner
    return d1, d2


def _solve_bracket(stats, lo, hi, method, tol=1e-11, maxiter=60):
    """Root of f' in [lo, hi] (0 < lo < hi, f'(lo) < 0 < f'(hi)), vectorised.

    Newton's method in ``u = log gamma`` (step ``-f'/(gamma f'')``), kept inside the bracket,
    which shrinks with every evaluation; a step that leaves it is clipped to just inside. Each
    dataset stops when its step or bracket is below ``tol`` in u (relative in gamma), and is not
    touched after, so its answer does not depend on the other datasets of the call.
    """
    lo, hi = np.log(lo), np.log(hi)
    x = 0.5 * (lo + hi)
    active = np.ones(x.shape, dtype=bool)  # each dataset stops on its own test (chunk-invariant)
    for _ in range(maxiter):
        g = np.exp(x)
        d1, d2 = _derivatives(stats, g, method)
        right = d1 < 0
        lo = np.where(right, x, lo)
        hi = np.where(right, hi, x)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = -d1 / (g * d2)
        # clip to just inside the bracket: a step that overshoots a nearby end lands close to it
        margin = 1e-3 * (hi - lo)
        new = np.clip(x + step, lo + margin, hi - margin)
        new = np.where(np.isfinite(new), new, 0.5 * (lo + hi))
        done = (np.abs(new - x) <= tol) | (d1 == 0) | (hi - lo <= tol)
        x = np.where(active & (d1 != 0), new, x)
        active &= ~done
        if not active.any():
            break
    return np.exp(x)


def _global_minimum(sub: SuffStats, method: str) -> np.ndarray:
    """gamma >= 0 minimising the criterion of every dataset (all with status OK)."""
    R = sub.R
    grid = np.concatenate([[0.0], np.exp(_LOG_GRID)])
    G = grid.size
    f = _criterion_grid(sub, grid, method)
    f = np.where(np.isfinite(f), f, np.inf)
    rows = np.arange(R)
    d0 = criterion_derivative(sub, np.zeros(R), method)
    # discrete local minima of the grid at nodes 1..G-1 (the last node counts when the criterion
    # still decreases there; a flat run counts once, at its first node); gamma = 0 is handled
    # through f'(0)
    left = f[:, 1:] < f[:, :-1]
    right = np.concatenate([f[:, 1:-1] <= f[:, 2:], np.ones((R, 1), bool)], axis=1)
    is_min = left & right  # (R, G-1), node k = column + 1
    score = np.where(is_min, f[:, 1:], np.inf)
    order = np.argsort(score, axis=1, kind="stable")[:, :_CANDIDATES] + 1  # node indices
    best_g = np.zeros(R)
    best_f = np.where(d0 >= 0, f[:, 0], np.inf)  # gamma = 0 is a local minimum iff f'(0) >= 0
    # a minimum below the first grid node (f'(0) < 0 < f'(grid[1])), too close to 0 for the
    # grid values to show it
    d1 = criterion_derivative(sub, np.full(R, grid[1]), method)
    tiny = np.flatnonzero((d0 < 0) & (d1 > 0))
    if tiny.size:
        part = sub.rows(tiny)
        g = _solve_bracket(part, np.full(tiny.size, grid[1] * 1e-6), np.full(tiny.size, grid[1]), method)
        best_g[tiny] = g
        best_f[tiny] = criterion(part, g, method)
    for c in range(order.shape[1]):
        k = order[:, c]
        has = np.isfinite(score[rows, k - 1])
        if not has.any():
            break
        idx = np.flatnonzero(has)
        kk = k[idx]
        lo = grid[kk - 1]
        lo = np.where(lo == 0, grid[1] * 1e-6, lo)
        hi = grid[np.minimum(kk + 1, G - 1)]
        g = grid[kk].copy()
        part = sub.rows(idx)
        fl = criterion_derivative(part, lo, method)
        fh = criterion_derivative(part, hi, method)
        ok = (fl < 0) & (fh > 0)
        if ok.any():
            ib = np.flatnonzero(ok)
            g[ib] = _solve_bracket(part.rows(ib), lo[ib], hi[ib], method)
        fg = criterion(part, g, method)
        fg = np.where(np.isfinite(fg), fg, np.inf)
        # an interior point must be clearly lower than the boundary to displace it
        margin = np.where(best_g[idx] == 0, 1e-12 * np.abs(f[idx, 0]), 0.0)
        better = fg < best_f[idx] - margin
        best_g[idx] = np.where(better, g, best_g[idx])
        best_f[idx] = np.where(better, fg, best_f[idx])
    # no local minimum anywhere (cannot happen for finite criteria): the lowest grid node
    lost = ~np.isfinite(best_f)
    best_g[lost] = grid[np.argmin(f[lost], axis=1)] if lost.any() else best_g[lost]
    return best_g


def data_status(stats: SuffStats) -> np.ndarray:
    """Status code of every dataset from its data alone: OK, ZERO_WITHIN (SSW = 0 with N > J),
    CONSTANT (SST = 0) or NOT_IDENTIFIED (N <= J or fewer than 2 groups)."""
    N, J = stats.N, stats.J
    sst = stats.sst()
    scale = np.where(sst > 0, sst, 1.0)
    status = np.full(stats.R, OK, dtype=np.int8)
    status[(stats.ssw <= 1e-300 * scale) & (N > J)] = ZERO_WITHIN
    status[sst <= 0] = CONSTANT
    status[(N <= J) | (J < 2)] = NOT_IDENTIFIED
    return status


def fit_varcomp(stats: SuffStats, method: str = "REML") -> VarComp:
    """Global REML (default) or ML optimum of the variance components of every dataset.

    Parameters
    ----------
    stats : SuffStats of R datasets.
    method : "REML" or "ML".

    Returns
    -------
    VarComp with mu, tau2, sigma2, gamma, crit, boundary and status per dataset.
    """
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML', not {method!r}")
    R = stats.R
    N, J = stats.N, stats.J
    sst = stats.sst()
    mu = stats.grand_mean()
    status = data_status(stats)

    gamma = np.zeros(R)
    reg = np.flatnonzero(status == OK)
    if reg.size:
        gamma[reg] = _global_minimum(stats.rows(reg), method)

    n, g_, w, S, mu_g, d, qf = _parts(stats, gamma)
    df = (N - 1.0) if method == "REML" else N.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma2 = qf / df
        crit = criterion(stats, gamma, method)
    tau2 = gamma * sigma2
    mu_out = np.where(status == OK, mu_g, mu)

    # degenerate answers
    zw = status == ZERO_WITHIN
    if zw.any():
        present = stats.present[zw]
        yb = np.where(present, stats.ybar[zw], np.nan)
        mu_out[zw] = np.nanmean(yb, axis=1)
        tau2[zw] = np.nanvar(yb, axis=1, ddof=1)
        sigma2[zw] = 0.0
        gamma[zw] = np.inf
        crit[zw] = -np.inf
    const = status == CONSTANT
    tau2[const] = 0.0
    sigma2[const] = 0.0
    gamma[const] = 0.0
    crit[const] = -np.inf
    bad = status == NOT_IDENTIFIED
    for a in (tau2, sigma2, gamma, crit):
        a[bad] = np.nan
    boundary = (tau2 == 0) & ~bad
    return VarComp(
        mu=mu_out,
        tau2=tau2,
        sigma2=sigma2,
        gamma=gamma,
        crit=crit,
        boundary=boundary,
        status=status,
        method=method,
    )


# ----------------------------------------------------------------------------------------------
# confidence intervals for tau by the profile restricted likelihood


@dataclass(frozen=True)
class TauInterval:
    """Profile-likelihood confidence intervals for tau of R datasets (each field shape (R,)).

    ``lower`` is 0 where tau = 0 lies inside the interval (``zero_inside``); both ends are NaN
    where the fit has no interval (a status other than OK). ``tau`` is the fit's tau^.
    """

    tau: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    zero_inside: np.ndarray
    level: float
    method: str = "REML"


def _chi2_cutoff(level: float) -> float:
    from scipy import stats as sps

    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be in (0, 1), not {level!r}")
    return float(sps.chi2.ppf(float(level), 1))


def _sigma2_profile(n, ybar, ssw, t, method):
    """min over sigma^2 > 0 of the criterion at tau^2 = t (an array), for one dataset with
    group sizes ``n`` and means ``ybar`` (1-D, every group present) and within-group SS ``ssw``.

    The criterion in (s = sigma^2, t), with D_j = s + n_j t and w_j = n_j / D_j::

        F = sum log D_j + (N - J) log s + [log sum w_j] + SSW / s + sum w_j (ybar_j - mu)^2 + c

    (the bracket for REML only; c = (N - 1) log 2 pi for REML, N log 2 pi for ML). Its minimum
    in s is where dF/ds changes sign, found by bisection in log s: s dF/ds < 0 below
    SSW / N, and it is positive for large s (to 1e-9 in log s). Returns (criterion, sigma^2) at every t.
    """
    t = np.asarray(t, dtype=float)[..., None]
    N, J = float(n.sum()), n.size
    reml = method == "REML"

    def parts(s):
        D = s[..., None] + n * t
        w = n / D
        S = w.sum(axis=-1)
        mu = (w * ybar).sum(axis=-1) / S
        d = ybar - mu[..., None]
        return D, w, S, d

    def slope(s):  # s dF/ds
        D, w, S, d = parts(s)
        r = s[..., None] / D
        out = r.sum(axis=-1) + (N - J) - ssw / s - (w * r * d * d).sum(axis=-1)
        if reml:
            out = out - (w * r).sum(axis=-1) / S
        return out

    base = (ssw + float((n * (ybar - ybar.mean()) ** 2).sum())) / max(N - 1.0, 1.0)
    shape = t.shape[:-1]
    lo = np.full(shape, 0.5 * ssw / N)
    hi = np.full(shape, max(base, ssw / max(N - J, 1.0), 1e-300) * 4.0)
    for _ in range(200):  # widen until the slope is positive at hi
        up = slope(hi) <= 0
        if not up.any():
            break
        hi = np.where(up, hi * 16.0, hi)
    a, b = np.log(lo), np.log(hi)
    for _ in range(200):
        m = 0.5 * (a + b)
        neg = slope(np.exp(m)) < 0
        a = np.where(neg, m, a)
        b = np.where(neg, b, m)
        if np.all(b - a <= 1e-9):  # the criterion is flat there: an error of 1e-9 in log s is 1e-18 in it
            break
    s = np.exp(0.5 * (a + b))
    D, w, S, d = parts(s)
    crit = np.log(D).sum(axis=-1) + (N - J) * np.log(s) + ssw / s + (w * d * d).sum(axis=-1)
    if reml:
        crit = crit + np.log(S) + (N - 1.0) * _LOG_2PI
    else:
        crit = crit + N * _LOG_2PI
    return crit, s


def profile_criterion(stats: SuffStats, tau, method: str = "REML") -> np.ndarray:
    """The REML criterion (or ML deviance) at each ``tau`` minimised over sigma^2: shape (R, T)
    for ``tau`` of shape (T,) (the same values for every dataset) or (R, T).

    At the fit's tau^ it is the fit's ``crit``; at tau = 0 sigma^2 is SST / (N - 1) (REML).
    Defined for datasets of status OK (SSW > 0); NaN for the others.
    """
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML', not {method!r}")
    tau = np.asarray(tau, dtype=float)
    tau = np.broadcast_to(tau, (stats.R, tau.shape[-1])) if tau.ndim <= 1 else tau
    out = np.full(tau.shape, np.nan)
    status = data_status(stats)
    for r in np.flatnonzero(status == OK):
        keep = stats.n[r] > 0
        out[r] = _sigma2_profile(stats.n[r][keep], stats.ybar[r][keep], float(stats.ssw[r]), tau[r] ** 2, method)[0]
    return out


def _interval_ends(prof, tau_hat: float, crit_min: float, scale: float, cutoff: float):
    """(lower, upper, zero_inside) of ``{tau >= 0 : prof(tau) - crit_min <= cutoff}``'s hull.

    ``prof`` maps a 1-D array of tau to the criterion. A grid (0, tau^ and 121 points evenly
    spaced in log tau from 1e-6 to 400 times ``scale``, extended upwards while its last point is
    inside) finds the outermost points inside; each end is then the root of
    ``prof - crit_min - cutoff`` between that point and its outside neighbour (Brent's method).
    """
    from scipy import optimize

    scale = scale if scale > 0 and np.isfinite(scale) else 1.0
    top = np.log(400.0)
    while True:
        grid = np.unique(np.concatenate([[0.0, tau_hat], scale * np.exp(np.linspace(np.log(1e-6), top, 121))]))
        excess = prof(grid) - crit_min - cutoff
        inside = np.flatnonzero(excess <= 0)
        if inside.size == 0:  # cannot happen at tau^; guard against a criterion that is NaN there
            return np.nan, np.nan, False
        if inside[-1] < grid.size - 1 or top > np.log(1e12):
            break
        top += np.log(400.0)
    i, k = inside[0], inside[-1]

    def g(x):
        return float(prof(np.array([x]))[0]) - crit_min - cutoff

    lower = 0.0 if i == 0 else optimize.brentq(g, grid[i - 1], grid[i], xtol=1e-14, rtol=1e-13)
    upper = np.inf if k == grid.size - 1 else optimize.brentq(g, grid[k], grid[k + 1], xtol=1e-14, rtol=1e-13)
    return lower, upper, bool(i == 0)


def tau_interval(stats: SuffStats, level: float = 0.95, method: str = "REML", fit: VarComp | None = None) -> TauInterval:
    """Profile-likelihood confidence intervals for tau, one per dataset (a loop over datasets).

    ``{tau : p(tau) - p(tau^) <= chi2_1(level)}`` with ``p`` = ``profile_criterion`` (sigma^2
    profiled out at each tau) and ``p(tau^)`` the fit's criterion; the lower end is 0 when
    ``p(0)`` is within the cutoff (``zero_inside``). Should the set have several pieces (a
    criterion with two minima), the interval is their hull. ``fit`` is ``fit_varcomp(stats,
    method)`` if already computed. NaN ends for datasets of a status other than OK.
    """
    cutoff = _chi2_cutoff(level)
    vc = fit if fit is not None else fit_varcomp(stats, method)
    R = stats.R
    lower, upper = np.full(R, np.nan), np.full(R, np.nan)
    zero = np.zeros(R, dtype=bool)
    tau_hat = np.sqrt(vc.tau2)
    for r in np.flatnonzero(vc.status == OK):
        keep = stats.n[r] > 0
        n, yb, ssw = stats.n[r][keep], stats.ybar[r][keep], float(stats.ssw[r])

        def prof(tau, n=n, yb=yb, ssw=ssw):
            return _sigma2_profile(n, yb, ssw, np.asarray(tau) ** 2, method)[0]

        crit_min = min(float(vc.crit[r]), float(prof(np.array([tau_hat[r]]))[0]))
        scale = float(np.sqrt(max(np.var(yb), ssw / max(n.sum() - n.size, 1.0) / n.mean())))
        lower[r], upper[r], zero[r] = _interval_ends(prof, float(tau_hat[r]), crit_min, scale, cutoff)
    return TauInterval(tau=tau_hat, lower=lower, upper=upper, zero_inside=zero, level=float(level), method=method)
