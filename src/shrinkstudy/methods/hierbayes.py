"""Full hierarchical Bayes for the one-way model by one-dimensional quadrature (no MCMC).

Prior ``p(mu, sigma^2, gamma) ∝ p(gamma) / sigma^2`` with ``gamma = tau^2 / sigma^2``.
Integrating mu and sigma^2 out analytically leaves (docs/formulas.md section 4)::

    p(gamma | y) ∝ p(gamma) exp(-REMLcrit(gamma) / 2)
    E[m_j | gamma, y] = mu^(gamma) + B_j(gamma) (ybar_j - mu^(gamma))
    m_j | gamma, y ~ t_{N-1}(E[m_j | gamma, y], qf/(N-1) * (B_j / n_j + (1 - B_j)^2 / sum w))

so the posterior mean is a 1-D integral over gamma and the posterior of m_j a mixture of t
distributions, whose quantiles give a central interval.

The prior on gamma is a config option (``HierPrior``):

* ``half_cauchy`` (default, scale 1): ``tau / sigma ~ half-Cauchy(0, scale)`` (Gelman 2006,
  put on the signal-to-noise ratio so that it stays a 1-D integral);
* ``uniform_shrinkage``: ``B0 = 1 / (1 + n0 gamma) ~ Uniform(0, 1)``, n0 the harmonic mean of
  the group sizes (Christiansen & Morris 1997; Daniels 1999).

Both are integrated in the prior's own probability scale ``v = F(gamma)`` in (0, 1), where the
prior is uniform and the posterior density is ``exp(-REMLcrit(gamma(v)) / 2)``: three passes of
Gauss-Legendre quadrature, each zooming in on where the log posterior is within 40 of its
maximum, so peaked posteriors (large J, large n) and flat ones are both integrated accurately.
Under the uniform shrinkage prior the integrand behaves like ``(1 - v)^((J - 1) / 2)`` at
v = 1 (a half-integer power for even J, which Gauss-Legendre converges on slowly), so the
nodes are placed in ``x`` with ``v = 1 - (1 - x)^2`` (weight ``2 (1 - x)``), which makes it a
polynomial in ``1 - x`` (the passes then zoom in x).

Existence: the posterior mean of m_j needs N >= 3 (given gamma, m_j is t with N - 1 degrees
of freedom), so datasets with N < 3 (or fewer than 2 groups) fail. The posterior mean of
tau^2 needs N >= 4 and, under the half-Cauchy prior, J >= 3 (its tail is ``gamma^(-J/2)``);
``tau2_mean`` is NaN where it does not exist. With every n_j = 1 (tau^2 and sigma^2 not
identified by the likelihood) the proper prior on gamma still gives a proper posterior, whose
means are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .reml import CONSTANT, ZERO_WITHIN, _parts, criterion, data_status
from ..design.simulate import SuffStats
from .tdist import TCdf

__all__ = [
    "HierPrior",
    "HierBayes",
    "hier_bayes",
    "posterior_nodes",
    "zoomed_quadrature",
    "mixture_quantiles",
    "PRIOR_FAMILIES",
]

PRIOR_FAMILIES = ("half_cauchy", "uniform_shrinkage")
_BLOCK_ENTRIES = 8192  # rows x groups per block of hier_bayes


@dataclass(frozen=True)
class HierPrior:
    """Prior on gamma = tau^2/sigma^2 for ``hier_bayes`` (see the module docstring)."""

    family: str = "half_cauchy"
    scale: float = 1.0
    nodes: int = 32  # Gauss-Legendre nodes per pass
    passes: int = 3

    def __post_init__(self):
        if self.family not in PRIOR_FAMILIES:
            raise ValueError(f"hier_bayes prior family must be one of {PRIOR_FAMILIES}, not {self.family!r}")
        if not (self.scale > 0 and np.isfinite(self.scale)):
            raise ValueError(f"hier_bayes prior scale must be positive, not {self.scale!r}")

    def gamma(self, v: np.ndarray, n0: np.ndarray) -> np.ndarray:
        """gamma at prior probability v (shape (R, G)); n0 (R,) harmonic mean group sizes."""
        if self.family == "half_cauchy":
            t = self.scale * np.tan(0.5 * np.pi * v)
            return t * t
        return v / ((1.0 - v) * n0[:, None])

    def integration_map(self, x: np.ndarray, n0: np.ndarray):
        """gamma and dv/dx at the integration variable x in (0, 1) (shape (R, G)).

        half_cauchy: x = v. uniform_shrinkage: v = 1 - (1 - x)^2, so that the posterior is
        smooth at v = 1 (see the module docstring).
        """
        if self.family == "half_cauchy":
            return self.gamma(x, n0), np.ones_like(x)
        one_minus = 1.0 - x
        B0 = one_minus * one_minus  # 1 - v = 1 / (1 + n0 gamma)
        return (1.0 - B0) / (B0 * n0[:, None]), 2.0 * one_minus


@dataclass
class HierBayes:
    """Posterior summaries, (R, J) arrays except tau2_mean (R,)."""

    mean: np.ndarray
    lower: np.ndarray | None
    upper: np.ndarray | None
    tau2_mean: np.ndarray
    failed: np.ndarray


def _log_post(stats: SuffStats, gamma: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return -0.5 * criterion(stats, gamma, "REML")


def zoomed_quadrature(evaluate, R: int, nodes: int, passes: int, window: float = 40.0):
    """Gauss-Legendre quadrature on (0, 1), per row, zooming in on the bulk of a density.

    ``evaluate(v)`` gets the (R, nodes) abscissae and returns ``(log_density, factor, payload)``
    (``factor``: a Jacobian multiplying the weights, or None). Every pass but the last narrows
    each row's interval to its nodes within ``window`` of the row's largest log density (and one
    node either side), so peaked and flat densities are both integrated accurately. Returns the
    last pass's payload and its normalised weights ``w_i * factor_i * exp(lp_i - max lp)``,
    (R, nodes).
    """
    x, w = np.polynomial.legendre.leggauss(nodes)
    x, w = 0.5 * (x + 1.0), 0.5 * w
    lo, hi = np.zeros(R), np.ones(R)
    rows = np.arange(R)
    for p in range(passes):
        width = (hi - lo)[:, None]
        v = lo[:, None] + width * x
        wv = width * w
        lp, factor, payload = evaluate(v)
        lp = np.where(np.isfinite(lp), lp, -np.inf)
        top = lp.max(axis=1, keepdims=True)
        if p == passes - 1:
            break
        keep = lp > top - window
        first = np.argmax(keep, axis=1)
        last = nodes - 1 - np.argmax(keep[:, ::-1], axis=1)
        new_lo = np.where(first > 0, v[rows, np.maximum(first - 1, 0)], lo)
        new_hi = np.where(last < nodes - 1, v[rows, np.minimum(last + 1, nodes - 1)], hi)
        ok = np.isfinite(top[:, 0])
        lo, hi = np.where(ok, new_lo, lo), np.where(ok, new_hi, hi)
    if factor is not None:
        wv = wv * factor
    with np.errstate(invalid="ignore", over="ignore"):
        weight = wv * np.exp(lp - top)
        weight = weight / weight.sum(axis=1, keepdims=True)
    return payload, weight


def posterior_nodes(stats: SuffStats, prior: HierPrior):
    """Quadrature nodes in gamma and normalised posterior weights, each (R, G)."""
    present = stats.present
    n0 = present.sum(axis=1) / np.where(present, 1.0 / np.where(present, stats.n, 1.0), 0.0).sum(axis=1)

    def evaluate(v):
        gamma, jac = prior.integration_map(v, n0)
        return _log_post(stats, gamma), jac, gamma

    return zoomed_quadrature(evaluate, stats.R, prior.nodes, prior.passes)


class _NormalCdf:
    """The standard normal in the t table's interface (the limit df -> inf)."""

    @staticmethod
    def cdf_pdf(z):
        return special.ndtr(z), np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)


_NORMAL = _NormalCdf()


def _mixture_cdf_pdf(x, rows, pf, cf, sf, dff, tables, target, block=2048):
    """Mixture CDF minus ``target`` and density at ``x`` for the flattened problems ``rows``.

    Evaluated in blocks of rows, so that the temporaries of the t table stay in cache."""
    err = np.empty(rows.size)
    dens = np.empty(rows.size)
    for a in range(0, rows.size, block):
        r = rows[a : a + block]
        xa = x[a : a + block]
        for d, table in tables.items():
            sel = np.flatnonzero(dff[r] == d) if len(tables) > 1 else slice(None)
            rr = r[sel]
            sa = sf[rr]
            z = (xa[sel][:, None] - cf[rr]) / sa
            pa = pf[rr]
            cdf, pdf = table.cdf_pdf(z)
            err[a : a + block][sel] = np.einsum("ij,ij->i", pa, cdf) - target
            dens[a : a + block][sel] = np.einsum("ij,ij->i", pa, pdf / sa)
    return err, dens


def mixture_quantiles(p, c, s, df, targets, tol=1e-10, maxiter=60):
    """Quantiles of the mixture sum_k p_k t_df(c_k, s_k) for each (R, J); p (R, G), c, s (R, G, J);
    df (R,), ``inf`` for a mixture of normals (the summary form's posterior).

    Newton's method on the mixture CDF from a moment-matched start, safeguarded by a bracket
    (a step leaving it bisects), iterating only on the entries not yet converged
    (|F(x) - target| <= tol, i.e. the quantile to about tol / density); each entry's iterations
    depend on its own values only, so a dataset's interval does not depend on the others fitted
    with it. The t CDF is the tabulated ``tdist.TCdf`` of each dataset's degrees of freedom
    (exact to 1e-12); the density of the Newton steps is the derivative of that table.
    Returns a list of (R, J) arrays, one per target probability.
    """
    R, G, J = c.shape
    mean = np.einsum("rg,rgj->rj", p, c)
    with np.errstate(invalid="ignore"):
        var_t = np.where(np.isinf(df), 1.0, np.where(df > 2, df / np.maximum(df - 2, 1e-300), 3.0))
    var = np.einsum("rg,rgj->rj", p, s * s * var_t[:, None, None] + c * c) - mean * mean
    sd = np.sqrt(np.maximum(var, 0.0))
    spread = (s.max(axis=1) + 1e-300) * 1e3
    # flatten to (R*J, G) problems
    pf = np.repeat(p, J, axis=0)
    cf = c.transpose(0, 2, 1).reshape(R * J, G)
    sf = s.transpose(0, 2, 1).reshape(R * J, G)
    dff = np.repeat(df, J)
    tables = {d: TCdf(d) if np.isfinite(d) else _NORMAL for d in np.unique(df)}
    out = []
    for target in targets:
        x = (mean + special.stdtrit(df, target)[:, None] * sd).reshape(-1)
        lo = (c.min(axis=1) - spread).reshape(-1)
        hi = (c.max(axis=1) + spread).reshape(-1)
        active = np.flatnonzero(np.isfinite(x))
        for _ in range(maxiter):
            if active.size == 0:
                break
            xa = x[active]
            err, dens = _mixture_cdf_pdf(xa, active, pf, cf, sf, dff, tables, target)
            lo[active] = np.where(err < 0, xa, lo[active])
            hi[active] = np.where(err > 0, xa, hi[active])
            with np.errstate(invalid="ignore", divide="ignore"):
                new = xa - err / dens
            la, ha = lo[active], hi[active]
            new = np.where(np.isfinite(new) & (new > la) & (new < ha), new, 0.5 * (la + ha))
            conv = (np.abs(err) <= tol) | ~np.isfinite(err)
            x[active] = np.where(conv, xa, new)
            active = active[~conv]
        out.append(x.reshape(R, J))
    return out


def hier_bayes(stats: SuffStats, prior: HierPrior | None = None, level: float | None = 0.95) -> HierBayes:
    """Posterior means (and central ``level`` intervals) of the group means, tau integrated out.

    Datasets with fewer than 2 groups or N < 3 fail (NaN, ``failed`` True; with N = 2 the
    posterior of m_j has no mean). Where every observation within each group is equal
    (SSW = 0, N > J) the posterior piles up at gamma = infinity and the answer is the raw means
    with zero-width intervals; where all observations are equal it is their mean.
    """
    prior = prior or HierPrior()
    R = stats.R
    present = stats.present
    N = stats.N
    status = data_status(stats)
    failed = (stats.J < 2) | (N < 3)
    regular = ~failed & (status != ZERO_WITHIN) & (status != CONSTANT)
    mean = np.where(present, stats.ybar, np.nan)
    lower = upper = None
    if level is not None:
        lower, upper = mean.copy(), mean.copy()
    tau2_mean = np.full(R, np.nan)
    gm = stats.grand_mean()
    const = (status == CONSTANT) & ~failed
    mean[const] = np.where(present[const], gm[const][:, None], np.nan)
    if level is not None:
        lower[const] = upper[const] = mean[const]
    tau2_mean[const] = 0.0
    regular_rows = np.flatnonzero(regular)
    # rows in blocks (each row's quadrature and quantiles depend on its own values only: the
    # same bits as all rows at once), so that a block's (rows, nodes, groups) arrays stay in cache
    step = max(1, _BLOCK_ENTRIES // max(stats.n.shape[1], 1))
    for at in range(0, regular_rows.size, step):
        idx = regular_rows[at : at + step]
        sub = stats.rows(idx)
        gamma, p = posterior_nodes(sub, prior)
        n, g, w, S, mu, d, qf = _parts(sub, gamma)  # (R, G, J) / (R, G)
        Bw = g * w  # B_j = gamma w_j
        cond = mu[..., None] + Bw * d
        m = (p[..., None] * cond).sum(axis=1)
        mean[idx] = np.where(present[idx], m, np.nan)
        df = sub.N - 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            tau2_mean[idx] = np.where(df > 2, (p * gamma * qf).sum(axis=1) / (df - 2.0), np.nan)
        if prior.family == "half_cauchy":  # E[tau^2 | y] is infinite: tail gamma^(-J/2)
            tau2_mean[idx[sub.J < 3]] = np.nan
        if level is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                nsafe = np.where(n > 0, n, 1.0)
                var = (qf / df[:, None])[..., None] * (Bw / nsafe + (1.0 - Bw) ** 2 / S[..., None])
            s = np.sqrt(var)
            a = (1.0 - level) / 2.0
            lo_q, hi_q = mixture_quantiles(p, cond, s, df, [a, 1.0 - a])
            lower[idx] = np.where(present[idx], lo_q, np.nan)
            upper[idx] = np.where(present[idx], hi_q, np.nan)
    mean[failed] = np.nan
    if level is not None:
        lower[failed] = np.nan
        upper[failed] = np.nan
    return HierBayes(mean=mean, lower=lower, upper=upper, tau2_mean=tau2_mean, failed=failed)
