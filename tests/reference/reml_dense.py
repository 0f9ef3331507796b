"""Slow, obvious reference: (restricted) likelihood of the raw observations, optimised numerically.

Nothing here uses sufficient statistics or the profiled one-dimensional criterion of
``shrinkstudy.methods.reml``. The model ``y = 1 mu + Z theta + e`` has the N x N covariance
``V = tau^2 Z Z' + sigma^2 I``; with ``X = 1``::

    -2 l_REML(tau^2, sigma^2) = (N - 1) log(2 pi) + log|V| + log|X' V^-1 X| + r' V^-1 r,
                                r = y - X mu_GLS(V)
    -2 l_ML(mu, tau^2, sigma^2) = N log(2 pi) + log|V| + (y - mu)' V^-1 (y - mu)

(lme4's ``REMLcrit()`` and the ML ``deviance()``). The gradients are the textbook scores
``tr(P V_k) - r' V^-1 V_k V^-1 r`` (REML, P = V^-1 - V^-1 X (X'V^-1X)^-1 X'V^-1) and
``tr(V^-1 V_k) - e' V^-1 V_k V^-1 e`` (ML), with ``V_tau2 = Z Z'`` and ``V_sigma2 = I``.
The optimiser is BFGS on (tau, log sigma^2) from several starting points (see ``fit``).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize


def design(group):
    """Indicator matrix Z (N x J) of integer group codes 0..J-1."""
    group = np.asarray(group)
    levels = np.unique(group)
    return (group[:, None] == levels[None, :]).astype(float)


def neg2_reml(y, Z, tau2, sigma2):
    """-2 log restricted likelihood at (tau2, sigma2) and its gradient."""
    N = y.size
    X = np.ones((N, 1))
    ZZ = Z @ Z.T
    V = tau2 * ZZ + sigma2 * np.eye(N)
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    Vir = Vi @ r
    val = (
        (N - 1) * np.log(2 * np.pi)
        + np.linalg.slogdet(V)[1]
        + np.linalg.slogdet(XtViX)[1]
        + r @ Vir
    )
    P = Vi - Vi @ X @ np.linalg.solve(XtViX, X.T @ Vi)
    grad = np.array(
        [
            np.trace(P @ ZZ) - Vir @ ZZ @ Vir,
            np.trace(P) - Vir @ Vir,
        ]
    )
    return val, grad, beta[0]


def neg2_ml(y, Z, mu, tau2, sigma2):
    """-2 log likelihood at (mu, tau2, sigma2) and its gradient."""
    N = y.size
    ZZ = Z @ Z.T
    V = tau2 * ZZ + sigma2 * np.eye(N)
    Vi = np.linalg.inv(V)
    e = y - mu
    Vie = Vi @ e
    val = N * np.log(2 * np.pi) + np.linalg.slogdet(V)[1] + e @ Vie
    grad = np.array(
        [
            -2.0 * Vie.sum(),
            np.trace(Vi @ ZZ) - Vie @ ZZ @ Vie,
            np.trace(Vi) - Vie @ Vie,
        ]
    )
    return val, grad


def fit(y, group, method="REML"):
    """Numerical optimum. Returns dict(mu, tau2, sigma2, crit).

    BFGS (scipy, analytic gradient) on ``tau = sqrt(tau2)`` (unconstrained: tau2 = tau^2 >= 0
    holds by construction, and a boundary optimum shows as tau -> 0) and ``log sigma2``, on data
    standardised by their mean and SD, from four starting values of tau; the best run wins.
    (BFGS rather than L-BFGS-B: the latter's compiled core is slowed down badly by BLAS
    threads competing for a busy machine.)
    """
    y = np.asarray(y, dtype=float)
    Z = design(group)
    shift = y.mean()
    scale = y.var() if y.var() > 0 else 1.0
    ys = (y - shift) / np.sqrt(scale)

    if method == "REML":

        def fun(p):
            t, ls = p
            val, grad, _ = neg2_reml(ys, Z, t * t, np.exp(ls))
            return val, np.array([grad[0] * 2 * t, grad[1] * np.exp(ls)])

        starts = [[t, np.log(0.5)] for t in (0.1, 0.5, 1.5, 4.0)]
    else:

        def fun(p):
            m, t, ls = p
            val, grad = neg2_ml(ys, Z, m, t * t, np.exp(ls))
            return val, np.array([grad[0], grad[1] * 2 * t, grad[2] * np.exp(ls)])

        starts = [[0.0, t, np.log(0.5)] for t in (0.1, 0.5, 1.5, 4.0)]
    best = None
    for x0 in starts:
        res = optimize.minimize(
            fun, np.asarray(x0, float), jac=True, method="BFGS", options={"gtol": 1e-11, "maxiter": 2000}
        )
        if best is None or res.fun < best.fun:
            best = res
    p = best.x
    if method == "REML":
        tau2s, sigma2s = p[0] ** 2, np.exp(p[1])
        _, _, mus = neg2_reml(ys, Z, tau2s, sigma2s)
    else:
        mus, tau2s, sigma2s = p[0], p[1] ** 2, np.exp(p[2])
    tau2, sigma2 = tau2s * scale, sigma2s * scale
    mu = shift + mus * np.sqrt(scale)
    crit = crit_at(y, group, mu, tau2, sigma2, method)
    return {"mu": mu, "tau2": tau2, "sigma2": sigma2, "crit": crit}


def crit_at(y, group, mu, tau2, sigma2, method="REML"):
    """-2 log (restricted) likelihood of the raw data at given parameters (REML ignores mu)."""
    y = np.asarray(y, dtype=float)
    Z = design(group)
    if method == "REML":
        return neg2_reml(y, Z, tau2, sigma2)[0]
    return neg2_ml(y, Z, mu, tau2, sigma2)[0]
