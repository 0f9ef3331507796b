"""``workers.fit``: the rows of many datasets shared between processes give the same bits as one
process (every estimator, its intervals, the variance components, failures and messages)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shrinkstudy import workers
from shrinkstudy.cli import main
from shrinkstudy.estimators import concat_fits, fit_estimators
from shrinkstudy.plugins import user_estimator
from shrinkstudy.registry import BUILTIN
from shrinkstudy.simulate import SuffStats, suffstats_from_long

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = [e for e in BUILTIN if "truth" not in e.needs]
linux_only = pytest.mark.skipif(not workers._CAN_FORK, reason="helpers are forked on Linux only")


def _stats(R=60, seed=11):
    """Unbalanced datasets of 3 to 9 groups (padded), a few degenerate ones among them."""
    rng = np.random.default_rng(seed)
    d, g, y = [], [], []
    for r in range(R):
        J = rng.integers(3, 10)
        for j in range(J):
            n = rng.integers(1, 8)
            d += [r] * n
            g += [j] * n
            y += list(rng.normal(rng.normal(0, 1), 2.0, n))
    y = np.array(y)
    y[np.array(d) == 3] = 1.5  # every observation equal: a constant dataset
    stats, _, _ = suffstats_from_long(np.array(d), np.array(g), y)
    single = stats.present[5]  # one observation per group: tau^2 and sigma^2 not identified
    n, ssw = stats.n.copy(), stats.ssw.copy()
    n[5], ssw[5] = np.where(single, 1.0, 0.0), 0.0
    return SuffStats(n, stats.ybar, ssw)


def _assert_same_fit(a, b):
    assert list(a.estimates) == list(b.estimates) and list(a.intervals) == list(b.intervals)
    for k in a.estimates:
        np.testing.assert_array_equal(a.estimates[k], b.estimates[k], strict=True)
        np.testing.assert_array_equal(a.failed[k], b.failed[k], strict=True)
        np.testing.assert_array_equal(a.messages[k], b.messages[k], strict=True)
    for k, (lo, hi) in a.intervals.items():
        np.testing.assert_array_equal(lo, b.intervals[k][0], strict=True)
        np.testing.assert_array_equal(hi, b.intervals[k][1], strict=True)
    for k in ("mu", "tau2", "sigma2", "gamma", "crit", "boundary", "status"):
        np.testing.assert_array_equal(getattr(a.varcomp, k), getattr(b.varcomp, k), strict=True)
    assert a.varcomp.method == b.varcomp.method
    assert list(a.extra) == list(b.extra)
    for k in a.extra:
        np.testing.assert_array_equal(a.extra[k], b.extra[k], strict=True)


@pytest.mark.parametrize("cuts", [[30], [1, 2], [7, 31, 59]])
def test_fits_of_row_blocks_join_to_the_fit_of_all_rows(cuts):
    """Each estimator's answer for a dataset depends on that dataset alone: any split of the
    rows, fitted block by block and joined, is bit for bit the fit of all rows."""
    stats = _stats()
    whole = fit_estimators(stats, ENTRIES, level=0.9)
    bounds = [0, *cuts, stats.R]
    parts = [
        fit_estimators(SuffStats(stats.n[a:b], stats.ybar[a:b], stats.ssw[a:b]), ENTRIES, level=0.9)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    _assert_same_fit(concat_fits(parts), whole)
    assert whole.varcomp.status[3] == 2 and whole.varcomp.status[5] == 3  # constant; not identified
    assert whole.failed["blup"][5] and "not identified" in whole.messages["blup"][5]


def test_joining_fits_of_different_methods_is_refused():
    stats = _stats(R=8)
    with pytest.raises(ValueError, match="different variance-component methods"):
        concat_fits([fit_estimators(stats, ["raw"], method="REML"), fit_estimators(stats, ["raw"], method="ML")])


@linux_only
@pytest.mark.parametrize("jobs", [2, 3])
def test_helpers_give_the_same_bits_as_one_process(monkeypatch, jobs):
    """Forked helpers (a share each) and a user's estimator fitted here on all rows: the same
    fit as one process, the estimators in the order asked for."""
    monkeypatch.setattr(workers, "MIN_ROWS", 10)
    stats = _stats()
    user = user_estimator("examples/limited_translation.py:estimate", ROOT)
    entries = [ENTRIES[0], user, *ENTRIES[1:]]
    forks = []
    fork = workers._fork_helper
    monkeypatch.setattr(workers, "_fork_helper", lambda work: forks.append(1) or fork(work))
    shared = workers.fit(stats, entries, jobs, level=0.8)
    assert len(forks) == jobs - 1  # the helpers did run
    _assert_same_fit(shared, fit_estimators(stats, entries, level=0.8))
    assert list(shared.estimates)[:2] == ["raw", "limited_translation"]


@linux_only
def test_a_helper_that_dies_costs_only_time(monkeypatch):
    """A helper gone before it answers (here it exits at once, as one the system kills): its
    share is fitted in this process, with the same bits."""
    monkeypatch.setattr(workers, "MIN_ROWS", 10)
    stats = _stats()
    fork = workers._fork_helper
    monkeypatch.setattr(workers, "_fork_helper", lambda work: fork(lambda: os._exit(9)))
    _assert_same_fit(workers.fit(stats, ENTRIES, 2), fit_estimators(stats, ENTRIES))


@linux_only
def test_an_error_in_a_helpers_share_is_raised_here_as_in_one_process(monkeypatch):
    """An estimator that raises on one dataset (of the helper's share) raises the same error
    here, as it does in one process."""
    monkeypatch.setattr(workers, "MIN_ROWS", 10)
    stats = _stats()
    stats.ybar[40, 0] = 1234.5  # the dataset it cannot take

    def fragile(stats, **_):
        if np.any(stats.ybar == 1234.5):
            raise RuntimeError("cannot take 1234.5")
        return stats.ybar

    entry = type(ENTRIES[0])(name="fragile", label="fragile", description="raises", point=fragile)
    for jobs in (1, 2):
        with pytest.raises(RuntimeError, match="cannot take 1234.5"):
            workers.fit(stats, [entry], jobs)


def test_few_datasets_stay_in_this_process(monkeypatch):
    monkeypatch.setattr(workers, "_fork_helper", lambda work: pytest.fail("forked for 60 datasets"))
    stats = _stats()
    _assert_same_fit(workers.fit(stats, ENTRIES, 4), fit_estimators(stats, ENTRIES))


@linux_only
def test_cli_jobs_do_not_change_a_byte(tmp_path, monkeypatch, capsys):
    """``shrinkstudy fit --jobs 1`` and ``--jobs 2`` (helpers forked) write the same files."""
    monkeypatch.setattr(workers, "MIN_ROWS", 40)
    rng = np.random.default_rng(2)
    rows = [(f"s{d}", f"g{j}", rng.normal()) for d in range(120) for j in range(6) for _ in range(1 + (d + j) % 4)]
    path = tmp_path / "data.csv"
    pd.DataFrame(rows, columns=["dataset", "group", "y"]).to_csv(path, index=False)
    out = {}
    for jobs in ("1", "2"):
        assert main(["fit", str(path), "--dataset", "dataset", "--jobs", jobs, "--out", str(tmp_path / jobs)]) == 0
        out[jobs] = [(tmp_path / jobs / name).read_bytes() for name in ("estimates.csv", "fit.json")]
    assert out["1"] == out["2"]
    assert main(["fit", str(path), "--jobs", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--jobs" in capsys.readouterr().err and sys.platform.startswith("linux")
