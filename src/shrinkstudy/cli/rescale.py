"""Scale: the engines see numbers of order one, whatever the data's units. A dataset whose spread
lies outside 2^-100 .. 2^100 is divided by a power of two (exactly) before the fit and its
answers are scaled back; answers beyond the largest double are refused."""

from __future__ import annotations


import numpy as np

from .args import InputError
from .read import _dataset_name


#: A dataset whose magnitudes (the spread of its values; with --se also its standard errors)
#: lie within 2^-_SCALE_FREE .. 2^_SCALE_FREE is fitted as given (bit for bit the engine's
#: answer); otherwise it is divided by a power of two (exact) and the answers scaled back.
_SCALE_FREE = 100


#: Beyond 2^+-_SCALE_SPAN of each other (after scaling) the squares and their reciprocals that
#: the engines form would leave the float range: such a dataset is refused.
_SCALE_SPAN = 240


def _dataset_scales(lo, hi, names, path, what) -> np.ndarray:
    """A power of two per dataset that brings magnitudes lo..hi (0 where none) near 1; names:
    how the message calls each dataset."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    e_lo, e_hi = np.frexp(lo)[1], np.frexp(hi)[1]  # x in [2^(e-1), 2^e)
    k = np.where((lo > 0) & ((e_lo < -_SCALE_FREE) | (e_hi > _SCALE_FREE)), (e_lo + e_hi) // 2, 0)
    # magnitudes from 2^1023 (half the range of data near +-1e308) have e = 1024, and 2^1024 is
    # not a float (ldexp gives inf, and the data divided by it are all 0): 2^1023 at most
    k = np.minimum(k, np.finfo(float).maxexp - 1)
    wide = (lo > 0) & ((e_lo - k < -_SCALE_SPAN) | (e_hi - k > _SCALE_SPAN))
    if wide.any():
        r = int(np.argmax(wide))
        raise InputError(
            f"{path}: {what} of {names[r]} range from {lo[r]:.3g} to {hi[r]:.3g}, too far apart "
            f"to fit in double precision (at most about 1e{int(0.6 * _SCALE_SPAN)} between them)"
        )
    return np.ldexp(1.0, k.astype(np.int64))


def _meta_scales(Y, S, labels, path, args, common: bool) -> np.ndarray:
    """Scales of the summary form's datasets: from their standard errors and the spread of
    their estimates (rows of Y and S, NaN where a dataset has no such group); ``common``: one
    scale for the whole file (a half-Cauchy prior's scale is in the units of the estimates)."""
    with np.errstate(invalid="ignore"):
        half = 0.5 * np.nanmax(Y, axis=1) - 0.5 * np.nanmin(Y, axis=1)
    lo = np.nanmin(S, axis=1)
    hi = np.nanmax(S, axis=1)
    lo = np.where(half > 0, np.minimum(lo, half), lo)
    hi = np.where(half > 0, np.maximum(hi, half), hi)
    names = [_dataset_name(lab, bool(args.dataset)) for lab in labels]
    if common:
        lo, hi = np.full_like(lo, lo.min()), np.full_like(hi, hi.max())
        names = ["the file"] * len(names)
    what = "the standard errors and the spread of the estimates"
    return _dataset_scales(lo, hi, names, path, what)


def _rescaled(x, scale, power: int) -> np.ndarray:
    """``x * scale**power`` where that is a normal float (or 0 where x is), NaN where it leaves
    the float range (a variance of data beyond about 1e+-154)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        y = x
        for _ in range(power):
            y = y * scale
    lost = np.isinf(y) & np.isfinite(x) | (x != 0) & (np.abs(y) < np.finfo(float).tiny)
    return np.where(lost, np.nan, y)


def _unscale_fit(fit, scale, crit_df: np.ndarray):
    """The fit of data divided by ``scale`` (per dataset) in the data's own units.

    Means, estimates and intervals times the scale; variances times its square (NaN where that
    leaves the float range: ``extra["tau"]`` and ``extra["sigma"]``, the standard deviations,
    are always given); the criterion (-2 log likelihood) plus ``crit_df * log(scale^2)``."""
    import dataclasses

    vc = fit.varcomp
    tau, sigma = np.sqrt(vc.tau2), np.sqrt(vc.sigma2)
    if np.all(scale == 1.0):
        return dataclasses.replace(fit, extra={**fit.extra, "tau": tau, "sigma": sigma})
    s = scale[:, None]
    with np.errstate(over="ignore", invalid="ignore"):  # what leaves the range: _refuse_overflow
        varcomp = dataclasses.replace(
            vc,
            mu=vc.mu * scale,
            tau2=_rescaled(vc.tau2, scale, 2),
            sigma2=_rescaled(vc.sigma2, scale, 2),
            crit=vc.crit + crit_df * 2.0 * np.log(scale),
        )
        power = {"hier_bayes_tau_mean": 1, "hier_bayes_tau2_mean": 2, "hier_bayes_tau2": 2, "bayesglm_s2": 2}
        extra = {k: _rescaled(v, scale, power[k]) if k in power else v for k, v in fit.extra.items()}
        extra.update(tau=tau * scale, sigma=sigma * scale)
        estimates = {k: v * s for k, v in fit.estimates.items()}
        intervals = {k: (lo * s, hi * s) for k, (lo, hi) in fit.intervals.items()}
    return dataclasses.replace(fit, estimates=estimates, intervals=intervals, varcomp=varcomp, extra=extra)


def _refuse_overflow(engine, fit, names, users, path):
    """``fit`` (``_unscale_fit`` of the ``engine``'s answer), after checking that no answer left
    the float range when scaled back (e.g. an interval around data near 1e308, or their spread).

    A built-in estimate or interval bound, mu, tau or sigma beyond it is one line (InputError)
    naming the first such dataset (``names``: how the message calls each). ``users``: names of
    the user's estimators, whose answers beyond it are their failures on that dataset."""
    import dataclasses

    def lost(before, after):  # per dataset
        out = np.isfinite(np.asarray(before, dtype=float)) & ~np.isfinite(np.asarray(after, dtype=float))
        return out.reshape(out.shape[0], -1).any(axis=1)

    vc = engine.varcomp
    checks = [("mu", lost(vc.mu, fit.varcomp.mu)), ("tau", lost(np.sqrt(vc.tau2), fit.extra["tau"]))]
    checks.append(("sigma", lost(np.sqrt(vc.sigma2), fit.extra["sigma"])))
    failed, messages = dict(fit.failed), dict(fit.messages)
    estimates, intervals = dict(fit.estimates), dict(fit.intervals)
    for name in fit.estimates:
        bad = lost(engine.estimates[name], fit.estimates[name])
        if name in fit.intervals:
            bad |= lost(np.stack(engine.intervals[name], -1), np.stack(fit.intervals[name], -1))
        if name not in users:
            checks.append((f"the {name} estimates", bad))
        elif bad.any():
            failed[name] = failed[name] | bad
            messages[name] = np.where(bad, f"{name}: an answer beyond the float range", messages[name])
            estimates[name] = np.where(bad[:, None], np.nan, estimates[name])
            if name in intervals:
                intervals[name] = tuple(np.where(bad[:, None], np.nan, x) for x in intervals[name])
    for what, bad in checks:
        if bad.any():
            raise InputError(
                f"{path}: in {names[int(np.argmax(bad))]}, {what} would exceed the largest double "
                "(about 1.8e308); fit the values in smaller units"
            )
    return dataclasses.replace(
        fit, estimates=estimates, intervals=intervals, failed=failed, messages=messages
    )
