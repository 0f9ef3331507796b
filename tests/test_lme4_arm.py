"""The engine against lme4 and arm (R), through one Rscript call for all datasets.

lmer(y ~ 1 + (1 | g), REML = TRUE) with minqa's BOBYQA run to rhoend = 1e-12, REMLcrit(),
coef(), isSingular(); arm::bayesglm(y ~ 0 + g, prior.mean = mu^, prior.scale = tau^,
prior.df = Inf, scaled = FALSE) with lme4's mu^ and tau^ (tests/reference/lme4_arm.R).
Skipped, with the reason, where Rscript or the R packages lme4 and arm are missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shrinkstudy.methods import estimators as E
from shrinkstudy.methods import reml
from shrinkstudy.design.cells import Cell
from shrinkstudy.methods.reml import VarComp
from shrinkstudy.design.simulate import simulate_reps, suffstats_from_long

pytestmark = pytest.mark.r

SCRIPT = Path(__file__).parent / "reference" / "lme4_arm.R"


def _rscript() -> str:
    """Path of Rscript, or skip."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript not found")
    return rscript


def _data_with_suffstats(n, ybar, ssw, rng):
    """Raw observations with exactly these group sizes, group means and SSW."""
    ys = []
    N, J = int(sum(n)), len(n)
    for nj, m in zip(n, ybar):
        z = rng.normal(size=int(nj))
        e = z - z.mean() if nj > 1 else np.zeros(1)
        if nj > 1:
            e *= np.sqrt(ssw * (nj - 1) / (N - J) / (e @ e))
        ys.append(m + e)
    return np.concatenate(ys)


def _datasets():
    """(label, sigma, y, sizes) for 31 datasets."""
    out = []
    designs = [
        ("seed J=12 100x6+2x6", Cell(sizes=(100,) * 6 + (2,) * 6, sigma=5.0, tau=1.0), 8),
        ("balanced J=5 n=5 tau2/sigma2=0.25", Cell(sizes=(5,) * 5, sigma=1.0, tau=0.5), 8),
        ("balanced J=8 n=4", Cell(sizes=(4,) * 8, sigma=1.0, tau=1.0), 4),
        ("unbalanced J=7", Cell(sizes=(1, 2, 3, 5, 8, 13, 2), sigma=2.0, tau=1.0, mu=10.0), 4),
        ("unbalanced J=6 tau=0", Cell(sizes=(2, 4, 6, 3, 7, 5), sigma=1.0, tau=0.0), 4),
        ("500 beside 1s", Cell(sizes=(500, 1, 1, 1, 1), sigma=1.0, tau=1.0), 2),
    ]
    for label, cell, R in designs:
        y, _ = simulate_reps(cell, range(R), base_seed=41)
        out += [(label, cell.sigma, y[i], cell.sizes) for i in range(R)]
    # the bimodal REML criterion of test_reml (local minimum at 0, global one interior)
    from test_reml import BIMODAL_N, BIMODAL_SSW, BIMODAL_YBAR

    y = _data_with_suffstats(BIMODAL_N, BIMODAL_YBAR, BIMODAL_SSW, np.random.default_rng(42))
    out.append(("bimodal criterion", 1.0, y, tuple(int(v) for v in BIMODAL_N)))
    return out


@pytest.fixture(scope="module")
def r_fits(tmp_path_factory):
    rscript = _rscript()
    sets = _datasets()
    rows = []
    for d, (_, _, y, sizes) in enumerate(sets):
        group = np.repeat([f"G{j:02d}" for j in range(len(sizes))], sizes)
        rows.append(pd.DataFrame({"dataset": d, "g": group, "y": y}))
    data = pd.concat(rows, ignore_index=True)
    tmp = tmp_path_factory.mktemp("lme4")
    data.to_csv(tmp / "data.csv", index=False, float_format="%.17g")
    # one R session for everything (R and lme4 take seconds to start)
    res = subprocess.run(
        [rscript, str(SCRIPT), str(tmp / "data.csv"), str(tmp / "fits.csv"), str(tmp / "groups.csv")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if res.returncode != 0 and "there is no package called" in res.stderr:
        pytest.skip(f"R packages lme4/arm not available: {res.stderr.strip()[-300:]}")
    assert res.returncode == 0, res.stderr
    fits = pd.read_csv(tmp / "fits.csv").sort_values("dataset").reset_index(drop=True)
    groups = pd.read_csv(tmp / "groups.csv")
    back = pd.read_csv(tmp / "data.csv")
    stats, labels, glabels = suffstats_from_long(back["dataset"], back["g"], back["y"])
    assert list(labels) == list(range(len(sets)))
    vc = reml.fit_varcomp(stats)
    return {"sets": sets, "fits": fits, "groups": groups, "stats": stats, "glabels": glabels, "vc": vc}


def _per_dataset(r_fits, d):
    st = r_fits["stats"]
    J = len(r_fits["glabels"][d])
    g = r_fits["groups"]
    g = g[g["dataset"] == d].set_index("g").loc[r_fits["glabels"][d]]
    return st, J, g


def test_remlcrit_parameters_and_blups(r_fits):
    """Our REML criterion is never above lme4's REMLcrit() by more than 1e-8. Parameters agree
    as tightly as lme4 reaches: its BOBYQA (rhoend = 1e-12, which stops early with "trust
    region step failed") pins theta = tau / sigma to about 1e-7 absolute, so tau^2 is compared
    to 1e-6 relative where theta >= 0.1 and through theta (2e-7 absolute) below; sigma^2 to 1e-7
    relative, mu and coef() to 5e-7 sigma.
    Measured on 31 datasets: criterion differences within +-6e-12 (numerical noise, in both
    directions), theta within 9e-8, tau^2 within 4.6e-7 relative where theta >= 0.1 (2.4e-6 at
    theta = 0.07), sigma^2 within 1.4e-8, mu within 2e-8 sigma, coef() within 1.1e-7 sigma."""
    vc, fits = r_fits["vc"], r_fits["fits"]
    assert len(fits) == len(r_fits["sets"]) >= 30
    for d, (label, sigma, y, sizes) in enumerate(r_fits["sets"]):
        f = fits.iloc[d]
        assert vc.crit[d] <= f.remlcrit + 1e-8, (label, vc.crit[d], f.remlcrit)
        assert vc.sigma2[d] == pytest.approx(f.sigma2, rel=1e-7), label
        assert vc.mu[d] == pytest.approx(f.mu, abs=5e-7 * sigma), label
        theta = np.sqrt(vc.tau2[d] / vc.sigma2[d])
        assert theta == pytest.approx(f.theta, abs=2e-7), label
        if theta >= 0.1:
            assert vc.tau2[d] == pytest.approx(f.tau2, rel=1e-6), label
        st, J, g = _per_dataset(r_fits, d)
        ours = E.blup(st, vc)[d, :J]
        np.testing.assert_allclose(ours, g["blup"].to_numpy(), rtol=0, atol=5e-7 * sigma, err_msg=label)


def test_boundary_flag_matches_is_singular(r_fits):
    """Every boundary fit of ours (tau^2 exactly 0) is singular in lme4 (theta < 1e-4), and
    every singular lme4 fit is a boundary fit of ours. The set has 4 of them (lme4's theta
    there: 0 or about 5e-8, never exactly 0 except once)."""
    vc, fits = r_fits["vc"], r_fits["fits"]
    ours = vc.boundary
    theirs = fits["singular"].to_numpy(bool)
    assert np.array_equal(ours, theirs)
    assert ours.sum() >= 4
    assert np.all(vc.tau2[ours] == 0.0)
    assert np.all(fits["theta"].to_numpy()[ours] < 1e-4)


def test_bimodal_dataset_lme4_agrees(r_fits):
    """On the dataset whose criterion has a local minimum at tau^2 = 0, lme4 (started at
    theta = 1) and the engine both report the interior global minimum."""
    d = len(r_fits["sets"]) - 1
    assert r_fits["sets"][d][0] == "bimodal criterion"
    f = r_fits["fits"].iloc[d]
    vc = r_fits["vc"]
    assert not f.singular and not vc.boundary[d]
    assert reml.boundary_test(r_fits["stats"])[d]  # f'(0) >= 0 nonetheless
    assert vc.tau2[d] == pytest.approx(f.tau2, rel=2e-6)


def test_bayesglm_matches_arm(r_fits):
    """estimators.bayesglm with lme4's mu^, tau^ (and sigma^ only as a starting value) against
    arm's coefficients: 1e-7 sigma; the dispersion to 1e-7 relative. arm stops when the
    dispersion changes by less than 1e-8 relative, which bounds the agreement.
    Measured: coefficients within 4e-9 sigma, dispersion within 3e-9 relative."""
    fits = r_fits["fits"]
    st = r_fits["stats"]
    checked = 0
    for d, (label, sigma, y, sizes) in enumerate(r_fits["sets"]):
        f = fits.iloc[d]
        if not f.tau2 > 0:
            assert np.isnan(f.arm_dispersion)  # arm is not run with a zero prior scale
            continue
        assert bool(f.arm_converged), label
        one = lambda v: np.array([float(v)])  # noqa: E731
        vc = VarComp(
            mu=one(f.mu),
            tau2=one(f.tau2),
            sigma2=one(f.sigma2),
            gamma=one(f.tau2 / f.sigma2),
            crit=one(np.nan),
            boundary=np.array([False]),
            status=np.array([reml.OK], np.int8),
        )
        sub = type(st)(st.n[d : d + 1], st.ybar[d : d + 1], st.ssw[d : d + 1])
        est, s2 = E.bayesglm(sub, vc)
        _, J, g = _per_dataset(r_fits, d)
        arm = g["arm_coef"].to_numpy()
        np.testing.assert_allclose(est[0, :J], arm, rtol=0, atol=1e-7 * sigma, err_msg=label)
        assert s2[0] == pytest.approx(f.arm_dispersion, rel=1e-7), label
        checked += 1
    assert checked >= 20
