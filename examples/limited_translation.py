"""Limited translation (Efron & Morris 1972): the BLUP, never more than D standard errors from
the group's own mean, so that no group is shrunk far from its data.

A user estimator for shrinkstudy: see ``shrinkstudy.plugins`` for the contract and the README,
"Add your own estimator".
"""

import numpy as np

from shrinkstudy.plugins import SuffStats, VarComp

D = 1.0  # how far an estimate may move from ybar_j, in standard errors sigma^ / sqrt(n_j)


def estimate(stats: SuffStats, varcomp: VarComp) -> np.ndarray:
    """the BLUP, moved back to within D = 1 standard error of the raw mean (Efron & Morris 1972)"""
    mu, tau2, sigma2 = (a[:, None] for a in (varcomp.mu, varcomp.tau2, varcomp.sigma2))
    with np.errstate(invalid="ignore", divide="ignore"):
        se2 = sigma2 / stats.n  # variance of ybar_j (inf for an absent group: ignored)
        B = np.where(se2 > 0, tau2 / (tau2 + se2), 1.0)
        se = np.sqrt(se2)
    blup = mu + B * (stats.ybar - mu)
    return np.clip(blup, stats.ybar - D * se, stats.ybar + D * se)
