"""The summary (meta-analysis) form: one estimate and a known standard error per group.

Data given as one estimate y_j and a known standard error s_j per group (Rubin's eight
schools, BDA3 section 5.5)::

    y_j ~ N(m_j, s_j^2),   m_j = mu + theta_j,   theta_j ~ N(0, tau^2)

With ``V_j = s_j^2 + tau^2``, ``w_j = 1 / V_j``, ``mu(tau^2) = sum w_j y_j / sum w_j`` and
``Q = sum w_j (y_j - mu)^2``, the REML criterion (-2 log restricted likelihood) is::

    f(tau^2) = sum log V_j + log sum w_j + Q + (J - 1) log(2 pi)

(ML drops ``log sum w_j`` and uses J for J - 1), with derivative (envelope theorem for mu)::

    f'(tau^2) = sum w_j - sum w_j^2 / sum w_j - sum w_j^2 (y_j - mu)^2     (REML)
    f'(tau^2) = sum w_j - sum w_j^2 (y_j - mu)^2                           (ML)

The estimators are the summary-form versions of docs/formulas.md section 2, with s_j^2 in place of
sigma^2 / n_j: raw (y_j), pooled (the precision-weighted mean, tau^2 = 0), blup
(``mu^ + B^_j (y_j - mu^)``, ``B_j = tau^2 / (tau^2 + s_j^2)``), varmatch
(``mu^ + sqrt(B^_j) (y_j - mu^)``) and hier_bayes. ``exp(-f(tau^2) / 2)`` is BDA3 eq. 5.21's
marginal likelihood ``p(y | tau)`` (mu integrated out under a flat prior), so
``p(tau | y) ∝ p(tau) exp(-f / 2)`` and, given tau, ``m_j | tau, y ~
N(mu^ + B_j (y_j - mu^), B_j s_j^2 + (1 - B_j)^2 / sum w)``: the posterior mean is a 1-D
quadrature over tau and the posterior a mixture of normals, whose quantiles give a central
interval. james_stein is the positive-part James-Stein estimate toward the mean of the y_j,
for datasets whose standard errors are all equal (the textbook case: Efron & Morris's
batting averages). blup_ml, constrained_bayes, sure and npmle are the long form's rules with
s_j^2 in place of sigma^2^ / n_j. oracle_linear and oracle (the Bayes rule given y_j with the
true prior) need the truth: the study's known-SE cells fit them (``fit_known_se``), data alone
cannot (``fit_meta``, ``shrinkstudy fit --se``). bayesglm (identical to blup when the dispersion
is known) has no summary form. ``meta_tau_interval`` gives profile-likelihood confidence
intervals for tau (as ``reml.tau_interval`` does, with this form's criterion).

Each estimator's summary form is the ``known_se`` function of its registry entry, called as
``f(data, varcomp, prior, level) -> plugins.Estimate`` with ``data`` a ``KnownSE``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from . import registry
from .estimators import EBLUPMSE, Fit, james_stein_shrink, shrink, shrinkage
from .hierbayes import HierPrior, mixture_quantiles, zoomed_quadrature
from .plugins import Estimate
from .reml import NOT_IDENTIFIED, OK, TauInterval, VarComp, _chi2_cutoff, _interval_ends

__all__ = [
    "META_ESTIMATORS",
    "META_INTERVAL_ESTIMATORS",
    "KNOWN_SE_ESTIMATORS",
    "META_PRIOR_FAMILIES",
    "KnownSE",
    "MetaPrior",
    "meta_criterion",
    "meta_criterion_derivative",
    "fit_meta_varcomp",
    "meta_tau_interval",
    "fit_meta",
    "fit_known_se",
    "meta_prior",
    "raw",
    "pooled",
    "blup",
    "varmatch",
    "hier_bayes",
    "james_stein",
    "equal_standard_errors",
]

#: Estimators with a summary form that data alone can fit (those whose registry entry has
#: ``known_se`` and needs no truth: ``shrinkstudy fit --se``), in table order.
META_ESTIMATORS = tuple(e.name for e in registry.BUILTIN if e.known_se is not None and "truth" not in e.needs)
#: Those of them with intervals.
META_INTERVAL_ESTIMATORS = tuple(e for e in META_ESTIMATORS if registry.get(e).has_interval)
#: Every estimator with a summary form, the oracles (which need the truth) included: the study's
#: known-SE cells fit these.
KNOWN_SE_ESTIMATORS = tuple(e.name for e in registry.BUILTIN if e.known_se is not None)
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


def meta_tau_interval(y, se, level: float = 0.95, method: str = "REML", fit: VarComp | None = None) -> TauInterval:
    """Profile-likelihood confidence intervals for tau in the summary form, one per dataset.

    ``{tau >= 0 : f(tau^2) - f(tau^^2) <= chi2_1(level)}`` with ``f`` the REML criterion
    (``meta_criterion``; tau is its only parameter besides mu, which it has already profiled
    out), its hull should the set have several pieces; the lower end is 0 when ``f(0)`` is
    within the cutoff (``zero_inside``: the data cannot rule tau = 0 out). ``y, se`` as
    ``fit_meta_varcomp``'s, ``fit`` its result if already computed. NaN ends for datasets with
    fewer than 2 groups.
    """
    _check_method(method)
    cutoff = _chi2_cutoff(level)
    y, v, present = _meta_arrays(y, se)
    vc = fit if fit is not None else _fit_meta_varcomp(y, v, present, method)
    R = y.shape[0]
    lower, upper = np.full(R, np.nan), np.full(R, np.nan)
    zero = np.zeros(R, dtype=bool)
    tau_hat = np.sqrt(vc.tau2)
    for r in np.flatnonzero(vc.status == OK):
        yy, vv, pp = y[r : r + 1], v[r : r + 1], present[r : r + 1]

        def prof(tau, yy=yy, vv=vv, pp=pp):
            return _meta_crit(yy, vv, pp, (np.asarray(tau, dtype=float) ** 2)[None, :], method)[0]

        crit_min = min(float(vc.crit[r]), float(prof(np.array([tau_hat[r]]))[0]))
        yj, vj = yy[pp], vv[pp]
        scale = float(np.sqrt(np.mean(vj) + np.var(yj)))
        lower[r], upper[r], zero[r] = _interval_ends(prof, float(tau_hat[r]), crit_min, scale, cutoff)
    return TauInterval(tau=tau_hat, lower=lower, upper=upper, zero_inside=zero, level=float(level), method=method)


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
        qlo, qhi = mixture_quantiles(weight, cond, np.sqrt(var), np.full(idx.size, np.inf), [a, 1.0 - a])
        lower[idx] = np.where(pp, qlo, np.nan)
        upper[idx] = np.where(pp, qhi, np.nan)
    return mean, lower, upper, tau_mean, tau2_mean, failed


@dataclass(frozen=True)
class KnownSE:
    """Estimates y (R, J) (0 where absent), their sampling variances v = s^2 (1 where absent)
    and the mask of the groups each dataset has."""

    y: np.ndarray
    v: np.ndarray
    present: np.ndarray

    def absent_nan(self, a) -> np.ndarray:
        return np.where(self.present, a, np.nan)


def _z(level) -> float:
    return special.ndtri(0.5 + level / 2.0)


def raw(data: KnownSE, varcomp: VarComp, prior: MetaPrior, level: float | None) -> Estimate:
    """The estimates themselves, with the interval y_j +- z s_j."""
    est = data.absent_nan(data.y)
    if level is None:
        return Estimate(est)
    half = _z(level) * np.sqrt(data.v)
    return Estimate(est, data.absent_nan(data.y - half), data.absent_nan(data.y + half))


def pooled(data: KnownSE, varcomp: VarComp, prior: MetaPrior, level: float | None) -> Estimate:
    """The precision-weighted mean of the estimates for every group (tau^2 = 0)."""
    w = np.where(data.present, 1.0 / data.v, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pm = (w * data.y).sum(axis=1) / w.sum(axis=1)
    return Estimate(data.absent_nan(np.broadcast_to(pm[:, None], data.y.shape)))


def _B(data: KnownSE, varcomp: VarComp) -> np.ndarray:
    return shrinkage(varcomp.tau2, data.v)


def eblup_mse(data: KnownSE, varcomp: VarComp) -> EBLUPMSE:
    """g1, g2, g3 of the EBLUP with known sampling variances v_j (Fay-Herriot; Prasad & Rao
    1990, Datta & Lahiri 2000): g1 = B_j v_j, g2 = (1 - B_j)^2 / sum_k (tau^2 + v_k)^-1,
    g3 = v_j^2 (tau^2 + v_j)^-3 V(tau^2^), V the inverse of the REML information
    ``(sum u^2 - 2 sum u^3 / U + (sum u^2)^2 / U^2) / 2``, u_k = 1 / (tau^2 + v_k), U = sum u_k.
    g3 is NaN for ML fits."""
    present = data.present
    t2 = varcomp.tau2[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.where(present, 1.0 / (t2 + data.v), 0.0)
        U, su2, su3 = u.sum(axis=1), (u * u).sum(axis=1), (u**3).sum(axis=1)
        info = 0.5 * (su2 - 2.0 * su3 / U + su2 * su2 / U**2)
        B = _B(data, varcomp)
        g1 = B * data.v
        g2 = (1.0 - B) ** 2 / U[:, None]
        g3 = data.v**2 * u**3 / info[:, None]
    if varcomp.method != "REML":
        g3 = np.full_like(g3, np.nan)
    return EBLUPMSE(*(data.absent_nan(g) for g in (g1, g2, g3)))


def _blup_with(data: KnownSE, varcomp: VarComp, level: float | None, mse) -> Estimate:
    b = shrink(data.y, varcomp.mu, _B(data, varcomp))
    if level is None:
        return Estimate(data.absent_nan(b))
    with np.errstate(invalid="ignore"):
        half = _z(level) * np.sqrt(mse(eblup_mse(data, varcomp)))
    return Estimate(data.absent_nan(b), data.absent_nan(b - half), data.absent_nan(b + half))


def blup(data: KnownSE, varcomp: VarComp, prior: MetaPrior, level: float | None) -> Estimate:
    """mu^ + B^_j (y_j - mu^), B_j = tau^2 / (tau^2 + s_j^2), with the plug-in interval
    blup_j +- z sqrt(g1 + g2) (``eblup_mse``: positive width at tau^2^ = 0)."""
    return _blup_with(data, varcomp, level, lambda m: m.plug_in)


def blup_pr(data: KnownSE, varcomp: VarComp, prior: MetaPrior, level: float | None) -> Estimate:
    """The BLUP with the Prasad-Rao interval blup_j +- z sqrt(g1 + g2 + 2 g3) (``eblup_mse``)."""
    return _blup_with(data, varcomp, level, lambda m: m.prasad_rao)


def varmatch(data: KnownSE, varcomp: VarComp, prior: MetaPrior, level: float | None) -> Estimate:
    """mu^ + sqrt(B^_j) (y_j - mu^)."""
    with np.errstate(invalid="ignore"):
        return Estimate(data.absent_nan(shrink(data.y, varcomp.mu, np.sqrt(_B(data, varcomp)))))


def hier_bayes(data: KnownSE, varcomp: VarComp, prior: MetaPrior, level: float | None) -> Estimate:
    """Posterior means and central intervals by quadrature over tau; E[tau | y], E[tau^2 | y]."""
    m, lo, hi, tm, t2m, _ = _meta_hier_bayes(data.y, data.v, data.present, prior, level)
    if level is None:
        lo = hi = None
    return Estimate(m, lo, hi, extra={"tau_mean": tm, "tau2_mean": t2m})


def equal_standard_errors(data: KnownSE, rtol: float = 1e-9) -> np.ndarray:
    """(R,) True where every standard error of a dataset is the same (to ``rtol``)."""
    v = np.where(data.present, data.v, np.nan)
    with np.errstate(invalid="ignore"):
        return np.nanmax(v, axis=1) <= np.nanmin(v, axis=1) * (1.0 + rtol)


def james_stein(data: KnownSE, varcomp: VarComp, prior: MetaPrior, level: float | None) -> Estimate:
    """Positive-part James-Stein toward the mean of the estimates, for equal standard errors s:
    ``ybar + max(0, 1 - (J - 3) s^2 / sum (y_j - ybar)^2) (y_j - ybar)`` (Efron & Morris 1973,
    1975). NaN for a dataset whose standard errors differ (it does not apply there); the
    shrinkage factor is ``extra["factor"]``."""
    equal = equal_standard_errors(data)
    J = data.present.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        center = np.where(data.present, data.y, 0.0).sum(axis=1) / J
        s2 = np.where(data.present, data.v, 0.0).sum(axis=1) / J
    est, factor = james_stein_shrink(data.y, center, data.present, s2)
    est = np.where(data.present & equal[:, None], est, np.nan)
    return Estimate(est, extra={"factor": np.where(equal, factor, np.nan)})


def blup_ml(data: KnownSE, varcomp: VarComp, prior: MetaPrior, level: float | None) -> Estimate:
    """The BLUP with the ML estimate of tau^2, whatever the study's method."""
    vc = _fit_meta_varcomp(data.y, data.v, data.present, "ML")
    return Estimate(data.absent_nan(shrink(data.y, vc.mu, _B(data, vc))))


def constrained_bayes(data: KnownSE, varcomp: VarComp, prior: MetaPrior, level: float | None) -> Estimate:
    """Constrained Bayes (Louis 1984; Ghosh 1992) around the plug-in posterior: posterior means
    b_j = the BLUPs, variances V_j = B^_j s_j^2 (``ebayes.constrained_bayes_from_posterior``)."""
    from .ebayes import constrained_bayes_from_posterior

    B = _B(data, varcomp)
    b = data.absent_nan(shrink(data.y, varcomp.mu, B))
    out = constrained_bayes_from_posterior(b, data.absent_nan(B * data.v))
    out[~np.isfinite(varcomp.tau2)] = np.nan
    return Estimate(out)


def _nan_y(data: KnownSE) -> tuple[np.ndarray, np.ndarray]:
    """y and s^2 with NaN for absent groups (the empirical-Bayes solvers' convention)."""
    return data.absent_nan(data.y), data.absent_nan(data.v)


def sure(data: KnownSE, varcomp: VarComp, prior: MetaPrior, level: float | None) -> Estimate:
    """Xie, Kou & Brown (2012) SURE shrinkage toward a location with the known s_j^2
    (``ebayes.sure_fit``, the long form's solver)."""
    from .ebayes import sure_fit

    return Estimate(sure_fit(*_nan_y(data)).estimate)


def npmle(data: KnownSE, varcomp: VarComp, prior: MetaPrior, level: float | None) -> Estimate:
    """Kiefer-Wolfowitz NPMLE empirical Bayes with the known s_j (``ebayes.npmle_fit``, the long
    form's solver, certified gap 1e-7 per group); ``extra``: converged and gap per dataset."""
    from .ebayes import npmle_fit

    fit = npmle_fit(*_nan_y(data))
    return Estimate(fit.estimate, extra={"converged": fit.converged, "gap": fit.gap})


def _ones(data: KnownSE):
    """The estimates as sufficient statistics of one observation per group (n_j = 1, SSW = 0)."""
    from ..design.simulate import SuffStats

    return SuffStats(data.present.astype(float), data.y, np.zeros(data.y.shape[0]))


def _oracle_linear_parts(data: KnownSE, truth):
    B = shrinkage(np.full(data.y.shape[0], float(truth.tau) ** 2), data.v)
    return data.absent_nan(shrink(data.y, np.full(data.y.shape[0], float(truth.mu)), B)), B


def _oracle_interval(data: KnownSE, truth, level):
    est, B = _oracle_linear_parts(data, truth)
    half = _z(level) * np.sqrt(B * data.v)
    return est, data.absent_nan(est - half), data.absent_nan(est + half)


def oracle_linear(data: KnownSE, varcomp: VarComp, prior: MetaPrior, level: float | None, *, truth) -> Estimate:
    """mu + B_j (y_j - mu), B_j = tau^2 / (tau^2 + s_j^2) with the true mu and tau, and its exact
    normal-theory interval +- z sqrt(B_j) s_j."""
    if level is None:
        return Estimate(_oracle_linear_parts(data, truth)[0])
    return Estimate(*_oracle_interval(data, truth, level))


def oracle(data: KnownSE, varcomp: VarComp, prior: MetaPrior, level: float | None, *, truth) -> Estimate:
    """The Bayes rule given y_j with the true prior: mu + E[theta_j | y_j]. Normal effects and
    errors: the linear rule and its exact interval. Other effects, normal errors: the long
    form's ``ebayes.oracle_bayes`` with s_j^2. t errors (y_j - m_j = s_j e_j, e_j a t scaled to
    SD 1): the long form's full-data rule (``ebayes.oracle_full_data``) on one observation per
    group. Outside normal effects and errors no interval (NaN)."""
    from . import ebayes

    if truth.effects_prior is None and truth.errors_df is None:
        return oracle_linear(data, varcomp, prior, level, truth=truth)
    stats = _ones(data)
    mu = float(truth.mu)
    if truth.errors_df is None:
        est = ebayes.oracle_bayes(stats, mu, truth.effects_prior, data.v)
    else:
        from .plugins import Observations
        from ..design.worlds import EFFECTS

        prior_t = truth.effects_prior if truth.effects_prior is not None else EFFECTS["normal"].prior(truth.tau)
        df = float(truth.errors_df)
        c = np.sqrt(data.v * (df - 2.0) / df)
        R, J = data.y.shape
        obs = Observations(data.absent_nan(data.y), np.where(data.present, np.arange(J), -1))
        est = ebayes.oracle_full_data(stats, obs, mu, prior_t, c, df)
    est = data.absent_nan(est)
    if level is None:
        return Estimate(est)
    nan = np.full(est.shape, np.nan)
    return Estimate(est, nan, nan.copy())


def meta_prior(prior: HierPrior, se) -> MetaPrior:
    """The known-SE form of the study's hier_bayes prior (``hier_bayes_prior``, on gamma =
    tau^2 / sigma^2) for a cell of standard errors ``se``: ``uniform_shrinkage`` as it is (s0^2
    the mean s_j^2, as the long form's n0); ``half_cauchy`` with scale c on tau / sigma becomes
    a half-Cauchy on tau with scale c s0, s0 the root mean square standard error."""
    s0 = float(np.sqrt(np.mean(np.square(np.asarray(se, dtype=float)))))
    if prior.family == "uniform_shrinkage":
        return MetaPrior("uniform_shrinkage", nodes=max(prior.nodes, 64), passes=prior.passes)
    return MetaPrior("half_cauchy", scale=float(prior.scale) * s0, nodes=max(prior.nodes, 64), passes=prior.passes)


def fit_known_se(
    y,
    se,
    estimators=KNOWN_SE_ESTIMATORS,
    *,
    truth=None,
    method: str = "REML",
    level: float = 0.95,
    intervals: bool = True,
    prior: MetaPrior | None = None,
) -> Fit:
    """``fit_meta`` for any of the registry's entries (names or ``registry.Estimator``): those
    with a summary form are fitted (the oracles given ``truth``, an ``estimators.Truth``), the
    others left out of the fit (they have no rows: no known-SE form). ``Fit.messages`` says why
    a dataset failed."""
    from .estimators import STATUS_NAMES

    _check_method(method)
    entries = [e if isinstance(e, registry.Estimator) else registry.get(e) for e in estimators]
    entries = [e for e in entries if e.builtin and e.known_se is not None]
    wanting = [e.name for e in entries if "truth" in e.needs]
    if wanting and truth is None:
        raise ValueError(f"{', '.join(wanting)} need the true mu, tau and effects (truth=...)")
    prior = prior or MetaPrior()
    data = KnownSE(*_meta_arrays(y, se))
    vc = _fit_meta_varcomp(data.y, data.v, data.present, method)
    est, ints, extra, failed, messages = {}, {}, {}, {}, {}
    for entry in entries:
        name = entry.name
        kwargs = {"truth": truth} if "truth" in entry.needs else {}
        with np.errstate(invalid="ignore", divide="ignore"):
            result = entry.known_se_function()(data, vc, prior, level if intervals else None, **kwargs)
        est[name] = result.point
        if intervals and result.lower is not None:
            ints[name] = (result.lower, result.upper)
        extra.update({f"{name}_{k}": v for k, v in result.extra.items()})
        bad = ~np.all(np.isfinite(result.point) | ~data.present, axis=1)
        msg = np.where(bad, "non-finite estimate", "").astype(object)
        if entry.applies == "balanced":  # equal standard errors here; elsewhere it does not apply
            bad &= equal_standard_errors(data)
        if entry.uses_varcomp:
            for r in np.flatnonzero(~vc.ok):
                msg[r] = f"variance components not identified ({STATUS_NAMES.get(int(vc.status[r]))})"
            bad |= ~vc.ok
        msg[~bad] = ""
        failed[name] = bad
        messages[name] = msg
    return Fit(estimates=est, intervals=ints, failed=failed, varcomp=vc, extra=extra, messages=messages)


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
    estimators : any of ``META_ESTIMATORS`` (the registry's entries with a summary form).
    method : "REML" (default) or "ML", for tau^2^ (blup, varmatch).
    level : level of the central intervals (raw: ``y_j +- z s_j``; blup: the plug-in interval
        ``blup_j +- z sqrt(B^_j) s_j``; hier_bayes: the central posterior interval).
    prior : ``MetaPrior`` for hier_bayes (default: uniform on tau, BDA3).

    Returns
    -------
    ``shrinkstudy.methods.estimators.Fit`` with (R, J) estimates and intervals, per-dataset failure
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
    fit = fit_known_se(y, se, estimators, method=method, level=level, intervals=intervals, prior=prior)
    fit.messages = {}
    return fit
