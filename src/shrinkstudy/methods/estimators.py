"""Estimators of the group means m_j = mu + theta_j, vectorised over datasets.

Every function takes sufficient statistics (``SuffStats``: n, ybar of shape (R, J), SSW of
shape (R,)) and returns an (R, J) array; groups a dataset does not have (n_j = 0) are NaN.
Formulas: docs/formulas.md, sections 2 (estimators) and 3 (intervals).

Which estimators exist, in which order, with which inputs, is the registry's business
(``shrinkstudy.methods.registry``); ``fit_estimators`` runs the entries it is given, built-in or a
user's (``shrinkstudy.plugins``), and records failures per estimator and dataset.
"""

from __future__ import annotations

import warnings
from dataclasses import FrozenInstanceError, dataclass, field

import numpy as np
from scipy import special

from . import registry
from .hierbayes import HierPrior, hier_bayes
from .plugins import (
    TIME_LIMIT,
    Estimate,
    PluginError,
    TimeLimitExceeded,
    UserCalls,
    UserInterrupt,
    exception_line,
    check_estimate,
    read_only,
)
from .registry import Estimator
from .reml import CONSTANT, NOT_IDENTIFIED, ZERO_WITHIN, VarComp, fit_varcomp
from ..design.simulate import SuffStats

__all__ = [
    "Truth",
    "Fit",
    "shrinkage",
    "shrinkage_factors",
    "shrink",
    "raw",
    "pooled",
    "blup",
    "varmatch",
    "bayesglm",
    "bayesglm_estimate",
    "hier_bayes_estimate",
    "james_stein",
    "james_stein_shrink",
    "oracle",
    "oracle_bayes",
    "oracle_bayes_interval",
    "blup_ml",
    "constrained_bayes",
    "sure",
    "npmle",
    "raw_interval",
    "blup_interval",
    "oracle_interval",
    "balanced_datasets",
    "fit_estimators",
    "concat_fits",
]

#: Names of the variance-component status codes (``reml``), for failure messages and fit.json.
STATUS_NAMES = {0: "ok", ZERO_WITHIN: "zero_within", CONSTANT: "constant", NOT_IDENTIFIED: "not_identified"}


@dataclass(frozen=True)
class Truth:
    """The true parameters, for the oracles: mu, tau and sigma; in a world beyond the normal one
    (``Cell.normal_world`` False) also the true distribution of the effects (``effects_prior``,
    None for normal effects), the true group SDs (``sigmas``, None for one sigma) and the
    degrees of freedom of t errors (``errors_df``, None for normal errors)."""

    mu: float
    tau: float
    sigma: float
    effects_prior: object = None
    sigmas: tuple | None = None
    errors_df: float | None = None

    @classmethod
    def from_cell(cls, cell) -> Truth:
        """The truth of a study cell (``design.Cell``)."""
        if cell.normal_world:
            return cls(cell.mu, cell.tau, cell.sigma)
        sigmas = tuple(float(s) for s in cell.group_sigmas()) if cell.sigma_ratio != 1 else None
        prior = cell.effects_prior() if cell.effects != "normal" else None
        df = float(cell.errors_df) if cell.errors == "t" else None
        return cls(cell.mu, cell.tau, cell.sigma, prior, sigmas, df)

    @property
    def mean_sufficient(self) -> bool:
        """Whether the group means carry all the data say about the effects (normal errors);
        under t errors the oracle needs the observations themselves."""
        return self.errors_df is None

    def error_scales(self, stats: SuffStats) -> np.ndarray:
        """The t errors' scale per group, c_j = sigma_j sqrt((df - 2) / df) (e = c_j T_df has SD
        sigma_j), shape (R, J)."""
        sig = np.asarray(self.sigmas, dtype=float) if self.sigmas is not None else np.float64(self.sigma)
        return np.broadcast_to(sig * np.sqrt((self.errors_df - 2.0) / self.errors_df), stats.n.shape)

    def sampling_variances(self, stats: SuffStats) -> np.ndarray:
        """True variances of the group means, sigma_j^2 / n_j, shape (R, J)."""
        sig2 = np.asarray(self.sigmas, dtype=float) ** 2 if self.sigmas is not None else self.sigma**2
        with np.errstate(divide="ignore"):
            return np.broadcast_to(sig2 / stats.n, stats.n.shape)


def _nan_absent(stats: SuffStats, est: np.ndarray) -> np.ndarray:
    return np.where(stats.present, est, np.nan)


def shrinkage(tau2, v) -> np.ndarray:
    """B = tau^2 / (tau^2 + v) for sampling variances v: 1 where v = 0, 0 where tau^2 = 0 < v.

    ``tau2`` is (R,) (one per dataset), ``v`` (R, J): sigma^2 / n_j in the long form, s_j^2 for
    estimates with known standard errors. The one shrinkage kernel of blup, varmatch and the
    oracle in both forms."""
    tau2 = np.asarray(tau2, dtype=float)[..., None]
    v = np.asarray(v, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        B = tau2 / (tau2 + v)
    B = np.where(v == 0, 1.0, B)
    B = np.where((tau2 == 0) & (v > 0), 0.0, B)
    return np.where(np.isnan(tau2) | np.isnan(v), np.nan, B)


def shrinkage_factors(n, tau2, sigma2) -> np.ndarray:
    """B_j = tau^2 / (tau^2 + sigma^2 / n_j), with B = 1 where sigma^2 = 0 and B = 0 where tau^2 = 0."""
    n = np.asarray(n, dtype=float)
    sigma2 = np.asarray(sigma2, dtype=float)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(sigma2 == 0, 0.0, sigma2 / n)
    return shrinkage(tau2, v)


def shrink(y, mu, B) -> np.ndarray:
    """The shrinkage step mu + B (y - mu), mu (R,) toward which the (R, J) values y move."""
    mu = np.asarray(mu, dtype=float)[:, None]
    return mu + B * (y - mu)


def raw(stats: SuffStats) -> np.ndarray:
    """No pooling: the sample means ybar_j."""
    return _nan_absent(stats, stats.ybar)


def pooled(stats: SuffStats) -> np.ndarray:
    """Complete pooling: every group gets the grand mean of all observations."""
    return _nan_absent(stats, np.broadcast_to(stats.grand_mean()[:, None], stats.n.shape))


def blup(stats: SuffStats, varcomp: VarComp) -> np.ndarray:
    """Mixed-model BLUP (lme4 ``coef()``): mu^ + B^_j (ybar_j - mu^)."""
    B = shrinkage_factors(stats.n, varcomp.tau2, varcomp.sigma2)
    return _nan_absent(stats, shrink(stats.ybar, varcomp.mu, B))


def varmatch(stats: SuffStats, varcomp: VarComp) -> np.ndarray:
    """The seed's rescaling: mu^ + (ybar_j - mu^) tau^ / sqrt(tau^2^ + sigma^2^ / n_j) = ... sqrt(B^_j)."""
    B = shrinkage_factors(stats.n, varcomp.tau2, varcomp.sigma2)
    return _nan_absent(stats, shrink(stats.ybar, varcomp.mu, np.sqrt(B)))


def bayesglm(stats: SuffStats, varcomp: VarComp, *, tol: float = 1e-12, maxiter: int = 500):
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
    raw means. Where the variance components are not identified (``varcomp.ok`` False) the
    estimates and s2 are NaN.

    Returns
    -------
    est : (R, J) estimates; s2 : (R,) the converged dispersion.
    """
    n, ybar = stats.n, stats.ybar
    mu = varcomp.mu[:, None]
    tau2 = varcomp.tau2[:, None]
    N = stats.N
    s2 = varcomp.sigma2.copy()
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
        m = np.where(varcomp.sigma2[:, None] == 0, ybar, m)
    bad = ~varcomp.ok
    m = np.where(bad[:, None], np.nan, m)
    s2 = np.where(bad, np.nan, s2)
    return _nan_absent(stats, m), s2


def bayesglm_estimate(stats: SuffStats, varcomp: VarComp) -> Estimate:
    """``bayesglm`` for the registry: the estimates, and the converged dispersion as ``s2``."""
    est, s2 = bayesglm(stats, varcomp)
    return Estimate(est, extra={"s2": s2})


def hier_bayes_estimate(stats: SuffStats, prior: HierPrior, level: float | None) -> Estimate:
    """``hierbayes.hier_bayes`` for the registry: posterior means, central intervals at ``level``
    (none when it is None) and the posterior mean of tau^2 as ``tau2``."""
    hb = hier_bayes(stats, prior, level=level)
    return Estimate(hb.mean, hb.lower, hb.upper, extra={"tau2": hb.tau2_mean})


def james_stein(stats: SuffStats) -> np.ndarray:
    """Positive-part James-Stein toward the grand mean (Efron-Morris form), balanced datasets.

    ``ybar. + max(0, 1 - (J - 3) s^2 / sum (ybar_j - ybar.)^2) (ybar_j - ybar.)`` with
    ``s^2 = sigma^2^ / n`` and ``sigma^2^ = SSW / (N - J)``. NaN for unbalanced datasets or when
    N = J (no within-group degrees of freedom). With J <= 3 groups the shrinkage constant
    ``J - 3`` is taken as 0 (no shrinkage: the raw means); the formula would expand the
    estimates away from the grand mean for J = 2.
    """
    present = stats.present
    J = stats.J.astype(float)
    N = stats.N
    n0 = np.nanmax(np.where(present, stats.n, np.nan), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s2 = stats.ssw / (N - J) / n0
    est, _ = james_stein_shrink(stats.ybar, stats.grand_mean(), present, s2)
    return np.where(present & balanced_datasets(stats)[:, None], est, np.nan)


def james_stein_shrink(y, center, present, s2):
    """The positive-part James-Stein step for R datasets of values y (R, J) with a common
    sampling variance s2 (R,), toward ``center`` (R,): ``center + c (y_j - center)``,
    ``c = max(0, 1 - (J - 3) s2 / sum (y_j - center)^2)`` (Efron & Morris 1973), with J - 3
    taken as 0 for J <= 3 and c = 0 where every y_j equals the center. Where c = 1 the
    estimates are y itself. Returns the estimates and c; the long form and the known-SE form
    (``knownse.james_stein``) share it."""
    J = present.sum(axis=1).astype(float)
    gm = center[:, None]
    d = np.where(present, y - gm, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ss = (d * d).sum(axis=1)
        factor = np.maximum(0.0, 1.0 - np.maximum(J - 3.0, 0.0) * s2 / ss)
    factor = np.where(ss == 0, 0.0, factor)  # all group means equal: every estimate is the center
    est = np.where(factor[:, None] == 1.0, y, gm + factor[:, None] * d)  # no shrinkage: exactly y
    return est, factor


def oracle(stats: SuffStats, truth: Truth) -> np.ndarray:
    """The normal-theory Bayes rule with the true parameters: mu + B_j (ybar_j - mu),
    B_j = tau^2 / (tau^2 + sigma_j^2 / n_j) (one sigma, or the true group SDs): the best linear
    rule whatever the distribution of the effects (``oracle_linear`` in the registry)."""
    if truth.sigmas is None:
        B = shrinkage_factors(stats.n, np.full(stats.R, truth.tau**2), np.full(stats.R, truth.sigma**2))
    else:
        B = shrinkage(np.full(stats.R, truth.tau**2), truth.sampling_variances(stats))
    return _nan_absent(stats, shrink(stats.ybar, np.full(stats.R, float(truth.mu)), B))


def oracle_bayes(stats: SuffStats, truth: Truth, data=None) -> np.ndarray:
    """The Bayes rule given all observations, with the true prior and parameters (``oracle`` in
    the registry): mu + E[theta_j | y_j1..y_jn] under the true distribution of the effects.

    Normal errors: the group mean is sufficient, and this is mu + E[theta_j | ybar_j], by
    quadrature for a continuous distribution, exactly for a normal mixture
    (``ebayes.oracle_bayes``), and under normal effects the linear rule, exactly. t errors: the
    group mean is not sufficient, and the rule integrates the prior against the t likelihood of
    the group's observations (``data``, ``plugins.Observations``; ``ebayes.oracle_full_data``),
    the effects' prior normal where they are."""
    if not truth.mean_sufficient:
        if data is None:
            raise ValueError("the oracle under t errors needs the raw observations (data=...)")
        from .ebayes import oracle_full_data
        from ..design.worlds import EFFECTS

        prior = truth.effects_prior if truth.effects_prior is not None else EFFECTS["normal"].prior(truth.tau)
        return oracle_full_data(stats, data, float(truth.mu), prior, truth.error_scales(stats), truth.errors_df)
    if truth.effects_prior is None:
        return oracle(stats, truth)
    from .ebayes import oracle_bayes as _bayes

    return _bayes(stats, float(truth.mu), truth.effects_prior, truth.sampling_variances(stats))


def oracle_bayes_interval(stats: SuffStats, truth: Truth, data=None, level: float = 0.95):
    """Under normal effects and errors the exact posterior interval (``oracle_interval``); in other
    worlds none (NaN: the posterior is not normal, and no interval of it is computed)."""
    if truth.effects_prior is None and truth.mean_sufficient:
        return oracle_interval(stats, truth, level)
    nan = np.full(stats.n.shape, np.nan)
    return nan, nan.copy()


def blup_ml(stats: SuffStats) -> np.ndarray:
    """The BLUP with ML variance components (whatever the study's method): mu^ + B^_j (ybar_j - mu^)."""
    return blup(stats, fit_varcomp(stats, "ML"))


def _pooled_sigma2(stats: SuffStats) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return stats.ssw / (stats.N - stats.J)


def constrained_bayes(stats: SuffStats, varcomp: VarComp) -> np.ndarray:
    """Constrained Bayes (Louis 1984; Ghosh 1992) around the plug-in posterior of the fitted
    model: the BLUPs spread about their mean so that the estimates' sample mean and variance
    equal the posterior expectation of the true means' (``ebayes.constrained_bayes``)."""
    from .ebayes import constrained_bayes as _cb

    return _cb(stats, varcomp)


def sure(stats: SuffStats) -> np.ndarray:
    """Xie, Kou & Brown (2012) SURE shrinkage toward a location, s_j^2 = sigma^2^ / n_j with the
    pooled sigma^2^ = SSW / (N - J) (``ebayes.sure``)."""
    from .ebayes import sure as _sure

    return _sure(stats, _pooled_sigma2(stats))


def npmle(stats: SuffStats) -> Estimate:
    """Kiefer-Wolfowitz NPMLE empirical Bayes (Koenker & Mizera 2014): posterior means under the
    estimated distribution of the means, s_j^2 = sigma^2^ / n_j (``ebayes.npmle``), solved to a
    certified gap of 1e-7 per group. Per dataset, ``extra["converged"]`` (the certificate met)
    and ``extra["gap"]`` (its bound on the log-likelihood's distance to the optimum)."""
    from .ebayes import npmle as _npmle

    fit = _npmle(stats, _pooled_sigma2(stats))
    return Estimate(fit.estimate, extra={"converged": fit.converged, "gap": fit.gap})


def raw_interval(stats: SuffStats, level: float = 0.95):
    """t interval ybar_j +- t_{N-J} s / sqrt(n_j), s^2 = SSW / (N - J)."""
    df = stats.N - stats.J
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.sqrt(stats.ssw / df)
        q = special.stdtrit(np.where(df > 0, df, np.nan), 0.5 + level / 2)
        half = (q * s)[:, None] / np.sqrt(stats.n)
    est = raw(stats)
    return est - half, est + half


@dataclass(frozen=True)
class EBLUPMSE:
    """The terms of the EBLUP's mean squared error (Prasad & Rao 1990; Datta & Lahiri 2000),
    each (R, J), NaN for absent groups: ``g1`` the BLUP's error with known parameters,
    ``g2`` that of estimating mu, ``g3`` that of estimating tau^2 and sigma^2 (REML)."""

    g1: np.ndarray
    g2: np.ndarray
    g3: np.ndarray

    @property
    def plug_in(self) -> np.ndarray:
        """g1 + g2: the error with the variance components taken as known."""
        return self.g1 + self.g2

    @property
    def prasad_rao(self) -> np.ndarray:
        """g1 + g2 + 2 g3 at the REML estimates: second-order unbiased for the EBLUP's MSE."""
        return self.g1 + self.g2 + 2.0 * self.g3


def reml_information(n, present, tau2, sigma2) -> np.ndarray:
    """REML Fisher information of (tau^2, sigma^2) in the one-way model, shape (R, 2, 2).

    ``I_ab = tr(P V_a P V_b) / 2``, ``P = V^-1 - V^-1 1 (1' V^-1 1)^-1 1' V^-1``, in closed form:
    with ``lam_j = sigma^2 + n_j tau^2`` and ``w_j = n_j / lam_j`` (``W = sum w_j``),

        tr(P Z Z' P Z Z') = sum w^2 - 2 sum w^3 / W + (sum w^2)^2 / W^2
        tr(P Z Z' P)      = sum n/lam^2 - 2 sum w^2/lam / W + sum w^2 sum n/lam^2 / W^2
        tr(P P)           = sum [1/lam^2 + (n - 1)/sigma^4] - 2 sum n/lam^3 / W + (sum n/lam^2)^2 / W^2
    """
    n = np.where(present, np.asarray(n, dtype=float), 0.0)
    t2, s2 = np.asarray(tau2, float)[:, None], np.asarray(sigma2, float)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = s2 + n * t2
        w = n / lam
        W = w.sum(axis=1)
        sw2, sw3 = (w * w).sum(axis=1), (w**3).sum(axis=1)
        snl2 = (n / lam**2).sum(axis=1)
        sw2l = (w * w / lam).sum(axis=1)
        snl3 = (n / lam**3).sum(axis=1)
        sss = np.where(present, 1.0 / lam**2 + (n - 1.0) / s2**2, 0.0).sum(axis=1)
        a_tt = sw2 - 2.0 * sw3 / W + sw2 * sw2 / W**2
        a_ts = snl2 - 2.0 * sw2l / W + sw2 * snl2 / W**2
        a_ss = sss - 2.0 * snl3 / W + snl2 * snl2 / W**2
    info = np.empty((n.shape[0], 2, 2))
    info[:, 0, 0], info[:, 0, 1], info[:, 1, 0], info[:, 1, 1] = a_tt, a_ts, a_ts, a_ss
    return 0.5 * info


def eblup_mse(stats: SuffStats, varcomp: VarComp) -> EBLUPMSE:
    """g1, g2, g3 of the EBLUP ``mu^ + gamma_j (ybar_j - mu^)`` at the fitted components
    (docs: Prasad & Rao 1990, Datta & Lahiri 2000; d_j = sigma^2 / n_j):

        g1 = gamma_j d_j,   g2 = (1 - gamma_j)^2 / sum_k (tau^2 + d_k)^-1,
        g3 = n_j^-2 (tau^2 + d_j)^-3 [sigma^4 V(tau^2) + tau^4 V(sigma^2) - 2 tau^2 sigma^2 C],

    V and C from the inverse of ``reml_information``. At a boundary fit (tau^2 = 0) g1 is 0 and
    g2 = sigma^2 / N is not: the interval keeps a positive width. NaN where the components are
    not identified; g3 is NaN for ML fits (the REML form does not hold there)."""
    present = stats.present
    n = np.where(present, stats.n, np.nan)
    t2, s2 = varcomp.tau2[:, None], varcomp.sigma2[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = s2 + n * t2
        g1 = t2 * s2 / lam  # gamma_j d_j, gamma_j = n_j tau^2 / lam_j
        W = np.where(present, n / lam, 0.0).sum(axis=1)
        g2 = (s2 / lam) ** 2 / W[:, None]
        info = reml_information(stats.n, present, varcomp.tau2, varcomp.sigma2)
        det = info[:, 0, 0] * info[:, 1, 1] - info[:, 0, 1] ** 2
        v_tt, v_ss, c = info[:, 1, 1] / det, info[:, 0, 0] / det, -info[:, 0, 1] / det
        bracket = s2 * s2 * v_tt[:, None] + t2 * t2 * v_ss[:, None] - 2.0 * t2 * s2 * c[:, None]
        g3 = n * bracket / lam**3
    if varcomp.method != "REML":
        g3 = np.full_like(g3, np.nan)
    return EBLUPMSE(*(np.where(present, g, np.nan) for g in (g1, g2, g3)))


def blup_interval(stats: SuffStats, varcomp: VarComp, level: float = 0.95):
    """Plug-in empirical-Bayes interval ``blup_j +- z sqrt(g1 + g2)``: the BLUP's error with the
    variance components taken as known, ``g1 = B^_j sigma^2^ / n_j``, plus that of estimating mu,
    ``g2`` (``eblup_mse``; without g2 the interval has zero width at a boundary fit)."""
    z = special.ndtri(0.5 + level / 2)
    with np.errstate(invalid="ignore"):
        half = z * np.sqrt(eblup_mse(stats, varcomp).plug_in)
    est = blup(stats, varcomp)
    return est - half, est + half


def blup_pr_interval(stats: SuffStats, varcomp: VarComp, level: float = 0.95):
    """Prasad-Rao interval ``blup_j +- z sqrt(g1 + g2 + 2 g3)`` (``eblup_mse``): the plug-in
    interval widened by the second-order term of estimating tau^2 and sigma^2 (REML)."""
    z = special.ndtri(0.5 + level / 2)
    with np.errstate(invalid="ignore"):
        half = z * np.sqrt(eblup_mse(stats, varcomp).prasad_rao)
    est = blup(stats, varcomp)
    return est - half, est + half


def oracle_interval(stats: SuffStats, truth: Truth, level: float = 0.95):
    """Posterior interval of the normal-theory rule with the true parameters:
    mean +- z sqrt(B_j sigma_j^2 / n_j) (exact under normal effects)."""
    z = special.ndtri(0.5 + level / 2)
    if truth.sigmas is None:
        B = shrinkage_factors(stats.n, np.full(stats.R, truth.tau**2), np.full(stats.R, truth.sigma**2))
        with np.errstate(invalid="ignore", divide="ignore"):
            half = z * np.sqrt(B * truth.sigma**2 / stats.n)
    else:
        v = truth.sampling_variances(stats)
        with np.errstate(invalid="ignore", divide="ignore"):
            half = z * np.sqrt(shrinkage(np.full(stats.R, truth.tau**2), v) * v)
    est = oracle(stats, truth)
    return est - half, est + half


def balanced_datasets(stats: SuffStats) -> np.ndarray:
    """(R,) True where a dataset's groups all have the same size and N > J (James-Stein applies)."""
    nn = np.where(stats.present, stats.n, np.nan)
    return (np.nanmin(nn, axis=1) == np.nanmax(nn, axis=1)) & (stats.N > stats.J)


@dataclass
class Fit:
    """Estimates of every requested estimator on R datasets.

    Attributes
    ----------
    estimates : name -> (R, J) estimates (NaN where the estimator failed or does not apply).
    intervals : name -> ((R, J) lower, (R, J) upper), for the interval estimators requested.
    failed : name -> (R,) bool, True where the estimator could not be computed.
    varcomp : the REML/ML variance components.
    extra : other per-dataset outputs, ``<estimator>_<key>`` (``bayesglm_s2``,
        ``hier_bayes_tau2`` ...).
    messages : name -> (R,) str array, why each failed replication failed ("" elsewhere).
    """

    estimates: dict
    intervals: dict
    failed: dict
    varcomp: VarComp
    extra: dict = field(default_factory=dict)
    messages: dict = field(default_factory=dict)


def _entries(estimators) -> list[Estimator]:
    unknown = [e for e in estimators if not isinstance(e, Estimator) and e not in registry.names()]
    if unknown:
        raise ValueError(f"unknown estimator(s) {unknown}; built-in: {list(registry.names())}")
    return [e if isinstance(e, Estimator) else registry.get(e) for e in estimators]


def _builtin(entry: Estimator, stats: SuffStats, inputs: dict, level, intervals: bool):
    """(point, lower, upper, extra) of a built-in estimator (numpy's warnings on degenerate
    datasets silenced: their answers are defined, and checked below)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = entry.point_function()(stats, **{k: inputs[k] for k in entry.needs})
    if not isinstance(result, Estimate):
        result = Estimate(result)
    lower, upper = result.lower, result.upper
    interval = entry.interval_function()
    if intervals and interval is not None:
        lower, upper = interval(stats, level=level, **{k: inputs[k] for k in entry.needs})
    return result.point, lower, upper, result.extra


def _rows(obj, idx):
    """Replications ``idx`` of the statistics, variance components or observations."""
    if obj is None or not hasattr(obj, "__dataclass_fields__"):
        return obj
    if isinstance(obj, VarComp):
        fields = {k: getattr(obj, k)[idx] for k in ("mu", "tau2", "sigma2", "gamma", "crit", "boundary", "status")}
        return VarComp(**fields, method=obj.method)
    return obj.rows(idx) if hasattr(obj, "rows") else obj


#: What a user's function may raise that is its failure: ``sys.exit`` and the time limit too.
_USER_FAILURES = (Exception, SystemExit, TimeLimitExceeded)


def _message(entry: Estimator, exc: BaseException) -> str:
    """One line saying why a user's function failed on a replication."""
    if isinstance(exc, PluginError):
        return f"{entry.name} {exc}"
    if isinstance(exc, UserInterrupt):
        return str(exc)
    if isinstance(exc, FrozenInstanceError) or (isinstance(exc, ValueError) and "read-only" in str(exc)):
        return f"{entry.name} tried to change its inputs, which are read-only ({exception_line(exc)})"
    return exception_line(exc)


def _user(
    entry: Estimator, stats: SuffStats, inputs: dict, intervals: bool, time_limit: float | None = TIME_LIMIT
):
    """(point, lower, upper, extra, bad, messages) of a user's estimator; never raises but on a
    real Ctrl-C.

    The function is given read-only copies of its inputs (``plugins.read_only``), so that
    nothing it does reaches the other estimators or the caller. A call on all R datasets that
    raises (``SystemExit`` and a ``KeyboardInterrupt`` it raises itself included; a real Ctrl-C
    stops the program) is retried one
    dataset at a time, so that only the replications that fail are lost. All its calls share
    ``time_limit`` seconds (``plugins.UserCalls``): the datasets it has not finished by then fail."""
    fn = entry.point_function()
    R, J = stats.n.shape
    wants_interval = "level" in entry.needs
    calls = UserCalls(time_limit, entry.name)
    timed_out = "" if time_limit is None else f"{entry.name} was stopped at its time limit of {time_limit:g} s"

    def call(idx=None):
        st = stats if idx is None else _rows(stats, idx)
        args = {k: read_only(inputs[k] if idx is None else _rows(inputs[k], idx)) for k in entry.needs}
        with np.errstate(all="ignore"), calls.guard():
            result = fn(read_only(st), **args)
        point, lower, upper, extra, why = check_estimate(
            result, st.n.shape, st.present, interval=wants_interval
        )
        why = np.array([f"{entry.name} {w}" if w else "" for w in why], dtype=object)
        return point, lower, upper, extra, why

    def failed(exc):
        return timed_out if isinstance(exc, TimeLimitExceeded) else _message(entry, exc)

    try:
        point, lower, upper, extra, why = call()
    except _USER_FAILURES as exc:  # a user's exception is data (a Ctrl-C goes on)
        point, lower, upper = (np.full((R, J), np.nan) for _ in range(3))
        extra = {}
        why = np.full(R, failed(exc), dtype=object)
        if not isinstance(exc, (PluginError, TimeLimitExceeded)):  # find the replications that fail
            for r in range(R):
                idx = slice(r, r + 1)
                try:
                    p1, l1, u1, _, w1 = call(idx)
                except _USER_FAILURES as exc1:
                    why[r] = failed(exc1)
                    continue
                point[r], why[r] = p1[0], w1[0]
                if wants_interval:
                    lower[r], upper[r] = l1[0], u1[0]
    bad = why != ""
    point = np.where(bad[:, None], np.nan, point)
    if not (intervals and wants_interval):
        lower = upper = None
    return point, lower, upper, extra, bad, why


def fit_estimators(
    stats: SuffStats,
    estimators=None,
    *,
    truth: Truth | None = None,
    method: str = "REML",
    level: float = 0.95,
    intervals: bool = True,
    prior: HierPrior | None = None,
    varcomp: VarComp | None = None,
    data=None,
    time_limit: float | None = TIME_LIMIT,
) -> Fit:
    """Fit the requested estimators (and their intervals) on every dataset.

    Parameters
    ----------
    stats : sufficient statistics of R datasets.
    estimators : names of built-in estimators or registry entries (``registry.Estimator``, e.g.
        a user's from ``plugins.user_estimator``); default every built-in one.
    truth : the true hyperparameters (for the oracle).
    method : "REML" or "ML" variance components (unless ``varcomp`` is given).
    level, intervals : interval level, and whether to compute intervals at all.
    prior : prior of hier_bayes.
    varcomp : variance components fitted elsewhere (e.g. statsmodels MixedLM).
    data : ``plugins.Observations``, for estimators that need the raw observations.
    time_limit : seconds each user's estimator may take on these datasets (None: no limit);
        past it, the datasets it has not finished are its failures (``plugins.UserCalls``).

    A failure (a dataset whose variance components are not identified, a non-finite result, a
    user's estimator that raises) is recorded in ``Fit.failed`` and ``Fit.messages`` per
    estimator and dataset, never raised. Where an estimator does not apply (``james_stein`` on
    an unbalanced dataset) its estimates are NaN and no failure is counted.
    """
    entries = _entries(registry.names() if estimators is None else estimators)
    for need, what in (("truth", "the true mu, tau and sigma (truth=...)"), ("data", "the raw observations (data=...)")):
        # a built-in that takes the observations does without them where it can (the oracle
        # under normal errors) and says so where it cannot
        wanting = [e.name for e in entries if need in e.needs and (need == "truth" or not e.builtin)]
        if wanting and (truth if need == "truth" else data) is None:
            raise ValueError(f"{', '.join(wanting)} need{'s' if len(wanting) == 1 else ''} {what}")
    vc = varcomp if varcomp is not None else fit_varcomp(stats, method)
    inputs = {
        "varcomp": vc,
        "truth": truth,
        "prior": prior or HierPrior(),
        "data": data,
        "level": level if intervals else None,
    }
    present = stats.present
    est, ints, extra, failed, messages = {}, {}, {}, {}, {}
    for entry in entries:
        name = entry.name
        if entry.builtin:
            point, lower, upper, more = _builtin(entry, stats, inputs, level, intervals)
            bad = ~np.all(np.isfinite(point) | ~present, axis=1)
            msg = np.where(bad, "non-finite estimate", "").astype(object)
            if entry.applies == "balanced":
                bad &= balanced_datasets(stats)
            if entry.uses_varcomp and not vc.ok.all():
                for r in np.flatnonzero(~vc.ok):
                    msg[r] = f"variance components not identified ({STATUS_NAMES.get(int(vc.status[r]))})"
                bad |= ~vc.ok
            msg[~bad] = ""
        else:
            user_inputs = dict(inputs, level=level)
            point, lower, upper, more, bad, msg = _user(entry, stats, user_inputs, intervals, time_limit)
        est[name] = point
        if intervals and lower is not None:
            ints[name] = (lower, upper)
        extra.update({f"{name}_{k}": v for k, v in more.items()})
        failed[name] = bad
        messages[name] = msg
    return Fit(estimates=est, intervals=ints, failed=failed, varcomp=vc, extra=extra, messages=messages)


def concat_fits(parts) -> Fit:
    """One ``Fit`` of the datasets of ``parts``, fits of consecutive row blocks of the same
    statistics with the same estimators and settings, in that order (each estimator's answer
    for a dataset depends on that dataset alone: the same numbers as one fit of all rows)."""
    parts = list(parts)
    first = parts[0]

    def rows(get):
        return np.concatenate([get(part) for part in parts], axis=0)

    vc = first.varcomp
    if any(part.varcomp.method != vc.method for part in parts):
        raise ValueError("the fits to join used different variance-component methods")
    fields = ("mu", "tau2", "sigma2", "gamma", "crit", "boundary", "status")
    return Fit(
        estimates={k: rows(lambda f, k=k: f.estimates[k]) for k in first.estimates},
        intervals={
            k: (rows(lambda f, k=k: f.intervals[k][0]), rows(lambda f, k=k: f.intervals[k][1]))
            for k in first.intervals
        },
        failed={k: rows(lambda f, k=k: f.failed[k]) for k in first.failed},
        varcomp=VarComp(**{k: rows(lambda f, k=k: getattr(f.varcomp, k)) for k in fields}, method=vc.method),
        extra={k: rows(lambda f, k=k: f.extra[k]) for k in first.extra},
        messages={k: rows(lambda f, k=k: f.messages[k]) for k in first.messages},
    )
