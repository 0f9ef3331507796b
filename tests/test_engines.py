"""statsmodels MixedLM path and the summary (known standard error) form."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize

from shrinkstudy.design import Cell
from shrinkstudy.engines import (
    MetaPrior,
    fit_meta,
    fit_meta_varcomp,
    fit_statsmodels,
    meta_criterion,
    meta_criterion_derivative,
    statsmodels_varcomp,
)
from shrinkstudy.estimators import blup, fit_estimators
from shrinkstudy.reml import NOT_IDENTIFIED, fit_varcomp
from shrinkstudy.simulate import simulate_chunk, suffstats_from_long

# Rubin (1981), BDA3 table 5.2: coaching effects and their standard errors
SCHOOLS_Y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
SCHOOLS_SE = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])

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
    data, _ = simulate_chunk(cell, range(3), 12)
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
    good = simulate_chunk(Cell(sizes=(10,) * 4, sigma=1.0, tau=2.0), [3], 5)[0]
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
    good, _ = simulate_chunk(Cell(sizes=(12, 6, 3, 9, 4), sigma=1.0, tau=0.8), [0, 1, 3], 4)
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


# ---------------------------------------------------------------------------------------------
# summary form
# ---------------------------------------------------------------------------------------------


def test_eight_schools_reml_is_at_the_boundary():
    # the schools' estimates vary less than their standard errors would make them: REML tau^2 = 0
    vc = fit_meta_varcomp(SCHOOLS_Y, SCHOOLS_SE)
    assert vc.tau2[0] == 0.0 and vc.boundary[0]
    w = 1 / SCHOOLS_SE**2
    assert vc.mu[0] == pytest.approx((w * SCHOOLS_Y).sum() / w.sum(), rel=1e-14)
    assert vc.mu[0] == pytest.approx(7.69, abs=0.005)  # BDA3 section 5.5: pooled estimate 7.7
    assert meta_criterion_derivative(SCHOOLS_Y, SCHOOLS_SE, np.zeros(1))[0] > 0
    fit = fit_meta(SCHOOLS_Y, SCHOOLS_SE)
    np.testing.assert_allclose(fit.estimates["blup"], fit.estimates["pooled"], rtol=1e-14)
    np.testing.assert_allclose(fit.estimates["varmatch"], fit.estimates["pooled"], rtol=1e-14)
    np.testing.assert_array_equal(fit.estimates["raw"][0], SCHOOLS_Y)
    assert fit.varcomp.ok.all() and not any(f.any() for f in fit.failed.values())


def _gibbs_eight_schools(chains=400, iters=2000, burn=300, seed=7):
    """BDA3 section 11.6: Gibbs sampler for the hierarchical normal model, uniform prior on tau."""
    rng = np.random.default_rng(seed)
    y, s = SCHOOLS_Y, SCHOOLS_SE
    J = y.size
    mu = rng.normal(8, 5, chains)
    tau = rng.uniform(1, 15, chains)
    draws = np.empty((iters - burn, chains, J))
    for it in range(iters):
        prec = 1 / tau[:, None] ** 2 + 1 / s**2
        theta = (mu[:, None] / tau[:, None] ** 2 + y / s**2) / prec + rng.standard_normal(
            (chains, J)
        ) / np.sqrt(prec)
        mu = theta.mean(axis=1) + tau / np.sqrt(J) * rng.standard_normal(chains)
        tau = np.sqrt(((theta - mu[:, None]) ** 2).sum(axis=1) / rng.chisquare(J - 1, chains))
        if it >= burn:
            draws[it - burn] = theta
    return draws.reshape(-1, J)


def test_eight_schools_hier_bayes_against_gibbs_and_bda3():
    fit = fit_meta(SCHOOLS_Y, SCHOOLS_SE, prior=MetaPrior("uniform"))
    mean = fit.estimates["hier_bayes"][0]
    lo, hi = (a[0] for a in fit.intervals["hier_bayes"])
    draws = _gibbs_eight_schools()
    # the Gibbs sampler mixes slowly near tau = 0; 0.25 is several Monte Carlo SEs at this length
    np.testing.assert_allclose(mean, draws.mean(axis=0), atol=0.25)
    np.testing.assert_allclose(lo, np.quantile(draws, 0.025, axis=0), atol=0.8)
    np.testing.assert_allclose(hi, np.quantile(draws, 0.975, axis=0), atol=0.8)
    # BDA3 table 5.3, school A: posterior 2.5% and 97.5% quantiles -2 and 31 (median 10)
    assert 10 < mean[0] < 12
    assert lo[0] == pytest.approx(-2, abs=1.0) and hi[0] == pytest.approx(31, abs=1.5)
    assert fit.extra["hier_bayes_tau_mean"][0] == pytest.approx(6.575, abs=0.01)


def _quad_reference(prior_density, j=0):
    """E[m_j | y] and E[tau | y] for the eight schools by adaptive quadrature over tau."""

    def post(t):
        return prior_density(t) * np.exp(
            -0.5 * meta_criterion(SCHOOLS_Y, SCHOOLS_SE, np.array([t * t]))[0] + 27
        )

    def cond(t):
        w = 1 / (SCHOOLS_SE**2 + t * t)
        mu = (w * SCHOOLS_Y).sum() / w.sum()
        return mu + t * t * w[j] * (SCHOOLS_Y[j] - mu)

    kw = dict(limit=500, epsabs=0, epsrel=1e-11)
    Z = integrate.quad(post, 0, np.inf, **kw)[0]
    m = integrate.quad(lambda t: post(t) * cond(t), 0, np.inf, **kw)[0] / Z
    tm = integrate.quad(lambda t: post(t) * t, 0, np.inf, **kw)[0] / Z
    return m, tm


@pytest.mark.parametrize(
    "prior, density",
    [
        (MetaPrior("uniform"), lambda t: 1.0),
        (MetaPrior("half_cauchy", 5.0), lambda t: 1 / (1 + (t / 5.0) ** 2)),
        # s0^2 / (s0^2 + tau^2) ~ U(0, 1): p(tau) = 2 tau s0^2 / (s0^2 + tau^2)^2
        (MetaPrior("uniform_shrinkage"), lambda t: t / (np.mean(SCHOOLS_SE**2) + t * t) ** 2),
    ],
)
def test_hier_bayes_quadrature_matches_adaptive_quadrature(prior, density):
    fit = fit_meta(SCHOOLS_Y, SCHOOLS_SE, ["hier_bayes"], prior=prior, intervals=False)
    m, tm = _quad_reference(density)
    assert fit.estimates["hier_bayes"][0, 0] == pytest.approx(m, rel=1e-8)
    # E[tau | y] converges more slowly than E[m_j | y] (a function of tau^2) where the quadrature
    # variable is tau^2-like (uniform_shrinkage: tau ~ sqrt(v) near 0)
    assert fit.extra["hier_bayes_tau_mean"][0] == pytest.approx(tm, rel=1e-5)


def test_equal_standard_errors_have_closed_form_reml_and_ml():
    rng = np.random.default_rng(1)
    y = rng.normal(0, 2, (40, 6))
    se = np.full_like(y, 1.2)
    reml = fit_meta_varcomp(y, se, "REML").tau2
    ml = fit_meta_varcomp(y, se, "ML").tau2
    np.testing.assert_allclose(reml, np.maximum(0, y.var(axis=1, ddof=1) - 1.44), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ml, np.maximum(0, y.var(axis=1, ddof=0) - 1.44), rtol=1e-12, atol=1e-14)
    assert (reml == 0).any() and (reml > 0).any()


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_unequal_standard_errors_reach_the_global_optimum(method):
    rng = np.random.default_rng(2)
    R, J = 30, 7
    se = rng.uniform(0.3, 4.0, (R, J))
    y = rng.normal(0, rng.uniform(0, 3, (R, 1)), (R, J)) + rng.normal(0, se)
    vc = fit_meta_varcomp(y, se, method)
    grid = np.concatenate([[0.0], np.geomspace(1e-6, 1e4, 4000)])
    on_grid = meta_criterion(y, se, np.broadcast_to(grid, (R, grid.size)), method)
    assert (vc.tau2 == 0).any() and (vc.tau2 > 0).any()
    for r in range(R):

        def f(t2, r=r):
            return meta_criterion(y[r], se[r], np.array([t2]), method)[0]

        k = int(np.argmin(on_grid[r]))
        ref = optimize.minimize_scalar(
            f,
            bounds=(grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]),
            method="bounded",
            options={"xatol": 1e-12},
        )
        best = min(ref.fun, on_grid[r, 0])
        assert vc.crit[r] <= best + 1e-9
        if vc.tau2[r] > 0:
            d = meta_criterion_derivative(y[r], se[r], vc.tau2[r : r + 1], method)[0]
            assert abs(d) < 1e-8 * (1 / se[r] ** 2).sum()


def test_derivative_matches_finite_differences():
    t = np.array([0.7])
    h = 1e-6
    for method in ("REML", "ML"):
        fd = (
            meta_criterion(SCHOOLS_Y, SCHOOLS_SE, t + h, method)
            - meta_criterion(SCHOOLS_Y, SCHOOLS_SE, t - h, method)
        ) / (2 * h)
        assert meta_criterion_derivative(SCHOOLS_Y, SCHOOLS_SE, t, method)[0] == pytest.approx(
            fd[0], rel=1e-6
        )


def test_ragged_datasets_equal_separate_fits_and_degenerate_ones_fail_cleanly():
    y = np.array(
        [
            [28.0, 8, -3, 7, -1, 1, 18, 12],
            [1.0, 4.0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
            [5.0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
        ]
    )
    se = np.vstack([SCHOOLS_SE, np.full(8, 2.0), np.full(8, 1.0)])
    fit = fit_meta(y, se)
    one = fit_meta(SCHOOLS_Y, SCHOOLS_SE)
    for name in fit.estimates:
        np.testing.assert_allclose(fit.estimates[name][0], one.estimates[name][0], rtol=1e-12)
    # two groups: REML and blup work, the flat prior on tau gives an improper posterior
    assert fit.varcomp.ok[1] and np.isfinite(fit.estimates["blup"][1, :2]).all()
    assert fit.failed["hier_bayes"][1] and np.isnan(fit.estimates["hier_bayes"][1, :2]).all()
    assert not fit_meta(y[1], se[1], prior=MetaPrior("half_cauchy", 2.0)).failed["hier_bayes"][0]
    # one group: nothing to pool
    assert fit.varcomp.status[2] == NOT_IDENTIFIED and fit.failed["blup"][2]
    assert np.isnan(fit.estimates["blup"][1:, 2:]).all()


def test_meta_input_errors():
    with pytest.raises(ValueError, match="positive"):
        fit_meta(SCHOOLS_Y, np.r_[SCHOOLS_SE[:-1], 0.0])
    with pytest.raises(ValueError, match="not available"):
        fit_meta(SCHOOLS_Y, SCHOOLS_SE, ["bayesglm"])
    with pytest.raises(ValueError, match="scale"):
        MetaPrior("half_cauchy")


def test_bench_runs_small(tmp_path, capsys):
    # a smoke test of `python -m shrinkstudy.bench` (what `make bench` runs); no timing assertions
    from shrinkstudy import bench

    out = tmp_path / "bench.json"
    assert bench.main(["--reps", "300", "--sm-reps", "2", "--no-r", "--repeat", "1", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["reps"] == {"engine": 300, "statsmodels": 2, "lme4": 0}
    assert set(res["datasets_per_second"]) >= {"generate", "engine_varcomp_blup", "statsmodels"}
    assert res["ratios"]["engine_over_statsmodels"] > 0 and res["lme4"] == {"skipped": "--no-r"}
    assert res["machine"]["numpy"] == np.__version__
    assert "datasets per second" in capsys.readouterr().out
