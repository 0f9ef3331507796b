"""Confidence intervals for tau by the profile restricted likelihood: long form and known-SE form."""

import math
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats as sps

from shrinkstudy.methods import knownse, reml
from shrinkstudy.design.cells import Cell
from shrinkstudy.design.simulate import SuffStats, simulate_reps, suffstats_from_array, suffstats_from_long

CUT = float(sps.chi2.ppf(0.95, 1))  # 3.841458820694124
SCHOOLS_Y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
SCHOOLS_SE = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])
UNBALANCED = Cell(sizes=(2, 3, 5, 8, 4, 10, 3, 6, 2, 7), sigma=1.0, tau=0.8, mu=2.0)


def _hull(grid, values, crit_min):
    inside = grid[values - crit_min <= CUT]
    return inside.min(), inside.max()


# ----------------------------------------------------------------------------------------------
# known-SE form


def test_eight_schools():
    vc = knownse.fit_meta_varcomp(SCHOOLS_Y, SCHOOLS_SE)
    ci = knownse.meta_tau_interval(SCHOOLS_Y, SCHOOLS_SE)
    assert vc.tau2[0] == 0.0 and ci.tau[0] == 0.0
    assert ci.lower[0] == 0.0 and ci.zero_inside[0]
    # the upper end is where the criterion has risen by the chi-square cutoff from its minimum (at 0)
    f = lambda t: knownse.meta_criterion(SCHOOLS_Y, SCHOOLS_SE, np.array([t * t]))[0]  # noqa: E731
    assert abs(f(ci.upper[0]) - f(0.0) - CUT) < 1e-9
    assert ci.upper[0] == pytest.approx(15.157470, abs=1e-6)
    # brute force: the criterion on a grid of tau with steps of 1e-4
    grid = np.linspace(0.0, 40.0, 400_001)
    values = knownse.meta_criterion(SCHOOLS_Y, SCHOOLS_SE, (grid * grid)[None, :])[0]
    lo, hi = _hull(grid, values, values.min())
    assert lo == 0.0 and abs(hi - ci.upper[0]) <= 1e-4
    # a lower level, a shorter interval
    assert knownse.meta_tau_interval(SCHOOLS_Y, SCHOOLS_SE, level=0.5).upper[0] < ci.upper[0]


def test_known_se_interval_against_a_grid_with_an_interior_fit():
    rng = np.random.default_rng(4)
    se = rng.uniform(0.5, 2.0, size=(3, 25))
    y = 1.0 + rng.normal(0, 2.0, size=(3, 25)) + se * rng.standard_normal((3, 25))
    y[2, 20:] = np.nan  # a dataset with 20 groups
    ci = knownse.meta_tau_interval(y, se)
    vc = knownse.fit_meta_varcomp(y, se)
    grid = np.linspace(0.0, 8.0, 80_001)
    for r in range(3):
        assert ci.lower[r] > 0 and not ci.zero_inside[r]
        values = knownse.meta_criterion(y[r], se[r], (grid * grid)[None, :])[0]
        lo, hi = _hull(grid, values, float(vc.crit[r]))
        assert abs(lo - ci.lower[r]) <= 1e-4 and abs(hi - ci.upper[r]) <= 1e-4
        assert ci.lower[r] < ci.tau[r] < ci.upper[r]
    # the datasets are independent of each other
    one = knownse.meta_tau_interval(y[1], se[1])
    assert one.lower[0] == ci.lower[1] and one.upper[0] == ci.upper[1]


def test_known_se_coverage():
    """400 datasets of 30 groups, SEs from 0.5 to 2, tau = 1: coverage within 4 MCSE of 0.95."""
    rng = np.random.default_rng(2026)
    R, J, tau = 400, 30, 1.0
    se = np.tile(np.linspace(0.5, 2.0, J), (R, 1))
    y = 3.0 + tau * rng.standard_normal((R, J)) + se * rng.standard_normal((R, J))
    ci = knownse.meta_tau_interval(y, se)
    cover = (ci.lower <= tau) & (tau <= ci.upper)
    p = cover.mean()
    assert abs(p - 0.95) <= 4 * math.sqrt(0.95 * 0.05 / R), p


# ----------------------------------------------------------------------------------------------
# long form


def _direct_reml(y, groups, tau2, sigma2):
    """-2 log restricted likelihood of raw data from the full covariance matrix (lme4's REMLcrit)."""
    N = y.size
    Z = (groups[:, None] == np.unique(groups)[None, :]).astype(float)
    V = sigma2 * np.eye(N) + tau2 * Z @ Z.T
    Vi = np.linalg.inv(V)
    one = np.ones(N)
    s = one @ Vi @ one
    mu = (one @ Vi @ y) / s
    r = y - mu
    return np.linalg.slogdet(V)[1] + math.log(s) + r @ Vi @ r + (N - 1) * math.log(2 * math.pi)


def _one_dataset():
    y, _ = simulate_reps(UNBALANCED, np.arange(1), base_seed=12)
    groups = np.repeat(np.arange(UNBALANCED.J), UNBALANCED.sizes)
    return y[0], groups, suffstats_from_array(y, UNBALANCED.sizes)


def test_profile_criterion_is_the_reml_criterion_minimised_over_sigma2():
    y, groups, st = _one_dataset()
    vc = reml.fit_varcomp(st)
    taus = np.array([0.0, 0.3, float(np.sqrt(vc.tau2[0])), 1.1, 2.5])
    prof = reml.profile_criterion(st, taus)[0]
    for t, p in zip(taus, prof):
        res = optimize.minimize_scalar(lambda ls: _direct_reml(y, groups, t * t, math.exp(ls)),
                                       bounds=(-8, 4), method="bounded", options={"xatol": 1e-10})
        assert abs(p - res.fun) < 1e-7, (t, p, res.fun)
    assert abs(prof[2] - vc.crit[0]) < 1e-9  # at tau^, the fit's criterion
    # at tau = 0 sigma^2 is SST / (N - 1)
    sst = float(st.sst()[0])
    assert abs(prof[0] - _direct_reml(y, groups, 0.0, sst / (st.N[0] - 1))) < 1e-9


def test_long_form_interval_against_a_grid():
    y, groups, st = _one_dataset()
    ci = reml.tau_interval(st)
    vc = reml.fit_varcomp(st)
    grid = np.linspace(0.0, 3.0, 30_001)
    values = reml.profile_criterion(st, grid)[0]
    lo, hi = _hull(grid, values, float(vc.crit[0]))
    assert abs(lo - ci.lower[0]) <= 1e-4 and abs(hi - ci.upper[0]) <= 1e-4
    assert 0 < ci.lower[0] < ci.tau[0] < ci.upper[0]
    for end in (ci.lower[0], ci.upper[0]):
        assert abs(reml.profile_criterion(st, np.array([end]))[0, 0] - vc.crit[0] - CUT) < 1e-8
    # the values of this dataset (lme4 cannot check them: it profiles the ML deviance, below)
    assert (ci.lower[0], ci.upper[0]) == pytest.approx((0.268263, 1.315601), abs=2e-6)


def test_long_form_boundary_fit_has_lower_end_zero():
    cell = Cell(sizes=(4,) * 10, sigma=1.0, tau=0.0)
    y, _ = simulate_reps(cell, np.arange(40), base_seed=3)
    st = suffstats_from_array(y, cell.sizes)
    vc = reml.fit_varcomp(st)
    ci = reml.tau_interval(st, fit=vc)
    assert vc.boundary.any()
    np.testing.assert_array_equal(ci.lower[vc.boundary], 0.0)
    assert ci.zero_inside[vc.boundary].all()
    # the zero_inside flag is the criterion at 0 within the cutoff
    p0 = reml.profile_criterion(st, np.zeros(1))[:, 0]
    np.testing.assert_array_equal(ci.zero_inside, p0 - vc.crit <= CUT)
    assert np.all(ci.upper > ci.tau)


def test_long_form_coverage():
    """400 balanced datasets, J = 30, n = 5, sigma = 2, tau = 1: coverage within 4 MCSE of 0.95."""
    cell = Cell(sizes=(5,) * 30, sigma=2.0, tau=1.0)
    R = 400
    y, _ = simulate_reps(cell, np.arange(R), base_seed=2026)
    ci = reml.tau_interval(suffstats_from_array(y, cell.sizes))
    cover = (ci.lower <= cell.tau) & (cell.tau <= ci.upper)
    p = cover.mean()
    assert abs(p - 0.95) <= 4 * math.sqrt(0.95 * 0.05 / R), p


def test_degenerate_datasets_have_no_interval_and_bad_levels_are_refused():
    n = np.array([[3.0, 3, 3], [1, 1, 1], [2, 2, 2]])
    ybar = np.array([[1.0, 2, 4], [1, 2, 3], [5, 5, 5]])
    ssw = np.array([2.0, 0.0, 0.0])  # ok, not identified, constant
    ci = reml.tau_interval(SuffStats(n, ybar, ssw))
    assert np.isfinite(ci.upper[0]) and np.isnan(ci.lower[1:]).all() and np.isnan(ci.upper[1:]).all()
    one = knownse.meta_tau_interval([[1.0, np.nan]], [[1.0, 1.0]])
    assert np.isnan(one.lower[0]) and np.isnan(one.upper[0])
    for level in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="level"):
            reml.tau_interval(SuffStats(n[:1], ybar[:1], ssw[:1]), level=level)


# ----------------------------------------------------------------------------------------------
# lme4: confint(method = "profile") profiles the ML deviance (for a REML fit too)


@pytest.mark.r
def test_ml_interval_matches_lme4_profile(tmp_path):
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript not found")
    y, groups, st = _one_dataset()
    pd.DataFrame({"g": [f"G{j}" for j in groups], "y": y}).to_csv(tmp_path / "d.csv", index=False,
                                                                    float_format="%.17g")
    script = (
        'suppressMessages(library(lme4)); d <- read.csv(commandArgs(TRUE)[1]); '
        'for (r in c(TRUE, FALSE)) { f <- lmer(y ~ 1 + (1 | g), data = d, REML = r); '
        'ci <- suppressMessages(confint(f, parm = ".sig01", method = "profile", level = 0.95)); '
        'cat(sprintf("%.10f %.10f\\n", ci[1, 1], ci[1, 2])) }'
    )
    res = subprocess.run([rscript, "-e", script, str(tmp_path / "d.csv")], capture_output=True, text=True,
                         timeout=300)
    if res.returncode != 0 and "there is no package called" in res.stderr:
        pytest.skip("R package lme4 not available")
    assert res.returncode == 0, res.stderr
    ends = np.array([[float(v) for v in line.split()] for line in res.stdout.split("\n") if line.strip()])
    back = pd.read_csv(tmp_path / "d.csv")
    st2, _, _ = suffstats_from_long(np.zeros(len(back), int), back["g"], back["y"])
    ml = reml.tau_interval(st2, method="ML")
    for row in ends:  # the REML fit's profile and the ML fit's: both the ML deviance's
        np.testing.assert_allclose(row, [ml.lower[0], ml.upper[0]], rtol=2e-5)
    # the REML interval is another one (wider here: REML's tau^ is larger)
    ci = reml.tau_interval(st)
    assert ci.upper[0] > ml.upper[0] + 0.05
