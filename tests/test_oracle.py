"""The oracle is the Bayes rule given what it conditions on, in every world of the default study:
the full-data posterior mean under t errors (against scipy quad), today's numbers under normal
errors (bit for bit), its Monte Carlo MSE against its Bayes risk (quadrature) or, under t
errors, against the mean posterior variance (the identity that holds for the exact posterior
mean only)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import integrate
from scipy import stats as ss

from shrinkstudy.methods import ebayes
from shrinkstudy.design.cells import Cell, cells_from_config
from shrinkstudy.methods.estimators import Truth, fit_estimators, oracle, oracle_bayes
from shrinkstudy.evaluate.measures import oracle_bayes_risk, theory_risks
from shrinkstudy.methods.plugins import Observations
from shrinkstudy.design.simulate import chunk_columns, chunk_observations, chunk_stats
from shrinkstudy.design.worlds import EFFECTS, GaussMixture

ROOT = Path(__file__).resolve().parents[1]
DF = 5.0


def _quad_posterior_mean(y, prior, c):
    """E[theta | y] by scipy quad: prior density times prod f_T((y_i - theta) / c) / c, atoms summed."""

    def lik(t):
        return float(np.prod(ss.t.pdf((y - t) / c, DF) / c))

    if isinstance(prior, GaussMixture):
        atoms = [(w, m) for w, m, v in zip(prior.weights, prior.means, prior.variances) if v == 0]
        comps = [(w, m, math.sqrt(v)) for w, m, v in zip(prior.weights, prior.means, prior.variances) if v > 0]

        def g(t):
            return sum(w * ss.norm.pdf(t, m, sd) for w, m, sd in comps)

        lo, hi = -np.inf, np.inf
    else:
        atoms = []

        def g(t):
            return math.exp(float(prior.logpdf(np.array(t))))

        lo, hi = prior.support
    pts = [p for p in sorted({*map(float, y), 0.0}) if lo < p < hi]
    a, b = max(lo, min(pts) - 60.0), min(hi, max(pts) + 60.0)

    def integral(f):
        v = integrate.quad(f, a, b, points=pts, limit=500, epsabs=0, epsrel=1e-13)[0]
        if not np.isfinite(lo):
            v += integrate.quad(f, -np.inf, a, limit=200, epsabs=0, epsrel=1e-12)[0]
        if not np.isfinite(hi):
            v += integrate.quad(f, b, np.inf, limit=200, epsabs=0, epsrel=1e-12)[0]
        return v

    num = integral(lambda t: t * g(t) * lik(t)) + sum(w * m * lik(m) for w, m in atoms)
    den = integral(lambda t: g(t) * lik(t)) + sum(w * lik(m) for w, m in atoms)
    return num / den


def _groups(rng, sizes):
    """Groups of the study's t-error worlds (t5 errors; c of sigma 2.5 and of the SD-ratio-4
    spread, 1.25 to 5) and harder ones: an outlier 25 away, small groups."""
    out = []
    for n in sizes:
        for k in range(4):
            c = [1.25, 2.5, 5.0, 2.5][k] * math.sqrt((DF - 2) / DF)
            y = rng.standard_t(DF, n) * c + rng.normal()
            if k == 3 and n > 1:
                y[0] += 25.0
            out.append((y, c))
    return out


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("effects", ["normal", "t", "skewed", "bimodal", "sparse"])
def test_full_data_posterior_mean_against_quad(effects):
    """Within 1e-9 of scipy quad for groups of 2 to 30 (the study's: 5), within 1e-7 for single
    observations (heavy-tailed prior against one t observation: the widest posteriors)."""
    prior = EFFECTS[effects].prior(1.0)
    cases = _groups(np.random.default_rng(7), (1, 2, 5, 5, 30))
    M = max(len(y) for y, _ in cases)
    Y = np.full((len(cases), M), np.nan)
    G = np.full((len(cases), M), -1)
    for i, (y, _) in enumerate(cases):
        Y[i, : len(y)], G[i, : len(y)] = y + 0.7, 0  # mu = 0.7
    C = np.array([[c] for _, c in cases])
    got = ebayes.posterior_full_data(Observations(Y, G), np.ones((len(cases), 1), bool), 0.7, prior, C, DF)[0][:, 0]
    for i, (y, c) in enumerate(cases):
        want = _quad_posterior_mean(y, prior, c)
        assert abs(got[i] - want) < (1e-7 if len(y) == 1 else 1e-9), (effects, y, c, got[i], want)


def test_full_data_oracle_takes_unequal_groups_and_padding():
    """Groups of different sizes in one dataset (the general path) give each group's own answer."""
    prior = EFFECTS["sparse"].prior(1.0)
    rng = np.random.default_rng(3)
    ys = [rng.standard_t(DF, n) * 1.5 for n in (3, 7, 1)]
    Y = np.full((1, 12), np.nan)
    G = np.full((1, 12), -1)
    Y[0, :11] = np.concatenate(ys)
    G[0, :11] = np.repeat([0, 1, 2], [3, 7, 1])
    got = ebayes.posterior_full_data(Observations(Y, G), np.ones((1, 4), bool) & (np.arange(4) < 3), 0.0, prior, 1.5, DF)[0]
    for j, y in enumerate(ys):
        assert abs(got[0, j] - _quad_posterior_mean(y, prior, 1.5)) < 1e-7
    assert np.isnan(got[0, 3])


def _world_cells():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    return [c for c in cells_from_config(config["grid"]) if not c.normal_world]


def test_oracle_under_normal_errors_is_todays_bit_for_bit():
    """Under normal errors the group mean is sufficient: the oracle's numbers are those of the
    rule given ybar (``ebayes.oracle_bayes`` / ``estimators.oracle``), with or without the
    observations."""
    cells = [c for c in _world_cells() if c.errors == "normal" and c.J == 12]
    cells.append(Cell(sizes=(5,) * 12, sigma=2.5, tau=1.0))
    for cell in cells:
        reps = np.arange(50)
        data, _ = chunk_columns(cell, reps, 11)
        st = chunk_stats(data, cell, reps)
        truth = Truth.from_cell(cell)
        if truth.effects_prior is None:
            today = oracle(st, truth)
        else:
            today = ebayes.oracle_bayes(st, cell.mu, truth.effects_prior, truth.sampling_variances(st))
        assert np.array_equal(oracle_bayes(st, truth), today, equal_nan=True), cell.name
        assert np.array_equal(oracle_bayes(st, truth, Observations(*chunk_observations(data, cell, reps))), today, equal_nan=True)
        fit = fit_estimators(st, ["oracle"], truth=truth)  # the study's fit: no observations needed
        assert np.array_equal(fit.estimates["oracle"], today, equal_nan=True)


def test_oracle_under_t_errors_needs_the_observations():
    cell = Cell(sizes=(5,) * 12, sigma=2.5, tau=1.0, errors="t")
    reps = np.arange(3)
    data, _ = chunk_columns(cell, reps, 11)
    with pytest.raises(ValueError, match="raw observations"):
        fit_estimators(chunk_stats(data, cell, reps), ["oracle"], truth=Truth.from_cell(cell))


def _mc(cell, R, seed=20240601):
    """Oracle estimates, linear oracle's, posterior variances (t errors) and true means."""
    reps = np.arange(R)
    data, truth_cols = chunk_columns(cell, reps, seed)
    means = truth_cols["mean"].reshape(R, cell.J)
    st = chunk_stats(data, cell, reps)
    truth = Truth.from_cell(cell)
    obs = Observations(*chunk_observations(data, cell, reps))
    est = oracle_bayes(st, truth, obs)
    var = None
    if not truth.mean_sufficient:
        prior = truth.effects_prior if truth.effects_prior is not None else EFFECTS["normal"].prior(cell.tau)
        m1, m2 = ebayes.posterior_full_data(obs, st.present, cell.mu, prior, truth.error_scales(st), truth.errors_df, 2)
        np.testing.assert_array_equal(cell.mu + m1, est)
        var = m2 - m1 * m1
    return est, oracle(st, truth), var, means


@pytest.mark.parametrize("cell", [c for c in _world_cells() if c.J == 12], ids=lambda c: c.name)
def test_oracle_mse_is_its_bayes_risk_in_every_world(cell):
    """Every world of the default study (its J = 12 cells; the per-group risks do not depend on
    J but through the SDs): with normal errors the oracle's Monte Carlo MSE is within 4 MCSE of
    ``oracle_bayes_risk`` (quadrature), and the summary's linear risk is the linear oracle's;
    with t errors (risk NaN: no closed form) the MSE is within 4 MCSE of the mean posterior
    variance, E[(theta - E[theta|y])^2] = E[Var(theta|y)] holding for the exact posterior mean
    only, and the oracle is not worse than the linear rule."""
    R = 2000 if cell.errors == "normal" else 600
    est, lin, var, means = _mc(cell, R)
    sq = ((est - means) ** 2).mean(axis=1)
    linear = theory_risks(cell)[1]
    if cell.errors == "normal":
        risk = oracle_bayes_risk(cell)
        assert abs(sq.mean() - risk) < 4 * sq.std(ddof=1) / math.sqrt(R), (sq.mean(), risk)
        lq = ((lin - means) ** 2).mean(axis=1)
        assert abs(lq.mean() - linear) < 4 * lq.std(ddof=1) / math.sqrt(R)
        return
    assert math.isnan(oracle_bayes_risk(cell))
    d = sq - var.mean(axis=1)
    assert abs(d.mean()) < 4 * d.std(ddof=1) / math.sqrt(R), (sq.mean(), var.mean())
    worse = ((lin - means) ** 2).mean(axis=1) - sq
    assert worse.mean() > -4 * worse.std(ddof=1) / math.sqrt(R)  # never worse than the linear rule


def test_t_errors_old_rule_given_ybar_is_not_the_floor():
    """J48 sparse effects, t5 errors: the rule given ybar under a normal likelihood (the old
    oracle) is above the mean posterior variance by far more than 4 MCSE; the new oracle is not."""
    cell = Cell(sizes=(5,) * 48, sigma=2.5, tau=1.0, effects="sparse", errors="t")
    R = 300
    est, _, var, means = _mc(cell, R)
    reps = np.arange(R)
    data, _ = chunk_columns(cell, reps, 20240601)
    st = chunk_stats(data, cell, reps)
    truth = Truth.from_cell(cell)
    old = ebayes.oracle_bayes(st, cell.mu, truth.effects_prior, truth.sampling_variances(st))
    v = var.mean(axis=1)
    d_old = ((old - means) ** 2).mean(axis=1) - v
    d_new = ((est - means) ** 2).mean(axis=1) - v
    assert d_old.mean() > 8 * d_old.std(ddof=1) / math.sqrt(R)
    assert abs(d_new.mean()) < 4 * d_new.std(ddof=1) / math.sqrt(R)


def test_bayes_risk_quadrature_against_closed_forms():
    """Normal prior: B s2. Two point masses at +-1 (bimodal sep 1): the risk of tanh, by quad."""
    for s2 in (0.05, 1.25, 20.0):
        assert abs(ebayes.bayes_risk_normal_errors(EFFECTS["normal"].prior(1.0), s2) - s2 / (1 + s2)) < 1e-12
    s2 = 1.25
    pm = lambda x: np.tanh(x / s2)  # E[theta | x] for theta = +-1
    want = integrate.quad(lambda x: ss.norm.pdf(x, 1, math.sqrt(s2)) * (pm(x) - 1) ** 2, -40, 40, epsabs=1e-14)[0]
    got = ebayes.bayes_risk_normal_errors(EFFECTS["bimodal"].prior(1.0, 1.0), s2)
    assert abs(got - want) < 1e-10


def test_the_summary_takes_the_oracle_risks_its_fit_jobs_stored(tmp_path, monkeypatch):
    """A cell whose oracle risk takes a quadrature (t3 effects, normal errors): the fit job stores
    each group's risk with its losses (``runner.fit_chunk``'s ``theory``), and the study summary
    reads them instead of integrating again, to the same bits as computing them; files without
    the record (older ones) are still summarised, by computing."""
    import pandas as pd

    from shrinkstudy.evaluate import measures
    from shrinkstudy.study.fit import fit_chunk
    from shrinkstudy.store.smkio import file_identity, write_columns
    from shrinkstudy.report.tables import summarise_study

    settings = {"estimators": ["raw", "blup", "oracle"], "method": "REML", "level": 0.95,
                "engine": "builtin", "prior": {}}

    def fit(cell, reps):
        data, truth = chunk_columns(cell, reps, 11)
        return fit_chunk(cell, reps, data, truth, settings, tmp_path)

    reps = np.arange(0, 6)
    assert fit(Cell(sizes=(3, 5), sigma=1.0, tau=1.0), reps).theory is None  # normal: closed form
    cell = Cell(sizes=(3, 5, 8, 12), sigma=1.0, tau=1.0, effects="t", effects_param=3)
    out = fit(cell, reps)
    risks = out.theory["oracle_group_risks"]
    assert len(risks) == cell.J and risks == measures.oracle_group_risks(cell).tolist()
    assert len(set(risks)) == cell.J and all(0 < r < 1.0 / n for r, n in zip(risks, cell.sizes))

    folder = tmp_path / "fit" / cell.name
    paths = {}
    for kind, cols, extra in (("losses", out.losses, out.theory), ("varcomp", out.varcomp, None)):
        paths[kind] = folder / f"reps0-6.{kind}.parquet"
        write_columns(cols, paths[kind], file_identity(kind, cell.name, 0, 6), extra=extra)
    computed, _ = summarise_study([cell], [paths["losses"]], [paths["varcomp"]])

    def no_quadrature(_cell):
        raise AssertionError("integrated again")

    monkeypatch.setattr(measures, "_oracle_group_risks", no_quadrature)
    stored, _ = summarise_study([cell], [paths["losses"]], [paths["varcomp"]])
    pd.testing.assert_frame_equal(stored, computed, check_exact=True)
    assert np.isfinite(stored["oracle_risk"]).all()
    # a file without the record: computed (here: the patched quadrature is called)
    write_columns(out.losses, paths["losses"], file_identity("losses", cell.name, 0, 6))
    with pytest.raises(AssertionError, match="integrated again"):
        summarise_study([cell], [paths["losses"]], [paths["varcomp"]])
