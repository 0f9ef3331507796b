"""The summary (known standard error) form: shrinkstudy.methods.knownse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize

from shrinkstudy.methods.knownse import (
    MetaPrior,
    fit_meta,
    fit_meta_varcomp,
    meta_criterion,
    meta_criterion_derivative,
)
from shrinkstudy.methods.reml import NOT_IDENTIFIED

# Rubin (1981), BDA3 table 5.2: coaching effects and their standard errors
SCHOOLS_Y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
SCHOOLS_SE = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])


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


# ---------------------------------------------------------------------------------------------
# James-Stein: Efron & Morris's batting averages (equal standard errors)
# ---------------------------------------------------------------------------------------------

BASEBALL = Path(__file__).resolve().parent / "data" / "efron_morris_1975.csv"


def _baseball_with_se(tmp_path):
    """The 18 players' averages after 45 at bats with their common standard error
    sqrt(ybar (1 - ybar) / 45), ybar the mean of the 18 averages (Efron & Morris 1975)."""
    df = pd.read_csv(BASEBALL)
    ybar = df["y"].mean()
    df["se"] = np.sqrt(ybar * (1 - ybar) / 45)
    path = tmp_path / "baseball.csv"
    df.to_csv(path, index=False)
    return df, path


def test_james_stein_on_efron_morris_batting_averages(tmp_path):
    df, _ = _baseball_with_se(tmp_path)
    fit = fit_meta(df["y"].to_numpy(), df["se"].to_numpy(), ["raw", "james_stein"])
    factor = fit.extra["james_stein_factor"][0]
    assert factor == pytest.approx(0.212, abs=5e-4)  # Efron & Morris (1975): c = 0.212
    js = fit.estimates["james_stein"][0]
    np.testing.assert_allclose(js, df["y"].mean() + factor * (df["y"] - df["y"].mean()), rtol=1e-14)
    p = df["p"].to_numpy()  # the rest of the season: the truth to predict
    assert np.sum((js - p) ** 2) == pytest.approx(0.0213, abs=1e-4)
    assert np.sum((df["y"] - p) ** 2) == pytest.approx(0.0753, abs=1e-4)
    assert not fit.failed["james_stein"].any()


def test_james_stein_needs_equal_standard_errors_and_few_groups_do_not_shrink():
    fit = fit_meta(SCHOOLS_Y, SCHOOLS_SE, ["raw", "james_stein"])
    assert np.isnan(fit.estimates["james_stein"]).all() and not fit.failed["james_stein"].any()
    three = fit_meta(np.array([1.0, 2.0, 4.0]), np.ones(3), ["james_stein"])
    np.testing.assert_array_equal(three.estimates["james_stein"][0], [1.0, 2.0, 4.0])  # J - 3 = 0
    same = fit_meta(np.full(5, 2.0), np.ones(5), ["james_stein"])
    np.testing.assert_array_equal(same.estimates["james_stein"][0], np.full(5, 2.0))


def test_cli_summary_form_gives_james_stein_or_says_why_not(tmp_path):
    import json

    from shrinkstudy.cli import main

    df, path = _baseball_with_se(tmp_path)
    assert main(["fit", str(path), "--group", "name", "--value", "y", "--se", "se", "--out", str(tmp_path / "bb")]) == 0
    est = pd.read_csv(tmp_path / "bb" / "estimates.csv")
    info = json.loads((tmp_path / "bb" / "fit.json").read_text())["datasets"][0]
    assert info["james_stein_factor"] == pytest.approx(0.2124, abs=1e-4)
    assert np.sum((est["james_stein"] - df["p"]) ** 2) == pytest.approx(0.0213, abs=1e-4)
    assert "not_applicable" not in info
    schools = Path(__file__).resolve().parent / "data" / "eight_schools.csv"
    out = tmp_path / "schools"
    assert main(["fit", str(schools), "--group", "school", "--value", "estimate", "--se", "se", "--out", str(out)]) == 0
    info = json.loads((out / "fit.json").read_text())["datasets"][0]
    assert info["not_applicable"] == {"james_stein": "standard errors differ (9 to 18); it needs equal ones"}
    assert "james_stein" not in info["failed"] and pd.read_csv(out / "estimates.csv")["james_stein"].isna().all()


def test_eight_schools_blup_intervals_have_width():
    """Rubin's eight schools: tau^2^ = 0 (REML), every BLUP is mu^ = 7.6856, and the plug-in
    interval is mu^ +- z SE(mu^) (SE 4.0719: g2), not a point; the Prasad-Rao interval adds 2 g3,
    g3 = V(tau^2^) / s_j^2 at the boundary."""
    y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
    se = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])
    fit = fit_meta(y[None], se[None], ("raw", "blup", "blup_pr"))
    assert fit.varcomp.tau2[0] == 0
    se_mu = 1 / np.sqrt((1 / se**2).sum())
    assert se_mu == pytest.approx(4.0719, abs=1e-4)
    lo, hi = fit.intervals["blup"]
    np.testing.assert_allclose((hi - lo)[0] / 2, 1.959963984540054 * se_mu, rtol=1e-12)
    u = 1 / se**2
    V = 2 / ((u * u).sum() - 2 * (u**3).sum() / u.sum() + (u * u).sum() ** 2 / u.sum() ** 2)
    lo, hi = fit.intervals["blup_pr"]
    np.testing.assert_allclose((hi - lo)[0] / 2, 1.959963984540054 * np.sqrt(se_mu**2 + 2 * V / se**2), rtol=1e-12)
    np.testing.assert_array_equal(fit.estimates["blup_pr"], fit.estimates["blup"])


def test_known_se_prasad_rao_against_monte_carlo():
    """Fay-Herriot with J = 24 and SEs from 0.5 to 1.5 (tau = 1): the mean Prasad-Rao MSE is the
    EBLUP's Monte Carlo MSE within 4 MCSE (4,000 datasets)."""
    rng = np.random.default_rng(12)
    R, J = 4000, 24
    se = np.linspace(0.5, 1.5, J)
    theta = rng.normal(size=(R, J))
    y = theta + se * rng.standard_normal((R, J))
    fit = fit_meta(y, np.broadcast_to(se, (R, J)), ("raw", "blup", "blup_pr"))
    lo, hi = fit.intervals["blup_pr"]
    mse_pr = ((hi - lo) / 2 / 1.959963984540054) ** 2
    diff = ((fit.estimates["blup"] - theta) ** 2).mean(axis=1) - mse_pr.mean(axis=1)
    assert abs(diff.mean()) <= 4 * diff.std(ddof=1) / np.sqrt(R)
