"""The ``discrete`` effects: a given distribution (atoms and weights), standardised and scaled by tau.

Its draws, its oracle prior (point masses), the oracle's posterior mean and Bayes risk, the
cell's name and spec, the config's checks, and a small study run end to end.
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from shrinkstudy.design import worlds
from shrinkstudy.config import load_study
from shrinkstudy.design.cells import Cell, ConfigError, cells_from_config
from shrinkstudy.methods.ebayes import bayes_risk_normal_errors, posterior_mean_mixture
from shrinkstudy.design.simulate import simulate_reps, suffstats_from_array
from shrinkstudy.design.worlds import EFFECTS, GaussMixture, Pmf

#: a skewed, three-atom distribution (mean 0.25, not standardised as written)
PMF = {"atoms": [-1.0, 0.0, 2.5], "weights": [0.3, 0.5, 0.2]}
#: its standardised form, by hand: mean 0.2, variance 0.3 + 0.2 * 6.25 - 0.2^2 = 1.51
M, S = 0.3 * -1.0 + 0.2 * 2.5, math.sqrt(0.3 * 1.0 + 0.2 * 6.25 - 0.2**2)
Z = np.array([(-1.0 - M) / S, (0.0 - M) / S, (2.5 - M) / S])
P = np.array([0.3, 0.5, 0.2])


def _cell(**kw):
    return Cell(sizes=(5,) * 6, sigma=1.0, tau=kw.pop("tau", 1.0), effects="discrete",
                effects_param=kw.pop("pmf", PMF), **kw)


def test_standardised_form_by_hand():
    z, p = Pmf.of(PMF).standardised()
    np.testing.assert_allclose(z, Z, rtol=1e-14)
    np.testing.assert_array_equal(p, P)
    assert abs(np.dot(p, z)) < 1e-15 and abs(np.dot(p, z * z) - 1.0) < 1e-14
    # the order, zero weights, repeated atoms, a shift and a rescaling are the same world
    same = [
        {"atoms": [2.5, -1.0, 0.0], "weights": [0.2, 0.3, 0.5]},
        {"atoms": [-1.0, 7.0, 0.0, 2.5], "weights": [0.3, 0.0, 0.5, 0.2]},
        {"atoms": [-1.0, 0.0, 0.0, 2.5], "weights": [0.3, 0.25, 0.25, 0.2]},
        {"atoms": [3 * a + 10 for a in PMF["atoms"]], "weights": PMF["weights"]},
        {"atoms": PMF["atoms"], "weights": [0.3003, 0.5005, 0.2002]},  # sum 1.001 (rounded): normalised
    ]
    token = Pmf.of(PMF).token
    assert len(token) == 8 and int(token, 16) >= 0
    for other in same:
        z2, p2 = Pmf.of(other).standardised()
        np.testing.assert_allclose(z2, Z, rtol=1e-12)
        np.testing.assert_allclose(p2, P, rtol=1e-12)
        assert Pmf.of(other).token == token
    # a different world, a different token
    assert Pmf.of({"atoms": [-1.0, 0.0, 2.5], "weights": [0.3, 0.4, 0.3]}).token != token


def test_draws_have_mean_zero_sd_tau_and_the_atoms_frequencies():
    dist = EFFECTS["discrete"]
    n, tau = 400_000, 2.5
    x = dist.draw(np.random.default_rng(20261204), n, tau, Pmf.of(PMF))
    # mean and SD within 4 MCSE (the SD's MCSE from the fourth moment)
    assert abs(x.mean()) <= 4 * x.std() / math.sqrt(n)
    m4 = float(np.dot(P, Z**4)) * tau**4
    var_se = math.sqrt((m4 - tau**4) / n)
    assert abs(x.var() - tau**2) <= 4 * var_se
    # only the atoms, each as often as its weight: counts within 4 binomial MCSE, and chi-square
    values, counts = np.unique(x, return_counts=True)
    np.testing.assert_allclose(values, tau * Z, rtol=1e-14)
    assert np.all(np.abs(counts - n * P) <= 4 * np.sqrt(n * P * (1 - P))), counts
    chi2 = float(np.sum((counts - n * P) ** 2 / (n * P)))
    from scipy import stats

    assert stats.chi2.sf(chi2, df=len(P) - 1) > 1e-4, chi2


def test_draws_by_the_cells_seed_stream_are_reproducible():
    cell = _cell()
    y, m = simulate_reps(cell, np.arange(50), base_seed=5)
    y2, m2 = simulate_reps(Cell.from_spec(cell.spec()), np.arange(50), base_seed=5)
    assert y.tobytes() == y2.tobytes() and m.tobytes() == m2.tobytes()
    # the true means are mu + tau z_k, one uniform per group; chunking changes nothing
    assert set(np.round(np.unique(m), 12)) <= set(np.round(cell.mu + cell.tau * Z, 12))
    ya, ma = simulate_reps(cell, np.arange(20, 50), base_seed=5)
    np.testing.assert_array_equal(ma, m[20:])
    # tau = 0: no effect drawn
    _, m0 = simulate_reps(_cell(tau=0.0), np.arange(3), base_seed=5)
    np.testing.assert_array_equal(m0, 0.0)


def test_raw_mse_and_the_effects_in_a_simulated_study():
    cell = Cell(sizes=(3, 5, 8, 2), sigma=1.5, tau=2.0, mu=1.0, effects="discrete", effects_param=PMF)
    R = 6000
    y, m = simulate_reps(cell, np.arange(R), base_seed=9)
    st = suffstats_from_array(y, cell.sizes)
    loss = np.mean((st.ybar - m) ** 2, axis=1)
    assert abs(loss.mean() - np.mean(cell.sampling_variances())) <= 4 * loss.std(ddof=1) / math.sqrt(R)
    theta = (m - cell.mu).reshape(-1)
    assert abs(theta.mean()) <= 4 * theta.std() / math.sqrt(theta.size)


def test_oracle_prior_posterior_mean_and_bayes_risk():
    tau, s2 = 1.3, 0.7
    prior = _cell(tau=tau).effects_prior()
    assert isinstance(prior, GaussMixture)
    np.testing.assert_allclose(prior.means, tau * Z, rtol=1e-14)
    np.testing.assert_array_equal(prior.weights, P)
    np.testing.assert_array_equal(prior.variances, 0.0)
    # the posterior mean, by the direct formula sum p_k a_k phi((x - a_k)/s) / sum p_k phi((x - a_k)/s)
    x = np.linspace(-6, 6, 121)
    a = tau * Z
    like = P * np.exp(-0.5 * (x[:, None] - a) ** 2 / s2)
    direct = (like * a).sum(axis=1) / like.sum(axis=1)
    np.testing.assert_allclose(posterior_mean_mixture(x, s2, prior), direct, rtol=1e-12, atol=1e-13)
    # the Bayes risk by quadrature against Monte Carlo (within 4 MCSE)
    risk = bayes_risk_normal_errors(prior, s2)
    rng = np.random.default_rng(77)
    n = 400_000
    theta = EFFECTS["discrete"].draw(rng, n, tau, Pmf.of(PMF))
    xs = theta + rng.normal(0.0, math.sqrt(s2), n)
    loss = (posterior_mean_mixture(xs, s2, prior) - theta) ** 2
    assert abs(loss.mean() - risk) <= 4 * loss.std(ddof=1) / math.sqrt(n), (loss.mean(), risk)
    # and against a direct integral over x (fine grid) of sum_k p_k phi_s(x - a_k) (a_k - E[theta|x])^2
    grid = np.linspace(-15, 15, 300_001)
    like = P * np.exp(-0.5 * (grid[:, None] - a) ** 2 / s2) / math.sqrt(2 * math.pi * s2)
    pm = (like * a).sum(axis=1) / like.sum(axis=1)
    direct_risk = float(np.sum(like * (a - pm[:, None]) ** 2) * (grid[1] - grid[0]))
    assert abs(risk - direct_risk) < 1e-8, (risk, direct_risk)
    assert risk < min(s2, tau**2)  # the oracle beats the raw mean and the prior mean


def test_name_spec_and_round_trips():
    cell = _cell()
    token = Pmf.of(PMF).token
    assert cell.name == f"J6_n5_sigma1_tau1_mu0_eff-discrete.{token}"
    assert isinstance(cell.effects_param, Pmf)
    spec = cell.spec()
    assert spec["effects"] == "discrete" and spec["effects_param"] == PMF
    again = Cell.from_spec(json.loads(json.dumps(spec)))
    assert again == cell and again.name == cell.name and again.key == cell.key
    assert Cell.from_spec(yaml.safe_load(yaml.safe_dump(spec))) == cell
    assert not cell.normal_world
    # the summary's columns stay numbers: the name carries the token
    params = cell.params()
    assert params["effects"] == "discrete" and params["effects_param"] is None
    # the same cell from a config's grid, and the workflow's wildcard matches its name
    (from_grid,) = cells_from_config({"b": {"J": [6], "sizes": [5], "sigma": [1], "tau": [1],
                                            "effects": ["discrete"], "effects_pmf": [PMF]}})
    assert from_grid == cell
    import re

    pattern = re.search(r'cell=r"([^"]+)"', Path("workflow/rules/common.smk").read_text()).group(1)
    assert re.fullmatch(pattern, cell.name)
    # label and mechanism
    comp = worlds.COMPONENTS["effects"]
    assert comp.label(*comp.value(cell)) == f"discrete ({token})"
    text = comp.mechanism(*comp.value(cell))
    assert text.startswith("theta_j = tau z_k with probability p_k, a given discrete distribution of 3 atoms")
    assert "-0.9765 (0.3), -0.1628 (0.5), 1.872 (0.2)" in text


def test_a_grid_crosses_each_distribution_and_catches_the_same_world_twice():
    other = {"atoms": [0, 1], "weights": [0.5, 0.5]}
    cells = cells_from_config({"b": {"J": [6], "sizes": [5], "sigma": [1], "tau": [0.5, 1],
                                     "effects": ["normal", "discrete"], "effects_pmf": [PMF, other]}})
    assert len(cells) == 2 * (1 + 2)
    shifted = {"atoms": [a + 1 for a in PMF["atoms"]], "weights": PMF["weights"]}
    with pytest.raises(ConfigError, match="duplicated"):
        cells_from_config({"b": {"J": [6], "sizes": [5], "sigma": [1], "tau": [1],
                                 "effects": ["discrete"], "effects_pmf": [PMF, shifted]}})


@pytest.mark.parametrize(
    "pmf,match",
    [
        (None, r"grid\.b\.effects_pmf: discrete effects need their distribution"),
        ({"atoms": [1.0], "weights": [1.0]}, r"grid\.b\.effects_pmf: .*at least 2 atoms, got 1"),
        ({"atoms": [1, 2, 3], "weights": [0.5, 0.5]}, r"grid\.b\.effects_pmf: 3 atoms but 2 weights"),
        ({"atoms": [1, 2], "weights": [-0.1, 1.1]}, r"grid\.b\.effects_pmf: weights must be non-negative"),
        ({"atoms": [1, 2], "weights": [0.5, 0.4]}, r"grid\.b\.effects_pmf: weights sum to 0\.9, not 1"),
        ({"atoms": [1, 1, 2], "weights": [0.5, 0.5, 0.0]}, r"grid\.b\.effects_pmf: degenerate"),
        ({"atoms": [1, float("nan")], "weights": [0.5, 0.5]}, r"grid\.b\.effects_pmf: atoms must be finite"),
        ({"atoms": [1, 2], "weights": [0.5, 0.5], "p": 1}, r"grid\.b\.effects_pmf: unknown key"),
        ([1, 2, 3], r"grid\.b\.effects_pmf: a discrete distribution is written"),
    ],
)
def test_config_errors_are_one_line_naming_the_key(pmf, match):
    block = {"J": [6], "sizes": [5], "sigma": [1], "tau": [1], "effects": ["discrete"]}
    if pmf is not None:
        block["effects_pmf"] = [pmf]
    with pytest.raises(ConfigError, match=match) as err:
        cells_from_config({"b": block})
    assert "\n" not in str(err.value)


def test_schema_checks_the_distribution_too():
    base = {"J": [6], "sizes": [5], "sigma": [1], "tau": [1], "effects": ["discrete"]}
    study = load_study({"replications": 100, "chunk_size": 100, "estimators": ["raw", "oracle"],
                        "grid": {"b": dict(base, effects_pmf=[PMF])}})
    assert [c.name for c in study.cells] == [_cell().name]
    for bad in ({"atoms": [1, 2]}, {"atoms": [1, 2], "weights": [0.5, "x"]}, {"atoms": [1], "weights": [1]}):
        with pytest.raises(ConfigError, match="effects_pmf"):
            load_study({"grid": {"b": dict(base, effects_pmf=[bad])}})


# ----------------------------------------------------------------------------------------------
# a small study, end to end


@pytest.mark.slow
def test_a_study_with_a_discrete_cell_runs_end_to_end(tmp_path):
    from helpers import run_snakemake
    from test_study_shapes import _copy_project, run_study

    study = {
        "base_seed": 3, "replications": 40, "chunk_size": 20, "results": "results/disc",
        "estimators": ["raw", "blup", "npmle", "oracle"],
        "grid": {"b": {"J": [12], "sizes": [4], "sigma": [1], "tau": [1],
                       "effects": ["normal", "discrete"], "effects_pmf": [PMF]}},
    }
    config, _ = run_study(_copy_project(tmp_path), "disc", study)
    results = tmp_path / "results" / "disc"
    summary = pd.read_csv(results / "tables" / "summary.csv")
    cell = Cell(sizes=(4,) * 12, sigma=1.0, tau=1.0, effects="discrete", effects_param=PMF)
    rows = summary[(summary["cell"] == cell.name) & (summary["groups"] == "all")]
    assert set(rows["estimator"]) == {"raw", "blup", "npmle", "oracle"}
    assert (rows["effects"] == "discrete").all() and rows["effects_param"].isna().all()
    # the oracle's risk is the Bayes risk of the point-mass prior, and its MSE is near it
    risk = bayes_risk_normal_errors(cell.effects_prior(), 1.0 / 4)
    np.testing.assert_allclose(rows["oracle_risk"].dropna().unique(), risk, rtol=1e-9)
    oracle = rows[rows["estimator"] == "oracle"].iloc[0]
    assert abs(oracle["mse"] - risk) <= 4 * oracle["mse_mcse"]
    # the protocol: the world's mechanism and its line of the draws
    protocol = (results / "protocol.md").read_text()
    label = f"- effects `discrete ({Pmf.of(PMF).token})` (1 of the 2 cells): "
    assert label + "theta_j = tau z_k with probability p_k, a given discrete distribution of 3 atoms" in protocol
    assert "z_k (p_k): -0.9765 (0.3), -0.1628 (0.5), 1.872 (0.2)." in protocol
    assert label + "the J effects, theta_j = tau z_k" in protocol
    # a second run has nothing to do
    again = run_snakemake(tmp_path, tmp_path, "-n", "--configfile", str(config))
    assert "Nothing to be done" in again.stdout + again.stderr
