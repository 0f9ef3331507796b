"""Estimators built for worlds where the normal model is wrong, and the oracles (docs/formulas.md section 7).

Every estimator takes sufficient statistics (``SuffStats``: n, ybar of shape (R, J), SSW of
shape (R,)) and, where needed, variance components (``VarComp``) or the per-group sampling
variances ``s2`` (R, J) of the group means, and returns an (R, J) array with NaN for groups a
dataset does not have (n_j = 0). Everything is vectorised over the leading replication axis R
and iterative fits carry a per-dataset convergence mask: a dataset's numbers never depend on
the other datasets of its chunk.

Sampling variances. The study's long form has one pooled within-group variance per dataset,
sigma^2^ = SSW / (N - J); the estimators that take s_j^2 per group (``npmle``, ``sure``) use
s_j^2 = sigma^2^ / n_j (``sampling_variances``), also in the heteroscedastic worlds, where the
true sigma_j differ: the estimators are not told. Only the oracles use the true sigma_j.

* ``constrained_bayes``: Louis (1984) / Ghosh (1992) constrained Bayes.
* ``npmle_fit`` / ``npmle``: Kiefer-Wolfowitz NPMLE of the effect distribution, solved over all
  distributions to a certified gap (Jiang & Zhang 2009; Koenker & Mizera 2014; Wang 2007; Kim,
  Carbonetto & Stephens 2020), posterior means under it.
* ``sure_fit`` / ``sure``: Xie, Kou & Brown (2012) parametric SURE shrinkage toward a location.
* the linear oracle, the normal-theory Bayes rule with the true mu, tau, sigma_j, is
  ``estimators.oracle`` (``oracle_linear`` in the registry).
* ``oracle_bayes``: the posterior mean under the true effect distribution (the floor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..design.worlds import GaussMixture, QuantilePrior

if TYPE_CHECKING:
    from .reml import VarComp
    from ..design.simulate import SuffStats

__all__ = [
    "sampling_variances",
    "constrained_bayes",
    "constrained_bayes_from_posterior",
    "NPMLEFit",
    "npmle_fit",
    "npmle",
    "sure_criterion",
    "SUREFit",
    "sure_fit",
    "sure",
    "oracle_bayes",
    "oracle_full_data",
    "posterior_full_data",
    "bayes_risk_normal_errors",
    "posterior_mean_mixture",
    "posterior_mean_quantile",
]

_LOG_2PI = np.log(2.0 * np.pi)


def _nan_absent(present: np.ndarray, est: np.ndarray) -> np.ndarray:
    return np.where(present, est, np.nan)


def sampling_variances(stats: SuffStats, sigma2) -> np.ndarray:
    """s_j^2 = sigma^2 / n_j, shape (R, J), NaN for absent groups.

    ``sigma2`` is one value per dataset, shape (R,) (the pooled SSW / (N - J) or a variance
    component), or per group, shape (R, J) or (1, J) (the true sigma_j^2).
    """
    sigma2 = np.asarray(sigma2, dtype=float)
    if sigma2.ndim == 1:
        sigma2 = sigma2[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        s2 = sigma2 / stats.n
    return np.where(stats.present, s2, np.nan)


# ----------------------------------------------------------------------------------------------
# constrained Bayes


def constrained_bayes_from_posterior(b, V) -> np.ndarray:
    """Constrained Bayes estimates from posterior means ``b`` and variances ``V`` (R, J).

    Ghosh (1992, JASA 87:533, theorem 1), for independent posteriors (diagonal V)::

        CB_j = bbar + a (b_j - bbar),   a = sqrt(1 + (1 - 1/J) sum_j V_j / sum_j (b_j - bbar)^2)

    (``tr(V (I - 11'/J))`` = (1 - 1/J) sum V_j). The estimates' mean is bbar = E[mean theta | y]
    and their sum of squares about it is E[sum (theta_j - thetabar)^2 | y]: with the divisor
    J - 1, the sample variance of the CB estimates equals mean_j V_j plus the sample variance of
    the posterior means, exactly. (The form a = sqrt(1 + mean V / S_b) drops the factor 1 - 1/J:
    it is the large-J form.) Louis (1984, JASA 79:393) gave the exchangeable normal case.
    NaN in ``b`` marks absent groups. When the posterior means do not vary (a boundary fit,
    tau^2^ = 0, where V = 0 too) the estimates are the posterior means.
    """
    b = np.asarray(b, dtype=float)
    V = np.asarray(V, dtype=float)
    present = np.isfinite(b)
    J = present.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        bbar = np.nansum(np.where(present, b, 0.0), axis=1) / J
        d = np.where(present, b - bbar[:, None], 0.0)
        ss = (d * d).sum(axis=1)
        sv = np.where(present, V, 0.0).sum(axis=1)
        a = np.sqrt(1.0 + (1.0 - 1.0 / J) * sv / ss)
    a = np.where(ss > 0, a, 1.0)
    return _nan_absent(present, bbar[:, None] + a[:, None] * d)


def constrained_bayes(stats: SuffStats, vc: VarComp) -> np.ndarray:
    """Constrained Bayes around the plug-in normal posterior of the REML (or ML) fit ``vc``.

    Posterior means b_j = mu^ + B^_j (ybar_j - mu^) (the BLUP) and variances
    V_j = B^_j sigma^2^ / n_j, B^_j = tau^2^ / (tau^2^ + sigma^2^ / n_j) (hyperparameters fixed at
    their estimates); then ``constrained_bayes_from_posterior``. NaN where the fit failed.
    """
    tau2 = np.asarray(vc.tau2, dtype=float)[:, None]
    s2 = sampling_variances(stats, vc.sigma2)
    with np.errstate(invalid="ignore", divide="ignore"):
        B = tau2 / (tau2 + s2)
    B = np.where(s2 == 0, 1.0, B)
    B = np.where((tau2 == 0) & (s2 > 0), 0.0, B)
    mu = np.asarray(vc.mu, dtype=float)[:, None]
    b = _nan_absent(stats.present, mu + B * (stats.ybar - mu))
    V = np.where(np.isfinite(B), B * s2, np.nan)
    out = constrained_bayes_from_posterior(b, V)
    bad = ~np.isfinite(np.asarray(vc.tau2)) | ~np.isfinite(np.asarray(vc.sigma2))
    out[bad] = np.nan
    return out


# ----------------------------------------------------------------------------------------------
# Kiefer-Wolfowitz NPMLE


@dataclass(frozen=True)
class NPMLEFit:
    """NPMLE of R datasets: ``atoms`` and ``weights`` (R, K) of the fitted mixing distribution
    (NaN atoms and 0 weights past a dataset's support); per dataset ``loglik``, ``gap`` (the
    certified bound J log max_u D(u) >= loglik* - loglik, over all mixing distributions),
    ``iterations`` and ``converged`` (gap <= tol J); ``estimate`` (R, J) the posterior means."""

    atoms: np.ndarray
    weights: np.ndarray
    loglik: np.ndarray
    gap: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    estimate: np.ndarray


_SCAN_PER_S = 3  # scan points of the certificate per smallest standard error
_SCAN_ENTRIES = 1 << 22  # scan points x groups of one dataset at most (coarser: not certified)
_NPMLE_BLOCK = 1 << 20  # scan points x groups of a block of datasets solved together
# scan maxima of D above this are located exactly: -D'' <= D / min s_j^2, so the scan point
# nearest a local maximum (at most min s_j / 6 from it) is within 1.4% of its value
_NEAR_ONE = 0.98
_POLISH_STEPS = 8  # Newton steps at most; a point stops once a step moves it under 1e-12
_ARMIJO = 1e-4
_HALVINGS = 40
_START_SPACING = 2.0  # the starting atoms, in units of the smallest standard error
_START_EM = 10  # EM steps on the starting atoms
_START_KEEP = 1e-2  # starting atoms kept: weight at least this share of the largest after them
_MERGE = 0.1  # two atoms this close (in units of the smallest standard error) are tried as one


def npmle_fit(y, s2, *, tol: float = 1e-7, maxiter: int = 200) -> NPMLEFit:
    """Kiefer-Wolfowitz NPMLE of the distribution of the means, heteroscedastic, solved.

    Maximises, over all mixing distributions G (not a fixed grid),

        l(G) = sum_j log int phi((y_j - u) / s_j) / s_j dG(u)

    (Kiefer & Wolfowitz 1956; Jiang & Zhang 2009, Ann. Statist. 37:1647; Koenker & Mizera 2014,
    JASA 109:674). Solver: the constrained Newton method with support reduction (Wang 2007,
    JRSS-B 69:185) with the atoms' positions refined by Newton's method, per dataset: start
    from atoms every 2 min_j s_j across [min y, max y] (or at the y_j when fewer), 10 EM steps
    on them, and the atoms left under 1e-2 of the largest weight dropped; each iteration
    (1) scans the gradient function D(u) = (1/J) sum_j phi_j(u) / f_j (f_j the fitted density
    of y_j) at ``_SCAN_PER_S`` points per min_j s_j over [min y, max y] (D decreases outside
    it) and, where the scan cannot refuse the certificate, locates its local maxima above 0.98
    exactly by Newton's method on D'; (2) stops when J log max_u D(u) <= tol J: by Lindsay's
    (1983) certificate this bounds l* - l(G) over all G; (3) adds the maxima with D > 1 as atoms
    and, where atoms were added, takes one SQP step on the weights (mixsqp: Kim, Carbonetto &
    Stephens 2020; active-set QP, Armijo search) on -sum_j log f_j + J sum_k w_k over w >= 0
    (its minimiser sums to 1), atoms whose weight reaches 0 leaving the support; (4) takes one
    Newton step on the weights and the positions of the atoms together (Armijo search, the
    weights kept positive): atoms settle at D's maxima quadratically, not by moving weight
    between neighbours; the two nearest atoms, within 0.1 min_j s_j, are tried as one.

    Each dataset is solved on its own: sums over atoms run in the atoms' order, sums over
    groups over the same J entries, and linear systems at a size set by the dataset's own
    support, so a dataset's numbers do not depend on the others of its call.

    Parameters
    ----------
    y : (R, J) group means, NaN (or anything) where ``s2`` is NaN (absent groups).
    s2 : (R, J) sampling variances s_j^2 (in the study sigma^2^ / n_j, pooled sigma^2^).
    tol : certified gap per group at which a dataset stops (``converged``).
    maxiter : iterations per dataset at most (then ``converged`` is False unless the gap is met).

    Returns
    -------
    NPMLEFit whose ``estimate`` (R, J) is the posterior mean sum_k w_k u_k L_jk / sum_k w_k L_jk.
    Degenerate datasets: all y_j equal, or some s_j^2 = 0, give the raw y_j (converged, gap 0);
    a dataset with no finite s2 gives NaN (not converged). A dataset whose range exceeds
    ``_SCAN_ENTRIES`` scan entries is scanned more coarsely and never reported converged.
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    s2 = np.atleast_2d(np.asarray(s2, dtype=float))
    present = np.isfinite(s2) & np.isfinite(y)
    R, J = y.shape
    with np.errstate(invalid="ignore"):
        lo = np.where(present, y, np.inf).min(axis=1)
        hi = np.where(present, y, -np.inf).max(axis=1)
        s = np.sqrt(np.where(present, s2, np.nan))
        smin = np.where(present, s, np.inf).min(axis=1)
    usable = present.any(axis=1) & (hi > lo) & ~np.any(present & (s2 <= 0), axis=1)
    # scan points per dataset: _SCAN_PER_S per smallest standard error across the range
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        want = np.ceil(np.where(usable, (hi - lo) / smin, 0.0) * _SCAN_PER_S) + 1
    cap = max(16, _SCAN_ENTRIES // max(J, 1))
    fine = want <= cap
    scan = np.where(usable, np.minimum(want, cap), 0).astype(np.int64)

    results = []
    idx = np.flatnonzero(usable)
    at = 0
    while at < idx.size:  # consecutive datasets while the block's scan fits _NPMLE_BLOCK
        stop, width = at + 1, scan[idx[at]]
        while stop < idx.size and (stop - at + 1) * J * max(width, scan[idx[stop]]) <= _NPMLE_BLOCK:
            width = max(width, scan[idx[stop]])
            stop += 1
        rows = idx[at:stop]
        results.append((rows, _cnm_rows(y[rows], s[rows], present[rows], lo[rows], hi[rows], smin[rows],
                                        scan[rows], tol=tol, maxiter=maxiter)))
        at = stop

    K = max([1] + [int(res[0].shape[1]) for _, res in results])
    atoms = np.full((R, K), np.nan)
    weights = np.zeros((R, K))
    loglik = np.full(R, np.nan)
    gap = np.zeros(R)
    iters = np.zeros(R, dtype=np.int64)
    converged = present.any(axis=1).copy()
    estimate = np.where(present, y, np.nan)
    for rows, (u, w, ll, g, it, ok, post) in results:
        atoms[rows, : u.shape[1]] = u
        weights[rows, : w.shape[1]] = w
        loglik[rows], gap[rows], iters[rows], estimate[rows] = ll, g, it, post
        converged[rows] = ok & fine[rows]
    return NPMLEFit(atoms, weights, loglik, gap, iters, converged, estimate)


def _atom_likelihood(y, s, present, u):
    """L[r, k, j] = exp(-(y_j - u_k)^2 / (2 s_j^2)) / s_j, 0 for absent groups: (R, M, J)."""
    inv = np.where(present, 1.0 / s, 0.0)[:, None, :]  # 0 for absent groups: exp(0) * 0
    z = y[:, None, :] - u[:, :, None]
    z *= inv
    np.square(z, out=z)
    z *= -0.5
    np.exp(z, out=z)
    z *= inv
    return z


def _over_atoms(x):
    """sum_k x[:, k] in the atoms' order (a padded atom adds an exact 0)."""
    out = np.zeros(x.shape[:1] + x.shape[2:])
    for k in range(x.shape[1]):
        out += x[:, k]
    return out


def _density(L, x):
    """f_j = sum_k x_k L_kj, atom by atom (einsum runs over the groups innermost and adds the
    atoms in order: a padded atom adds an exact 0): (R, J)."""
    return np.einsum("rkj,rk->rj", L, x)


def _objective(L, x, present, Jr):
    """-sum_j log f_j + J sum_k x_k (minimised over x >= 0 by the NPMLE's weights) and f."""
    f = np.where(present, _density(L, x), 1.0)
    with np.errstate(divide="ignore"):
        return -np.log(f).sum(axis=1) + Jr * _over_atoms(x), f


def _solve_padded(A, b, width):
    """Solve A x = b, row r on its leading ``width[r]`` atoms (A is the identity and b is 0
    past them). LAPACK's bits depend on the size of the system: each row is solved at the
    power of two (at least 4) at or above its own width, its system extended by the identity,
    rows of one size together; so a row's bits depend on its own system only, not on the
    padding of its block (and a few sizes make a few calls)."""
    R, M = b.shape
    x = np.zeros(b.shape)
    size = np.maximum(4, 1 << np.ceil(np.log2(np.maximum(width, 1))).astype(np.int64))
    for n in np.unique(size):
        sel = np.flatnonzero(size == n)
        m = min(int(n), M)
        As = np.zeros((sel.size, n, n))
        As[:, np.arange(n), np.arange(n)] = 1.0
        As[:, :m, :m] = A[sel, :m, :m]
        bs = np.zeros((sel.size, n, 1))
        bs[:, :m, 0] = b[sel, :m]
        try:
            x[sel, :m] = np.linalg.solve(As, bs)[:, :m, 0]
        except np.linalg.LinAlgError:  # a singular system: that row's solution is NaN
            for i, row in enumerate(sel):
                try:
                    x[row, :m] = np.linalg.solve(As[i], bs[i, :, 0])[:m]
                except np.linalg.LinAlgError:
                    x[row, :m] = np.nan
    return x


def _matvec(H, y):
    """(H y)_k summed over l in the atoms' order: (R, M)."""
    out = np.zeros(y.shape)
    for l in range(y.shape[1]):
        out += H[:, :, l] * y[:, l, None]
    return out


def _nnqp(H, c, y, real, tol):
    """min 1/2 y'Hy + c'y over y >= 0 (atoms not ``real`` held at 0) by a primal active-set
    method (Nocedal & Wright 2006, algorithm 16.3), every row on its own, from the feasible
    ``y``: its working set starts at the atoms at 0. Returns y (feasible; q(y) <= q(start))."""
    R, M = y.shape
    y = np.where(real, y, 0.0)
    fixed = ~real | (y == 0)  # working set: atoms held at 0
    solve = np.ones(R, dtype=bool)  # False: y minimises q on its face, check the multipliers
    going = np.ones(R, dtype=bool)
    diag = np.einsum("rkk->rk", H)
    ridge = 1e-12 * np.where(real, diag, 0.0).max(axis=1)
    eye = np.arange(M)
    budget = 4 * real.sum(axis=1) + 10  # active-set changes per row at most
    for _ in range(int(budget.max(initial=0))):
        going &= budget > 0
        budget -= 1
        r = np.flatnonzero(going)
        if r.size == 0:
            break
        grad = _matvec(H, y) + c if r.size == R else _matvec(H[r], y[r]) + c[r]
        # rows on a face's minimum: optimal, or release every atom with a negative multiplier
        check = ~solve[r]
        negative = check[:, None] & fixed[r] & real[r] & (grad < -tol[r, None])
        finished = check & ~negative.any(axis=1)
        fixed[r] &= ~negative
        going[r[finished]] = False
        # rows to move (now including those just released): the minimiser of q on the free
        # atoms, as far as feasibility allows
        mv = ~finished
        solve[r[mv]] = True
        if mv.any():
            rm = r[mv]
            fr = ~fixed[rm]
            A = np.where(fr[:, :, None] & fr[:, None, :], H[rm], 0.0)
            A[:, eye, eye] = np.where(fr, diag[rm] + ridge[rm, None], 1.0)
            p = _solve_padded(A, np.where(fr, -grad[mv], 0.0), real[rm].sum(axis=1))
            yr = y[rm]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                ratio = np.where(fr & (p < 0), -yr / p, np.inf)
            b = ratio.argmin(axis=1)
            step = np.minimum(1.0, ratio[np.arange(rm.size), b])
            yr = np.maximum(yr + step[:, None] * p, 0.0)
            blocked = step < 1.0
            yr[np.flatnonzero(blocked), b[blocked]] = 0.0
            fixed[rm[blocked], b[blocked]] = True
            y[rm] = np.where(fixed[rm], 0.0, yr)
            solve[rm[~blocked]] = False
    return y


def _sqp_step(L, x, F, f, present, Jr, real):
    """One step of sequential quadratic programming on the weights (mixsqp: Kim, Carbonetto &
    Stephens 2020): the quadratic model of -sum_j log f_j + J sum_k x_k at x minimised over
    x >= 0 (``_nnqp``), then a backtracking (Armijo) search on the segment to it: (x, F, f)."""
    a = np.where(present, 1.0 / f, 0.0)
    G = L * a[:, None, :]
    grad = np.where(real, Jr[:, None] - G.sum(axis=2), 0.0)
    M = x.shape[1]
    H = np.einsum("rkj,rlj->rkl", G, G)
    y = _nnqp(H, grad - _matvec(H, x), x, real, 1e-10 * Jr)
    d = y - x
    slope = _over_atoms(grad * d)
    searching = slope < 0
    beta = 1.0
    for _ in range(_HALVINGS):
        r = np.flatnonzero(searching)
        if r.size == 0:
            break
        xb = np.where(real[r], np.maximum(x[r] + beta * d[r], 0.0), 0.0)
        Fb, fb = _objective(L[r], xb, present[r], Jr[r])
        ok = np.isfinite(Fb) & (Fb <= F[r] + _ARMIJO * beta * slope[r])
        acc = r[ok]
        x[acc], F[acc], f[acc] = xb[ok], Fb[ok], fb[ok]
        searching[acc] = False
        beta *= 0.5
    return x, F, f


def _joint_newton(y, s, present, Jr, L, x, u, count, F, f):
    """One Newton step on the weights and the positions of the atoms together, on
    -sum_j log f_j + J sum_k x_k, with a backtracking (Armijo) search that keeps the weights
    positive; rows where the step is not a descent direction or the search fails keep their
    fit. Near the optimum the support's atoms sit at local maxima of D and the step converges
    quadratically (moving atoms by weight transfer alone converges linearly): (x, u, L, F, f,
    whether the row moved)."""
    R, M = x.shape
    real = np.arange(M)[None, :] < count[:, None]
    uu = np.where(real, u, 0.0)
    a = np.where(present, 1.0 / f, 0.0)
    z = (y[:, None, :] - uu[:, :, None]) / s[:, None, :]
    G = L * a[:, None, :]
    G1 = G * z / s[:, None, :]
    G2 = G * (z * z - 1.0) / (s * s)[:, None, :]
    S1, S2 = G1.sum(axis=2), G2.sum(axis=2)
    gx = np.where(real, Jr[:, None] - G.sum(axis=2), 0.0)
    gu = np.where(real, -x * S1, 0.0)
    H = np.empty((R, M, 2, M, 2))
    H[:, :, 0, :, 0] = np.einsum("rkj,rlj->rkl", G, G)
    H[:, :, 0, :, 1] = np.einsum("rkj,rlj->rkl", G, G1) * x[:, None, :]
    H[:, :, 1, :, 1] = np.einsum("rkj,rlj->rkl", G1, G1) * x[:, None, :] * x[:, :, None]
    H[:, :, 1, :, 0] = np.swapaxes(H[:, :, 0, :, 1], 1, 2)
    k = np.arange(M)
    H[:, k, 0, k, 1] -= S1
    H[:, k, 1, k, 0] -= S1
    H[:, k, 1, k, 1] -= x * S2
    both = np.repeat(real, 2, axis=1)
    H = H.reshape(R, 2 * M, 2 * M)
    H = np.where(both[:, :, None] & both[:, None, :], H, 0.0)
    e = np.arange(2 * M)
    H[:, e, e] = np.where(both, H[:, e, e], 1.0)
    g = np.stack([gx, gu], axis=2).reshape(R, 2 * M)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        p = -_solve_padded(H, g, 2 * count)
    p = np.where(both, p, 0.0)
    px, pu = p[:, 0::2], p[:, 1::2]
    slope = (g * p).sum(axis=1)
    searching = np.isfinite(slope) & (slope < 0) & np.isfinite(p).all(axis=1)
    beta = np.ones(R)
    moved = np.zeros(R, dtype=bool)
    for _ in range(_HALVINGS):
        r = np.flatnonzero(searching)
        if r.size == 0:
            break
        b = beta[r, None]
        xb = x[r] + b * px[r]
        ub = u[r] + b * pu[r]
        pos = np.where(real[r], xb > 0, True).all(axis=1)
        Lb = np.where(real[r][:, :, None], _atom_likelihood(y[r], s[r], present[r], np.where(real[r], ub, 0.0)), 0.0)
        with np.errstate(invalid="ignore"):
            Fb, fb = _objective(Lb, np.where(real[r], xb, 0.0), present[r], Jr[r])
        ok = pos & np.isfinite(Fb) & (Fb <= F[r] + _ARMIJO * beta[r] * slope[r])
        acc = r[ok]
        x[acc], u[acc], L[acc], F[acc], f[acc] = xb[ok], ub[ok], Lb[ok], Fb[ok], fb[ok]
        searching[acc] = False
        moved[acc] = True
        beta[r[~ok]] *= 0.5
    return x, u, L, F, f, moved


def _merge_close(y, s, present, Jr, L, x, u, count, F, f, eps):
    """Where a row's two nearest atoms are within ``eps``, one atom at their weighted mean with
    their summed weight instead (the other's weight set to 0), kept if the objective does not
    rise: two atoms converging on one point of the optimum's support make the joint Newton step
    singular (the split of their weight is free) and slow: (x, u, L, F, f)."""
    R, M = x.shape
    if M < 2:
        return x, u, L, F, f
    real = np.arange(M)[None, :] < count[:, None]
    uu = np.where(real, u, 0.0)
    d = np.abs(uu[:, :, None] - uu[:, None, :])
    d = np.where(real[:, :, None] & real[:, None, :], d, np.inf)
    d[:, np.arange(M), np.arange(M)] = np.inf
    flat = d.reshape(R, -1).argmin(axis=1)
    k, l = np.minimum(flat // M, flat % M), np.maximum(flat // M, flat % M)
    rows = np.arange(R)
    close = d[rows, k, l] <= eps
    r = np.flatnonzero(close)
    if r.size == 0:
        return x, u, L, F, f
    k, l = k[r], l[r]
    xk, xl = x[r, k], x[r, l]
    w = xk + xl
    um = (xk * u[r, k] + xl * u[r, l]) / w
    xm, umm, Lm = x[r].copy(), u[r].copy(), L[r].copy()
    i = np.arange(r.size)
    xm[i, k], xm[i, l], umm[i, k] = w, 0.0, um
    Lm[i, k] = _atom_likelihood(y[r], s[r], present[r], um[:, None])[:, 0]
    Lm[i, l] = 0.0
    Fm, fm = _objective(Lm, xm, present[r], Jr[r])
    ok = np.isfinite(Fm) & (Fm <= F[r])
    acc = r[ok]
    x[acc], u[acc], L[acc], F[acc], f[acc] = xm[ok], umm[ok], Lm[ok], Fm[ok], fm[ok]
    return x, u, L, F, f


def _compact(x, u, L):
    """The atoms of positive weight first, in their order, the arrays cut to the most any row
    keeps: (x, u, L, count)."""
    keepk = x > 0
    count = keepk.sum(axis=1)
    W = max(int(count.max(initial=0)), 1)
    order = np.argsort(~keepk, axis=1, kind="stable")[:, :W]
    alive = np.arange(W)[None, :] < count[:, None]
    x = np.where(alive, np.take_along_axis(x, order, axis=1), 0.0)
    u = np.where(alive, np.take_along_axis(u, order, axis=1), np.nan)
    L = np.where(alive[:, :, None], np.take_along_axis(L, order[:, :, None], axis=1), 0.0)
    return x, u, L, count


def _scan_D(Phi, a, Jr, valid):
    """D at the scan points, -inf at padding: (R, Kc)."""
    return np.where(valid, np.einsum("rkj,rj->rk", Phi, a) / Jr[:, None], -np.inf)


def _polish(y, s, a, Jr, u, lo, hi, h, ok):
    """Local maxima of D(u) = (1/J) sum_j a_j phi_j(u) near the points ``u`` (R, P) where ``ok``
    by guarded Newton steps on D' (each step at most h; the best point visited), the points as
    one list that shrinks as they stand still: (u, D(u)), -inf where not ``ok``."""
    best_u = u.copy()
    best_d = np.full(u.shape, -np.inf)
    rr, pp = np.nonzero(ok)
    if rr.size == 0:
        return best_u, best_d
    inv = 1.0 / s
    a0 = a * inv  # weights of phi, phi z / s and phi (z^2 - 1) / s^2 in D, D' and D''
    a1 = a0 * inv
    a2 = a1 * inv
    pu = u[rr, pp]
    bu, bd = pu.copy(), np.full(pu.shape, -np.inf)
    act = np.arange(rr.size)
    for step in range(_POLISH_STEPS + 1):
        r, v = rr[act], pu[act]
        z = y[r] - v[:, None]
        z *= inv[r]
        e = np.square(z)
        e *= -0.5
        np.exp(e, out=e)
        D = np.einsum("pj,pj->p", e, a0[r]) / Jr[r]
        better = D > bd[act]
        bu[act[better]], bd[act[better]] = v[better], D[better]
        if step == _POLISH_STEPS:
            break
        ez = e * z
        D1 = np.einsum("pj,pj->p", ez, a1[r])
        ez *= z
        D2 = np.einsum("pj,pj->p", ez, a2[r]) - np.einsum("pj,pj->p", e, a2[r])
        with np.errstate(invalid="ignore", divide="ignore"):
            newton = -D1 / D2
        move = np.where(D2 < 0, newton, np.sign(D1) * h[r])
        move = np.clip(np.where(np.isfinite(move), move, 0.0), -h[r], h[r])
        # each point on its own: it stops once it stands still (its last D is its best)
        moving = np.abs(move) > 1e-12 * np.maximum(1.0, np.abs(v))
        act = act[moving]
        if act.size == 0:
            break
        pu[act] = np.clip(v[moving] + move[moving], lo[rr[act]], hi[rr[act]])
    best_u[rr, pp], best_d[rr, pp] = bu, bd
    return best_u, best_d


def _cnm_rows(y, s, present, lo, hi, smin, scan, *, tol, maxiter):
    """``npmle_fit``'s solver on a block of usable datasets: (atoms, weights, loglik, gap,
    iterations, converged, posterior means). It works in the units (y - min y) / min s_j, so
    that data scaled by a power of two give the same bits, scaled."""
    Rb, J = y.shape
    origin, unit = lo, smin
    y = np.where(present, (y - origin[:, None]) / unit[:, None], 0.0)
    s = np.where(present, s / unit[:, None], 1.0)
    lo, hi, smin = np.zeros(Rb), (hi - origin) / unit, np.ones(Rb)
    Jr = present.sum(axis=1).astype(float)
    # the certificate's scan points and their likelihoods
    Kc = int(scan.max())
    pos = np.arange(Kc)[None, :]
    valid = pos < scan[:, None]
    u_scan = lo[:, None] + (hi - lo)[:, None] * np.minimum(pos, scan[:, None] - 1) / (scan[:, None] - 1)
    h = (hi - lo) / (scan - 1)
    Phi = _atom_likelihood(y, s, present, u_scan)
    # start: atoms every smallest standard error across the range, or at the data
    Mmax = 2 * J + 8
    n0 = np.ceil((hi - lo) / (_START_SPACING * smin)).astype(np.int64) + 1
    grid_start = n0 <= Jr
    count = np.where(grid_start, n0, Jr).astype(np.int64)
    W = int(count.max())
    k = np.arange(W)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        on_grid = lo[:, None] + (hi - lo)[:, None] * k / (n0 - 1)[:, None]
    data = np.sort(np.where(present, y, np.inf), axis=1)[:, :W]
    u = np.where(k < count[:, None], np.where(grid_start[:, None], on_grid, data), np.nan)
    x = np.where(k < count[:, None], 1.0 / count[:, None], 0.0)
    L = _atom_likelihood(y, s, present, np.where(np.isfinite(u), u, 0.0))
    L = np.where((k < count[:, None])[:, :, None], L, 0.0)
    # a few EM steps on the starting atoms, then those left with a small weight dropped: the
    # first projected step starts near its face (EM costs one pass over L, a projected step
    # one active-set change per atom it drops)
    for _ in range(_START_EM):
        f = np.where(present, _density(L, x), 1.0)
        a = np.where(present, 1.0 / f, 0.0)
        x = x * np.einsum("rkj,rj->rk", L, a) / Jr[:, None]
    x = np.where(x >= _START_KEEP * x.max(axis=1, keepdims=True), x, 0.0)
    x = x / _over_atoms(x)[:, None]
    x, u, L, count = _compact(x, u, L)
    F, f = _objective(L, x, present, Jr)
    gap = np.full(Rb, np.inf)
    iters = np.zeros(Rb, dtype=np.int64)
    # the fits in the block's full arrays; the loop works on the unfinished rows only, compacted
    # (datasets leave as they finish: no indexing of the whole block per step)
    U, X, LL, C = np.full((Rb, Mmax), np.nan), np.zeros((Rb, Mmax)), np.zeros((Rb, Mmax, J)), count.copy()
    ids = np.arange(Rb)
    W = x.shape[1]
    yb, sb, pb, Jb, lob, hib, hb = y, s, present, Jr, lo, hi, h
    Phib, validb, u_scanb, it = Phi, valid, u_scan, iters.copy()
    stuck = np.ones(Rb, dtype=bool)  # the weights need a projected step (the first, or refused)
    slow = np.zeros(Rb, dtype=bool)  # the scan's gap did not halve in the last iteration
    gprev = np.full(Rb, np.inf)
    for _ in range(maxiter + 1):
        if ids.size == 0:
            break
        # the certificate: D on the scan, its maxima near or above 1 located exactly
        a = np.where(pb, 1.0 / f, 0.0)
        D = _scan_D(Phib, a, Jb, validb)
        Dmax = D.max(axis=1)
        # located exactly only where the scan alone cannot refuse the certificate, the
        # iterations end, or the scan's gap did not halve (a small atom hopping between scan
        # points); elsewhere the new atoms start at the scan's local maxima and the joint step
        # moves them
        with np.errstate(divide="ignore"):
            gscan = Jb * np.log(Dmax)
        slow = gscan > 0.5 * gprev
        gprev = gscan
        certify = (gscan <= tol * Jb) | (it >= maxiter)
        near = certify | slow
        left = np.concatenate([np.full((ids.size, 1), -np.inf), D[:, :-1]], axis=1)
        right = np.concatenate([D[:, 1:], np.full((ids.size, 1), -np.inf)], axis=1)
        peak = (D >= left) & (D > right) & (D > _NEAR_ONE)
        # before a dataset is declared converged, Newton's method from every scan point above
        # 0.98 too: two maxima of D with a shallow dip between them show one peak on the scan
        peak |= certify[:, None] & (D > _NEAR_ONE)
        P = int(peak.sum(axis=1).max())
        order = np.argsort(~peak, axis=1, kind="stable")[:, :P]
        cand_ok = np.take_along_axis(peak, order, axis=1)
        cu = np.take_along_axis(u_scanb, order, axis=1)
        cd = np.take_along_axis(D, order, axis=1)
        pi = np.flatnonzero(near)
        if pi.size:
            # Newton's method also from every atom: a maximum of D next to an atom, with a
            # shallow dip between it and a neighbouring maximum, shows no local maximum of its
            # own on the scan (the scan's maxima alone missed such a maximum above 1 in about
            # one dataset in 200)
            cu = np.concatenate([cu, np.where(np.isfinite(u), u, 0.0)], axis=1)
            cd = np.concatenate([cd, np.full(u.shape, -np.inf)], axis=1)
            cand_ok = np.concatenate([cand_ok, near[:, None] & np.isfinite(u)], axis=1)
            P = cu.shape[1]
            pu, pd = _polish(yb[pi], sb[pi], a[pi], Jb[pi], cu[pi], lob[pi], hib[pi], hb[pi], cand_ok[pi])
            cu[pi], cd[pi] = pu, np.where(cand_ok[pi], pd, cd[pi])
            # points that climbed to the same maximum: the first kept
            same = np.abs(cu[pi][:, :, None] - cu[pi][:, None, :]) <= 1e-7
            same &= np.tril(np.ones((P, P), dtype=bool), -1)[None] & cand_ok[pi][:, None, :]
            cand_ok[pi] &= ~same.any(axis=2)
        cd = np.where(cand_ok, cd, -np.inf)
        with np.errstate(divide="ignore"):
            g = np.maximum(Jb * np.log(np.maximum(Dmax, cd.max(axis=1, initial=-np.inf))), 0.0)
        done = (g <= tol * Jb) | (it >= maxiter)
        gap[ids] = g
        if done.any():
            fin = ids[done]
            U[fin, :W], X[fin, :W], LL[fin, :W], C[fin], iters[fin] = u[done], x[done], L[done], count[done], it[done]
            keep = ~done
            ids, cu, cd = ids[keep], cu[keep], cd[keep]
            yb, sb, pb, Jb, lob, hib, hb = yb[keep], sb[keep], pb[keep], Jb[keep], lob[keep], hib[keep], hb[keep]
            Phib, validb, u_scanb, it, stuck = Phib[keep], validb[keep], u_scanb[keep], it[keep], stuck[keep]
            gprev = gprev[keep]
            u, x, L, F, f, count = u[keep], x[keep], L[keep], F[keep], f[keep], count[keep]
            if ids.size == 0:
                break
        it += 1
        # new atoms: the located maxima with D > 1, not already atoms, while there is room
        dist = np.abs(cu[:, :, None] - u[:, None, :])
        dup = (np.where(np.isnan(dist), np.inf, dist) <= 1e-9).any(axis=2)
        new = (cd > 1.0) & ~dup
        slot = count[:, None] + np.cumsum(new, axis=1) - 1
        new &= slot < Mmax
        need = int((count + new.sum(axis=1)).max())
        if need > W:
            grow = need - W
            u = np.concatenate([u, np.full((ids.size, grow), np.nan)], axis=1)
            x = np.concatenate([x, np.zeros((ids.size, grow))], axis=1)
            L = np.concatenate([L, np.zeros((ids.size, grow, J))], axis=1)
            W = need
        rr, pp = np.nonzero(new)
        at_slot = slot[rr, pp]
        u[rr, at_slot] = cu[rr, pp]
        count = count + new.sum(axis=1)
        L[rr, at_slot] = _atom_likelihood(yb[rr], sb[rr], pb[rr], cu[rr, pp][:, None])[:, 0]
        # one SQP step on the weights, over the atoms in use, where atoms were
        # added or the last joint step was refused (elsewhere the joint step moves the weights)
        q = np.flatnonzero(stuck | new.any(axis=1))
        if q.size:
            Mw = int(count[q].max())
            real = np.arange(Mw)[None, :] < count[q, None]
            Lq = L[q, :Mw]
            xr, Fr, fr = _sqp_step(Lq, x[q, :Mw], F[q], f[q], pb[q], Jb[q], real)
            # normalise (never raises the objective) and drop atoms at weight 0
            xr = xr / _over_atoms(xr)[:, None]
            Fr, fr = _objective(Lq, xr, pb[q], Jb[q])
            x[q, :Mw], F[q], f[q] = xr, Fr, fr
            x, u, L, count = _compact(x, u, L)
        # the joint step, then the nearest atoms tried as one, then atoms at weight 0 dropped
        x, u, L, F, f, moved = _joint_newton(yb, sb, pb, Jb, L, x, u, count, F, f)
        x = x / _over_atoms(x)[:, None]  # normalised (never raises the objective)
        F, f = _objective(L, x, pb, Jb)
        stuck = ~moved
        x, u, L, F, f = _merge_close(yb, sb, pb, Jb, L, x, u, count, F, f, _MERGE)
        x, u, L, count = _compact(x, u, L)
        W = x.shape[1]
    u, x, L, count = U, X, LL, C
    K = int(count.max())
    w = x[:, :K] / _over_atoms(x[:, :K])[:, None]
    f = np.where(present, _density(L[:, :K], w), 1.0)
    num = _density(L[:, :K], w * np.where(np.isfinite(u[:, :K]), u[:, :K], 0.0))
    post = np.where(present, origin[:, None] + unit[:, None] * (num / f), np.nan)
    loglik = np.log(f).sum(axis=1) - Jr * (0.5 * _LOG_2PI + np.log(unit))
    converged = gap <= tol * Jr
    return origin[:, None] + unit[:, None] * u[:, :K], w, loglik, gap, iters, converged, post


def npmle(stats: SuffStats, sigma2, **kwargs) -> NPMLEFit:
    """``npmle_fit`` with s_j^2 = sigma2 / n_j: the fit, whose ``estimate`` are the NPMLE
    empirical-Bayes posterior means.

    ``sigma2`` is the pooled within-group variance of each dataset, SSW / (N - J), shape (R,)
    (the same for every group, also in heteroscedastic worlds).
    """
    s2 = sampling_variances(stats, sigma2)
    return npmle_fit(np.where(stats.present, stats.ybar, np.nan), s2, **kwargs)


# ----------------------------------------------------------------------------------------------
# SURE shrinkage (Xie, Kou & Brown 2012)


def sure_criterion(y, s2, lam, mu) -> np.ndarray:
    """SURE of theta_j = lam / (lam + A_j) y_j + A_j / (lam + A_j) mu, A_j = s_j^2 (XKB 2012 eq. 2.3).

        SURE(lam, mu) = sum_j [ A_j^2 (y_j - mu)^2 / (lam + A_j)^2 + A_j (lam - A_j) / (lam + A_j) ]

    ``y``, ``s2``: (R, J) with NaN for absent groups; ``lam``, ``mu``: (R,) or (R, G). Returns
    the shape of ``lam`` (sum over groups, not divided by J).
    """
    y = np.asarray(y, dtype=float)
    s2 = np.asarray(s2, dtype=float)
    lam = np.asarray(lam, dtype=float)
    mu = np.asarray(mu, dtype=float)
    if lam.ndim == 2:
        y, s2, lam, mu = y[:, None, :], s2[:, None, :], lam[..., None], mu[..., None]
    else:
        lam, mu = lam[:, None], mu[:, None]
    present = np.isfinite(s2) & np.isfinite(y)
    A = np.where(present, s2, 0.0)
    d = np.where(present, y, 0.0) - mu
    with np.errstate(invalid="ignore", divide="ignore"):
        term = A * A * d * d / (lam + A) ** 2 + A * (lam - A) / (lam + A)
    return np.where(present, term, 0.0).sum(axis=-1)


def _sure_profile(y, s2, lam):
    """mu(lam) = sum b_j^2 y_j / sum b_j^2, b_j = A_j / (A_j + lam), and SURE there; lam (R, G)."""
    present = np.isfinite(s2) & np.isfinite(y)
    A = np.where(present, s2, 0.0)[:, None, :]
    yy = np.where(present, y, 0.0)[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        b = A / (A + lam[..., None])
    b2 = np.where(present[:, None, :], b * b, 0.0)
    mu = (b2 * yy).sum(axis=-1) / b2.sum(axis=-1)
    return mu, sure_criterion(y, s2, lam, mu)


def _sure_slope(y, s2, lam):
    """d SURE / d lam along the profile (envelope theorem for mu): 2 sum A_j^2 / (lam + A_j)^2
    (1 - (y_j - mu)^2 / (lam + A_j)); lam (R,)."""
    mu = _sure_profile(y, s2, lam[:, None])[0][:, 0]
    present = np.isfinite(s2) & np.isfinite(y)
    A = np.where(present, s2, 0.0)
    d = np.where(present, y, 0.0) - mu[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        V = lam[:, None] + A
        g = np.where(present, A * A / (V * V) * (1.0 - d * d / V), 0.0)
    return 2.0 * g.sum(axis=1)


def _sure_polish(y, s2, lam, lo, hi, iterations: int = 200):
    """The golden-section minimiser made exact: where the profile's slope changes sign between
    the grid points around the minimum, bisection (in log lam) on the slope's sign, to the last
    bit; so lam, and the estimates, move with the data only as the data move (the golden-section
    search alone stops at about sqrt(machine epsilon) on the flat minimum)."""
    lo = np.where(lo > 0, lo, lam * 1e-6)
    with np.errstate(invalid="ignore"):
        bracket = (_sure_slope(y, s2, lo) < 0) & (_sure_slope(y, s2, hi) > 0) & (lam > 0)
    idx = np.flatnonzero(bracket)
    if idx.size == 0:
        return lam
    yy, ss = y[idx], s2[idx]
    a, b = np.log(lo[idx]), np.log(hi[idx])
    for _ in range(iterations):  # each dataset stops on its own test (chunk-invariant)
        active = b - a > 4e-16 * np.maximum(1.0, np.abs(a))
        if not active.any():
            break
        m = 0.5 * (a + b)
        neg = _sure_slope(yy, ss, np.exp(m)) < 0
        a, b = np.where(active & neg, m, a), np.where(active & ~neg, m, b)
    out = lam.copy()
    polished = np.exp(0.5 * (a + b))
    # keep the polished point unless the golden-section one is lower (a second local minimum)
    v_old = _sure_profile(yy, ss, lam[idx][:, None])[1][:, 0]
    v_new = _sure_profile(yy, ss, polished[:, None])[1][:, 0]
    out[idx] = np.where(v_new <= v_old * (1 + 1e-12) + 1e-300, polished, lam[idx])
    return out


@dataclass(frozen=True)
class SUREFit:
    """Per dataset: the chosen ``lam`` and ``mu``, the minimum ``sure``; ``estimate`` (R, J)."""

    lam: np.ndarray
    mu: np.ndarray
    sure: np.ndarray
    estimate: np.ndarray


_SURE_GRID = np.concatenate([[0.0], np.logspace(-8, 8, 41)])
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def sure_fit(y, s2, *, iterations: int = 40) -> SUREFit:
    """Parametric SURE shrinkage toward a location (Xie, Kou & Brown 2012, JASA 107:1465, sec. 2).

    Chooses (lam >= 0, mu) minimising ``sure_criterion``. For fixed lam the optimal location
    is the closed form mu(lam) = sum b_j^2 y_j / sum b_j^2 (b_j = A_j / (A_j + lam)), leaving a
    1-D profile in lam: a grid (0 and 41 values from 1e-8 to 1e8 times the dataset's median
    A_j, evenly spaced in log lam), then golden-section search (``iterations`` steps) inside the
    two grid intervals around the best grid point (the profile need not be unimodal; the
    grid picks the basin), then bisection on the profile's slope to the last bit
    (``_sure_polish``). Each dataset is searched on its own.

    ``y``, ``s2``: (R, J), NaN for absent groups (s2 = sigma^2^ / n_j in the study). Datasets with
    fewer than 2 groups or no positive s2 give the raw y.
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    s2 = np.atleast_2d(np.asarray(s2, dtype=float))
    present = np.isfinite(s2) & np.isfinite(y)
    R = y.shape[0]
    with np.errstate(invalid="ignore"):
        scale = np.nanmedian(np.where(present & (s2 > 0), s2, np.nan), axis=1)
    usable = (present.sum(axis=1) >= 2) & np.isfinite(scale)
    scale = np.where(usable, scale, 1.0)
    grid = scale[:, None] * _SURE_GRID[None, :]
    mu_g, val = _sure_profile(y, s2, grid)
    val = np.where(np.isfinite(val), val, np.inf)
    i = np.argmin(val, axis=1)
    G = grid.shape[1]
    rows = np.arange(R)
    a = grid[rows, np.maximum(i - 1, 0)]
    b = grid[rows, np.minimum(i + 1, G - 1)]
    best_l, best_v = grid[rows, i], val[rows, i]
    # golden-section search on [a, b] (per dataset, fixed number of steps)
    c = b - _GOLDEN * (b - a)
    d = a + _GOLDEN * (b - a)
    fc = _sure_profile(y, s2, c[:, None])[1][:, 0]
    fd = _sure_profile(y, s2, d[:, None])[1][:, 0]
    for _ in range(iterations):
        left = fc <= fd  # the minimum lies in [a, d]: drop (d, b]; else drop [a, c)
        a, b = np.where(left, a, c), np.where(left, d, b)
        x_new = np.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
        f_new = _sure_profile(y, s2, x_new[:, None])[1][:, 0]
        c, d, fc, fd = (
            np.where(left, x_new, d),
            np.where(left, c, x_new),
            np.where(left, f_new, fd),
            np.where(left, fc, f_new),
        )
    for x, fx in ((c, fc), (d, fd)):
        better = fx < best_v
        best_l, best_v = np.where(better, x, best_l), np.where(better, fx, best_v)
    best_l = _sure_polish(y, s2, best_l, grid[rows, np.maximum(i - 1, 0)], grid[rows, np.minimum(i + 1, G - 1)])
    # full pooling: where the profile rises from lam = 0 and the search ended in the first grid
    # interval (1e-8 of the scale), what it found below the value at 0 is rounding; lam is 0
    with np.errstate(invalid="ignore"):
        pooled = (i == 0) & (best_l <= grid[:, 1]) & (_sure_slope(y, s2, np.zeros(R)) >= 0)
    best_l = np.where(pooled, 0.0, best_l)
    mu, val = _sure_profile(y, s2, best_l[:, None])
    mu, val = mu[:, 0], val[:, 0]
    A = np.where(present, s2, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = (best_l[:, None] * y + A * mu[:, None]) / (best_l[:, None] + A)
    est = np.where(A == 0, y, est)
    est = np.where(pooled[:, None] & (A > 0), mu[:, None], est)  # exactly mu: no ulp left to rank
    est = np.where(usable[:, None], est, y)
    est = np.where(present, est, np.nan)
    lam = np.where(usable, best_l, np.nan)
    return SUREFit(lam, np.where(usable, mu, np.nan), np.where(usable, val, np.nan), est)


def sure(stats: SuffStats, sigma2) -> np.ndarray:
    """XKB SURE shrinkage estimates (``sure_fit``) with s_j^2 = sigma2 / n_j (pooled sigma2, (R,))."""
    s2 = sampling_variances(stats, sigma2)
    return sure_fit(np.where(stats.present, stats.ybar, np.nan), s2).estimate


# ----------------------------------------------------------------------------------------------
# oracles


def posterior_mean_mixture(x, s2, prior: GaussMixture) -> np.ndarray:
    """E[theta | x] for x = theta + N(0, s2), theta ~ sum_k w_k N(m_k, v_k): exact.

    The posterior is the mixture of the components' normal posteriors with weights
    proportional to w_k N(x; m_k, v_k + s2) (computed in logs); component k's posterior mean is
    m_k + v_k / (v_k + s2) (x - m_k). Point masses (v_k = 0) stay at m_k.
    """
    x = np.asarray(x, dtype=float)[..., None]
    s2 = np.asarray(s2, dtype=float)[..., None]
    w, m, v = (np.asarray(a, dtype=float) for a in (prior.weights, prior.means, prior.variances))
    tot = v + s2
    with np.errstate(divide="ignore"):
        logp = np.log(w) - 0.5 * np.log(tot) - 0.5 * (x - m) ** 2 / tot
    logp = logp - logp.max(axis=-1, keepdims=True)
    p = np.exp(logp)
    p = p / p.sum(axis=-1, keepdims=True)
    return (p * (m + v / tot * (x - m))).sum(axis=-1)


_PANELS, _PER_PANEL = 4, 32
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(_PER_PANEL)
_WINDOW = 9.0  # likelihood window +- 9 s_j (the rest weighs below exp(-40))
_DECADES = 17.0  # the part of a tail below 1e-17 times the window's end is left out


def _log_panels(a, b):
    """Nodes and weights for int_a^b f(u) du = int f(e^l) e^l dl on [log a, log b]: (..., P*M)."""
    la = np.log(np.maximum(a, b * 10.0**-_DECADES))
    lb = np.log(b)
    h = (lb - la) / _PANELS
    left = la[..., None] + h[..., None] * np.arange(_PANELS)
    l = (left[..., None] + 0.5 * h[..., None, None] * (_NODES + 1.0)).reshape(*a.shape, -1)
    u = np.exp(l)
    w = np.broadcast_to(0.5 * h[..., None, None] * _WEIGHTS, (*a.shape, _PANELS, _PER_PANEL)).reshape(*a.shape, -1)
    return u, w * u


def _quantile_halves(x, s, prior: QuantilePrior):
    """The two halves of ``posterior_mean_quantile``'s quadrature (below and above the prior's
    median): for each, its nodes t (0 where unused) and weights times the likelihood, wt."""
    lo, hi = x - _WINDOW * s, x + _WINDOW * s
    for lower in (True, False):
        if lower:
            a, b, inv = prior.cdf(lo), np.minimum(prior.cdf(hi), 0.5), prior.ppf
        else:
            a, b, inv = prior.sf(hi), np.minimum(prior.sf(lo), 0.5), prior.isf
        empty = ~(b > a)
        b = np.where(empty, 0.5, b)
        a = np.where(empty, 0.25, a)
        u, w = _log_panels(a, b)
        t = inv(u)
        ok = np.isfinite(t) & ~empty[..., None]
        t = np.where(ok, t, 0.0)
        yield t, w * np.where(ok, np.exp(-0.5 * ((x[..., None] - t) / s[..., None]) ** 2), 0.0)


def posterior_mean_quantile(x, s2, prior: QuantilePrior) -> np.ndarray:
    """E[theta | x] for x = theta + N(0, s2), theta ~ a continuous G, by quadrature.

        E[theta | x] = int t h(t) dG(t) / int h(t) dG(t),   h(t) = exp(-(x - t)^2 / (2 s2))

    in the probability scale, t = G^{-1}(u), over the window where the likelihood matters,
    u in [G(x - 9 s), G(x + 9 s)], split at the median: the lower part by the quantile function
    in u, the upper part by the inverse survival function in v = 1 - u, each integrated in
    log u (log v) by composite Gauss-Legendre (4 panels of 32 points; the stretch of a tail
    below 1e-17 times the window's end is dropped). The window adapts to narrow s (a short
    stretch of the prior) and to wide s (the whole prior); the log scale resolves a likelihood
    peak far in a heavy tail. Accuracy about 1e-9 against brute-force integration (tests).
    """
    x = np.asarray(x, dtype=float)
    s = np.sqrt(np.asarray(s2, dtype=float))
    x, s = np.broadcast_arrays(x, s)
    num = np.zeros(x.shape)
    den = np.zeros(x.shape)
    for t, wt in _quantile_halves(x, s, prior):
        den += wt.sum(axis=-1)
        num += (wt * t).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def oracle_bayes(stats: SuffStats, mu: float, prior, s2) -> np.ndarray:
    """The Bayes rule under the true effect distribution: mu + E[theta_j | ybar_j] (the floor).

    ``prior`` is the true distribution of theta (``Cell.effects_prior()``: a GaussMixture, summed
    exactly, or a QuantilePrior, by ``posterior_mean_quantile``); ``s2`` the true sampling
    variances sigma_j^2 / n_j, (J,) or (R, J) (``Cell.sampling_variances()``). It uses ybar_j
    only and takes ybar_j ~ N(mu + theta_j, s_j^2): exact for normal errors; with t errors the
    group mean is not exactly normal (its law is a convolution of n_j t's) and the rule is the
    Bayes rule of that normal approximation, close for moderate n_j. Under normal effects it
    equals the linear oracle (``estimators.oracle``).
    """
    s2 = np.broadcast_to(np.asarray(s2, dtype=float), stats.n.shape)
    x = stats.ybar - mu
    if isinstance(prior, GaussMixture):
        post = posterior_mean_mixture(x, s2, prior)
    elif isinstance(prior, QuantilePrior):
        post = _posterior_mean_quantile_tabulated(x, s2, stats.present, prior)
    else:
        raise TypeError(f"unknown prior type {type(prior).__name__}")
    return _nan_absent(stats.present, mu + post)


_TABLE_POINTS = 513  # nodes of the tabulated posterior mean, per distinct sampling variance


def _posterior_mean_quantile_tabulated(x, s2, present, prior: QuantilePrior) -> np.ndarray:
    """``posterior_mean_quantile`` for many x that share few sampling variances (a study cell:
    one per distinct group SD and size): per distinct s^2, the quadrature on 513 evenly spaced x
    spanning the data and a cubic spline through them (the posterior mean is smooth in x: the
    spline is within 1e-6 s of the quadrature, tested); directly where that would cost more."""
    from scipy.interpolate import CubicSpline

    out = np.full(x.shape, np.nan)
    keys, inverse = np.unique(np.where(present, s2, np.nan), return_inverse=True)
    inverse = inverse.reshape(x.shape)
    finite = np.isfinite(keys)
    if finite.sum() * _TABLE_POINTS >= present.sum():
        return np.where(present, posterior_mean_quantile(x, s2, prior), np.nan)
    for k in np.flatnonzero(finite):
        sel = present & (inverse == k)
        xs = x[sel]
        lo, hi = xs.min(), xs.max()
        if hi == lo:
            out[sel] = posterior_mean_quantile(xs, np.full(xs.shape, keys[k]), prior)
            continue
        grid = np.linspace(lo, hi, _TABLE_POINTS)
        table = posterior_mean_quantile(grid, np.full(grid.shape, keys[k]), prior)
        out[sel] = CubicSpline(grid, table)(xs)
    return out


# ----------------------------------------------------------------------------------------------
# the oracle under t errors: the Bayes rule given all of a group's observations

_FULL_COARSE = 129  # coarse nodes that find where the posterior lives
_FULL_PANELS, _FULL_PER_PANEL = 16, 16  # Gauss-Legendre panels and nodes on that stretch
_FULL_NODES, _FULL_WEIGHTS = np.polynomial.legendre.leggauss(_FULL_PER_PANEL)
_FULL_DROP = 45.0  # the stretch where log posterior > its coarse maximum - 45 (e^-45 = 3e-20)
_FULL_EPS = 1e-17  # likelihood window: each t factor below eps^(1/n) of its peak beyond it
_FULL_SD = 12.0  # a normal component's window: mean +- 12 SD (the rest weighs below 1e-32)
_FULL_CELLS = 1 << 21  # observations x nodes per block of groups (memory)


@dataclass(frozen=True)
class _PriorParts:
    """A prior as a continuous part (its log density, None without one: weights included) and
    atoms (weights, locations), with the support and the stretch where the continuous part
    matters (``lo``, ``hi``)."""

    logpdf: object
    atom_w: np.ndarray
    atom_at: np.ndarray
    lo: float
    hi: float


def _prior_parts(prior) -> _PriorParts:
    if isinstance(prior, GaussMixture):
        w, m, v = (np.asarray(a, dtype=float) for a in (prior.weights, prior.means, prior.variances))
        cont = v > 0
        atoms = (w[~cont], m[~cont])
        if not cont.any():
            return _PriorParts(None, *atoms, np.nan, np.nan)
        wc, mc, vc = w[cont], m[cont], v[cont]
        logc = np.log(wc) - 0.5 * np.log(2.0 * np.pi * vc)

        def logpdf(t):
            a = logc - 0.5 * (t[..., None] - mc) ** 2 / vc
            top = a.max(axis=-1)
            return top + np.log(np.exp(a - top[..., None]).sum(axis=-1))

        sd = np.sqrt(vc)
        return _PriorParts(logpdf, *atoms, float((mc - _FULL_SD * sd).min()), float((mc + _FULL_SD * sd).max()))
    if isinstance(prior, QuantilePrior):
        if prior.logpdf is None:
            raise TypeError("the oracle under t errors needs the prior's density (QuantilePrior.logpdf)")
        lo = max(float(prior.ppf(np.array(1e-16))), prior.support[0])
        hi = min(float(prior.isf(np.array(1e-16))), prior.support[1])
        return _PriorParts(prior.logpdf, np.zeros(0), np.zeros(0), lo, hi)
    raise TypeError(f"unknown prior type {type(prior).__name__}")


def _t_loglik(yy, starts, theta, c, df):
    """Sum over each group's observations of log f_T((y_i - theta) / c), up to a constant per
    group: yy (Nobs,) sorted by group, ``starts`` the first observation of each of the G groups,
    theta (G, K), c (G,); returns (G, K)."""
    counts = np.diff(np.r_[starts, yy.size])
    scale = 1.0 / (c * np.sqrt(df))
    if counts.size and (counts == counts[0]).all():  # equal sizes: no gather
        z = yy.reshape(starts.size, -1)[:, :, None] - theta[:, None, :]
        z *= scale[:, None, None]
        z *= z
        return -0.5 * (df + 1.0) * np.log1p(z, out=z).sum(axis=1)
    rows = np.repeat(np.arange(starts.size), counts)
    z = yy[:, None] - theta[rows]
    z *= scale[rows, None]
    z *= z
    return -0.5 * (df + 1.0) * np.add.reduceat(np.log1p(z, out=z), starts, axis=0)


def _sinh_nodes(a, b, m, s, count=None, gauss=True):
    """Nodes and weights on [a, b] (per group) in u, theta = m + s sinh(u): Gauss-Legendre panels
    (``gauss``) or ``count`` evenly spaced points (weights None). Fine near m, coarse far away."""
    ua, ub = np.arcsinh((a - m) / s), np.arcsinh((b - m) / s)
    if not gauss:
        u = ua[:, None] + (ub - ua)[:, None] * np.linspace(0.0, 1.0, count)
        return m[:, None] + s[:, None] * np.sinh(u), None
    h = (ub - ua) / _FULL_PANELS
    left = ua[:, None] + h[:, None] * np.arange(_FULL_PANELS)
    u = (left[..., None] + 0.5 * h[:, None, None] * (_FULL_NODES + 1.0)).reshape(a.size, -1)
    w = np.broadcast_to(0.5 * h[:, None, None] * _FULL_WEIGHTS, (a.size, _FULL_PANELS, _FULL_PER_PANEL))
    w = w.reshape(a.size, -1) * s[:, None] * np.cosh(u)
    return m[:, None] + s[:, None] * np.sinh(u), w


def _posterior_block(yy, starts, c, df, parts: _PriorParts, moments: int):
    """Posterior moments E[theta^k | y], k = 1..moments, of G groups (module docstring of
    ``posterior_full_data``)."""
    G = starts.size
    counts = np.diff(np.r_[starts, yy.size]).astype(float)
    ymin = np.minimum.reduceat(yy, starts)
    ymax = np.maximum.reduceat(yy, starts)
    med = 0.5 * (ymin + ymax)
    # beyond A c of every observation each t factor is below eps^(1/n) of its peak
    A = np.sqrt(df * (_FULL_EPS ** (-2.0 / ((df + 1.0) * counts)) - 1.0))
    out_num = [np.zeros(G) for _ in range(moments)]
    top = np.full(G, -np.inf)
    den = np.zeros(G)
    terms = []  # (log weights (G, K), theta (G, K)) of the continuous part and the atoms
    if parts.logpdf is not None:
        lo = np.maximum(ymin - A * c, parts.lo)
        hi = np.minimum(ymax + A * c, parts.hi)
        empty = ~(hi > lo)  # data far beyond the prior's stretch: its whole stretch
        lo = np.where(empty, parts.lo, lo)
        hi = np.where(empty, parts.hi, hi)
        s = c / np.sqrt(counts)
        center = np.clip(med, lo, hi)
        theta, _ = _sinh_nodes(lo, hi, center, s, _FULL_COARSE, gauss=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = parts.logpdf(theta) + _t_loglik(yy, starts, theta, c, df)
        lp = np.where(np.isnan(lp), -np.inf, lp)
        keep = lp >= lp.max(axis=1, keepdims=True) - _FULL_DROP
        K = theta.shape[1]
        first = np.maximum(keep.argmax(axis=1) - 1, 0)
        last = np.minimum(K - 1 - keep[:, ::-1].argmax(axis=1) + 1, K - 1)
        a = theta[np.arange(G), first]
        b = theta[np.arange(G), last]
        mode = theta[np.arange(G), lp.argmax(axis=1)]
        nodes, w = _sinh_nodes(a, b, np.clip(mode, a, b), s)
        with np.errstate(divide="ignore", invalid="ignore"):
            lpn = parts.logpdf(nodes) + _t_loglik(yy, starts, nodes, c, df) + np.log(w)
        terms.append((np.where(np.isnan(lpn), -np.inf, lpn), nodes))
    if parts.atom_at.size:
        at = np.broadcast_to(parts.atom_at, (G, parts.atom_at.size))
        with np.errstate(divide="ignore"):
            terms.append((np.log(parts.atom_w) + _t_loglik(yy, starts, at, c, df), at))
    for lw, _ in terms:
        top = np.maximum(top, lw.max(axis=1))
    for lw, th in terms:
        p = np.exp(lw - top[:, None])
        den += p.sum(axis=1)
        for k in range(moments):
            out_num[k] += (p * th ** (k + 1)).sum(axis=1)
    return [num / den for num in out_num]


def posterior_full_data(obs, present, mu: float, prior, c, df: float, moments: int = 1):
    """Posterior moments of theta_j given all of group j's observations under t errors.

    y_ji = mu + theta_j + c_j T_df (c_j = sigma_j sqrt((df - 2) / df), the worlds' scaling of
    t errors to SD sigma_j), theta_j ~ ``prior`` (a GaussMixture or a QuantilePrior with a
    density). The posterior of theta_j is proportional to

        g(theta) prod_i f_T((y_ji - mu - theta) / c_j) / c_j

    (ybar_j is not sufficient under t errors). Computed per group in one dimension: the
    prior's atoms (point masses) exactly; its continuous part by quadrature in u, theta = m +
    s sinh(u) (s = c_j / sqrt(n_j): dense where the likelihood peaks, sparse in the tails),
    first on 129 evenly spaced u to find the stretch where the log posterior is within 45 of
    its maximum, then by 16 Gauss-Legendre panels of 16 nodes on that stretch (widened by one
    coarse step each side; a support boundary such as the skewed prior's is an end of it). The
    stretch searched is the prior's (a normal component's mean +- 12 SD, a continuous prior's
    quantiles 1e-16 and 1 - 1e-16, its support) within A c_j of the group's observations, A
    such that each t factor is below 1e-17^(1/n_j) of its peak there. Accuracy: within 1e-9
    of scipy.integrate.quad for groups of 2 to 30 in the default study's worlds, outliers included, and within 1e-7 for one observation (tests).

    ``obs`` (``plugins.Observations``): y (R, M) NaN-padded, group (R, M) the column in
    ``present`` (R, J), -1 on padding; ``c`` the t scale per group, (J,) or (R, J). Returns a
    list of ``moments`` (R, J) arrays E[theta^k | y], NaN for absent groups.
    """
    R, J = present.shape
    c = np.broadcast_to(np.asarray(c, dtype=float), (R, J))
    y = np.asarray(obs.y, dtype=float)
    group = np.asarray(obs.group)
    ok = (group >= 0) & np.isfinite(y)
    gid = (np.arange(R)[:, None] * J + group)[ok]
    order = np.argsort(gid, kind="stable")
    gid = gid[order]
    yy = (y[ok] - mu)[order]
    groups, starts = np.unique(gid, return_index=True)
    parts = _prior_parts(prior)
    nodes = max(_FULL_COARSE, _FULL_PANELS * _FULL_PER_PANEL, parts.atom_at.size)
    per = max(1, _FULL_CELLS // (nodes * max(1, yy.size // max(groups.size, 1))))
    out = [np.full(R * J, np.nan) for _ in range(moments)]
    cflat = c.reshape(-1)
    for b0 in range(0, groups.size, per):
        b1 = min(b0 + per, groups.size)
        o0 = starts[b0]
        o1 = starts[b1] if b1 < groups.size else yy.size
        res = _posterior_block(yy[o0:o1], starts[b0:b1] - o0, cflat[groups[b0:b1]], float(df), parts, moments)
        for k in range(moments):
            out[k][groups[b0:b1]] = res[k]
    return [np.where(present, o.reshape(R, J), np.nan) for o in out]


def oracle_full_data(stats: SuffStats, obs, mu: float, prior, c, df: float) -> np.ndarray:
    """The Bayes rule given all observations under t errors: mu + E[theta_j | y_j1..y_jn]
    (``posterior_full_data``), the true prior, mu, group SDs and degrees of freedom."""
    return mu + posterior_full_data(obs, stats.present, mu, prior, c, df)[0]


# ----------------------------------------------------------------------------------------------
# the oracle's Bayes risk under normal errors

_RISK_PANELS, _RISK_PER_PANEL = 48, 16
_RISK_REACH = 1e6  # x from -1e6 a to 1e6 a: the tails beyond weigh below 1e-15 (t3 effects)


def _posterior_moments_quantile(x, s2, prior: QuantilePrior):
    """m(x) up to the factor 1 / sqrt(2 pi s2), and E[theta | x], E[theta^2 | x], by the
    quadrature of ``posterior_mean_quantile`` (x = theta + N(0, s2), theta ~ the prior)."""
    x = np.asarray(x, dtype=float)
    s = np.sqrt(np.asarray(s2, dtype=float))
    x, s = np.broadcast_arrays(x, s)
    m0, m1, m2 = (np.zeros(x.shape) for _ in range(3))
    for t, wt in _quantile_halves(x, s, prior):
        m0 += wt.sum(axis=-1)
        m1 += (wt * t).sum(axis=-1)
        m2 += (wt * t * t).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return m0, m1 / m0, m2 / m0


def bayes_risk_normal_errors(prior, s2: float) -> float:
    """Bayes risk E[(theta - E[theta | x])^2] of the posterior mean for x = theta + N(0, s2),
    theta ~ ``prior`` (GaussMixture or QuantilePrior): the oracle's risk in a group whose mean
    has sampling variance s2 under normal errors.

        risk = int m(x) Var(theta | x) dx

    with the marginal m and the posterior variance exact for a normal mixture and by the
    quadrature of ``posterior_mean_quantile`` for a continuous prior; the outer integral by
    Gauss-Legendre panels (48 of 16 nodes) in u, x = a sinh(u), a = sqrt(Var(x)) (fine near 0,
    coarse in the tails, out to 1e6 a). Under a normal prior it is B s2 to about 1e-12 (tests).
    """
    s2 = float(s2)
    if s2 == 0:
        return 0.0
    if isinstance(prior, GaussMixture):
        w, mk, vk = (np.asarray(q, dtype=float) for q in (prior.weights, prior.means, prior.variances))
        var = float((w * (vk + mk * mk)).sum() - (w * mk).sum() ** 2)
    else:
        var = float(np.nan)
    a = np.sqrt((var if np.isfinite(var) else 1.0) + s2)
    U = np.arcsinh(_RISK_REACH)
    h = 2.0 * U / _RISK_PANELS
    nodes, weights = np.polynomial.legendre.leggauss(_RISK_PER_PANEL)
    u = (-U + h * np.arange(_RISK_PANELS)[:, None] + 0.5 * h * (nodes + 1.0)).reshape(-1)
    wu = np.tile(0.5 * h * weights, _RISK_PANELS)
    x = a * np.sinh(u)
    wx = wu * a * np.cosh(u)
    if isinstance(prior, GaussMixture):
        tot = vk + s2
        with np.errstate(divide="ignore"):
            logd = np.log(w) - 0.5 * np.log(2.0 * np.pi * tot) - 0.5 * (x[:, None] - mk) ** 2 / tot
        m = np.exp(logd).sum(axis=1)
        top = logd.max(axis=1, keepdims=True)
        p = np.exp(logd - top)
        p /= p.sum(axis=1, keepdims=True)
        post_m = mk + vk / tot * (x[:, None] - mk)
        post_v = vk * s2 / tot
        e1 = (p * post_m).sum(axis=1)
        e2 = (p * (post_v + post_m * post_m)).sum(axis=1)
    elif isinstance(prior, QuantilePrior):
        with np.errstate(all="ignore"):  # far tails: empty windows, weighed 0 below
            m0, e1, e2 = _posterior_moments_quantile(x, np.full(x.shape, s2), prior)
        m = m0 / np.sqrt(2.0 * np.pi * s2)
    else:
        raise TypeError(f"unknown prior type {type(prior).__name__}")
    v = np.maximum(e2 - e1 * e1, 0.0)
    ok = np.isfinite(v) & (m > 0)
    return float((wx * np.where(ok, m * v, 0.0)).sum())
