"""The statsmodels MixedLM engine (and the benchmark that compares it)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize

from helpers import chunk_frames
from shrinkstudy.design.cells import Cell
from shrinkstudy.methods.engines import fit_statsmodels, statsmodels_varcomp
from shrinkstudy.methods.estimators import blup, fit_estimators
from shrinkstudy.methods.reml import NOT_IDENTIFIED, fit_varcomp
from shrinkstudy.design.simulate import suffstats_from_long

# ---------------------------------------------------------------------------------------------
# statsmodels
# ---------------------------------------------------------------------------------------------


def _engine(data, method="REML"):
    stats, _, _ = suffstats_from_long(data["rep"], data["group"], data["y"])
    vc = fit_varcomp(stats, method)
    return vc, blup(stats, vc)


@pytest.mark.parametrize("reml", [True, False])
def test_statsmodels_agrees_with_exact_fit_away_from_the_boundary(reml):
    # tau / sigma = 1.5 with groups of 3 to 30: far from tau^2 = 0, MixedLM converges cleanly.
    # Its optimiser stops at a relative gradient tolerance, so the stated tolerances are those
    # of MixedLM, not of the exact engine: tau^2 to 1e-3 (relative), sigma^2 to 1e-4, BLUPs to
    # 1e-3 sigma.
    cell = Cell(sizes=(30, 10, 5, 3, 8, 12), sigma=2.0, tau=3.0, mu=-1.0)
    data, _ = chunk_frames(cell, range(3), 12)
    fits, sm_blup = fit_statsmodels(data, reml=reml)
    vc, eng_blup = _engine(data, "REML" if reml else "ML")
    assert list(fits["rep"]) == [0, 1, 2]
    assert (fits["error"] == "").all() and fits["converged"].all()
    assert not fits["boundary"].any() and not vc.boundary.any()
    np.testing.assert_allclose(fits["tau2"], vc.tau2, rtol=1e-3)
    np.testing.assert_allclose(fits["sigma2"], vc.sigma2, rtol=1e-4)
    np.testing.assert_allclose(fits["mu"], vc.mu, atol=1e-3 * cell.sigma)
    np.testing.assert_allclose(sm_blup, eng_blup, atol=1e-3 * cell.sigma)


def test_statsmodels_failures_and_warnings_are_counted_not_raised():
    constant = pd.DataFrame({"rep": 0, "group": np.repeat([0, 1, 2], 3), "y": 1.0})  # ValueError
    singletons = pd.DataFrame({"rep": 1, "group": [0, 1, 2, 3], "y": [1.0, 2, 3, 5]})  # LinAlgError
    # balanced, group means closer than chance: the REML optimum is tau^2 = 0 exactly
    boundary = pd.DataFrame(
        {
            "rep": 2,
            "group": np.repeat([0, 1, 2, 3], 5),
            "y": np.r_[0, 1, 2, 3, 4, 1, 2, 3, 4, 0, 2, 3, 4, 0, 1, 3, 4, 0, 1, 2.0],
        }
    )
    good = chunk_frames(Cell(sizes=(10,) * 4, sigma=1.0, tau=2.0), [3], 5)[0]
    fits, b = fit_statsmodels(pd.concat([constant, singletons, boundary, good], ignore_index=True))
    assert list(fits["rep"]) == [0, 1, 2, 3]
    errors = fits["error"].tolist()
    assert errors[0] and errors[1] and not errors[2] and not errors[3]
    assert all(":" in e for e in errors[:2])  # "ExceptionType: message"
    assert np.isnan(fits.loc[:1, ["mu", "tau2", "sigma2"]].to_numpy()).all()
    assert not fits.loc[:1, "converged"].any()
    assert np.isnan(b[:2]).all() and np.isfinite(b[2:]).all()
    assert fits.loc[2, "warnings"] > 0 and fits.loc[2, "boundary"]
    assert fits.loc[2, "tau2"] >= 0  # statsmodels comes close to 0 without reaching it
    np.testing.assert_allclose(b[2], 2.0, atol=1e-6)  # at tau^2 = 0 every BLUP is the grand mean
    assert fits["warnings"].dtype.kind == "i"


def test_statsmodels_varcomp_feeds_fit_estimators():
    # the workflow's engine: statsmodels path; one dataset of four makes MixedLM raise
    good, _ = chunk_frames(Cell(sizes=(12, 6, 3, 9, 4), sigma=1.0, tau=0.8), [0, 1, 3], 4)
    singletons = pd.DataFrame({"rep": 2, "group": [0, 1, 2, 3, 4], "y": [1.0, 2, 3, 5, 4]})
    data = pd.concat([good, singletons], ignore_index=True)
    vc, extra = statsmodels_varcomp(data)
    fits, sm_blup = fit_statsmodels(data)
    assert list(extra.columns) == ["rep", "converged", "warnings", "error"]
    assert list(extra["rep"]) == [0, 1, 2, 3] and extra.loc[2, "error"]
    assert list(vc.ok) == [True, True, False, True]
    np.testing.assert_array_equal(vc.tau2, fits["tau2"])
    stats, _, _ = suffstats_from_long(data["rep"], data["group"], data["y"])
    fit = fit_estimators(stats, ["raw", "blup", "varmatch"], varcomp=vc)
    # MixedLM's BLUPs are mu^ + B^_j (ybar_j - mu^) with its own variance components
    np.testing.assert_allclose(fit.estimates["blup"], sm_blup, rtol=1e-9, atol=1e-9)
    assert list(fit.failed["blup"]) == [False, False, True, False]
    exact = fit_varcomp(stats)
    ok = vc.ok
    assert np.all(vc.crit[ok] >= exact.crit[ok] - 1e-9)  # the exact optimum is never worse


def test_statsmodels_blup_columns_follow_sorted_group_labels():
    rng = np.random.default_rng(3)
    rows = []
    for rep, groups in ((7, ["b", "a", "c"]), (2, ["z", "y"])):
        for g in groups:
            for v in rng.normal(ord(g) % 5, 1.0, 6):
                rows.append((rep, g, v))
    data = pd.DataFrame(rows, columns=["rep", "group", "y"])
    fits, b = fit_statsmodels(data)
    assert list(fits["rep"]) == [2, 7]
    assert b.shape == (2, 3) and np.isnan(b[0, 2]) and np.isfinite(b[1]).all()
    _, _, groups = suffstats_from_long(data["rep"], data["group"], data["y"])
    assert groups == [["y", "z"], ["a", "b", "c"]]


@pytest.mark.slow
def test_bench_runs_small(tmp_path, capsys):
    # `python -m benchmarks.bench` (what `make bench` runs) on a few datasets; no timing assertions
    from benchmarks import bench

    out = tmp_path / "bench.json"
    args = ["--reps", "300", "--sm-reps", "2", "--no-r", "--repeat", "1", "--cli-reps", "200", "--out", str(out)]
    assert bench.main(args) == 0
    res = json.loads(out.read_text())
    assert res["reps"] == {"engine": 300, "statsmodels": 2, "lme4": 0}
    assert set(res["datasets_per_second"]) >= {"generate", "engine_varcomp_blup", "statsmodels"}
    assert res["ratios"]["engine_over_statsmodels"] > 0 and res["lme4"] == {"skipped": "--no-r"}
    assert res["machine"]["numpy"] == np.__version__
    assert "datasets per second" in capsys.readouterr().out
