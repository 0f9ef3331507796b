"""Estimators of the group means m_j = mu + theta_j, vectorised over datasets.

Every function takes sufficient statistics (``SuffStats``: n, ybar of shape (R, J), SSW of
shape (R,)) and returns an (R, J) array; groups a dataset does not have (n_j = 0) are NaN.
Formulas: DESIGN section 2. Intervals: DESIGN section 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special

from .design import ESTIMATORS, INTERVAL_ESTIMATORS
from .hierbayes import HierPrior, hier_bayes
from .reml import VarComp, fit_varcomp
from .simulate import SuffStats

__all__ = [
    "ESTIMATORS",
    "INTERVAL_ESTIMATORS",
    "Truth",
    "Fit",
    "shrinkage_factors",
    "raw",
    "pooled",
    "blup",
    "varmatch",
    "bayesglm",
    "james_stein",
    "oracle",
    "raw_interval",
    "blup_interval",
    "oracle_interval",
    "fit_estimators",
]



@dataclass(frozen=True)
class Truth:
    """The true hyperparameters, for the oracle."""

    mu: float
    tau: float
    sigma: float


def _nan_absent(stats: SuffStats, est: np.ndarray) -> np.ndarray:
    return np.where(stats.present, est, np.nan)


def shrinkage_factors(n, tau2, sigma2) -> np.ndarray:
    """B_j = tau^2 / (tau^2 + sigma^2 / n_j), with B = 1 where sigma^2 = 0 and B = 0 where tau^2 = 0."""
    n = np.asarray(n, dtype=float)
    tau2 = np.asarray(tau2, dtype=float)[..., None]
    sigma2 = np.asarray(sigma2, dtype=float)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        B = tau2 / (tau2 + sigma2 / n)
    B = np.where(sigma2 == 0, 1.0, B)
    B = np.where((tau2 == 0) & (sigma2 > 0), 0.0, B)
    return np.where(np.isnan(tau2) | np.isnan(sigma2), np.nan, B)


def raw(stats: SuffStats) -> np.ndarray:
    """No pooling: the sample means ybar_j."""
    return _nan_absent(stats, stats.ybar)


def pooled(stats: SuffStats) -> np.ndarray:
    """Complete pooling: every group gets the grand mean of all observations."""
    return _nan_absent(stats, np.broadcast_to(stats.grand_mean()[:, None], stats.n.shape))


def blup(stats: SuffStats, vc: VarComp) -> np.ndarray:
    """Mixed-model BLUP (lme4 ``coef()``): mu^ + B^_j (ybar_j - mu^)."""
    B = shrinkage_factors(stats.n, vc.tau2, vc.sigma2)
    mu = vc.mu[:, None]
    return _nan_absent(stats, mu + B * (stats.ybar - mu))


def varmatch(stats: SuffStats, vc: VarComp) -> np.ndarray:
    """The seed's rescaling: mu^ + (ybar_j - mu^) tau^ / sqrt(tau^2^ + sigma^2^ / n_j) = ... sqrt(B^_j)."""
    B = shrinkage_factors(stats.n, vc.tau2, vc.sigma2)
    mu = vc.mu[:, None]
    return _nan_absent(stats, mu + np.sqrt(B) * (stats.ybar - mu))


def bayesglm(stats: SuffStats, vc: VarComp, *, tol: float = 1e-12, maxiter: int = 500):
    """The seed's Bayes fit: ``arm::bayesglm(y ~ 0 + g, prior.mean = mu^, prior.scale = tau^,
    prior.df = Inf, scaled = FALSE)``.

    The posterior mode is ``(n_j ybar_j + lambda mu^) / (n_j + lambda)``, ``lambda = s2 / tau^2^``,
    where the dispersion s2 is the fixed point of ``s2 = RSS / (N - edf)``,
    ``RSS = SSW + sum n_j (ybar_j - m_j)^2``, ``edf = sum n_j / (n_j + lambda)``.

    What arm 1.13 does (``arm:::bayesglm.fit``, gaussian family): starting from
    ``var(y) / 10000`` it alternates the augmented least-squares fit (prior rows weighted by
    ``sqrt(dispersion) / prior.scale``) with ``dispersion <- mean(residual^2) +
    mean(diag(X V X')) dispersion = RSS / N + edf dispersion / N``, and stops when the
    deviance and the dispersion change by less than 1e-8 relative (``glm.control``) or after
    ``maxit = 100`` iterations. That iteration has the same fixed point, ``RSS / (N - edf)``,
    so iterating it here to ``tol`` gives arm's answer to arm's own convergence tolerance.

    Where tau^2^ = 0 (a boundary fit, where arm's prior has zero scale and its fit breaks down)
    every group gets mu^, the limit as tau^ -> 0; where sigma^2^ = 0 (no within-group noise) the
    raw means. Where the variance components are not identified (``vc.ok`` False) the
    estimates and s2 are NaN.

    Returns
    -------
    est : (R, J) estimates; s2 : (R,) the converged dispersion.
    """
    n, ybar = stats.n, stats.ybar
    mu = vc.mu[:, None]
    tau2 = vc.tau2[:, None]
    N = stats.N
    s2 = vc.sigma2.copy()
    active = np.ones(s2.shape, dtype=bool)  # each dataset stops on its own test (chunk-invariant)
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(maxiter):
            lam = s2[:, None] / tau2
            m = np.where(tau2 > 0, (n * ybar + lam * mu) / (n + lam), mu)
            rss = stats.ssw + (n * (ybar - m) ** 2).sum(axis=1)
            edf = np.where(tau2[:, 0] > 0, (n / (n + lam)).sum(axis=1), 0.0)
            new = rss / (N - edf)
            conv = (np.abs(new - s2) <= tol * np.abs(new)) | ~np.isfinite(new)
            s2 = np.where(active, new, s2)
            active &= ~conv
            if not active.any():
                break
        lam = s2[:, None] / tau2
        m = np.where(tau2 > 0, (n * ybar + lam * mu) / (n + lam), mu)
        m = np.where(vc.sigma2[:, None] == 0, ybar, m)
    bad = ~vc.ok
    m = np.where(bad[:, None], np.nan, m)
    s2 = np.where(bad, np.nan, s2)
    return _nan_absent(stats, m), s2


def james_stein(stats: SuffStats) -> np.ndarray:
    """Positive-part James-Stein toward the grand mean (Efron-Morris form), balanced datasets.

    ``ybar. + max(0, 1 - (J - 3) s^2 / sum (ybar_j - ybar.)^2) (ybar_j - ybar.)`` with
    ``s^2 = sigma^2^ / n`` and ``sigma^2^ = SSW / (N - J)``. NaN for unbalanced datasets or when
    N = J (no within-group degrees of freedom). With J <= 3 groups the shrinkage constant
    ``J - 3`` is taken as 0 (no shrinkage: the raw means); the formula would expand the
    estimates away from the grand mean for J = 2.
    """
    n, ybar = stats.n, stats.ybar
    present = stats.present
    J = stats.J.astype(float)
    N = stats.N
    nn = np.where(present, n, np.nan)
    balanced = np.nanmin(nn, axis=1) == np.nanmax(nn, axis=1)
    n0 = np.nanmax(nn, axis=1)
    gm = stats.grand_mean()[:, None]
    d = np.where(present, ybar - gm, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        s2 = stats.ssw / (N - J) / n0
        ss = (d * d).sum(axis=1)
        factor = np.maximum(0.0, 1.0 - np.maximum(J - 3.0, 0.0) * s2 / ss)
    factor = np.where(ss == 0, 0.0, factor)  # all group means equal: every estimate is ybar.
    est = np.where(factor[:, None] == 1.0, ybar, gm + factor[:, None] * d)  # no shrinkage: exactly raw
    ok = balanced & (N > J)
    return np.where(present & ok[:, None], est, np.nan)


def oracle(stats: SuffStats, truth: Truth) -> np.ndarray:
    """Posterior mean with the true mu, tau, sigma: mu + B_j (ybar_j - mu)."""
    B = shrinkage_factors(stats.n, np.full(stats.R, truth.tau**2), np.full(stats.R, truth.sigma**2))
    return _nan_absent(stats, truth.mu + B * (stats.ybar - truth.mu))


def raw_interval(stats: SuffStats, level: float = 0.95):
    """t interval ybar_j +- t_{N-J} s / sqrt(n_j), s^2 = SSW / (N - J)."""
    df = stats.N - stats.J
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.sqrt(stats.ssw / df)
        q = special.stdtrit(np.where(df > 0, df, np.nan), 0.5 + level / 2)
        half = (q * s)[:, None] / np.sqrt(stats.n)
    est = raw(stats)
    return est - half, est + half


def blup_interval(stats: SuffStats, vc: VarComp, level: float = 0.95):
    """Plug-in empirical-Bayes interval mu^ + B^_j (ybar_j - mu^) +- z sqrt(B^_j sigma^2^ / n_j)."""
    B = shrinkage_factors(stats.n, vc.tau2, vc.sigma2)
    z = special.ndtri(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = z * np.sqrt(B * vc.sigma2[:, None] / stats.n)
    est = blup(stats, vc)
    return est - half, est + half


def oracle_interval(stats: SuffStats, truth: Truth, level: float = 0.95):
    """Exact posterior interval with known mu, tau, sigma: mean +- z sqrt(B_j sigma^2 / n_j)."""
    B = shrinkage_factors(stats.n, np.full(stats.R, truth.tau**2), np.full(stats.R, truth.sigma**2))
    z = special.ndtri(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = z * np.sqrt(B * truth.sigma**2 / stats.n)
    est = oracle(stats, truth)
    return est - half, est + half


@dataclass
class Fit:
    """Estimates of every requested estimator on R datasets.

    Attributes
    ----------
    estimates : name -> (R, J) estimates (NaN where the estimator failed or does not apply).
    intervals : name -> ((R, J) lower, (R, J) upper), for the interval estimators requested.
    failed : name -> (R,) bool, True where the estimator could not be computed.
    varcomp : the REML/ML variance components.
    extra : other per-dataset outputs (``bayesglm_s2``, ``hier_bayes_tau2`` ...).
    """

    estimates: dict
    intervals: dict
    failed: dict
    varcomp: VarComp
    extra: dict = field(default_factory=dict)


def fit_estimators(
    stats: SuffStats,
    estimators=ESTIMATORS,
    *,
    truth: Truth | None = None,
    method: str = "REML",
    level: float = 0.95,
    intervals: bool = True,
    prior: HierPrior | None = None,
    varcomp: VarComp | None = None,
) -> Fit:
    """Fit the requested estimators (and their intervals) on every dataset.

    A failure (a dataset whose variance components are not identified, a non-finite result) is
    recorded in ``Fit.failed`` per estimator and dataset, never raised. ``james_stein`` on an
    unbalanced dataset gives NaN and is not counted as a failure (it does not apply).
    """
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown estimator(s) {unknown}; known: {list(ESTIMATORS)}")
    if "oracle" in estimators and truth is None:
        raise ValueError("the oracle needs the true mu, tau and sigma (truth=...)")
    vc = varcomp if varcomp is not None else fit_varcomp(stats, method)
    est, ints, extra = {}, {}, {}
    for name in estimators:
        if name == "raw":
            est[name] = raw(stats)
            if intervals:
                ints[name] = raw_interval(stats, level)
        elif name == "pooled":
            est[name] = pooled(stats)
        elif name == "blup":
            est[name] = blup(stats, vc)
            if intervals:
                ints[name] = blup_interval(stats, vc, level)
        elif name == "varmatch":
            est[name] = varmatch(stats, vc)
        elif name == "bayesglm":
            est[name], extra["bayesglm_s2"] = bayesglm(stats, vc)
        elif name == "hier_bayes":
            hb = hier_bayes(stats, prior or HierPrior(), level=level if intervals else None)
            est[name] = hb.mean
            if intervals:
                ints[name] = (hb.lower, hb.upper)
            extra["hier_bayes_tau2"] = hb.tau2_mean
        elif name == "james_stein":
            est[name] = james_stein(stats)
        elif name == "oracle":
            est[name] = oracle(stats, truth)
            if intervals:
                ints[name] = oracle_interval(stats, truth, level)
    present = stats.present
    failed = {}
    for name, e in est.items():
        bad = ~np.all(np.isfinite(e) | ~present, axis=1)
        if name == "james_stein":
            nn = np.where(present, stats.n, np.nan)
            applies = (np.nanmin(nn, axis=1) == np.nanmax(nn, axis=1)) & (stats.N > stats.J)
            bad &= applies
        if name in ("blup", "varmatch", "bayesglm"):
            bad |= ~vc.ok
        failed[name] = bad
    return Fit(estimates=est, intervals=ints, failed=failed, varcomp=vc, extra=extra)
