"""Brute-force reference for ``shrinkstudy.methods.hierbayes``: the trapezoid rule on a fine grid.

Independent of the library. Integrates the posterior of gamma = tau^2 / sigma^2 under
``p(mu, sigma^2, gamma) ∝ p(gamma) / sigma^2`` in the prior-probability variable
``v = F(gamma)`` (uniform prior on (0, 1)) with ``points`` equally spaced nodes, written out
from the marginal likelihood of the sufficient statistics::

    p(gamma | y) ∝ p(gamma) prod_j (1 + n_j gamma)^(-1/2) (sum_j w_j)^(-1/2) qf^(-(N-1)/2)

with w_j = n_j / (1 + n_j gamma), mu_g = sum w_j ybar_j / sum w_j,
qf = SSW + sum w_j (ybar_j - mu_g)^2. Given gamma: E[m_j] = mu_g + B_j (ybar_j - mu_g),
B_j = n_j gamma / (1 + n_j gamma), m_j ~ t_{N-1}(E[m_j], qf / (N - 1) (B_j / n_j + (1 - B_j)^2 / sum w)),
and E[tau^2] = gamma qf / (N - 3).

The integrands vanish at v = 1 (gamma = infinity) for the means with J >= 2, and for E[tau^2]
with J >= 4 under the half-Cauchy prior (J >= 2 under the uniform shrinkage prior); the node
at v = 1 is given the value 0.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def gamma_of_v(v, family, scale, n):
    if family == "half_cauchy":
        return (scale * np.tan(np.pi * v / 2)) ** 2
    n0 = len(n) / np.sum(1.0 / np.asarray(n, float))
    return v / ((1 - v) * n0)


def posterior(n, ybar, ssw, family="half_cauchy", scale=1.0, points=20_000, probes=None):
    """Posterior means of m_j, of tau^2, and (optionally) P(m_j <= x) at probes (2, J)."""
    n = np.asarray(n, float)
    ybar = np.asarray(ybar, float)
    N = n.sum()
    v = np.linspace(0.0, 1.0, points + 1)[:-1]  # v = 1 is appended below, with value 0
    g = gamma_of_v(v, family, scale, n)[:, None]
    w = n / (1 + n * g)
    S = w.sum(axis=1)
    mu = (w * ybar).sum(axis=1) / S
    d = ybar - mu[:, None]
    qf = ssw + (w * d * d).sum(axis=1)
    logpost = -0.5 * np.log1p(n * g).sum(axis=1) - 0.5 * np.log(S) - 0.5 * (N - 1) * np.log(qf)
    dens = np.exp(logpost - logpost.max())
    dens = np.concatenate([dens, [0.0]])  # v = 1
    vv = np.concatenate([v, [1.0]])
    B = n * g / (1 + n * g)
    cond = mu[:, None] + B * d
    Z = np.trapezoid(dens, vv)

    def integrate(f):
        f = np.concatenate([f, np.zeros((1,) + f.shape[1:])])  # f * dens = 0 at v = 1
        return np.trapezoid(dens.reshape((-1,) + (1,) * (f.ndim - 1)) * f, vv, axis=0) / Z

    out = {"mean": integrate(cond), "tau2": integrate(g[:, 0] * qf / (N - 3)) if N > 3 else np.nan}
    if probes is not None:
        s = np.sqrt(qf[:, None] / (N - 1) * (B / n + (1 - B) ** 2 / S[:, None]))
        cdf = np.stack([special.stdtr(N - 1, (probes[k] - cond) / s) for k in range(2)], axis=1)  # (G, 2, J)
        out["cdf"] = integrate(cdf)
    return out
