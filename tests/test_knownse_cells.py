"""Known-standard-error cells of the study (a grid block's ``ses``): their config, names, seeding,
simulation, the known-SE forms they are fitted with (each against an independent reference) and
their Monte Carlo results against theory. The end-to-end run is in tests/test_study_shapes.py."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from shrinkstudy.methods import knownse
from shrinkstudy.config import fit_settings, load_study, study_config
from shrinkstudy.design.cells import Cell, ConfigError, cells_from_config, rep_generator, se_label
from shrinkstudy.methods.estimators import Truth
from shrinkstudy.evaluate.measures import mcse_mean, mcse_mse, oracle_bayes_risk, theory_risks
from shrinkstudy.study.fit import fit_chunk
from shrinkstudy.design.simulate import SuffStats, chunk_columns

ROOT = Path(__file__).resolve().parents[1]
SCHOOLS = [15, 10, 16, 11, 9, 11, 10, 18]
BASEBALL = [0.0659] * 18


def _study(grid, estimators=None, **extra):
    config = {"grid": grid, "replications": 20, "chunk_size": 20, **extra}
    if estimators is not None:
        config["estimators"] = estimators
    return load_study(config)


# --- config and names ---------------------------------------------------------------------------


def test_default_study_cells_unchanged():
    """config/config.yaml's 116 cells: names, specs and seeding keys as before known-SE cells
    existed (the digest was taken from the code without them)."""
    cells = load_study(study_config()).cells
    text = "\n".join(f"{c.name} {json.dumps(c.spec(), sort_keys=True)} {c.key}" for c in cells)
    assert len(cells) == 116
    assert hashlib.sha256(text.encode()).hexdigest() == "aaf2c3a97290a00f99afa407082a47d5f1c0b6fb7fee20415db2de9c653e644f"
    assert not any(c.known_se for c in cells)


def test_names_of_known_se_cells():
    cells = cells_from_config(
        {"b": {"ses": [SCHOOLS, BASEBALL, [1e-5, 1e-5]], "tau": [0, 0.03], "mu": [-1.5], "effects": ["normal", "t"]}}
    )
    token = hashlib.sha256(b"15,10,16,11,9,11,10,18").hexdigest()[:8]
    names = [c.name for c in cells]
    assert f"J8_se.{token}_tau0.03_mum1.5_eff-t3" in names
    assert "J18_se0.0659x18_tau0.03_mum1.5" in names
    assert "J2_se1em05x2_tau0_mum1.5" in names
    assert se_label([2, 2.0, 2]) == "se2x3"
    # 1 and 1.0 are the same design, and the order of the SEs is part of it
    assert Cell((), 0.0, 1.0, ses=(1, 2)).name == Cell((), 5.0, 1.0, ses=(1.0, 2.0)).name
    assert Cell((), 0.0, 1.0, ses=(1, 2)).name != Cell((), 0.0, 1.0, ses=(2, 1)).name
    assert len(set(names)) == len(names) == 3 * 2 * 2


def test_workflow_wildcard_matches_every_cell_name():
    text = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    pattern = re.search(r'cell=r"([^"]+)"', text).group(1)
    default = [c.name for c in load_study(study_config()).cells]
    known = [
        c.name
        for c in cells_from_config(
            {"b": {"ses": [SCHOOLS, BASEBALL], "tau": [0, 10], "mu": [0, -1.5], "effects": ["normal", "sparse"],
                   "errors": ["normal", "t"]}}
        )
    ]
    for name in default + known:
        assert re.fullmatch(pattern, name), name
    for bad in ("J8_se_tau1_mu0", "J8_se.12345_tau1_mu0", "J8_n5_tau1_mu0"):
        assert not re.fullmatch(pattern, bad)


def test_cell_spec_round_trip_and_sampling_variances():
    cell = cells_from_config({"b": {"ses": [SCHOOLS], "tau": [10], "mu": [2], "effects": ["bimodal"]}})[0]
    assert cell.spec() == {"ses": [float(s) for s in SCHOOLS], "tau": 10.0, "mu": 2.0, "effects": "bimodal",
                           "effects_param": 0.9}
    again = Cell.from_spec(cell.spec(), block="b")
    assert again == cell and hash(again) == hash(cell) and again.key == cell.key
    import pickle

    for c in (cell, load_study(study_config()).cells[-1]):  # a known-SE cell, and a long-form one
        back = pickle.loads(pickle.dumps(c))
        assert back == c and hash(back) == hash(c) and back.block == c.block
    np.testing.assert_array_equal(cell.sampling_variances(), np.square(SCHOOLS, dtype=float))
    assert (cell.J, cell.N, cell.balanced, cell.n, cell.size_classes()) == (8, 8, False, None, {})
    assert np.isnan(cell.params()["sigma"])
    raw, oracle = theory_risks(cell)
    v = np.square(SCHOOLS, dtype=float)
    assert raw == pytest.approx(v.mean(), rel=1e-15)
    assert oracle == pytest.approx((100 / (100 + v) * v).mean(), rel=1e-15)


@pytest.mark.parametrize(
    "block, message",
    [
        ({"ses": [SCHOOLS], "sizes": [5], "sigma": [1], "tau": [1]}, "grid.b.sizes: not allowed with ses"),
        ({"ses": [SCHOOLS], "sigma": [1], "tau": [1]}, "grid.b.sigma: not allowed with ses"),
        ({"ses": [SCHOOLS], "J": [8], "tau": [1]}, "grid.b.J: not allowed with ses"),
        ({"ses": [SCHOOLS], "sigma_ratio": [2], "tau": [1]}, "grid.b.sigma_ratio: not allowed with ses"),
        ({"ses": [[15, -10, 16]], "tau": [1]}, "grid.b.ses.0.1: -10 is not valid"),
        ({"ses": [[15, 0]], "tau": [1]}, "grid.b.ses.0.1: 0 is not valid"),
        ({"ses": [], "tau": [1]}, "grid.b.ses: [] is not valid"),
        ({"ses": [[]], "tau": [1]}, "grid.b.ses.0: [] is not valid"),
        ({"ses": [[3]], "tau": [1]}, "grid.b.ses.0: [3] is not valid"),
        ({"ses": [SCHOOLS]}, "grid.b: 'tau' is a required property"),
        ({"ses": [SCHOOLS, SCHOOLS], "tau": [1]}, "grid.b: cell J8_se."),
        ({"tau": [1]}, "grid.b.sizes: missing"),
    ],
)
def test_config_errors_name_the_key_in_one_line(block, message):
    with pytest.raises(ConfigError) as exc:
        _study({"b": block})
    text = str(exc.value)
    assert "\n" not in text
    assert text.startswith(message), text


def test_library_refuses_what_the_schema_lets_through():
    """cells_from_config alone (no schema): a flat list, a negative or non-numeric SE."""
    for ses, message in (
        ([15, 10], "grid.b.ses: [15, 10] must be a list of designs"),
        ([[15, -1]], "grid.b.ses.0: standard error -1 must be a positive finite number"),
        ([[15, "a"]], "grid.b.ses.0: standard error 'a' is not a number"),
        ([[15]], "grid.b.ses.0: a study cell needs at least 2 groups"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            cells_from_config({"b": {"ses": ses, "tau": [1]}})
    # a job's estimates are capped as a long-form job's observations are
    with pytest.raises(ConfigError, match=re.escape("grid.b.ses.1: 100000 groups times chunk_size 1000 is 100,000,000")):
        load_study({"grid": {"b": {"ses": [SCHOOLS, [1.0] * 100_000], "tau": [1]}}, "replications": 1000,
                    "chunk_size": 1000})
    # the default SD ratio (which Snakemake's validator writes into every block) is accepted
    assert len(cells_from_config({"b": {"ses": [SCHOOLS], "tau": [1], "sigma_ratio": [1]}})) == 1


# --- simulation ------------------------------------------------------------------------------


def _cell(ses=SCHOOLS, tau=10.0, mu=0.0, **world) -> Cell:
    return cells_from_config({"b": {"ses": [ses], "tau": [tau], "mu": [mu], **{k: [v] for k, v in world.items()}}})[0]


def test_dataset_is_one_row_per_group_and_replication_drawn_from_its_own_stream():
    cell = _cell(mu=3.0)
    data, truth = chunk_columns(cell, np.arange(5, 9), 42)
    np.testing.assert_array_equal(data["rep"], np.repeat(np.arange(5, 9), 8))
    np.testing.assert_array_equal(data["group"], np.tile(np.arange(8), 4))
    np.testing.assert_array_equal(truth["n"], np.ones(32))
    # y_j = mu + theta_j + s_j e_j: theta_j ~ N(0, tau^2) then e_j ~ N(0, 1), from the replication's stream
    for i, rep in enumerate(range(5, 9)):
        rng = rep_generator(42, cell, rep)
        theta = rng.normal(0.0, 10.0, 8)
        e = rng.normal(0.0, np.asarray(SCHOOLS, float))
        np.testing.assert_array_equal(truth["mean"][8 * i : 8 * i + 8], 3.0 + theta)
        np.testing.assert_array_equal(data["y"][8 * i : 8 * i + 8], 3.0 + theta + e)


def test_chunking_never_changes_a_dataset():
    cell = _cell(effects="t", errors="t")
    whole, whole_truth = chunk_columns(cell, np.arange(40), 7)
    for a, b in ((0, 20), (20, 40), (13, 14)):
        part, part_truth = chunk_columns(cell, np.arange(a, b), 7)
        np.testing.assert_array_equal(part["y"], whole["y"][8 * a : 8 * b])
        np.testing.assert_array_equal(part_truth["mean"], whole_truth["mean"][8 * a : 8 * b])


def test_t_errors_are_standardised_to_the_standard_error():
    """y_j - m_j = s_j e_j with e_j a t(5) scaled to SD 1: (y_j - m_j) / s_j has variance 1 and
    a t(5)'s kurtosis; 20,000 replications x 8 groups."""
    cell = _cell(tau=1.0, errors="t")
    data, truth = chunk_columns(cell, np.arange(20_000), 3)
    z = (data["y"] - truth["mean"]) / np.tile(np.asarray(SCHOOLS, float), 20_000)
    m2 = np.mean(z**2)
    se_m2 = np.std(z**2) / np.sqrt(z.size)
    assert abs(m2 - 1.0) < 4 * se_m2
    # excess kurtosis of t(5) is 6; its sampling error is large (heavy tails): a wide but real check
    assert 3.0 < stats.kurtosis(z) < 12.0


# --- the known-SE forms against independent references ---------------------------------------


def _data(R=30, J=8, seed=1):
    rng = np.random.default_rng(seed)
    se = rng.uniform(0.5, 2.0, size=J)
    y = rng.normal(0.0, 1.3, size=(R, J)) + rng.normal(0.0, se, size=(R, J))
    return y, np.broadcast_to(se, (R, J))


def _long_stats(y, se, sigma=1.7):
    """Long-form statistics whose pooled sigma^2 is sigma^2 and whose n_j give sigma^2 / n_j = s_j^2."""
    R, J = y.shape
    n = (sigma / se) ** 2
    N = n.sum(axis=1)
    return SuffStats(n, y, sigma**2 * (N - J))


@pytest.mark.parametrize("name", ["npmle", "sure"])
def test_eb_forms_equal_the_long_form_at_the_same_sampling_variances(name):
    from shrinkstudy.methods import estimators

    y, se = _data()
    fit = knownse.fit_known_se(y, se, [name])
    long = getattr(estimators, name)(_long_stats(y, se))
    long = long.point if hasattr(long, "point") else long
    # the same s_j^2 up to rounding (sigma^2 / n_j against s_j * s_j); SURE's profile is flat near
    # its minimum, so its lambda, and the estimates, move by up to ~1e-8 with the last bits of s_j^2
    np.testing.assert_allclose(fit.estimates[name], long, rtol=1e-8 if name == "npmle" else 1e-6, atol=1e-10)
    assert not fit.failed[name].any()
    if name == "npmle":
        assert fit.extra["npmle_converged"].all()


def test_sure_criterion_is_the_long_forms():
    """The minimum of SURE (well conditioned, unlike its argmin) is the long form's to 1e-12."""
    from shrinkstudy.methods.ebayes import sampling_variances, sure_fit

    y, se = _data()
    stats = _long_stats(y, se)
    long = sure_fit(y, sampling_variances(stats, stats.ssw / (stats.N - 8)))
    known = sure_fit(y, se**2)
    np.testing.assert_allclose(known.sure, long.sure, rtol=1e-12)


def test_sure_minimises_its_criterion():
    """The SURE estimate's (lambda, mu) minimise XKB's criterion: no point of a fine grid of
    lambda (mu at its profile optimum) is lower."""
    from shrinkstudy.methods.ebayes import sure_criterion, sure_fit

    y, se = _data(R=5)
    s2 = se**2
    fit = sure_fit(y, s2)
    lam = np.exp(np.linspace(np.log(1e-4), np.log(1e3), 4001))
    for r in range(5):
        A = s2[r]
        b = A[None, :] / (A[None, :] + lam[:, None])
        mu = (b**2 * y[r]).sum(axis=1) / (b**2).sum(axis=1)
        crit = sure_criterion(np.broadcast_to(y[r], (lam.size, 8)), np.broadcast_to(A, (lam.size, 8)), lam, mu)
        assert fit.sure[r] <= crit.min() + 1e-9 * abs(crit.min())


def test_constrained_bayes_by_hand():
    y, se = _data()
    fit = knownse.fit_known_se(y, se, ["blup", "constrained_bayes"])
    tau2 = fit.varcomp.tau2[:, None]
    v = se**2
    B = tau2 / (tau2 + v)
    b = fit.varcomp.mu[:, None] + B * (y - fit.varcomp.mu[:, None])
    V = B * v
    bbar = b.mean(axis=1, keepdims=True)
    ss = ((b - bbar) ** 2).sum(axis=1, keepdims=True)
    a = np.where(ss > 0, np.sqrt(1 + (1 - 1 / 8) * V.sum(axis=1, keepdims=True) / np.where(ss > 0, ss, 1)), 1.0)
    np.testing.assert_allclose(fit.estimates["constrained_bayes"], bbar + a * (b - bbar), rtol=1e-12, atol=1e-12)
    # its estimates' spread is the posterior expectation of the true means' (Ghosh 1992)
    cb = fit.estimates["constrained_bayes"]
    np.testing.assert_allclose(cb.var(axis=1, ddof=1), b.var(axis=1, ddof=1) + V.mean(axis=1), rtol=1e-10)


def test_blup_ml_against_a_direct_ml_fit():
    y, se = _data(R=6)
    fit = knownse.fit_known_se(y, se, ["blup_ml"])
    for r in range(6):
        v = se[r] ** 2

        def nll(t2, r=r, v=v):
            w = 1 / (v + t2)
            mu = (w * y[r]).sum() / w.sum()
            return np.log(v + t2).sum() + (w * (y[r] - mu) ** 2).sum()

        best = optimize.minimize_scalar(nll, bounds=(0, 50), method="bounded", options={"xatol": 1e-12})
        t2 = best.x if nll(best.x) < nll(0.0) else 0.0
        w = 1 / (v + t2)
        mu = (w * y[r]).sum() / w.sum()
        np.testing.assert_allclose(fit.estimates["blup_ml"][r], mu + t2 / (t2 + v) * (y[r] - mu), atol=1e-5)


def test_oracles_normal_world_closed_form():
    y, se = _data()
    truth = Truth(mu=0.4, tau=1.3, sigma=np.nan)
    fit = knownse.fit_known_se(y, se, ["oracle_linear", "oracle"], truth=truth, level=0.9)
    B = 1.69 / (1.69 + se**2)
    est = 0.4 + B * (y - 0.4)
    half = special.ndtri(0.95) * np.sqrt(B) * se
    for name in ("oracle_linear", "oracle"):
        np.testing.assert_allclose(fit.estimates[name], est, rtol=1e-14)
        np.testing.assert_allclose(fit.intervals[name][0], est - half, rtol=1e-13)
        np.testing.assert_allclose(fit.intervals[name][1], est + half, rtol=1e-13)
    with pytest.raises(ValueError, match="oracle_linear, oracle need the true"):
        knownse.fit_known_se(y, se, ["oracle_linear", "oracle"])


def test_oracle_bimodal_effects_by_hand():
    """Bimodal effects (a mixture of two normals): the posterior mean summed by hand."""
    cell = _cell(ses=[0.7, 1.0, 1.6], tau=2.0, mu=1.0, effects="bimodal")
    prior = cell.effects_prior()
    y = np.array([[-2.0, 1.0, 4.5], [0.3, 7.0, -1.0]])
    se = np.broadcast_to(np.array([0.7, 1.0, 1.6]), y.shape)
    fit = knownse.fit_known_se(y, se, ["oracle"], truth=Truth.from_cell(cell))
    x = y - 1.0
    w, m, v = (np.asarray(a, float)[:, None, None] for a in (prior.weights, prior.means, prior.variances))
    tot = v + se**2
    like = w * stats.norm.pdf(x, m, np.sqrt(tot))
    post = m + v / tot * (x - m)
    np.testing.assert_allclose(fit.estimates["oracle"], 1.0 + (like * post).sum(0) / like.sum(0), rtol=1e-10)
    assert np.isnan(fit.intervals["oracle"][0]).all()


def test_oracle_t_errors_by_quadrature():
    """t(5) errors, normal effects: E[theta | y_j] with the t likelihood of scale s_j sqrt(3/5), by
    scipy's adaptive quadrature."""
    cell = _cell(ses=[0.8, 2.0], tau=1.5, mu=-1.0, errors="t")
    y = np.array([[-4.0, 3.0], [0.5, -1.2]])
    se = np.broadcast_to(np.array([0.8, 2.0]), y.shape)
    fit = knownse.fit_known_se(y, se, ["oracle"], truth=Truth.from_cell(cell))
    for r in range(2):
        for j in range(2):
            c = se[r, j] * np.sqrt(3 / 5)

            def f(t, k, r=r, j=j, c=c):
                return t**k * stats.norm.pdf(t, 0, 1.5) * stats.t.pdf((y[r, j] + 1.0 - t) / c, 5)

            num = integrate.quad(f, -40, 40, args=(1,), epsabs=0, epsrel=1e-12, limit=400)[0]
            den = integrate.quad(f, -40, 40, args=(0,), epsabs=0, epsrel=1e-12, limit=400)[0]
            assert fit.estimates["oracle"][r, j] == pytest.approx(-1.0 + num / den, rel=1e-6, abs=1e-7)


def test_meta_prior_of_the_study_prior():
    from shrinkstudy.methods.hierbayes import HierPrior

    p = knownse.meta_prior(HierPrior("half_cauchy", 2.0), [3.0, 4.0])
    assert (p.family, p.scale) == ("half_cauchy", pytest.approx(2.0 * np.sqrt(12.5), rel=1e-15))
    assert knownse.meta_prior(HierPrior("uniform_shrinkage"), [3.0, 4.0]).family == "uniform_shrinkage"


# --- Monte Carlo results against theory -------------------------------------------------------


def _losses(cell, R, estimators, seed=5):
    study = _study({"b": {"ses": [[1.0, 2.0]], "tau": [1]}}, estimators=estimators)
    reps = np.arange(R)
    data, truth = chunk_columns(cell, reps, seed)
    out = fit_chunk(cell, reps, data, truth, fit_settings(study.config), ROOT)
    losses = out.losses
    return {e: {k: v[losses["estimator"] == e] for k, v in losses.items()} for e in estimators}, out


@pytest.mark.parametrize("ses, tau", [(SCHOOLS, 10.0), (SCHOOLS, 0.0), (BASEBALL, 0.03)])
def test_raw_and_oracle_mse_match_theory(ses, tau):
    """raw's MSE = mean s_j^2 and the oracle's = mean B_j s_j^2 (its Bayes risk), each within 4
    Monte Carlo SE on 4,000 replications; the oracle's normal-theory interval covers at its
    level within 4 MCSE."""
    cell = _cell(ses=ses, tau=tau, mu=0.5)
    loss, _ = _losses(cell, 4000, ["raw", "oracle"])
    raw_risk, oracle_risk = theory_risks(cell)
    raw = loss["raw"]["sq_err"]
    assert abs(raw.mean() - raw_risk) < 4 * mcse_mse(raw)
    orc = loss["oracle"]["sq_err"]
    if tau == 0:
        assert orc.max() < 1e-24  # the true mean itself
    else:
        assert abs(orc.mean() - oracle_risk) < 4 * mcse_mse(orc)
        cov = loss["oracle"]["covered"]  # per replication, the share of its groups covered
        assert abs(cov.mean() - 0.95) < 4 * mcse_mean(cov)


def test_oracle_mse_with_t_effects_matches_its_quadrature_risk():
    cell = _cell(ses=SCHOOLS, tau=10.0, effects="t")
    loss, out = _losses(cell, 3000, ["raw", "oracle_linear", "oracle"])
    risk = oracle_bayes_risk(cell, group_risks=out.theory["oracle_group_risks"])
    orc = loss["oracle"]["sq_err"]
    assert abs(orc.mean() - risk) < 4 * mcse_mse(orc)
    lin = loss["oracle_linear"]["sq_err"]
    assert abs(lin.mean() - theory_risks(cell)[1]) < 4 * mcse_mse(lin)
    assert risk < theory_risks(cell)[1]  # the Bayes rule beats the best linear one


def test_estimators_without_a_known_se_form_have_no_rows():
    cell = _cell()
    loss, out = _losses(cell, 20, ["raw", "bayesglm", "blup"])
    assert sorted(set(out.losses["estimator"])) == ["blup", "raw"]
    assert set(out.losses["groups"]) == {"all"}
