"""The seed answer's illustration: one dataset of its design, with every estimator on it.

The Cross Validated answer behind the study (``seed/crossvalidated-522387.txt``) draws one
dataset of 12 groups (6 of 100 observations, 6 of 2), true means with SD 1 and noise with SD 5,
and plots the sample points, the true means, the raw means and the shrunken means (its
figure 1), then the lme4 BLUPs against ``arm::bayesglm`` (its figure 2). ``seed_example``
draws the same kind of dataset from the study's own random streams and fits the study's own
estimators to it, so the figures show exactly what the engine computes.

Groups are labelled 1..J in the order of ``cell.sizes``, as in the answer ("groups 1 to 6 have
100 samples").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .design import Cell
from . import registry
from .estimators import Truth, fit_estimators
from .hierbayes import HierPrior
from .simulate import simulate_reps, suffstats_from_array

__all__ = ["seed_estimators", "seed_example"]


def seed_estimators(cell: Cell) -> tuple[str, ...]:
    """The built-in estimators that apply to ``cell``'s design, in table order."""
    return tuple(e.name for e in registry.BUILTIN if e.applies == "all" or cell.balanced)


def seed_example(
    cell: Cell,
    seed: int,
    *,
    method: str = "REML",
    level: float = 0.95,
    prior: HierPrior | None = None,
    estimators=None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """One dataset of ``cell`` (replication 0 of seed ``seed``) and every estimator on it.

    The dataset is ``simulate_reps(cell, [0], seed)``, i.e. drawn from
    ``design.rep_generator(seed, cell, 0)``: the same seed always gives the same numbers.

    Parameters
    ----------
    cell : Cell
        The design (the seed's: sizes 100 x 6 + 2 x 6, sigma 5, tau 1, mu 0).
    seed : int
        Base seed of the random stream.
    method, level, prior :
        Passed to ``estimators.fit_estimators`` (variance components, interval level,
        hierarchical-Bayes prior).
    estimators : sequence of str
        Estimators to fit (default ``seed_estimators(cell)``); ``raw``, ``blup``, ``varmatch``
        and ``bayesglm`` are always needed by the figures.

    Returns
    -------
    data : DataFrame with columns group (1..J), y; one row per observation.
    estimates : DataFrame, one row per group: group, n, true_mean, then one column per
        estimator (its estimate of the group mean).
    fit_info : dict of plain Python values: cell, seed, method, mu, tau2, sigma2, tau, sigma
        (the REML/ML variance components), boundary (tau2 == 0), bayesglm_s2 (the dispersion
        arm::bayesglm converges to) and hier_bayes_tau2 (posterior mean of tau^2) when fitted.
    """
    estimators = seed_estimators(cell) if estimators is None else tuple(estimators)
    y, means = simulate_reps(cell, [0], int(seed))
    sizes = np.asarray(cell.sizes, dtype=np.int64)
    group = np.repeat(np.arange(1, cell.J + 1), sizes)
    data = pd.DataFrame({"group": group, "y": y[0]})

    stats = suffstats_from_array(y, sizes)
    fit = fit_estimators(
        stats,
        tuple(estimators),
        truth=Truth(cell.mu, cell.tau, cell.sigma),
        method=method,
        level=level,
        intervals=False,
        prior=prior,
    )
    estimates = pd.DataFrame({"group": np.arange(1, cell.J + 1), "n": sizes, "true_mean": means[0]})
    for name in estimators:
        estimates[name] = fit.estimates[name][0]

    vc = fit.varcomp
    fit_info = {
        "cell": cell.name,
        "seed": int(seed),
        "method": vc.method,
        "mu": float(vc.mu[0]),
        "tau2": float(vc.tau2[0]),
        "sigma2": float(vc.sigma2[0]),
        "tau": float(np.sqrt(vc.tau2[0])),
        "sigma": float(np.sqrt(vc.sigma2[0])),
        "boundary": bool(vc.boundary[0]),
    }
    for key in ("bayesglm_s2", "hier_bayes_tau2"):
        if key in fit.extra:
            fit_info[key] = float(np.asarray(fit.extra[key])[0])
    return data, estimates, fit_info
