"""Reference MCMC for the hierarchical model of ``shrinkstudy.methods.hierbayes`` (slow, obvious).

Model and prior (the same as ``HierPrior``)::

    ybar_j | theta_j, mu, sigma2 ~ N(mu + theta_j, sigma2 / n_j),  SSW | sigma2 ~ sigma2 chi2_{N-J}
    theta_j | gamma, sigma2 ~ N(0, gamma sigma2)
    p(mu) ∝ 1,  p(sigma2) ∝ 1 / sigma2,
    p(gamma): half_cauchy -> sqrt(gamma) = tau / sigma ~ half-Cauchy(0, scale),
                             p(gamma) ∝ gamma^(-1/2) / (1 + gamma / scale^2)
              uniform_shrinkage -> 1 / (1 + n0 gamma) ~ U(0, 1), p(gamma) ∝ 1 / (1 + n0 gamma)^2,
                             n0 the harmonic mean of the group sizes

Gibbs sampler, vectorised over independent chains (and over several problems at once):

1. theta_j | rest ~ N(B_j (ybar_j - mu), sigma2 B_j / n_j),  B_j = n_j gamma / (1 + n_j gamma)
2. mu | rest ~ N(sum n_j (ybar_j - theta_j) / N, sigma2 / N)
3. sigma2 | rest ~ Inv-Gamma((N + J) / 2,
                             [SSW + sum n_j (ybar_j - mu - theta_j)^2 + sum theta_j^2 / gamma] / 2)
4. gamma | theta, sigma2 ∝ p(gamma) gamma^(-J/2) exp(-sum theta_j^2 / (2 gamma sigma2)): random-walk
   Metropolis steps on log gamma (target times the Jacobian gamma).

Posterior summaries use batch means: every chain's draws after burn-in are cut into batches
and the Monte Carlo standard error of a posterior mean is sd(batch means) / sqrt(#batches).
"""

from __future__ import annotations

import numpy as np


def log_prior_gamma(gamma, half_cauchy, scale, n0):
    """log p(gamma) up to a constant; ``half_cauchy`` selects the family per chain."""
    hc = -0.5 * np.log(gamma) - np.log1p(gamma / scale**2)
    us = -2.0 * np.log1p(n0 * gamma)
    return np.where(half_cauchy, hc, us)


def run(problems, *, chains=200, burn=500, draws=2000, batches=10, mh_steps=2, mh_width=1.5, rng=None):
    """Run the sampler on several problems at once.

    Parameters
    ----------
    problems : list of dicts with keys n, ybar (length J_p), ssw, family ("half_cauchy" or
        "uniform_shrinkage"), scale (half-Cauchy scale), and optionally probes: a (2, J_p) array
        of values x at which to estimate the posterior probabilities P(m_j <= x).

    Returns
    -------
    list (one dict per problem) with ``mean`` and ``mcse`` (J_p,) of the group means
    m_j = mu + theta_j; ``tau2`` and ``tau2_mcse`` (posterior mean of tau^2 = gamma sigma2);
    ``accept`` (Metropolis acceptance rate); ``cdf`` and ``cdf_mcse`` (2, J_p) when probes
    were given.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    P = len(problems)
    Jmax = max(len(p["n"]) for p in problems)
    n = np.zeros((P, Jmax))
    ybar = np.zeros((P, Jmax))
    probes = np.zeros((P, 2, Jmax))
    for i, p in enumerate(problems):
        J = len(p["n"])
        n[i, :J] = p["n"]
        ybar[i, :J] = p["ybar"]
        if p.get("probes") is not None:
            probes[i, :, :J] = p["probes"]
    ssw = np.array([float(p["ssw"]) for p in problems])
    hc = np.array([p["family"] == "half_cauchy" for p in problems])
    scale = np.array([float(p.get("scale", 1.0)) for p in problems])
    present = n > 0
    nsafe = np.where(present, n, 1.0)
    J = present.sum(axis=1).astype(float)
    N = n.sum(axis=1)
    n0 = J / np.where(present, 1.0 / nsafe, 0.0).sum(axis=1)

    # chain c works on problem c // chains
    rep = np.repeat(np.arange(P), chains)
    n_, ybar_, nsafe_, pres_ = n[rep], ybar[rep], nsafe[rep], present[rep]
    ssw_, hc_, scale_, J_, N_, n0_ = ssw[rep], hc[rep], scale[rep], J[rep], N[rep], n0[rep]
    probes_ = probes[rep]
    C = rep.size
    # overdispersed starts: gamma log-uniform on (1e-3, 1e2), sigma2 around the within variance
    gamma = np.exp(rng.uniform(np.log(1e-3), np.log(1e2), C))
    s2w = np.where(N_ > J_, ssw_ / np.maximum(N_ - J_, 1.0), 1.0)
    sigma2 = s2w * np.exp(rng.uniform(-1, 1, C))
    mu = (n_ * ybar_).sum(axis=1) / N_ + rng.normal(0, 3 * np.sqrt(s2w / N_), C)

    assert draws % batches == 0
    blen = draws // batches
    sum_m = np.zeros((C, batches, Jmax))
    sum_t2 = np.zeros((C, batches))
    sum_cdf = np.zeros((C, batches, 2, Jmax))
    accepted = np.zeros(C)
    for it in range(burn + draws):
        # 1. theta | mu, sigma2, gamma (absent groups stay at 0)
        g = gamma[:, None]
        B = n_ * g / (1.0 + n_ * g)
        sd = np.sqrt(sigma2[:, None] * B / nsafe_)
        theta = np.where(pres_, B * (ybar_ - mu[:, None]) + sd * rng.standard_normal((C, Jmax)), 0.0)
        # 2. mu | theta, sigma2
        mu = (n_ * (ybar_ - theta)).sum(axis=1) / N_ + np.sqrt(sigma2 / N_) * rng.standard_normal(C)
        # 3. sigma2 | theta, mu, gamma
        resid = ybar_ - mu[:, None] - theta
        tt = (theta * theta).sum(axis=1)
        rate = 0.5 * (ssw_ + (n_ * resid * resid).sum(axis=1) + tt / gamma)
        sigma2 = rate / rng.gamma(0.5 * (N_ + J_), 1.0)
        # 4. gamma | theta, sigma2: Metropolis on eta = log gamma
        A = tt / sigma2

        def log_target(gm, eta):
            return log_prior_gamma(gm, hc_, scale_, n0_) + (1.0 - 0.5 * J_) * eta - 0.5 * A / gm

        eta = np.log(gamma)
        cur = log_target(gamma, eta)
        for _ in range(mh_steps):
            eta_p = eta + mh_width * rng.standard_normal(C)
            gam_p = np.exp(eta_p)
            new = log_target(gam_p, eta_p)
            acc = np.log(rng.uniform(size=C)) < new - cur
            eta = np.where(acc, eta_p, eta)
            gamma = np.where(acc, gam_p, gamma)
            cur = np.where(acc, new, cur)
            if it >= burn:
                accepted += acc
        if it >= burn:
            b = (it - burn) // blen
            m = mu[:, None] + theta
            sum_m[:, b] += m
            sum_t2[:, b] += gamma * sigma2
            sum_cdf[:, b] += m[:, None, :] <= probes_

    out = []
    K = chains * batches
    for i, p in enumerate(problems):
        Jp = len(p["n"])
        rows = slice(i * chains, (i + 1) * chains)
        bm = (sum_m[rows, :, :Jp] / blen).reshape(K, Jp)
        bt = (sum_t2[rows] / blen).reshape(K)
        res = {
            "mean": bm.mean(axis=0),
            "mcse": bm.std(axis=0, ddof=1) / np.sqrt(K),
            "tau2": bt.mean(),
            "tau2_mcse": bt.std(ddof=1) / np.sqrt(K),
            "accept": accepted[rows].mean() / (mh_steps * draws),
            "batch_length": blen,
            "n_batches": K,
        }
        if p.get("probes") is not None:
            bc = (sum_cdf[rows, :, :, :Jp] / blen).reshape(K, 2, Jp)
            res["cdf"] = bc.mean(axis=0)
            res["cdf_mcse"] = bc.std(axis=0, ddof=1) / np.sqrt(K)
        out.append(res)
    return out
