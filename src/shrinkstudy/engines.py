"""Other ways to fit the model: statsmodels MixedLM, and the summary (meta-analysis) form.

``fit_statsmodels``
    The Python ecosystem's reference fit (statsmodels ``MixedLM``, endog y, exog a column of
    ones, ``groups``), one dataset at a time. It is the ``engine: statsmodels`` path of the
    workflow and the comparison in ``shrinkstudy.bench``. Every exception and every warning is
    caught and counted per dataset, never raised. DESIGN section 2 says what to expect:
    MixedLM never reaches tau^2 = 0 exactly, warns often, and misses the REML optimum on a few
    per cent of the seed's datasets.

``fit_meta``
    Data given as one estimate y_j and a known standard error s_j per group (Rubin's eight
    schools, BDA3 section 5.5)::

        y_j ~ N(m_j, s_j^2),   m_j = mu + theta_j,   theta_j ~ N(0, tau^2)

    With ``V_j = s_j^2 + tau^2``, ``w_j = 1 / V_j``, ``mu(tau^2) = sum w_j y_j / sum w_j`` and
    ``Q = sum w_j (y_j - mu)^2``, the REML criterion (-2 log restricted likelihood) is::

        f(tau^2) = sum log V_j + log sum w_j + Q + (J - 1) log(2 pi)

    (ML drops ``log sum w_j`` and uses J for J - 1), with derivative (envelope theorem for mu)::

        f'(tau^2) = sum w_j - sum w_j^2 / sum w_j - sum w_j^2 (y_j - mu)^2     (REML)
        f'(tau^2) = sum w_j - sum w_j^2 (y_j - mu)^2                           (ML)

    The estimators are the summary-form versions of DESIGN section 2, with s_j^2 in place of
    sigma^2 / n_j: raw (y_j), pooled (the precision-weighted mean, tau^2 = 0), blup
    (``mu^ + B^_j (y_j - mu^)``, ``B_j = tau^2 / (tau^2 + s_j^2)``), varmatch
    (``mu^ + sqrt(B^_j) (y_j - mu^)``) and hier_bayes. ``exp(-f(tau^2) / 2)`` is BDA3 eq. 5.21's
    marginal likelihood ``p(y | tau)`` (mu integrated out under a flat prior), so
    ``p(tau | y) ∝ p(tau) exp(-f / 2)`` and, given tau, ``m_j | tau, y ~
    N(mu^ + B_j (y_j - mu^), B_j s_j^2 + (1 - B_j)^2 / sum w)``: the posterior mean is a 1-D
    quadrature over tau and the posterior a mixture of normals, whose quantiles give a central
    interval. bayesglm (identical to blup when the dispersion is known), james_stein and the
    oracle (no truth) are not part of this form.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from .estimators import Fit
from .hierbayes import zoomed_quadrature
from .reml import NOT_IDENTIFIED, OK, VarComp, criterion
from .simulate import suffstats_from_long

__all__ = [
    "SINGULAR_TOL",
    "fit_statsmodels",
    "statsmodels_varcomp",
    "META_ESTIMATORS",
    "META_INTERVAL_ESTIMATORS",
    "META_PRIOR_FAMILIES",
    "MetaPrior",
    "meta_criterion",
    "meta_criterion_derivative",
    "fit_meta_varcomp",
    "fit_meta",
]

# ---------------------------------------------------------------------------------------------
# statsmodels MixedLM, dataset by dataset
# ---------------------------------------------------------------------------------------------

#: A statsmodels fit counts as a boundary (singular) fit when tau / sigma < SINGULAR_TOL: the
#: tolerance of lme4's ``isSingular()`` on its relative covariance factor theta = tau / sigma.
SINGULAR_TOL = 1e-4
_BOUNDARY_WARNING = "on the boundary of the parameter space"  # MixedLM's own boundary warning


def _fit_one_statsmodels(y: np.ndarray, groups: np.ndarray, labels: np.ndarray, reml: bool):
    """One MixedLM fit: (mu, tau2, sigma2, converged, warnings, error, blup over ``labels``)."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    nan_blup = np.full(labels.size, np.nan)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with np.errstate(all="warn"):
                model = MixedLM(y, np.ones((y.size, 1)), groups=groups)
                res = model.fit(reml=reml)
            mu = float(np.asarray(res.fe_params)[0])
            tau2 = float(np.asarray(res.cov_re)[0, 0])
            sigma2 = float(res.scale)
            re = res.random_effects
            blup = np.array([mu + float(np.asarray(re[g])[0]) for g in labels])
            out = (mu, tau2, sigma2, bool(res.converged), "", blup)
        except Exception as exc:  # any failure of the reference fit is data, not a crash
            message = " ".join(str(exc).split())
            out = (np.nan, np.nan, np.nan, False, f"{type(exc).__name__}: {message}", nan_blup)
    mu, tau2, sigma2, converged, error, blup = out
    return mu, tau2, sigma2, converged, [str(w.message) for w in caught], error, blup


def fit_statsmodels(data: pd.DataFrame, reml: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """Fit ``y ~ 1 + (1 | group)`` with statsmodels MixedLM on every dataset of ``data``.

    Parameters
    ----------
    data : DataFrame with columns ``rep`` (dataset), ``group`` and ``y`` (long format, as
        written by ``simulate_chunk``).
    reml : REML (default) or ML.

    Returns
    -------
    fits : DataFrame, one row per dataset in sorted ``rep`` order, with columns
        ``rep``, ``mu`` (fixed intercept), ``tau2`` (random-intercept variance), ``sigma2``
        (residual variance), ``boundary`` (MixedLM's own verdict, since it never returns
        exactly 0: tau / sigma < ``SINGULAR_TOL``, lme4's ``isSingular`` convention, or its
        warning that "the MLE may be on the boundary of the parameter space"), ``converged``
        (MixedLM's own flag; False after an error), ``warnings`` (number of warnings raised
        during the fit: ConvergenceWarning, SingularMatrixWarning, RuntimeWarning ...) and
        ``error`` (``"ExceptionType: message"``, empty when the fit returned). A failed fit
        has NaN estimates.
    blup : (R, J) array of BLUPs, fixed effect + predicted random effect, rows in the order of
        ``fits``, columns in sorted group-label order of each dataset (the order of
        ``suffstats_from_long``); NaN for a failed fit and for groups a dataset does not have.
    """
    missing = {"rep", "group", "y"} - set(data.columns)
    if missing:
        raise ValueError(f"fit_statsmodels: data lacks column(s) {sorted(missing)}")
    rows = []
    blups = []
    for rep, d in data.groupby("rep", sort=True):
        y = d["y"].to_numpy(dtype=float)
        groups = d["group"].to_numpy()
        labels = np.unique(groups)
        mu, tau2, sigma2, converged, caught, error, blup = _fit_one_statsmodels(y, groups, labels, reml)
        boundary = False
        if np.isfinite(tau2):
            with np.errstate(invalid="ignore", divide="ignore"):
                boundary = bool(tau2 < SINGULAR_TOL**2 * sigma2) or any(
                    _BOUNDARY_WARNING in w for w in caught
                )
        rows.append(
            {
                "rep": rep,
                "mu": mu,
                "tau2": tau2,
                "sigma2": sigma2,
                "boundary": boundary,
                "converged": converged,
                "warnings": len(caught),
                "error": error,
            }
        )
        blups.append(blup)
    fits = pd.DataFrame(
        rows, columns=["rep", "mu", "tau2", "sigma2", "boundary", "converged", "warnings", "error"]
    )
    J = max((b.size for b in blups), default=0)
    out = np.full((len(blups), J), np.nan)
    for i, b in enumerate(blups):
        out[i, : b.size] = b
    return fits, out


def statsmodels_varcomp(data: pd.DataFrame, reml: bool = True) -> tuple[VarComp, pd.DataFrame]:
    """statsmodels MixedLM's variance components in the engine's form (``engine: statsmodels``).

    Passed to ``fit_estimators(..., varcomp=...)`` they give MixedLM's own BLUPs (its BLUP is
    ``mu^ + B^_j (ybar_j - mu^)`` with its tau^2 and sigma^2), and varmatch and bayesglm built on
    its estimates.

    Returns
    -------
    varcomp : ``VarComp`` with one entry per dataset in sorted ``rep`` order: MixedLM's mu, tau2
        and sigma2, ``gamma = tau2 / sigma2``, ``crit`` the REML criterion (ML deviance) of the
        data at MixedLM's gamma (compare with the exact fit's to see how far from the optimum it
        stopped), ``boundary`` MixedLM's verdict (see ``fit_statsmodels``, not tau2 == 0, which
        it never reaches), ``status`` ``OK`` or ``NOT_IDENTIFIED`` where MixedLM failed (NaN
        estimates, so the estimators built on them count as failed).
    extra : DataFrame with columns rep, converged, warnings, error (see ``fit_statsmodels``).
    """
    fits, _ = fit_statsmodels(data, reml=reml)
    method = "REML" if reml else "ML"
    stats = suffstats_from_long(data["rep"], data["group"], data["y"])[0]
    tau2 = fits["tau2"].to_numpy(dtype=float)
    sigma2 = fits["sigma2"].to_numpy(dtype=float)
    failed = ~(np.isfinite(tau2) & np.isfinite(sigma2))
    with np.errstate(invalid="ignore", divide="ignore"):
        gamma = np.where(failed, np.nan, np.maximum(tau2, 0.0) / sigma2)
        crit = criterion(stats, np.where(failed, 0.0, gamma), method)
    crit[failed] = np.nan
    vc = VarComp(
        mu=fits["mu"].to_numpy(dtype=float),
        tau2=tau2,
        sigma2=sigma2,
        gamma=gamma,
        crit=crit,
        boundary=fits["boundary"].to_numpy(dtype=bool),
        status=np.where(failed, NOT_IDENTIFIED, OK).astype(np.int8),
        method=method,
    )
    extra = fits[["rep", "converged", "warnings", "error"]].reset_index(drop=True)
    return vc, extra


# ---------------------------------------------------------------------------------------------
# Summary (meta-analysis) form: one estimate and a known standard error per group
# ---------------------------------------------------------------------------------------------

META_ESTIMATORS = ("raw", "pooled", "blup", "varmatch", "hier_bayes")
META_INTERVAL_ESTIMATORS = ("raw", "blup", "hier_bayes")
META_PRIOR_FAMILIES = ("uniform", "half_cauchy", "uniform_shrinkage")
_LOG_2PI = np.log(2.0 * np.pi)
_META_GRID = np.linspace(-30.0, 10.0, 81)  # log(tau^2 / scale), steps of 0.5


@dataclass(frozen=True)
class MetaPrior:
    """Prior on tau for ``fit_meta``'s hier_bayes (mu has a flat prior).

    * ``uniform`` (default): ``p(tau) ∝ 1`` on tau >= 0 (BDA3 section 5.4). Improper; the
      posterior is proper only with J >= 3 groups (``p(tau | y)`` falls as ``tau^-(J - 1)``),
      and E[tau^k | y] exists only for k < J - 2.
    * ``half_cauchy``: ``tau ~ half-Cauchy(0, scale)``, scale in the units of y (Gelman 2006
      uses 25 for the eight schools); ``scale`` is required.
    * ``uniform_shrinkage``: ``s0^2 / (s0^2 + tau^2) ~ Uniform(0, 1)`` with ``s0^2`` the mean
      of the s_j^2 (Christiansen & Morris 1997; Daniels 1999; the long form's choice with
      ``s_j^2 = sigma^2 / n_j``).
    """

    family: str = "uniform"
    scale: float | None = None
    nodes: int = 64  # Gauss-Legendre nodes per pass
    passes: int = 3

    def __post_init__(self):
        if self.family not in META_PRIOR_FAMILIES:
            raise ValueError(f"summary-form prior must be one of {META_PRIOR_FAMILIES}, not {self.family!r}")
        if self.family == "half_cauchy":
            if self.scale is None or not (np.isfinite(self.scale) and self.scale > 0):
                raise ValueError(
                    "the half_cauchy prior on tau needs a positive scale in the units of the estimates "
                    f"(got {self.scale!r})"
                )
        elif self.scale is not None and not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"prior scale must be positive, not {self.scale!r}")

    def tau(self, v: np.ndarray, s0: np.ndarray):
        """tau at quadrature coordinate v in (0, 1) and log(prior density * dtau/dv) (up to a constant).

        v is the prior's own probability scale for the proper priors (weight 0); the uniform
        prior is mapped by ``tau = s0 tan(pi v / 2)`` with weight ``log(1 + (tau / s0)^2)``.
        """
        s0 = s0[:, None]
        if self.family == "uniform_shrinkage":
            tau = s0 * np.sqrt(v / (1.0 - v))
            return tau, np.zeros_like(tau)
        if self.family == "half_cauchy":
            tau = self.scale * np.tan(0.5 * np.pi * v)
            return tau, np.zeros_like(tau)
        t = np.tan(0.5 * np.pi * v)
        return s0 * t, np.log1p(t * t)


def _meta_arrays(y, se):
    y = np.atleast_2d(np.asarray(y, dtype=float))
    se = np.atleast_2d(np.asarray(se, dtype=float))
    y, se = np.broadcast_arrays(y, se)
    present = np.isfinite(y) & np.isfinite(se)
    if np.any(present & ~(se > 0)):
        raise ValueError("fit_meta: every standard error must be positive")
    v = np.where(present, se * se, 1.0)
    return np.where(present, y, 0.0), v, present


def _meta_parts(y, v, present, tau2):
    """w, S, mu, d, Q, sum log V at tau2 (shape (R,) or (R, G)); y, v, present are (R, J)."""
    tau2 = np.asarray(tau2, dtype=float)
    if tau2.ndim == 2:
        y, v, present, t = y[:, None, :], v[:, None, :], present[:, None, :], tau2[..., None]
    else:
        t = tau2[:, None]
    V = v + t
    w = np.where(present, 1.0 / V, 0.0)
    S = w.sum(axis=-1)
    mu = (w * y).sum(axis=-1) / S
    d = np.where(present, y - mu[..., None], 0.0)
    Q = (w * d * d).sum(axis=-1)
    logdet = np.where(present, np.log(V), 0.0).sum(axis=-1)
    return w, S, mu, d, Q, logdet


def meta_criterion(y, se, tau2, method: str = "REML") -> np.ndarray:
    """-2 log (restricted) likelihood of the summary form at ``tau2`` (shape (R,) or (R, G))."""
    y, v, present = _meta_arrays(y, se)
    return _meta_crit(y, v, present, tau2, method)


def _meta_crit(y, v, present, tau2, method):
    _, S, _, _, Q, logdet = _meta_parts(y, v, present, tau2)
    J = present.sum(axis=1).astype(float)
    if np.ndim(tau2) == 2:
        J = J[:, None]
    if method == "REML":
        return logdet + np.log(S) + Q + (J - 1.0) * _LOG_2PI
    return logdet + Q + J * _LOG_2PI


def meta_criterion_derivative(y, se, tau2, method: str = "REML") -> np.ndarray:
    """d criterion / d tau^2 at ``tau2`` (shape (R,))."""
    y, v, present = _meta_arrays(y, se)
    return _meta_deriv(y, v, present, tau2, method)


def _meta_deriv(y, v, present, tau2, method):
    w, S, _, d, _, _ = _meta_parts(y, v, present, tau2)
    w2 = w * w
    out = S - (w2 * d * d).sum(axis=-1)
    if method == "REML":
        out = out - w2.sum(axis=-1) / S
    return out


def _check_method(method):
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML', not {method!r}")


def fit_meta_varcomp(y, se, method: str = "REML") -> VarComp:
    """Global REML (default) or ML estimate of tau^2 in the summary form, vectorised over datasets.

    Parameters
    ----------
    y, se : (R, J) or (J,) arrays of estimates and their known standard errors; NaN marks a
        group a dataset does not have.
    method : "REML" or "ML".

    Returns
    -------
    VarComp with mu (precision-weighted mean at tau^2^), tau2, crit, boundary and status per
    dataset; ``sigma2`` and ``gamma`` are NaN (there is no residual variance to estimate).
    Datasets with fewer than 2 groups are ``NOT_IDENTIFIED`` (NaN).

    The minimum over tau^2 >= 0 is found on a grid of tau^2 / c, c = mean s_j^2 + var(y_j)
    (0 and 81 points from e^-30 to e^10), followed by bisection on the sign of f' in log tau^2
    inside the bracket around the grid minimum (to double precision). tau^2 = 0 exactly when
    f'(0) >= 0 and no interior point is lower (for REML: when the spread of the y_j is small
    against their standard errors).
    """
    _check_method(method)
    y, v, present = _meta_arrays(y, se)
    return _fit_meta_varcomp(y, v, present, method)


def _fit_meta_varcomp(y, v, present, method):
    R = y.shape[0]
    J = present.sum(axis=1)
    status = np.where(J >= 2, OK, NOT_IDENTIFIED).astype(np.int8)
    tau2 = np.full(R, np.nan)
    reg = np.flatnonzero(status == OK)
    if reg.size:
        yy, vv, pp = y[reg], v[reg], present[reg]
        Jr = pp.sum(axis=1)
        ym = (yy * pp).sum(axis=1) / Jr
        spread = (np.where(pp, yy - ym[:, None], 0.0) ** 2).sum(axis=1) / Jr
        scale = (vv * pp).sum(axis=1) / Jr + spread
        grid = np.concatenate([np.zeros((reg.size, 1)), scale[:, None] * np.exp(_META_GRID)], axis=1)
        f = _meta_crit(yy, vv, pp, grid, method)
        k = np.argmin(f, axis=1)
        rows = np.arange(reg.size)
        G = grid.shape[1]
        lo = grid[rows, np.maximum(k - 1, 1)]
        hi = grid[rows, np.minimum(k + 1, G - 1)]
        lo = np.where(k <= 1, grid[:, 1] * 1e-6, lo)
        d0 = _meta_deriv(yy, vv, pp, np.zeros(reg.size), method)
        # bisection on the sign of f' in log tau^2 (f' < 0 left of the minimum)
        a, b = np.log(lo), np.log(hi)
        fa = _meta_deriv(yy, vv, pp, lo, method)
        fb = _meta_deriv(yy, vv, pp, hi, method)
        bracket = (fa < 0) & (fb > 0)
        for _ in range(200):
            m = 0.5 * (a + b)
            fm = _meta_deriv(yy, vv, pp, np.exp(m), method)
            a = np.where(fm < 0, m, a)
            b = np.where(fm < 0, b, m)
            if np.all(b - a <= 1e-15 * np.maximum(1.0, np.abs(a))):
                break
        t = np.where(bracket, np.exp(0.5 * (a + b)), grid[rows, k])
        # the boundary: f'(0) >= 0 and no interior point lower than f(0)
        f0 = f[:, 0]
        ft = _meta_crit(yy, vv, pp, t, method)
        t = np.where((d0 >= 0) & (f0 <= ft + 1e-12 * np.abs(f0)), 0.0, t)
        tau2[reg] = t
    t_safe = np.where(np.isfinite(tau2), tau2, 0.0)
    mu = _meta_parts(y, v, present, t_safe)[2]
    with np.errstate(invalid="ignore", divide="ignore"):
        crit = _meta_crit(y, v, present, t_safe, method)
    bad = status == NOT_IDENTIFIED
    mu = np.where(J >= 1, mu, np.nan)
    crit[bad] = np.nan
    nan = np.full(R, np.nan)
    return VarComp(
        mu=mu,
        tau2=tau2,
        sigma2=nan,
        gamma=nan.copy(),
        crit=crit,
        boundary=(tau2 == 0) & ~bad,
        status=status,
        method=method,
    )


def _normal_mixture_quantiles(p, c, s, targets, iters=80):
    """Quantiles of sum_k p_k N(c_k, s_k^2) per (R, J): p (R, G), c and s (R, G, J); bisection."""
    lo = (c - 12.0 * s).min(axis=1)
    hi = (c + 12.0 * s).max(axis=1)
    out = []
    for target in targets:
        a, b = lo.copy(), hi.copy()
        for _ in range(iters):
            m = 0.5 * (a + b)
            with np.errstate(invalid="ignore", divide="ignore"):
                z = (m[:, None, :] - c) / s
            F = (p[..., None] * special.ndtr(z)).sum(axis=1)
            below = F < target
            a = np.where(below, m, a)
            b = np.where(below, b, m)
        out.append(0.5 * (a + b))
    return out


def _meta_hier_bayes(y, v, present, prior: MetaPrior, level):
    """Posterior means, central intervals, E[tau | y] and E[tau^2 | y] by quadrature over tau."""
    R, J = y.shape
    Jd = present.sum(axis=1)
    s0 = np.sqrt((v * present).sum(axis=1) / np.maximum(Jd, 1))
    failed = Jd < (3 if prior.family == "uniform" else 2)
    mean = np.full((R, J), np.nan)
    lower = np.full((R, J), np.nan)
    upper = np.full((R, J), np.nan)
    tau_mean = np.full(R, np.nan)
    tau2_mean = np.full(R, np.nan)
    idx = np.flatnonzero(~failed)
    if idx.size == 0:
        return mean, lower, upper, tau_mean, tau2_mean, failed
    yy, vv, pp, ss0 = y[idx], v[idx], present[idx], s0[idx]

    def evaluate(vq):
        tau, logjac = prior.tau(vq, ss0)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            lp = -0.5 * _meta_crit(yy, vv, pp, tau * tau, "REML") + logjac
        return lp, None, tau

    tau, weight = zoomed_quadrature(evaluate, idx.size, prior.nodes, prior.passes)
    tau2 = tau * tau
    w, S, mu, d, _, _ = _meta_parts(yy, vv, pp, tau2)  # (n, G, J), (n, G)
    B = tau2[..., None] * w  # tau^2 / (tau^2 + s_j^2)
    cond = mu[..., None] + B * d
    m = (weight[..., None] * cond).sum(axis=1)
    mean[idx] = np.where(pp, m, np.nan)
    Jr = pp.sum(axis=1)
    tm = (weight * tau).sum(axis=1)
    t2m = (weight * tau2).sum(axis=1)
    if prior.family == "uniform":  # E[tau^k | y] exists only for k < J - 2
        tm = np.where(Jr > 3, tm, np.nan)
        t2m = np.where(Jr > 4, t2m, np.nan)
    tau_mean[idx] = tm
    tau2_mean[idx] = t2m
    if level is not None:
        var = B * vv[:, None, :] + (1.0 - B) ** 2 / S[..., None]
        a = (1.0 - level) / 2.0
        qlo, qhi = _normal_mixture_quantiles(weight, cond, np.sqrt(var), [a, 1.0 - a])
        lower[idx] = np.where(pp, qlo, np.nan)
        upper[idx] = np.where(pp, qhi, np.nan)
    return mean, lower, upper, tau_mean, tau2_mean, failed


def fit_meta(
    y,
    se,
    estimators=META_ESTIMATORS,
    *,
    method: str = "REML",
    level: float = 0.95,
    intervals: bool = True,
    prior: MetaPrior | None = None,
) -> Fit:
    """Estimates of the group means from estimates y_j with known standard errors s_j.

    Parameters
    ----------
    y, se : (R, J) or (J,) arrays; NaN marks a group a dataset does not have.
    estimators : any of ``META_ESTIMATORS`` (raw, pooled, blup, varmatch, hier_bayes).
    method : "REML" (default) or "ML", for tau^2^ (blup, varmatch).
    level : level of the central intervals (raw: ``y_j +- z s_j``; blup: the plug-in interval
        ``blup_j +- z sqrt(B^_j) s_j``; hier_bayes: the central posterior interval).
    prior : ``MetaPrior`` for hier_bayes (default: uniform on tau, BDA3).

    Returns
    -------
    ``shrinkstudy.estimators.Fit`` with (R, J) estimates and intervals, per-dataset failure
    flags, the REML/ML ``VarComp`` (sigma2 and gamma NaN) and, in ``extra``,
    ``hier_bayes_tau_mean`` and ``hier_bayes_tau2_mean`` (posterior means of tau and tau^2;
    NaN where they do not exist).
    """
    _check_method(method)
    unknown = [e for e in estimators if e not in META_ESTIMATORS]
    if unknown:
        raise ValueError(
            f"estimator(s) {unknown} not available in the summary form; known: {list(META_ESTIMATORS)}"
        )
    prior = prior or MetaPrior()
    yy, v, present = _meta_arrays(y, se)
    vc = _fit_meta_varcomp(yy, v, present, method)
    z = special.ndtri(0.5 + level / 2.0)
    s = np.sqrt(v)

    def nan_absent(a):
        return np.where(present, a, np.nan)

    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = vc.tau2[:, None]
        B = np.where(tau2 == 0, 0.0, tau2 / (tau2 + v))
        mu = vc.mu[:, None]
    est, ints, extra = {}, {}, {}
    for name in estimators:
        if name == "raw":
            est[name] = nan_absent(yy)
            if intervals:
                ints[name] = (nan_absent(yy - z * s), nan_absent(yy + z * s))
        elif name == "pooled":
            w = np.where(present, 1.0 / v, 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                pm = (w * yy).sum(axis=1) / w.sum(axis=1)
            est[name] = nan_absent(np.broadcast_to(pm[:, None], yy.shape))
        elif name == "blup":
            b = mu + B * (yy - mu)
            est[name] = nan_absent(b)
            if intervals:
                half = z * np.sqrt(B) * s
                ints[name] = (nan_absent(b - half), nan_absent(b + half))
        elif name == "varmatch":
            est[name] = nan_absent(mu + np.sqrt(B) * (yy - mu))
        elif name == "hier_bayes":
            m, lo, hi, tm, t2m, _ = _meta_hier_bayes(yy, v, present, prior, level if intervals else None)
            est[name] = m
            if intervals:
                ints[name] = (lo, hi)
            extra["hier_bayes_tau_mean"] = tm
            extra["hier_bayes_tau2_mean"] = t2m
    failed = {}
    for name, e in est.items():
        bad = ~np.all(np.isfinite(e) | ~present, axis=1)
        if name in ("blup", "varmatch"):
            bad |= ~vc.ok
        failed[name] = bad
    return Fit(estimates=est, intervals=ints, failed=failed, varcomp=vc, extra=extra)
