"""Correctness of the hierarchical-Bayes posterior by quadrature (shrinkstudy.methods.hierbayes).

References: a Gibbs sampler of the same model and prior (tests/reference/gibbs.py) and a
brute-force trapezoid rule on 20,000 points in the prior-probability variable
(tests/reference/hier_grid.py).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from reference import gibbs, hier_grid
from shrinkstudy.design.cells import Cell
from shrinkstudy.methods.hierbayes import HierPrior, hier_bayes
from shrinkstudy.design.simulate import simulate_reps, suffstats_from_array

# (sizes, tau, sigma, seed): J = 6 unbalanced; J = 4 balanced and weakly informative about tau;
# J = 8 with groups of 1 to 10
GIBBS_DATA = [
    ((2, 3, 5, 8, 4, 6), 1.0, 1.0, 1),
    ((3, 3, 3, 3), 0.6, 1.0, 2),
    ((1, 2, 2, 4, 6, 10, 3, 1), 0.8, 1.5, 3),
]
PRIORS = [HierPrior("half_cauchy", 1.0), HierPrior("uniform_shrinkage")]


def _dataset(sizes, tau, sigma, seed):
    cell = Cell(sizes=sizes, sigma=sigma, tau=tau)
    y, _ = simulate_reps(cell, [0], base_seed=seed)
    return suffstats_from_array(y, sizes)


@pytest.fixture(scope="module")
def gibbs_runs():
    """hier_bayes and the Gibbs sampler on 3 datasets x 2 priors (one vectorised run:
    250 chains per problem, 500 burn-in + 2000 draws each, batches of 200 draws)."""
    problems, quad = [], []
    for sizes, tau, sigma, seed in GIBBS_DATA:
        st = _dataset(sizes, tau, sigma, seed)
        for prior in PRIORS:
            hb = hier_bayes(st, prior)
            quad.append((st, prior, hb))
            problems.append(
                {
                    "n": st.n[0],
                    "ybar": st.ybar[0],
                    "ssw": st.ssw[0],
                    "family": prior.family,
                    "scale": prior.scale,
                    "probes": np.stack([hb.lower[0], hb.upper[0]]),
                }
            )
    runs = gibbs.run(problems, chains=250, burn=500, draws=2000, batches=10, rng=np.random.default_rng(2024))
    return list(zip(quad, runs))


def test_posterior_means_agree_with_gibbs(gibbs_runs):
    """Posterior means of every group mean within 4 Monte Carlo standard errors (batch means,
    2500 batches of 200 draws per problem; MCSE 0.001-0.005 sigma). Measured: |z| <= 2.2,
    largest difference 0.005 sigma."""
    for (st, prior, hb), mc in gibbs_runs:
        assert 0.2 < mc["accept"] < 0.7
        z = (hb.mean[0] - mc["mean"]) / mc["mcse"]
        assert np.all(np.abs(z) < 4), (prior, z)
        assert np.all(mc["mcse"] < 0.01)  # the check has teeth: MCSE below 1% of sigma


def test_interval_endpoints_agree_with_gibbs(gibbs_runs):
    """The central 95% interval: the MCMC posterior probability below our lower (upper) endpoint
    is 0.025 (0.975) within 4 MCSE (MCSE about 4e-4, so an endpoint off by more than about
    0.002 / density would fail). Measured: |z| <= 2.8."""
    target = np.array([[0.025], [0.975]])
    for (st, prior, hb), mc in gibbs_runs:
        z = (mc["cdf"] - target) / mc["cdf_mcse"]
        assert np.all(np.abs(z) < 4), (prior, z)
        assert np.all(mc["cdf_mcse"] < 1e-3)


def test_tau2_mean_agrees_with_gibbs(gibbs_runs):
    """E[tau^2 | y] within 4 MCSE, on the datasets with J >= 6 groups (with J = 4 under the
    half-Cauchy prior the posterior of tau^2 has no finite variance, and batch means do not
    estimate the Monte Carlo error). Measured: |z| <= 1.4."""
    checked = 0
    for (st, prior, hb), mc in gibbs_runs:
        if st.J[0] < 6:
            continue
        assert abs(hb.tau2_mean[0] - mc["tau2"]) < 4 * mc["tau2_mcse"], (prior, hb.tau2_mean[0], mc)
        checked += 1
    assert checked == 4


# ---------------------------------------------------------------------------------------------
# quadrature against a brute-force fine grid
# ---------------------------------------------------------------------------------------------

GRID_DATA = [
    ((2, 3, 5, 8, 4, 6), 1.0, 1.0, 1),
    ((3, 3, 3, 3), 0.6, 1.0, 2),
    ((1, 2, 2, 4, 6, 10, 3, 1), 0.8, 1.5, 3),
    ((5, 5), 1.0, 1.0, 4),  # J = 2
    ((100,) * 6 + (2,) * 6, 1.0, 5.0, 5),  # the seed's design
    ((4,) * 5, 0.0, 1.0, 8),  # tau = 0
]


@pytest.mark.parametrize(
    "prior",
    [HierPrior("half_cauchy", 1.0), HierPrior("uniform_shrinkage"), HierPrior("half_cauchy", 0.2)],
    ids=["half_cauchy_1", "uniform_shrinkage", "half_cauchy_0.2"],
)
def test_quadrature_matches_fine_grid(prior):
    """Posterior means to 1e-6 sigma and the CDF at the interval endpoints to 1e-6 against the
    trapezoid rule on 20,000 points; E[tau^2] to 1e-5 relative where it exists and the grid
    itself has converged (J >= 3). Measured: means <= 1.1e-7 sigma, CDF <= 5e-8, tau^2 <= 1.2e-6
    (the J = 4 uniform-shrinkage case, where that is the trapezoid rule's own error)."""
    for sizes, tau, sigma, seed in GRID_DATA:
        st = _dataset(sizes, tau, sigma, seed)
        hb = hier_bayes(st, prior)
        probes = np.stack([hb.lower[0], hb.upper[0]])
        ref = hier_grid.posterior(st.n[0], st.ybar[0], st.ssw[0], prior.family, prior.scale, 20_000, probes)
        np.testing.assert_allclose(hb.mean[0], ref["mean"], rtol=0, atol=1e-6 * sigma)
        np.testing.assert_allclose(ref["cdf"], [[0.025] * st.J[0], [0.975] * st.J[0]], rtol=0, atol=1e-6)
        if len(sizes) >= 3:
            assert hb.tau2_mean[0] == pytest.approx(ref["tau2"], rel=1e-5)
        elif prior.family == "half_cauchy":
            assert np.isnan(hb.tau2_mean[0])  # E[tau^2 | y] is infinite with J = 2


def test_quadrature_on_peaked_posteriors():
    """Large J and n (40 groups of 50): the posterior of gamma is narrow; the zooming
    quadrature still matches a 50,000-point trapezoid rule to 1e-8 (measured 6e-11)."""
    for tau in (1.0, 0.05):
        st = _dataset((50,) * 40, tau, 1.0, 6)
        for prior in PRIORS:
            hb = hier_bayes(st, prior, level=None)
            ref = hier_grid.posterior(st.n[0], st.ybar[0], st.ssw[0], prior.family, prior.scale, 50_000)
            np.testing.assert_allclose(hb.mean[0], ref["mean"], rtol=0, atol=1e-8)
            assert hb.tau2_mean[0] == pytest.approx(ref["tau2"], rel=1e-7)


# ---------------------------------------------------------------------------------------------
# degenerate inputs and configuration
# ---------------------------------------------------------------------------------------------


def test_degenerate_inputs():
    rng = np.random.default_rng(31)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # every n_j = 1 (J = 5): the posterior is proper (proper prior on gamma), finite answers
        y = rng.normal(size=(2, 5))
        hb = hier_bayes(suffstats_from_array(y, (1,) * 5))
        assert not hb.failed.any() and np.isfinite(hb.mean).all() and np.isfinite(hb.lower).all()
        # the estimates lie between the raw values and their mean
        gm = y.mean(axis=1, keepdims=True)
        assert np.all((hb.mean - gm) * (y - gm) >= 0) and np.all(np.abs(hb.mean - gm) <= np.abs(y - gm))
        # N = 2: no posterior mean; fewer than 2 groups: fails
        for y, sizes in ((rng.normal(size=(1, 2)), (1, 1)), (rng.normal(size=(1, 5)), (5,))):
            hb = hier_bayes(suffstats_from_array(y, sizes))
            assert hb.failed.all() and np.isnan(hb.mean).all() and np.isnan(hb.upper).all()
        # no within-group noise: the raw means, zero-width intervals
        hb = hier_bayes(suffstats_from_array(np.repeat([1.0, 2.0, 5.0], 2)[None], (2, 2, 2)))
        np.testing.assert_array_equal(hb.mean[0], [1.0, 2.0, 5.0])
        np.testing.assert_array_equal(hb.lower, hb.upper)
        # all observations equal
        hb = hier_bayes(suffstats_from_array(np.full((1, 6), -2.0), (2, 2, 2)))
        np.testing.assert_array_equal(hb.mean[0], -2.0)
        assert hb.tau2_mean[0] == 0.0
        # J = 2, half-Cauchy: E[tau^2 | y] does not exist -> NaN; the uniform shrinkage prior has it
        st = suffstats_from_array(rng.normal(size=(1, 6)), (3, 3))
        assert np.isnan(hier_bayes(st).tau2_mean[0])
        assert np.isfinite(hier_bayes(st, HierPrior("uniform_shrinkage")).tau2_mean[0])


def test_prior_configuration():
    with pytest.raises(ValueError, match="family"):
        HierPrior("flat")
    with pytest.raises(ValueError, match="scale"):
        HierPrior("half_cauchy", 0.0)
    # a smaller half-Cauchy scale shrinks harder
    st = _dataset((2, 3, 5, 8, 4, 6), 1.0, 1.0, 1)
    wide = hier_bayes(st, HierPrior("half_cauchy", 5.0), level=None).mean[0]
    narrow = hier_bayes(st, HierPrior("half_cauchy", 0.05), level=None).mean[0]
    raw = st.ybar[0]
    assert np.all(np.abs(narrow - narrow.mean()) < np.abs(wide - wide.mean()))
    assert np.all(np.abs(wide - raw) < np.abs(raw - raw.mean()) + 1e-12)
