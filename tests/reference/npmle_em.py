"""Slow, obvious Kiefer-Wolfowitz NPMLE: plain EM on a very fine fixed grid, one dataset at a time.

l(w) = sum_j log sum_k w_k phi((y_j - u_k) / s_j) / s_j on the grid u (evenly spaced over
[min y, max y], ``per_s`` points per smallest s_j); EM w_k <- w_k mean_j L_jk / f_j until the
grid's certified gap J log max_k D_k is below ``tol`` J or ``maxiter`` iterations. Lindsay's
bound on the continuous optimum: l* <= l(w) + J log max_u D(u), with D's maximum taken on a
grid ten times finer still (``upper_bound``).
"""

import math

import numpy as np


def loglik(y, s2, grid, w):
    total = 0.0
    for yj, vj in zip(y, s2):
        dens = [wk * math.exp(-0.5 * (yj - uk) ** 2 / vj) / math.sqrt(2 * math.pi * vj) for uk, wk in zip(grid, w)]
        total += math.log(sum(dens))
    return total


def _lik(y, s2, grid):
    return np.exp(-0.5 * (y[:, None] - grid[None, :]) ** 2 / s2[:, None]) / np.sqrt(2 * np.pi * s2[:, None])


def npmle_em(y, s2, grid, tol=1e-10, maxiter=2_000_000):
    """Plain EM on ``grid``: (weights, log-likelihood, iterations)."""
    y, s2, grid = (np.asarray(a, dtype=float) for a in (y, s2, grid))
    L = _lik(y, s2, grid)
    w = np.full(grid.size, 1.0 / grid.size)
    for it in range(maxiter):
        f = L @ w
        D = (L / f[:, None]).mean(axis=0)
        if y.size * math.log(D.max()) <= tol:
            break
        w = w * D
        w = w / w.sum()
    return w, loglik(y, s2, grid, w), it


def npmle_fine(y, s2, per_s=50, tol_per_group=1e-8, maxiter=200_000):
    """Plain EM on a grid of ``per_s`` points per smallest s_j across the data: (grid, weights,
    log-likelihood, posterior means, upper bound on the continuous optimum's log-likelihood)."""
    y, s2 = np.asarray(y, dtype=float), np.asarray(s2, dtype=float)
    smin = math.sqrt(s2.min())
    K = int(math.ceil((y.max() - y.min()) / smin * per_s)) + 1
    grid = np.linspace(y.min(), y.max(), K)
    w, ll, _ = npmle_em(y, s2, grid, tol=tol_per_group * y.size, maxiter=maxiter)
    L = _lik(y, s2, grid)
    f = L @ w
    post = (L * w * grid).sum(axis=1) / f
    finer = np.linspace(y.min(), y.max(), 10 * K)
    D = (_lik(y, s2, finer) / f[:, None]).mean(axis=0)
    upper = ll + y.size * math.log(D.max())
    return grid, w, ll, post, upper
