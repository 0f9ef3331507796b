"""``workers.fit``: the rows of many datasets shared between threads give the same bits as one
thread (every estimator, its intervals, the variance components, failures and messages)."""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shrinkstudy.methods import workers
from shrinkstudy.cli import main
from shrinkstudy.methods.estimators import concat_fits, fit_estimators
from shrinkstudy.methods.plugins import user_estimator
from shrinkstudy.methods.registry import BUILTIN
from shrinkstudy.design.simulate import SuffStats, suffstats_from_long

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = [e for e in BUILTIN if "truth" not in e.needs]


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
    y, d = np.array(y), np.array(d)
    y[d % 10 == 3] = 1.5  # every observation equal: constant datasets (3, 13, ...)
    stats, _, _ = suffstats_from_long(d, np.array(g), y)
    single = np.arange(R) % 10 == 5  # one observation per group: tau^2 and sigma^2 not identified
    n, ssw = stats.n.copy(), stats.ssw.copy()
    n[single], ssw[single] = np.where(stats.present[single], 1.0, 0.0), 0.0
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


@pytest.mark.parametrize("jobs", [2, 3])
def test_threads_give_the_same_bits_as_one_thread(monkeypatch, jobs):
    """Shares on threads, and a user's estimator fitted after them on all rows: the same fit as
    one thread, the estimators in the order asked for."""
    monkeypatch.setattr(workers, "MIN_ROWS", 10)
    stats = _stats()
    user = user_estimator("examples/limited_translation.py:estimate", ROOT)
    entries = [ENTRIES[0], user, *ENTRIES[1:]]
    threads = set()
    share = workers._share
    monkeypatch.setattr(workers, "_share", lambda st, block: threads.add(threading.get_ident()) or share(st, block))
    shared = workers.fit(stats, entries, jobs, level=0.8)
    assert len(threads) == jobs  # the shares did run side by side
    _assert_same_fit(shared, fit_estimators(stats, entries, level=0.8))
    assert list(shared.estimates)[:2] == ["raw", "limited_translation"]


def test_the_warning_filters_are_left_as_they_were(monkeypatch):
    """Each estimator silences numpy's RuntimeWarnings with the process-wide warning filters,
    saved and restored around its call. Forced here: the main thread's share leaves its call
    (restoring the filters it saved) while the other thread's share is still in its own, then
    meets a division by zero. No warning leaks out, and the filters end as they began."""
    monkeypatch.setattr(workers, "MIN_ROWS", 10)
    main_inside, both_inside, main_left = threading.Event(), threading.Barrier(2, timeout=20), threading.Event()
    main = threading.main_thread()
    share = workers._share

    def main_first(stats, block):  # the other thread enters its call after the main thread
        if threading.current_thread() is not main:
            main_inside.wait(20)
        return share(stats, block)

    monkeypatch.setattr(workers, "_share", main_first)

    def late_warning(stats, **_):
        if threading.current_thread() is main:
            main_inside.set()
        both_inside.wait()
        if threading.current_thread() is main:
            main_left.set()
        else:
            main_left.wait(20)
            time.sleep(0.05)  # the main thread's call has returned and restored the filters
            np.log(np.zeros(1))  # numpy: RuntimeWarning, divide by zero
        return stats.ybar

    entry = type(ENTRIES[0])(name="late", label="late", description="warns late", point=late_warning)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        before = list(warnings.filters)
        workers.fit(_stats(), [entry], 2)
        assert warnings.filters == before
    assert not [w for w in seen if issubclass(w.category, RuntimeWarning)]


def test_an_error_in_a_share_is_raised_here_as_in_one_thread(monkeypatch):
    """An estimator that raises on one dataset (of the second share) raises the same error."""
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


def test_few_datasets_stay_on_one_thread(monkeypatch):
    monkeypatch.setattr(workers, "_share", lambda *a: pytest.fail("shared 60 datasets"))
    stats = _stats()
    _assert_same_fit(workers.fit(stats, ENTRIES, 4), fit_estimators(stats, ENTRIES))


def test_cli_jobs_do_not_change_a_byte(tmp_path, monkeypatch, capsys):
    """``shrinkstudy fit --jobs 1`` and ``--jobs 2`` write the same files."""
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
    capsys.readouterr()
    assert main(["fit", str(path), "--jobs", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--jobs" in capsys.readouterr().err
