"""Slow, obvious Kiefer-Wolfowitz NPMLE: plain EM, one dataset at a time, run to convergence.

l(w) = sum_j log sum_k w_k phi((y_j - u_k) / s_j) / s_j on the grid u; EM w_k <- w_k mean_j
L_jk / f_j until the certified gap J log max_k D_k (an upper bound on l(w*) - l(w)) is below tol.
"""

import math

import numpy as np


def loglik(y, s2, grid, w):
    total = 0.0
    for yj, vj in zip(y, s2):
        dens = [wk * math.exp(-0.5 * (yj - uk) ** 2 / vj) / math.sqrt(2 * math.pi * vj) for uk, wk in zip(grid, w)]
        total += math.log(sum(dens))
    return total


def npmle_em(y, s2, grid, tol=1e-10, maxiter=2_000_000):
    y, s2, grid = (np.asarray(a, dtype=float) for a in (y, s2, grid))
    L = np.exp(-0.5 * (y[:, None] - grid[None, :]) ** 2 / s2[:, None]) / np.sqrt(2 * np.pi * s2[:, None])
    w = np.full(grid.size, 1.0 / grid.size)
    for it in range(maxiter):
        f = L @ w
        D = (L / f[:, None]).mean(axis=0)
        if y.size * math.log(D.max()) <= tol:
            break
        w = w * D
        w = w / w.sum()
    return w, loglik(y, s2, grid, w), it
