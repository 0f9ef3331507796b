"""Correctness of the exact REML / ML variance components (shrinkstudy.methods.reml).

References: closed forms in balanced designs; a dense N x N likelihood of the raw observations
maximised by scipy (tests/reference/reml_dense.py); a fine grid of the criterion; statsmodels
MixedLM. lme4 is compared in test_lme4_arm.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from reference import reml_dense
from shrinkstudy.methods import reml
from shrinkstudy.design.cells import Cell
from shrinkstudy.design.simulate import SuffStats, suffstats_from_array, suffstats_from_long


def _anova(y: np.ndarray, n: int):
    """Balanced one-way ANOVA from raw data y (R, J*n): MSB, MSW, SST, grand mean."""
    R, N = y.shape
    J = N // n
    g = y.reshape(R, J, n)
    ybar = g.mean(axis=2)
    grand = y.mean(axis=1)
    ssb = n * ((ybar - grand[:, None]) ** 2).sum(axis=1)
    ssw = ((g - ybar[..., None]) ** 2).sum(axis=(1, 2))
    return ssb / (J - 1), ssw / (N - J), ssb + ssw, grand


# ---------------------------------------------------------------------------------------------
# 1. balanced closed forms and the share of boundary fits
# ---------------------------------------------------------------------------------------------


def test_balanced_reml_closed_form_and_boundary_share(near_boundary_cell, simulate):
    cell = near_boundary_cell
    J, n, N = cell.J, cell.n, cell.N
    y, _, st = simulate(cell, 4000, 101)
    vc = reml.fit_varcomp(st)
    msb, msw, sst, grand = _anova(y, n)
    interior = msb > msw
    # tau^2 = max(0, (MSB - MSW) / n); sigma^2 = MSW inside, SST / (N - 1) on the boundary
    np.testing.assert_allclose(vc.tau2, np.maximum(0.0, (msb - msw) / n), rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(vc.sigma2[interior], msw[interior], rtol=1e-10)
    np.testing.assert_allclose(vc.sigma2[~interior], sst[~interior] / (N - 1), rtol=1e-12)
    np.testing.assert_allclose(vc.mu, grand, rtol=0, atol=1e-13)
    # the boundary is exactly MSB <= MSW, tau^2 is exactly 0.0 there, and boundary_test agrees
    assert np.array_equal(vc.boundary, ~interior)
    assert np.all(vc.tau2[~interior] == 0.0) and np.all(vc.tau2[interior] > 0.0)
    assert np.array_equal(reml.boundary_test(st), vc.boundary)
    assert np.all(vc.status == reml.OK)
    # share of boundary fits: P(F_{J-1, N-J} < 1 / (1 + n tau^2 / sigma^2)) = 0.2249
    p = sps.f.cdf(1.0 / (1.0 + n * cell.tau**2 / cell.sigma**2), J - 1, N - J)
    assert p == pytest.approx(0.2249, abs=1e-4)
    share = vc.boundary.mean()
    mcse = np.sqrt(p * (1 - p) / vc.boundary.size)
    assert abs(share - p) < 4 * mcse, (share, p, mcse)


def test_balanced_ml_closed_form(near_boundary_cell, simulate):
    cell = near_boundary_cell
    J, n, N = cell.J, cell.n, cell.N
    y, _, st = simulate(cell, 2000, 102)
    vc = reml.fit_varcomp(st, "ML")
    msb, msw, sst, _ = _anova(y, n)
    # ML: tau^2 = max(0, ((1 - 1/J) MSB - MSW) / n), sigma^2 = MSW inside, SST / N on the boundary
    t = ((1 - 1 / J) * msb - msw) / n
    interior = t > 0
    np.testing.assert_allclose(vc.tau2, np.maximum(t, 0.0), rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(vc.sigma2[interior], msw[interior], rtol=1e-10)
    np.testing.assert_allclose(vc.sigma2[~interior], sst[~interior] / N, rtol=1e-12)
    assert np.array_equal(vc.boundary, ~interior)
    assert np.array_equal(reml.boundary_test(st, "ML"), vc.boundary)
    # ML puts more fits on the boundary than REML
    assert vc.boundary.mean() > reml.fit_varcomp(st).boundary.mean()


# ---------------------------------------------------------------------------------------------
# 2. the dense likelihood of the raw observations (slow, obvious reference)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_matches_dense_likelihood_of_raw_data(small_unbalanced, method):
    """24 small unbalanced datasets (J = 2..8, n_j = 1..7, tau/sigma in {0, 0.2, 0.67, 2}).

    Tolerances: our optimum's -2 log L (computed densely from the raw data) is no worse than the
    scipy reference's by more than 1e-8; the criterion formula equals the dense value to 1e-9;
    tau^2 and sigma^2 agree to 1e-6 relative (tau^2 < 1e-8 sigma^2 counts as the boundary, where
    ours must be exactly 0.0). Measured: |criterion difference| <= 3e-14, parameters <= 3e-8.
    """
    n_boundary = 0
    for cell, y, group, st in small_unbalanced:
        vc = reml.fit_varcomp(st, method)
        ref = reml_dense.fit(y, group, method)
        ours = reml_dense.crit_at(y, group, vc.mu[0], vc.tau2[0], vc.sigma2[0], method)
        assert ours <= ref["crit"] + 1e-8, (cell, ours, ref)
        assert vc.crit[0] == pytest.approx(ours, abs=1e-9)
        assert vc.sigma2[0] == pytest.approx(ref["sigma2"], rel=1e-6)
        if ref["tau2"] < 1e-8 * ref["sigma2"]:
            assert vc.tau2[0] == 0.0 and vc.boundary[0]
            assert reml.boundary_test(st, method)[0]
            n_boundary += 1
        else:
            assert vc.tau2[0] == pytest.approx(ref["tau2"], rel=1e-6), cell
            assert not vc.boundary[0]
        assert vc.mu[0] == pytest.approx(ref["mu"], abs=1e-6 * np.sqrt(ref["sigma2"]))
    assert n_boundary >= 4  # the set exercises the boundary


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_criterion_is_the_profiled_dense_likelihood(small_unbalanced, method):
    """criterion(gamma) = min over sigma^2 of the dense -2 log L at tau^2 = gamma sigma^2 (lme4's
    REMLcrit / deviance): checked at gamma in {0, 0.1, 1, 10} with sigma^2 = qf / (N - 1) (REML) or
    qf / N (ML), to 1e-10. Its derivative matches central differences to 1e-6 relative."""
    for cell, y, group, st in small_unbalanced[:8]:
        for gamma in (0.0, 0.1, 1.0, 10.0):
            g = np.array([gamma])
            _, _, _, _, mu, _, qf = reml._parts(st, g)
            s2 = qf[0] / (st.N[0] - 1 if method == "REML" else st.N[0])
            dense = reml_dense.crit_at(y, group, mu[0], gamma * s2, s2, method)
            assert reml.criterion(st, g, method)[0] == pytest.approx(dense, abs=1e-10)
        for gamma in (0.05, 0.7, 4.0):
            h = 1e-5 * gamma
            up = reml.criterion(st, np.array([gamma + h]), method)
            down = reml.criterion(st, np.array([gamma - h]), method)
            fd = (up - down) / (2 * h)
            d = reml.criterion_derivative(st, np.array([gamma]), method)
            assert d[0] == pytest.approx(fd[0], rel=1e-6, abs=1e-7)


# ---------------------------------------------------------------------------------------------
# 3. the global minimum when the criterion has two local minima
# ---------------------------------------------------------------------------------------------

# Sufficient statistics of an unbalanced dataset whose REML criterion has a local minimum at
# gamma = 0 (f'(0) > 0, so boundary_test is True) and a lower one at gamma ~ 1.05, behind a
# barrier of 0.5: a search that starts at the boundary, or a coarse grid, stops at tau^2 = 0.
BIMODAL_N = np.array([100, 3, 5, 100, 1, 1, 1, 1.0])
BIMODAL_YBAR = np.array([0.13, 1.52, -0.5, 0.07, -0.29, 0.94, 2.4, -2.15])
BIMODAL_SSW = 170.6


def _bimodal():
    return SuffStats(BIMODAL_N[None], BIMODAL_YBAR[None], np.array([BIMODAL_SSW]))


def test_bimodal_criterion_global_minimum():
    st = _bimodal()
    grid = np.concatenate([[0.0], np.logspace(-6, 4, 4001)])
    f = reml.criterion(st, grid[None], "REML")[0]
    # the structure the test relies on: a local minimum at 0 and an interior one 2.15 lower
    assert reml.criterion_derivative(st, np.zeros(1))[0] > 0 and reml.boundary_test(st)[0]
    vc = reml.fit_varcomp(st)
    assert vc.gamma[0] == pytest.approx(1.0464, rel=1e-3)
    assert f[0] - vc.crit[0] == pytest.approx(2.1515, abs=1e-3)
    assert vc.crit[0] <= f.min() + 1e-12
    assert not vc.boundary[0] and vc.tau2[0] > 0


def test_global_minimum_on_many_unbalanced_datasets():
    """1500 unbalanced datasets with group sizes from {1, 2, 3, 5, 20, 100}: the fit is never
    above the minimum of a 600-point grid of the criterion (gamma = 0 and 1e-8..1e8); a
    boundary fit always passes boundary_test (necessary), and where boundary_test holds but the
    fit is interior (two local minima) the interior criterion is the lower one."""
    rng = np.random.default_rng(7)
    R, J = 1500, 8
    n = rng.choice([1, 2, 3, 5, 20, 100], size=(R, J)).astype(float)
    tau = rng.choice([0.0, 0.2, 0.5, 1.0], size=R)
    ybar = rng.normal(size=(R, J)) * tau[:, None] + rng.normal(size=(R, J)) / np.sqrt(n)
    ssw = rng.chisquare(n.sum(axis=1) - J)
    st = SuffStats(n, ybar, ssw)
    grid = np.concatenate([[0.0], np.logspace(-8, 8, 599)])
    n_bimodal = 0
    for method in ("REML", "ML"):
        vc = reml.fit_varcomp(st, method)
        f = reml.criterion(st, np.broadcast_to(grid, (R, grid.size)), method)
        assert np.all(vc.crit <= f.min(axis=1) + 1e-9 * np.abs(f.min(axis=1)))
        bt = reml.boundary_test(st, method)
        assert not np.any(vc.boundary & ~bt)
        both = bt & ~vc.boundary
        assert np.all(vc.crit[both] < f[both, 0])
        assert np.all(vc.tau2[vc.boundary] == 0.0)
        n_bimodal += both.sum()
    assert n_bimodal >= 5  # the set contains datasets with a local minimum at 0 that is not global


# ---------------------------------------------------------------------------------------------
# 4. statsmodels MixedLM
# ---------------------------------------------------------------------------------------------


def _statsmodels_fit(y, group):
    import statsmodels.formula.api as smf

    df = pd.DataFrame({"y": y, "g": group})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = smf.mixedlm("y ~ 1", df, groups=df["g"]).fit(reml=True)
    mu = float(r.fe_params.iloc[0])
    re = r.random_effects
    blup = mu + np.array([float(re[k].iloc[0]) for k in sorted(re)])
    tau2, sigma2 = float(r.cov_re.iloc[0, 0]), float(r.scale)
    return {"mu": mu, "tau2": tau2, "sigma2": sigma2, "blup": blup, "crit": -2 * r.llf}


def _blup(st, vc):
    from shrinkstudy.methods.estimators import blup

    return blup(st, vc)


def test_statsmodels_agrees_away_from_the_boundary(simulate):
    """tau^2 / sigma^2 >= 1 and J >= 8: MixedLM 0.15 (REML) agrees with the exact optimum to
    tau^2 5e-3 relative, sigma^2 1e-4 relative, BLUPs 3e-3 sigma; its -2 llf equals our criterion
    at its own parameters (same constants) and is never below our optimum by more than 1e-9.
    Measured on these 12 datasets: tau^2 <= 5.3e-4, sigma^2 <= 1.7e-5, BLUPs <= 1.7e-4 sigma."""
    cells = [
        Cell(sizes=(4,) * 8, sigma=1.0, tau=1.0),
        Cell(sizes=(3, 5, 8, 2, 6, 4, 7, 3, 9, 5), sigma=1.0, tau=1.5),
        Cell(sizes=(100,) * 6 + (2,) * 6, sigma=5.0, tau=5.0),
    ]
    for k, cell in enumerate(cells):
        y, _, st = simulate(cell, 4, 200 + k)
        vc = reml.fit_varcomp(st)
        bl = _blup(st, vc)
        group = np.repeat(np.arange(cell.J), cell.sizes)
        for i in range(4):
            sm = _statsmodels_fit(y[i], group)
            assert sm["tau2"] == pytest.approx(vc.tau2[i], rel=5e-3)
            assert sm["sigma2"] == pytest.approx(vc.sigma2[i], rel=1e-4)
            np.testing.assert_allclose(sm["blup"], bl[i], rtol=0, atol=3e-3 * cell.sigma)
            assert vc.crit[i] <= sm["crit"] + 1e-9
            ours_at_theirs = reml_dense.crit_at(y[i], group, sm["mu"], sm["tau2"], sm["sigma2"])
            assert sm["crit"] == pytest.approx(ours_at_theirs, abs=1e-8)


def test_statsmodels_is_off_near_the_boundary(near_boundary_cell, simulate):
    """Where the exact REML optimum is tau^2 = 0, MixedLM 0.15 returns a small positive tau^2
    (never exactly 0), and on some interior datasets it stops well short of the optimum. Our
    criterion at our optimum is never above its criterion at its parameters (the dense -2 log L
    of the raw data). On these 30 datasets: 8 boundary fits, where MixedLM gives tau^2 from 4e-10
    to 1.7e-5; the largest BLUP difference is 0.23 sigma and the largest criterion gap 0.12."""
    cell = near_boundary_cell
    y, _, st = simulate(cell, 30, 11)
    vc = reml.fit_varcomp(st)
    bl = _blup(st, vc)
    group = np.repeat(np.arange(cell.J), cell.sizes)
    gaps, dev, sm_tau2_on_boundary = [], [], []
    for i in range(30):
        sm = _statsmodels_fit(y[i], group)
        theirs = reml_dense.crit_at(y[i], group, sm["mu"], sm["tau2"], sm["sigma2"])
        gaps.append(theirs - vc.crit[i])
        dev.append(np.abs(sm["blup"] - bl[i]).max() / cell.sigma)
        if vc.boundary[i]:
            sm_tau2_on_boundary.append(sm["tau2"])
    gaps, dev = np.array(gaps), np.array(dev)
    assert np.all(gaps >= -1e-9)
    assert len(sm_tau2_on_boundary) == vc.boundary.sum() >= 5
    assert all(t > 0.0 for t in sm_tau2_on_boundary)  # never exactly 0
    assert dev.max() > 0.05  # and somewhere materially off: BLUPs differ by > 5% of sigma
    assert gaps.max() > 1e-2


# ---------------------------------------------------------------------------------------------
# 5. degenerate inputs: status codes and defined answers
# ---------------------------------------------------------------------------------------------


def _fit_quietly(st, method="REML"):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning escapes from degenerate data
        return reml.fit_varcomp(st, method)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_degenerate_status_codes(method):
    sizes = (3, 3, 3)
    ys = {
        "zero_within": np.repeat([1.0, 2.0, 4.0], 3),
        "constant": np.full(9, 3.0),
    }
    st = suffstats_from_array(np.stack(list(ys.values())), sizes)
    vc = _fit_quietly(st, method)
    # SSW = 0 with N > J: sigma^2 = 0, gamma = inf, tau^2 = sample variance of the means
    assert vc.status[0] == reml.ZERO_WITHIN
    assert vc.sigma2[0] == 0.0 and vc.gamma[0] == np.inf and not vc.boundary[0]
    assert vc.tau2[0] == pytest.approx(np.var([1.0, 2.0, 4.0], ddof=1), rel=1e-14)
    assert vc.mu[0] == pytest.approx(7.0 / 3.0, rel=1e-14)
    # every observation equal: tau^2 = sigma^2 = 0, a boundary fit at the common value
    assert vc.status[1] == reml.CONSTANT
    assert vc.tau2[1] == 0.0 and vc.sigma2[1] == 0.0 and vc.boundary[1] and vc.mu[1] == 3.0
    assert vc.ok.all()
    # every n_j = 1, and a single group: not identified, NaN, counted, never raised
    rng = np.random.default_rng(3)
    for y, sz in ((rng.normal(size=(2, 5)), (1,) * 5), (rng.normal(size=(2, 6)), (6,))):
        vc = _fit_quietly(suffstats_from_array(y, sz), method)
        assert np.all(vc.status == reml.NOT_IDENTIFIED) and not vc.ok.any()
        assert np.isnan(vc.tau2).all() and np.isnan(vc.sigma2).all() and not vc.boundary.any()
        np.testing.assert_allclose(vc.mu, y.mean(axis=1), rtol=1e-14)


def test_degenerate_but_identified_designs():
    """J = 2; groups of size 1 beside larger ones; a group of 500 beside four of 1: ordinary
    fits (status OK) that match the dense reference."""
    rng = np.random.default_rng(4)
    for sizes in ((3, 4), (1, 1, 5), (1, 6, 1, 2), (500, 1, 1, 1, 1)):
        cell = Cell(sizes=sizes, sigma=1.0, tau=1.0)
        group = np.repeat(np.arange(cell.J), sizes)
        for rep in range(3):
            y = rng.normal(size=cell.J)[group] + rng.normal(size=cell.N)
            st = suffstats_from_array(y[None], sizes)
            vc = _fit_quietly(st)
            assert vc.status[0] == reml.OK
            if len(y) <= 40:  # dense reference only for small N
                ref = reml_dense.fit(y, group)
                assert vc.crit[0] <= ref["crit"] + 1e-8
                assert vc.tau2[0] == pytest.approx(ref["tau2"], rel=1e-6, abs=1e-10)
            else:
                grid = np.concatenate([[0.0], np.logspace(-8, 8, 2000)])
                assert vc.crit[0] <= reml.criterion(st, grid[None])[0].min() + 1e-9


def test_translation_and_scale():
    """A mean of 1e8: the same variance components to 1e-7 relative (the data themselves carry
    ~1e-8 absolute rounding), mu shifted by 1e8 to 1e-7 absolute. sigma = 1e-8 (data scaled by
    1e-8): tau^2 and sigma^2 scale by 1e-16 to 1e-12 relative. Both through suffstats_from_long."""
    cell = Cell(sizes=(4, 2, 6, 3, 5), sigma=1.0, tau=1.0)
    y, _, _ = _simulate_one(cell, 8)
    group = np.repeat(np.arange(cell.J), cell.sizes)

    def fit(values):
        st, _, _ = suffstats_from_long(np.zeros(cell.N, int), group, values)
        return _fit_quietly(st)

    base, shifted, scaled = fit(y), fit(y + 1e8), fit(y * 1e-8)
    assert shifted.tau2[0] == pytest.approx(base.tau2[0], rel=1e-7)
    assert shifted.sigma2[0] == pytest.approx(base.sigma2[0], rel=1e-7)
    assert shifted.mu[0] - 1e8 == pytest.approx(base.mu[0], abs=1e-7)
    assert scaled.tau2[0] * 1e16 == pytest.approx(base.tau2[0], rel=1e-12)
    assert scaled.sigma2[0] * 1e16 == pytest.approx(base.sigma2[0], rel=1e-12)
    assert scaled.gamma[0] == pytest.approx(base.gamma[0], rel=1e-10)


def _simulate_one(cell, seed):
    from shrinkstudy.design.simulate import simulate_reps

    y, means = simulate_reps(cell, [0], base_seed=seed)
    return y[0], means[0], None


def test_tiny_sigma_and_tau_zero():
    """sigma = 1e-8 beside tau = 1: gamma ~ 1e16 is found (interior, sigma^2 to 10% of 1e-16,
    the sampling error with 15 within df); tau = 0: a boundary fit is exactly 0.0."""
    cell = Cell(sizes=(4, 2, 6, 3, 5), sigma=1e-8, tau=1.0)
    y, _, _ = _simulate_one(cell, 9)
    st = suffstats_from_array(y[None], cell.sizes)
    vc = _fit_quietly(st)
    assert vc.status[0] == reml.OK and not vc.boundary[0]
    assert 0.3e-16 < vc.sigma2[0] < 3e-16
    grid = np.concatenate([[0.0], np.logspace(10, 22, 3000)])
    assert vc.crit[0] <= reml.criterion(st, grid[None])[0].min() + 1e-9 * abs(vc.crit[0])
    cell0 = Cell(sizes=(5,) * 5, sigma=1.0, tau=0.0)
    from shrinkstudy.design.simulate import simulate_reps

    y0, _ = simulate_reps(cell0, range(200), base_seed=10)
    vc0 = _fit_quietly(suffstats_from_array(y0, cell0.sizes))
    msb, msw, _, _ = _anova(y0, 5)
    assert np.array_equal(vc0.tau2 == 0.0, msb <= msw)


def test_fit_varcomp_rejects_unknown_method():
    with pytest.raises(ValueError, match="REML"):
        reml.fit_varcomp(_bimodal(), "MLE")
