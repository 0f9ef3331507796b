"""The statsmodels reference engine: MixedLM, dataset by dataset.

``fit_statsmodels``
    The Python ecosystem's reference fit (statsmodels ``MixedLM``, endog y, exog a column of
    ones, ``groups``), one dataset at a time. It is the ``engine: statsmodels`` path of the
    workflow and the comparison in ``benchmarks.bench``. Every exception and every warning is
    caught and counted per dataset, never raised. docs/formulas.md (section 2) says what to
    expect: MixedLM never reaches tau^2 = 0 exactly, warns often, and misses the REML optimum
    on a few per cent of the seed's datasets.

The summary form (one estimate and a known standard error per group) is ``shrinkstudy.methods.knownse``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .reml import NOT_IDENTIFIED, OK, VarComp, criterion
from ..design.simulate import suffstats_from_long

__all__ = [
    "SINGULAR_TOL",
    "fit_statsmodels",
    "statsmodels_varcomp",
]

# ---------------------------------------------------------------------------------------------
# statsmodels MixedLM, dataset by dataset
# ---------------------------------------------------------------------------------------------

#: A statsmodels fit counts as a boundary (singular) fit when tau / sigma < SINGULAR_TOL: the
#: tolerance of lme4's ``isSingular()`` on its relative covariance factor theta = tau / sigma.
SINGULAR_TOL = 1e-4
_BOUNDARY_WARNING = "on the boundary of the parameter space"  # MixedLM's own boundary warning


def _fit_one_statsmodels(y: np.ndarray, groups: np.ndarray, labels: np.ndarray, reml: bool):
    """One MixedLM fit: (mu, tau2, sigma2, converged, warnings, error, blup over ``labels``)."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    nan_blup = np.full(labels.size, np.nan)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with np.errstate(all="warn"):
                model = MixedLM(y, np.ones((y.size, 1)), groups=groups)
                res = model.fit(reml=reml)
            mu = float(np.asarray(res.fe_params)[0])
            tau2 = float(np.asarray(res.cov_re)[0, 0])
            sigma2 = float(res.scale)
            re = res.random_effects
            blup = np.array([mu + float(np.asarray(re[g])[0]) for g in labels])
            out = (mu, tau2, sigma2, bool(res.converged), "", blup)
        except Exception as exc:  # any failure of the reference fit is data, not a crash
            message = " ".join(str(exc).split())
            out = (np.nan, np.nan, np.nan, False, f"{type(exc).__name__}: {message}", nan_blup)
    mu, tau2, sigma2, converged, error, blup = out
    return mu, tau2, sigma2, converged, [str(w.message) for w in caught], error, blup


def fit_statsmodels(data: pd.DataFrame, reml: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """Fit ``y ~ 1 + (1 | group)`` with statsmodels MixedLM on every dataset of ``data``.

    Parameters
    ----------
    data : DataFrame with columns ``rep`` (dataset), ``group`` and ``y`` (long format, as
        ``simulate.chunk_columns`` writes it).
    reml : REML (default) or ML.

    Returns
    -------
    fits : DataFrame, one row per dataset in sorted ``rep`` order, with columns
        ``rep``, ``mu`` (fixed intercept), ``tau2`` (random-intercept variance), ``sigma2``
        (residual variance), ``boundary`` (MixedLM's own verdict, since it never returns
        exactly 0: tau / sigma < ``SINGULAR_TOL``, lme4's ``isSingular`` convention, or its
        warning that "the MLE may be on the boundary of the parameter space"), ``converged``
        (MixedLM's own flag; False after an error), ``warnings`` (number of warnings raised
        during the fit: ConvergenceWarning, SingularMatrixWarning, RuntimeWarning ...) and
        ``error`` (``"ExceptionType: message"``, empty when the fit returned). A failed fit
        has NaN estimates.
    blup : (R, J) array of BLUPs, fixed effect + predicted random effect, rows in the order of
        ``fits``, columns in sorted group-label order of each dataset (the order of
        ``suffstats_from_long``); NaN for a failed fit and for groups a dataset does not have.
    """
    missing = {"rep", "group", "y"} - set(data.columns)
    if missing:
        raise ValueError(f"fit_statsmodels: data lacks column(s) {sorted(missing)}")
    rows = []
    blups = []
    for rep, d in data.groupby("rep", sort=True):
        y = d["y"].to_numpy(dtype=float)
        groups = d["group"].to_numpy()
        labels = np.unique(groups)
        mu, tau2, sigma2, converged, caught, error, blup = _fit_one_statsmodels(y, groups, labels, reml)
        boundary = False
        if np.isfinite(tau2):
            with np.errstate(invalid="ignore", divide="ignore"):
                boundary = bool(tau2 < SINGULAR_TOL**2 * sigma2) or any(
                    _BOUNDARY_WARNING in w for w in caught
                )
        rows.append(
            {
                "rep": rep,
                "mu": mu,
                "tau2": tau2,
                "sigma2": sigma2,
                "boundary": boundary,
                "converged": converged,
                "warnings": len(caught),
                "error": error,
            }
        )
        blups.append(blup)
    fits = pd.DataFrame(
        rows, columns=["rep", "mu", "tau2", "sigma2", "boundary", "converged", "warnings", "error"]
    )
    J = max((b.size for b in blups), default=0)
    out = np.full((len(blups), J), np.nan)
    for i, b in enumerate(blups):
        out[i, : b.size] = b
    return fits, out


def statsmodels_varcomp(data: pd.DataFrame, reml: bool = True) -> tuple[VarComp, pd.DataFrame]:
    """statsmodels MixedLM's variance components in the engine's form (``engine: statsmodels``).

    Passed to ``fit_estimators(..., varcomp=...)`` they give MixedLM's own BLUPs (its BLUP is
    ``mu^ + B^_j (ybar_j - mu^)`` with its tau^2 and sigma^2), and varmatch and bayesglm built on
    its estimates.

    Returns
    -------
    varcomp : ``VarComp`` with one entry per dataset in sorted ``rep`` order: MixedLM's mu, tau2
        and sigma2, ``gamma = tau2 / sigma2``, ``crit`` the REML criterion (ML deviance) of the
        data at MixedLM's gamma (compare with the exact fit's to see how far from the optimum it
        stopped), ``boundary`` MixedLM's verdict (see ``fit_statsmodels``, not tau2 == 0, which
        it never reaches), ``status`` ``OK`` or ``NOT_IDENTIFIED`` where MixedLM failed (NaN
        estimates, so the estimators built on them count as failed).
    extra : DataFrame with columns rep, converged, warnings, error (see ``fit_statsmodels``).
    """
    fits, _ = fit_statsmodels(data, reml=reml)
    method = "REML" if reml else "ML"
    stats = suffstats_from_long(data["rep"], data["group"], data["y"])[0]
    tau2 = fits["tau2"].to_numpy(dtype=float)
    sigma2 = fits["sigma2"].to_numpy(dtype=float)
    failed = ~(np.isfinite(tau2) & np.isfinite(sigma2))
    with np.errstate(invalid="ignore", divide="ignore"):
        gamma = np.where(failed, np.nan, np.maximum(tau2, 0.0) / sigma2)
        crit = criterion(stats, np.where(failed, 0.0, gamma), method)
    crit[failed] = np.nan
    vc = VarComp(
        mu=fits["mu"].to_numpy(dtype=float),
        tau2=tau2,
        sigma2=sigma2,
        gamma=gamma,
        crit=crit,
        boundary=fits["boundary"].to_numpy(dtype=bool),
        status=np.where(failed, NOT_IDENTIFIED, OK).astype(np.int8),
        method=method,
    )
    extra = fits[["rep", "converged", "warnings", "error"]].reset_index(drop=True)
    return vc, extra
