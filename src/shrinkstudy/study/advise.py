"""The study ``shrinkstudy advise`` writes for a dataset: the data's fit (``calibrate_long``,
``calibrate_known_se``: REML, the profile interval for tau and the NPMLE, as a
``design.calibration.Calibration``) and the study file calibrated to it (``study_config``,
``study_text``): the data's own design at its fit and across the uncertainty of tau, in the
worlds of ``design.calibration.WORLDS``, with every built-in estimator that applies."""

from __future__ import annotations

import math

import numpy as np

from ..design.calibration import DIGITS, LEVEL, WORLDS, Calibration, design_block, round_digits

__all__ = [
    "BASE_SEED",
    "DEFAULT_REPLICATIONS",
    "NotCalibrated",
    "calibrate_known_se",
    "calibrate_long",
    "study_config",
    "study_text",
]

#: Replications per world unless --replications says otherwise.
DEFAULT_REPLICATIONS = 400
#: Seed of every study advise writes (the same data give the same study, byte for byte).
BASE_SEED = 20261205


class NotCalibrated(ValueError):
    """Data that a study cannot be calibrated to (more than one dataset, or a fit that fails):
    the message is one line naming the dataset."""


def calibrate_long(data) -> Calibration:
    """The calibration of one long-form dataset (``cli.fitting.LongData``, values divided by a power of
    two where they were extreme; the answers are scaled back)."""
    from ..methods.ebayes import npmle
    from ..methods.reml import OK, fit_varcomp, tau_interval

    stats, scale = data.stats, float(data.scale[0])
    if stats.R != 1:
        raise NotCalibrated("advise takes one dataset per file")
    vc = fit_varcomp(stats, "REML")
    if int(vc.status[0]) != OK:
        raise NotCalibrated(f"{data.names[0]}: the mixed model cannot be fitted (its status: {int(vc.status[0])})")
    ti = tau_interval(stats, LEVEL, "REML", fit=vc)
    fit = npmle(stats, stats.ssw / (stats.N - stats.J))
    sizes = stats.n[0][stats.present[0]].astype(int)
    return Calibration.from_fit(
        vc, ti, fit, scale, sizes=tuple(sorted(int(s) for s in sizes)), sigma=math.sqrt(float(vc.sigma2[0])) * scale
    )


def calibrate_known_se(data) -> Calibration:
    """The calibration of one summary-form dataset (``cli.fitting.SummaryData``, one estimate and its
    known standard error per group; divided by a power of two where extreme, the answers scaled
    back): REML mu and tau (``knownse.fit_meta_varcomp``), the profile interval for tau
    (``knownse.meta_tau_interval``) and the NPMLE of the y_j with their s_j (``ebayes.npmle_fit``)."""
    from ..methods.ebayes import npmle_fit
    from ..methods.knownse import fit_meta_varcomp, meta_tau_interval
    from ..methods.reml import OK

    if data.Y.shape[0] != 1:
        raise NotCalibrated("advise takes one dataset per file")
    scale = float(data.scale[0])
    y, se = data.Y[0] / scale, data.S[0] / scale
    vc = fit_meta_varcomp(y[None], se[None], "REML")
    if int(vc.status[0]) != OK:
        raise NotCalibrated(f"{data.names[0]}: the model cannot be fitted (its status: {int(vc.status[0])})")
    ti = meta_tau_interval(y[None], se[None], LEVEL, "REML", fit=vc)
    fit = npmle_fit(y[None], np.square(se)[None])
    ses = tuple(sorted(float(s) for s in data.S[0][np.isfinite(data.S[0])]))
    return Calibration.from_fit(vc, ti, fit, scale, sizes=(), sigma=math.nan, ses=ses)


def _estimators(cal: Calibration, users) -> list:
    """Every built-in estimator that applies to the data's design (James-Stein needs equal
    group sizes), then the user's; in the known-SE form the built-ins with a known-SE form
    (James-Stein when the standard errors are equal)."""
    from ..methods.registry import BUILTIN

    if cal.known_se:
        equal = cal.equal_ses()
        return [e.name for e in BUILTIN if e.known_se is not None and (e.applies == "all" or equal)] + list(users)
    balanced = len(set(cal.sizes)) == 1
    return [e.name for e in BUILTIN if e.applies == "all" or balanced] + list(users)


def _chunk_size(replications: int, N: int) -> int:
    """The largest divisor of ``replications`` whose jobs stay within ``config.MAX_OBS_PER_JOB``."""
    from ..config import MAX_OBS_PER_JOB

    best = 1
    for c in range(1, replications + 1):
        if replications % c == 0 and c * N <= MAX_OBS_PER_JOB:
            best = c
    return best


def study_config(cal: Calibration, *, name: str, results: str, replications: int, users=()) -> dict:
    """The study of the data (a config as ``config.load_study`` takes it)."""
    from ..design.cells import fmt_number

    taus = list(cal.taus())
    pmf = cal.pmf()
    grid = {}
    for block, effects, _ in WORLDS:
        values = taus if effects == "normal" else [t for t in taus if t > 0]
        if not values or (effects == "discrete" and pmf is None):
            continue
        spec = {**design_block(cal), "tau": values, "mu": [round_digits(cal.mu, DIGITS)], "effects": [effects]}
        if effects == "discrete":
            spec["effects_pmf"] = [pmf.spec()]
        grid[block] = spec
    lo, hi = (fmt_number(round_digits(v, DIGITS)).replace("m", "-") for v in (cal.tau_lower, cal.tau_upper))
    if cal.known_se:
        aims = (
            f"Which estimator of the group means suits {name}: {cal.J} estimates with known standard errors "
            f"{cal.se_range()}, fitted by REML at mu {round_digits(cal.mu, DIGITS):g}, "
            f"tau {round_digits(cal.tau, DIGITS):g} (95% interval {lo} to {hi})? Estimates with its standard errors "
            "are simulated at tau's fit and at the ends of its interval, with normal, t and NPMLE-shaped "
            "effects, and every estimator's MSE is compared with the raw estimates'."
        )
    else:
        aims = (
            f"Which estimator of the group means suits {name}: {cal.J} groups of {min(cal.sizes)} to "
            f"{max(cal.sizes)} observations ({cal.N} in all), fitted by REML at mu {round_digits(cal.mu, DIGITS):g}, "
            f"sigma {round_digits(cal.sigma, DIGITS):g}, tau {round_digits(cal.tau, DIGITS):g} (95% interval {lo} to {hi})? "
            "Datasets of its design are simulated at tau's fit and at the ends of its interval, with normal, "
            "t and NPMLE-shaped effects, and every estimator's MSE is compared with the raw means'."
        )
    return {
        "aims": aims,
        "base_seed": BASE_SEED,
        "replications": replications,
        "chunk_size": _chunk_size(replications, cal.N),
        "method": "REML",
        "engine": "exact",
        "level": LEVEL,
        "estimators": _estimators(cal, users),
        "results": results,
        "keep_datasets": False,
        "grid": grid,
    }


def study_text(config: dict) -> str:
    """The study file's text: YAML, keys in the order given (the same config, the same bytes)."""
    import yaml

    head = "# The study of `shrinkstudy advise` (rerun it with: make study CONFIG=<this file>)\n"
    return head + yaml.safe_dump(config, sort_keys=False, width=100, default_flow_style=None)
