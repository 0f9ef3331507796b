"""Fitting the datasets of a large file on several threads: the same numbers as one.

``shrinkstudy fit`` fits thousands of datasets at once. Every built-in estimator's answer for a
dataset depends on that dataset's statistics alone (the engines are vectorised over rows, and
their blocks of rows are independent), so the rows can be split into shares, fitted side by
side and joined (``estimators.concat_fits``) with the same bits (tested for every split).

The shares are fitted on threads: numpy and scipy release the interpreter lock in their loops,
which is where the estimators spend their time, and threads share the statistics without
copying them or the process's memory (forked processes were tried: on this project's machine
their copy-on-write page faults ate the gain). numpy's floating-point error state is per
thread; the one process-wide setting the estimators change, the filter that silences numpy's
RuntimeWarnings on degenerate datasets, is set here once around all the threads, so that their
own settings and restorings cannot leave it changed. An error in a share is raised here, as in
one thread. A user's estimators (``--estimator``), which may look at all datasets together and
need not be safe to run on threads, are fitted here, on all rows, after the shares.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING

import numpy as np

from ..design.simulate import SuffStats

if TYPE_CHECKING:
    from .estimators import Fit

__all__ = ["usable_cores", "fit", "MIN_ROWS"]

#: Fewer datasets than this per thread are fitted on one thread (a share of a few hundred
#: datasets gains little from a second core).
MIN_ROWS = 500


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _share(stats: SuffStats, block: slice) -> SuffStats:
    return stats.rows(block)


def fit(stats: SuffStats, entries, jobs: int = 1, **kwargs) -> Fit:
    """``estimators.fit_estimators(stats, entries, **kwargs)`` on up to ``jobs`` threads, at
    least ``MIN_ROWS`` datasets each: the built-in estimators' rows shared, the same numbers."""
    from concurrent.futures import ThreadPoolExecutor

    from .estimators import concat_fits, fit_estimators

    builtin = [e for e in entries if e.builtin]
    users = [e for e in entries if not e.builtin]
    shares = min(jobs, stats.R // MIN_ROWS)
    if shares < 2 or not builtin:
        return fit_estimators(stats, entries, **kwargs)
    bounds = np.linspace(0, stats.R, shares + 1).round().astype(np.int64)
    blocks = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    plain = {k: v for k, v in kwargs.items() if k != "data"}  # the observations: users' only
    for entry in builtin:  # every estimator's code imported here, before the threads
        entry.point_function()
        entry.interval_function()

    def fit_block(block):
        return fit_estimators(_share(stats, block), builtin, **plain)

    with warnings.catch_warnings(), ThreadPoolExecutor(shares - 1) as pool:
        warnings.simplefilter("ignore", RuntimeWarning)  # as each estimator sets it (see above)
        pending = [pool.submit(fit_block, block) for block in blocks[1:]]
        parts = [fit_block(blocks[0])] + [future.result() for future in pending]
    joined = concat_fits(parts)
    if not users:
        return joined
    more = fit_estimators(stats, users, varcomp=joined.varcomp, **kwargs)
    order = [e.name for e in entries]

    def merged(a, b):
        both = {**a, **b}
        return {k: both[k] for k in order if k in both}

    return type(joined)(
        estimates=merged(joined.estimates, more.estimates),
        intervals=merged(joined.intervals, more.intervals),
        failed=merged(joined.failed, more.failed),
        varcomp=joined.varcomp,
        extra={**joined.extra, **more.extra},
        messages=merged(joined.messages, more.messages),
    )
