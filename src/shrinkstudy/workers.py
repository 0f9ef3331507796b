"""Fitting the datasets of a large file on several processes: the same numbers as one.

``shrinkstudy fit`` fits thousands of datasets at once. Every built-in estimator's answer for a
dataset depends on that dataset's statistics alone (the engines are vectorised over rows, and
their blocks of rows are independent), so the rows can be split between processes and the fits
joined (``estimators.concat_fits``) with the same bits (tested for every split).

``fit`` forks one helper per further share of the rows once the statistics are in memory (a
fork copies nothing and imports nothing: the helper starts at once), fits the first share
itself, and reads each helper's fit back through a pipe. A helper only computes with numpy and
scipy and leaves by ``os._exit``. A helper that fails (killed, out of memory, an error) costs
only time: its share is fitted here instead, so an error is raised here as without helpers. A
user's estimators (``--estimator``), which may look at all datasets together, are fitted here,
on all rows. Where processes cannot be forked (not Linux) everything is fitted here.
"""

from __future__ import annotations

import os
import pickle
import sys
import warnings
from typing import TYPE_CHECKING

import numpy as np

from .simulate import SuffStats

if TYPE_CHECKING:
    from .estimators import Fit

__all__ = ["usable_cores", "fit", "MIN_ROWS"]

#: Fewer datasets than this per process are fitted in one process (a share of a few hundred
#: datasets takes about as long to fit as a helper to start and hand its fit back).
MIN_ROWS = 500

_CAN_FORK = sys.platform.startswith("linux") and hasattr(os, "fork")


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _share(stats: SuffStats, block: slice) -> SuffStats:
    return SuffStats(stats.n[block], stats.ybar[block], stats.ssw[block])


def _fork_helper(work) -> tuple[int, int] | None:
    """Fork a process that runs ``work()`` and sends its pickled result back; (pid, read end of
    the pipe), or None where the fork fails."""
    read, write = os.pipe()
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns of forking a process that has threads (Arrow's readers, the BLAS):
            # the helper uses neither Arrow nor any lock they may hold, and leaves by os._exit
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid == 0:  # the helper
        code = 1
        try:
            os.close(read)
            with os.fdopen(write, "wb") as out:
                out.write(pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL))
            code = 0
        finally:
            os._exit(code)  # no atexit handlers, no second flush of the parent's buffers
    os.close(write)
    return pid, read


def _collect(pid: int, read: int):
    """The helper's result, or None where it failed."""
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not data:
        return None
    return pickle.loads(data)


def fit(stats: SuffStats, entries, jobs: int = 1, **kwargs) -> Fit:
    """``estimators.fit_estimators(stats, entries, **kwargs)`` on up to ``jobs`` processes, at
    least ``MIN_ROWS`` datasets each: the built-in estimators' rows shared, the same numbers."""
    from .estimators import concat_fits, fit_estimators

    builtin = [e for e in entries if e.builtin]
    users = [e for e in entries if not e.builtin]
    shares = min(jobs, stats.R // MIN_ROWS) if _CAN_FORK else 1
    if shares < 2 or not builtin:
        return fit_estimators(stats, entries, **kwargs)
    bounds = np.linspace(0, stats.R, shares + 1).round().astype(np.int64)
    blocks = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    plain = {k: v for k, v in kwargs.items() if k != "data"}  # the observations: users' only

    def fit_block(block):
        return fit_estimators(_share(stats, block), builtin, **plain)

    helpers = [_fork_helper(lambda block=block: fit_block(block)) for block in blocks[1:]]
    parts = [fit_block(blocks[0])]
    for block, helper in zip(blocks[1:], helpers, strict=True):
        part = _collect(*helper) if helper is not None else None
        parts.append(part if part is not None else fit_block(block))  # a failed helper: here
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
