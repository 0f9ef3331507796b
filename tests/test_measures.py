"""Performance measures and their Monte Carlo SEs against theory and against resampling.

Tolerances: a measure is compared with its theoretical value within 4 MCSE (a false alarm
about once in 16,000 for a normal estimate; the seeds are fixed, so a pass is reproducible).
An MCSE formula is compared with the SD of its measure across K = 200 independent studies of
R = 50 replications; that SD has a relative SE of about 1/sqrt(2 (K - 1)) = 5%, so the ratio
SD / RMS(MCSE) must lie within a factor of 1.25 of 1 (about 4 of those SEs). A wrong formula
(a missing sqrt(2) in the empSE's MCSE, an unpaired ratio, a binomial coverage MCSE over
correlated intervals) misses by far more.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from shrinkstudy.design.cells import Cell
from shrinkstudy.methods.estimators import Fit, Truth, fit_estimators
from shrinkstudy.evaluate.losses import replication_losses, varcomp_table
from shrinkstudy.evaluate.measures import (
    SUMMARY_COLUMNS,
    mcse_empse,
    mcse_mean,
    mcse_mse,
    mcse_proportion,
    boundary_probability,
    mcse_ratio,
    p_boundary_balanced,
    summarise_cell,
    summary_rows,
    theory_risks,
)
from shrinkstudy.design.simulate import simulate_reps, suffstats_from_array

FAST = ("raw", "pooled", "blup", "varmatch", "bayesglm", "james_stein", "oracle")
# docs/formulas.md section 2: balanced J = 5, n = 5, tau^2 / sigma^2 = 0.25, about 23% boundary fits
SMALL = Cell(sizes=(5,) * 5, sigma=1.0, tau=0.5, block="test")
SEED_CELL = Cell(sizes=(100,) * 6 + (2,) * 6, sigma=5.0, tau=1.0, block="seed")
K_STUDIES, R_STUDY = 200, 50


def study(cell, reps, estimators=FAST, base_seed=20240501):
    reps = np.asarray(reps)
    y, means = simulate_reps(cell, reps, base_seed)
    stats = suffstats_from_array(y, cell.sizes)
    fit = fit_estimators(stats, estimators, truth=Truth(cell.mu, cell.tau, cell.sigma))
    return replication_losses(fit, means, reps, cell), varcomp_table(fit, reps)


@pytest.fixture(scope="module")
def small():
    """K x R replications of SMALL: summaries of the whole and of each of the K studies."""
    reps = np.arange(K_STUDIES * R_STUDY)
    L, V = study(SMALL, reps)
    full = summarise_cell(L, V, SMALL)
    vparts = dict(list(V.groupby(V["rep"].to_numpy() // R_STUDY)))
    per = pd.concat(
        [summarise_cell(g, vparts[k], SMALL) for k, g in L.groupby(L["rep"].to_numpy() // R_STUDY)],
        ignore_index=True,
    )
    return full, per


@pytest.fixture(scope="module")
def seed_cell():
    L, V = study(SEED_CELL, np.arange(2000))
    return summarise_cell(L, V, SEED_CELL)


def row(summary, estimator, groups="all"):
    r = summary[(summary["estimator"] == estimator) & (summary["groups"] == groups)]
    assert len(r) == 1, (estimator, groups)
    return r.iloc[0]


# ----------------------------------------------------------------------------------------------
# the MCSE formulas on exact small cases


def test_mcse_formulas_exact_cases():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert mcse_mean(x) == pytest.approx(np.std(x, ddof=1) / 2)
    assert mcse_mse(x) == pytest.approx(math.sqrt(((x - 2.5) ** 2).sum() / (4 * 3)))
    assert mcse_empse(1.0, 51) == pytest.approx(0.1)
    assert mcse_proportion(0.5, 100) == pytest.approx(0.05)
    assert mcse_proportion(0.0, 100) == 0.0
    assert math.isnan(mcse_mean([1.0])) and math.isnan(mcse_empse(1.0, 1))
    # the ratio: identical inputs give exactly 0; otherwise the textbook delta-method formula
    assert mcse_ratio(x, x) == 0.0
    rng = np.random.default_rng(1)
    y = rng.gamma(2.0, size=50)
    z = 0.5 * y + rng.gamma(1.0, size=50)
    r = z.mean() / y.mean()
    c = np.cov(z, y)
    textbook = math.sqrt((c[0, 0] - 2 * r * c[0, 1] + r * r * c[1, 1]) / 50) / y.mean()
    assert mcse_ratio(z, y) == pytest.approx(textbook, rel=1e-12)
    with pytest.raises(ValueError):
        mcse_ratio(x, x[:3])


def test_mcse_ratio_against_bootstrap():
    """Delta-method MCSE of a paired ratio of means vs the SD of 2,000 bootstrap ratios."""
    rng = np.random.default_rng(7)
    y = rng.chisquare(3, size=400)
    x = 0.6 * y + rng.chisquare(1, size=400)
    idx = rng.integers(0, 400, size=(2000, 400))
    boot = x[idx].mean(axis=1) / y[idx].mean(axis=1)
    assert mcse_ratio(x, y) == pytest.approx(np.std(boot, ddof=1), rel=0.1)


# ----------------------------------------------------------------------------------------------
# measures against theory


def test_summary_columns_and_rows(small):
    full, _ = small
    assert list(full.columns) == list(SUMMARY_COLUMNS)
    assert full["estimator"].tolist() == list(FAST)
    assert (full["groups"] == "all").all()
    assert (full["reps"] == K_STUDIES * R_STUDY).all() and (full["failures"] == 0).all()
    for k, v in SMALL.params().items():
        assert (full[k] == v).all() if v is not None else full[k].isna().all()


def test_raw_and_oracle_mse_match_theory(small):
    full, _ = small
    raw, oracle = row(full, "raw"), row(full, "oracle")
    assert raw["raw_risk"] == pytest.approx(SMALL.sigma**2 / 5)
    B = 0.25 / (0.25 + 1 / 5)
    assert raw["oracle_risk"] == pytest.approx(B / 5)
    assert abs(raw["mse"] - raw["raw_risk"]) < 4 * raw["mse_mcse"]
    assert abs(oracle["mse"] - oracle["oracle_risk"]) < 4 * oracle["mse_mcse"]
    # every estimator pays at least the Bayes risk
    assert (full["mse"] > oracle["oracle_risk"] - 4 * full["mse_mcse"]).all()


def test_raw_and_oracle_mse_by_group_size(seed_cell):
    for groups, n in (("n=2", 2), ("n=100", 100), ("all", None)):
        raw, oracle = row(seed_cell, "raw", groups), row(seed_cell, "oracle", groups)
        sizes = np.array(SEED_CELL.sizes) if n is None else np.array([n])
        B = 1.0 / (1.0 + 25.0 / sizes)
        assert raw["raw_risk"] == pytest.approx(np.mean(25.0 / sizes))
        assert raw["oracle_risk"] == pytest.approx(np.mean(B * 25.0 / sizes))
        assert abs(raw["mse"] - raw["raw_risk"]) < 4 * raw["mse_mcse"], groups
        assert abs(oracle["mse"] - oracle["oracle_risk"]) < 4 * oracle["mse_mcse"], groups
    assert "james_stein" not in set(seed_cell["estimator"])
    assert seed_cell["p_boundary_theory"].isna().all()
    # the seed's text: var(ybar_j) = tau^2 + sigma^2 / n_j, so the raw means spread wider than
    # the truth, and shrinkage wins most for the small groups
    assert row(seed_cell, "blup", "n=2")["rel_mse"] < row(seed_cell, "blup", "n=100")["rel_mse"] < 1


def test_boundary_share_matches_f_distribution(small):
    full, _ = small
    r = row(full, "raw")
    p = sps.f.cdf(1 / (1 + 5 * 0.25), 4, 20)
    assert r["p_boundary_theory"] == pytest.approx(p)
    assert 0.2 < p < 0.25  # about 23%
    assert abs(r["boundary_share"] - p) < 4 * r["boundary_share_mcse"]
    assert full["boundary_share"].nunique() == 1


def test_p_boundary_balanced_only():
    assert math.isnan(p_boundary_balanced(SEED_CELL))
    assert math.isnan(p_boundary_balanced(Cell(sizes=(1,) * 6, sigma=1.0, tau=1.0)))
    assert p_boundary_balanced(Cell(sizes=(4,) * 8, sigma=1.0, tau=0.0)) == pytest.approx(
        sps.f.cdf(1.0, 7, 24)
    )
    assert theory_risks(Cell(sizes=(4,) * 8, sigma=2.0, tau=0.0)) == (1.0, 0.0)


# P(tau^2^ = 0) of balanced cells of the study, P(F_{J-1, J(n-1)} <= 1 / (1 + n tau^2 / sigma^2)),
# computed with mpmath.betainc at 50 digits: (J, n, sigma, tau, probability)
BOUNDARY_REFERENCE = [
    (48, 100, 1.0, 1.0, "9.3006375727974512e-39"),  # the study's smallest
    (12, 5, 5.0, 1.0, "0.39173983752487063"),
    (3, 100, 1.0, 1.0, "0.0098518098622647195"),
]


@pytest.mark.parametrize("J, n, sigma, tau, want", BOUNDARY_REFERENCE)
def test_p_boundary_against_high_precision(J, n, sigma, tau, want):
    cell = Cell(sizes=(n,) * J, sigma=sigma, tau=tau)
    assert p_boundary_balanced(cell) == pytest.approx(float(want), rel=1e-12)


def test_boundary_probability_is_vectorised_and_the_cells_value():
    """The figure's curves and the table's column are one function (``boundary_probability``)."""
    J, n = np.array([3, 6, 12, 48]), np.array([2.0, 5.0, 10.0, 100.0])
    got = boundary_probability(J, n, 2.5, 1.0)
    want = [p_boundary_balanced(Cell(sizes=(int(k),) * int(j), sigma=2.5, tau=1.0)) for j, k in zip(J, n)]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, sps.f.cdf(1 / (1 + n / 6.25), J - 1, J * (n - 1)), rtol=1e-12)
    # fractional n (the figure's curve between the cells' n) lies between its neighbours
    assert got[0] > boundary_probability(3, 3.5, 2.5, 1.0) > boundary_probability(3, 5.0, 2.5, 1.0)


def test_oracle_interval_covers_at_nominal_level(small):
    full, _ = small
    o = row(full, "oracle")
    assert abs(o["coverage"] - 0.95) < 4 * o["coverage_mcse"]
    assert o["level"] == 0.95


def test_relative_mse_of_raw_is_exactly_one(small, seed_cell):
    for s in (small[0], seed_cell):
        raw = s[s["estimator"] == "raw"]
        assert (raw["rel_mse"] == 1.0).all() and (raw["rel_mse_mcse"] == 0.0).all()


def test_rel_mse_is_paired_ratio(small):
    full, _ = small
    raw = row(full, "raw")
    for est in ("blup", "pooled", "oracle"):
        r = row(full, est)
        assert r["rel_mse"] == pytest.approx(r["mse"] / raw["mse"], rel=1e-12)
    # pairing: blup's losses move with raw's, so the paired ratio is more precise than the
    # unpaired delta method would say
    b = row(full, "blup")
    unpaired = b["rel_mse"] * math.hypot(b["mse_mcse"] / b["mse"], raw["mse_mcse"] / raw["mse"])
    assert b["rel_mse_mcse"] < 0.75 * unpaired


# ----------------------------------------------------------------------------------------------
# MCSE formulas against resampling: K independent studies


@pytest.mark.parametrize(
    "measure", ["mse", "bias", "empse", "rel_mse", "spread", "coverage", "width", "boundary_share"]
)
def test_mcse_matches_sd_across_studies(small, measure):
    _, per = small
    checked = 0
    for est, g in per.groupby("estimator", sort=False):
        values, mcse = g[measure].to_numpy(float), g[f"{measure}_mcse"].to_numpy(float)
        if (
            np.isnan(values).all()
            or (measure == "rel_mse" and est == "raw")
            or (measure == "spread" and est == "pooled")
        ):
            continue
        if measure == "width" and est == "oracle":  # a constant: SD and MCSE both 0
            assert np.allclose(mcse, 0.0, atol=1e-12)
            continue
        ratio = np.std(values, ddof=1) / math.sqrt(np.mean(mcse**2))
        assert 1 / 1.25 < ratio < 1.25, f"{measure} of {est}: SD across studies / RMS MCSE = {ratio:.3f}"
        checked += 1
    assert checked >= 1


# ----------------------------------------------------------------------------------------------
# spread: the seed's "right variance" claim


def test_spread_varmatch_near_one_blup_below():
    # J = 48 groups of 10, tau = 1, sigma = 2: tau^2 well identified (about 0 boundary fits)
    cell = Cell(sizes=(10,) * 48, sigma=2.0, tau=1.0)
    L, V = study(cell, np.arange(1000), estimators=("raw", "blup", "varmatch", "oracle"))
    s = summarise_cell(L, V, cell)
    vm, bl, raw = row(s, "varmatch"), row(s, "blup"), row(s, "raw")
    assert abs(vm["spread"] - 1) < 0.02 and vm["spread_mcse"] < 0.005
    # blup's spread is about sqrt(B) = 0.85: below 1 by many MCSEs; raw's above 1
    assert bl["spread"] < 0.9 and bl["spread"] < vm["spread"] - 10 * vm["spread_mcse"]
    assert raw["spread"] > 1.1
    assert row(s, "raw")["boundary_share"] < 0.01


# ----------------------------------------------------------------------------------------------
# exact aggregation


def test_chunked_and_unchunked_summaries_are_identical():
    cell = SEED_CELL
    est = ("raw", "pooled", "blup", "varmatch", "bayesglm", "hier_bayes", "oracle")
    L1, V1 = study(cell, np.arange(120), estimators=est)
    parts = [study(cell, r, estimators=est) for r in (np.arange(70, 120), np.arange(0, 70))]
    L2 = pd.concat([p[0] for p in parts], ignore_index=True)
    V2 = pd.concat([p[1] for p in parts], ignore_index=True)
    a = summarise_cell(L1, V1, cell)
    b = summarise_cell(L2, V2, cell)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # row order of the input is irrelevant, too
    c = summarise_cell(L1.sample(frac=1.0, random_state=3), V1.sample(frac=1.0, random_state=4), cell)
    pd.testing.assert_frame_equal(a, c, check_exact=True)


def test_overlapping_chunks_are_refused():
    L, V = study(SMALL, np.arange(10))
    with pytest.raises(ValueError, match="more than once"):
        summarise_cell(pd.concat([L, L[L["rep"] == 3]]), V, SMALL)
    with pytest.raises(ValueError, match="more than once"):
        summarise_cell(L, pd.concat([V, V]), SMALL)
    with pytest.raises(ValueError, match="different replications"):
        summarise_cell(L, V[V["rep"] < 5], SMALL)


def test_failures_are_counted_and_excluded():
    cell = SMALL
    reps = np.arange(50)
    y, means = simulate_reps(cell, reps, 3)
    stats = suffstats_from_array(y, cell.sizes)
    fit = fit_estimators(stats, ("raw", "blup"), truth=Truth(cell.mu, cell.tau, cell.sigma))
    bad = np.zeros(50, bool)
    bad[[0, 10, 20]] = True
    est = {**fit.estimates, "blup": np.where(bad[:, None], np.nan, fit.estimates["blup"])}
    fit2 = Fit(
        estimates=est, intervals=fit.intervals, failed={**fit.failed, "blup": bad}, varcomp=fit.varcomp
    )
    L = replication_losses(fit2, means, reps, cell)
    s = summarise_cell(L, varcomp_table(fit2, reps), cell)
    b, r = row(s, "blup"), row(s, "raw")
    assert (b["reps"], b["failures"]) == (47, 3)
    assert (r["reps"], r["failures"]) == (50, 0)
    good = L[(L["estimator"] == "blup") & ~L["failed"]]
    assert b["mse"] == good["sq_err"].mean()
    raw_same = L[(L["estimator"] == "raw") & L["rep"].isin(good["rep"])]
    assert b["rel_mse"] == pytest.approx(good["sq_err"].mean() / raw_same["sq_err"].mean(), rel=1e-14)


@pytest.mark.parametrize("cell", [SMALL, SEED_CELL], ids=["balanced", "unbalanced"])
def test_numpy_columns_match_the_dataframe_path(cell):
    """The jobs summarise numpy columns (as read from Parquet): the same frame as from a
    DataFrame (NA n and NaN theory on unbalanced cells, NaN coverage without intervals)."""
    L, V = study(cell, np.arange(30), estimators=("raw", "blup", "hier_bayes", "james_stein", "oracle"))
    frame = summarise_cell(L, V, cell)
    lcols = {c: L[c].to_numpy() for c in L.columns}
    vcols = {c: V[c].to_numpy() for c in V.columns}
    assert len(summary_rows(lcols, vcols, cell)) == len(frame)
    pd.testing.assert_frame_equal(summarise_cell(lcols, vcols, cell), frame, check_exact=True)
