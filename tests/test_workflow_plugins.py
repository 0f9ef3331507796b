"""A user's own estimator in the workflow: the shipped example config end to end against a
direct computation on the stored datasets, reruns when the user's file changes, and a failing
estimator recorded per replication while the study finishes."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import ROOT, dry_run_jobs, run_snakemake
from shrinkstudy.methods.plugins import user_estimator
from shrinkstudy.methods.reml import fit_varcomp
from shrinkstudy.design.simulate import suffstats_from_long
from shrinkstudy.store.smkio import read_columns

FILES = ("Snakefile", "workflow", "src", "config", "examples", "matplotlibrc")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("plugin_repo")
    for name in FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def run(repo: Path, workdir: Path, config: Path, *args, check=True):
    return run_snakemake(repo, workdir, "--configfile", str(config), *args, check=check)


def planned(repo, workdir, config) -> dict:
    """rule -> how many of its jobs a dry run plans."""
    return {rule: len(jobs) for rule, jobs in dry_run_jobs(run(repo, workdir, config, "-n").stdout).items()}


@pytest.fixture(scope="module")
def example(repo, tmp_path_factory):
    """config/example_plugin.yaml, run to its tables."""
    workdir = tmp_path_factory.mktemp("example")
    config = repo / "config" / "example_plugin.yaml"
    results = yaml.safe_load(config.read_text())["results"]
    run(repo, workdir, config, "--cores", "2", f"{results}/tables/summary.csv")
    return workdir, config, workdir / results


def test_example_config_numbers_equal_a_direct_computation(example, repo):
    workdir, config, results = example
    summary = pd.read_csv(results / "tables" / "summary.csv")
    mine = summary[(summary["estimator"] == "limited_translation") & (summary["groups"] == "all")]
    assert mine["cell"].nunique() == 5 and (mine["failures"] == 0).all()
    lt = user_estimator("examples/limited_translation.py:estimate", repo)
    for cell in mine["cell"]:
        data = read_columns(results / "simulate" / cell / "reps0-500.parquet")
        truth = read_columns(results / "simulate" / cell / "reps0-500.truth.parquet")
        stats = suffstats_from_long(data["rep"], data["group"], data["y"])[0]
        order = np.lexsort((truth["group"], truth["rep"]))
        means = truth["mean"][order].reshape(stats.R, -1)
        vc = fit_varcomp(stats)
        # the estimator by its formula, not through the study's code
        se = np.sqrt(vc.sigma2[:, None] / stats.n)
        B = vc.tau2[:, None] / (vc.tau2[:, None] + se**2)
        est = np.clip(vc.mu[:, None] + B * (stats.ybar - vc.mu[:, None]), stats.ybar - se, stats.ybar + se)
        np.testing.assert_allclose(lt.point_function()(stats, vc), est, rtol=1e-12, atol=1e-12)
        sq = ((est - means) ** 2).mean(axis=1)
        raw_sq = ((stats.ybar - means) ** 2).mean(axis=1)
        row = mine[mine["cell"] == cell].iloc[0]
        assert row["mse"] == pytest.approx(sq.mean(), rel=1e-9)
        assert row["mse_mcse"] == pytest.approx(sq.std(ddof=1) / np.sqrt(stats.R), rel=1e-8)
        assert row["rel_mse"] == pytest.approx(sq.mean() / raw_sq.mean(), rel=1e-9)
    # it sits between the BLUP and the raw means in the seed's cell, as limited translation should
    seed = summary[(summary["cell"] == "J12_n100x6+2x6_sigma5_tau1_mu0") & (summary["groups"] == "all")]
    rel = seed.set_index("estimator")["rel_mse"]
    assert rel["blup"] < rel["limited_translation"] < rel["raw"]
    assert (results / "tables" / "failures.md").read_text().startswith("# Failures\n\nNo estimator failed")


def test_editing_the_user_file_reruns_fits_not_simulations(example, repo):
    workdir, config, _ = example
    path = repo / "examples" / "limited_translation.py"
    original = path.read_text()
    try:
        path.write_text(original.replace("D = 1.0", "D = 2.0"))
        jobs = planned(repo, workdir, config)
    finally:
        path.write_text(original)
    assert "simulate" not in jobs
    assert jobs["fit"] == 5 and "aggregate" in jobs


def test_a_failing_estimator_is_counted_and_listed(repo, tmp_path):
    (repo / "examples" / "flaky.py").write_text(
        "import numpy as np\n\n\n"
        "def estimate(stats):\n"
        "    '''the raw means, except that it raises when the first group mean is above 1'''\n"
        "    if np.any(stats.ybar[:, 0] > 1.0):\n"
        "        raise ArithmeticError('first group mean above 1')\n"
        "    return stats.ybar\n"
    )
    config = {
        "base_seed": 9,
        "replications": 30,
        "chunk_size": 15,
        "estimators": ["raw", "blup", "examples/flaky.py:estimate"],
        "grid": {"b": {"J": [4], "sizes": [3], "sigma": [1], "tau": [1]}},
    }
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    run(repo, tmp_path, cfg, "--cores", "2", "results/tables/summary.csv")
    tables = tmp_path / "results" / "tables"
    summary = pd.read_csv(tables / "summary.csv").set_index(["estimator", "groups"])
    cell = "J4_n3_sigma1_tau1_mu0"
    data = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "results" / "simulate" / cell).glob("reps*[0-9].parquet"))])
    ybar1 = data[data["group"] == 0].groupby("rep")["y"].mean()
    failing = sorted(ybar1.index[ybar1 > 1.0])
    assert 0 < len(failing) < 30
    assert summary.loc[("flaky", "all"), "failures"] == len(failing)
    assert summary.loc[("blup", "all"), "failures"] == 0 and summary.loc[("raw", "all"), "mse"] > 0
    failures = pd.read_csv(tables / "failures.csv")
    assert failures["rep"].tolist() == failing
    assert set(failures["message"]) == {"ArithmeticError: first group mean above 1"}
    assert set(failures["cell"]) == {cell} and set(failures["estimator"]) == {"flaky"}
    assert "ArithmeticError: first group mean above 1" in (tables / "failures.md").read_text()
    # provenance holds the hash of the estimator's file and of the study's file
    prov = json.loads((tables / "provenance.json").read_text())
    assert prov["files"] == {
        "estimators": {"examples/flaky.py": hashlib.sha256((repo / "examples" / "flaky.py").read_bytes()).hexdigest()},
        "config": {str(cfg.resolve()): hashlib.sha256(cfg.read_bytes()).hexdigest()},
    }
    # a comment added to the study's file changes no job's settings, but its hash: the summary
    # job alone runs again, and provenance records the file as it now is
    before = (tables / "summary.csv").read_bytes()
    cfg.write_text(cfg.read_text() + "# a comment\n")
    target = "results/tables/summary.csv"
    assert {r: len(j) for r, j in dry_run_jobs(run(repo, tmp_path, cfg, "-n", target).stdout).items()} == {"aggregate": 1}
    run(repo, tmp_path, cfg, "--cores", "2", target)
    prov = json.loads((tables / "provenance.json").read_text())
    assert prov["files"]["config"] == {str(cfg.resolve()): hashlib.sha256(cfg.read_bytes()).hexdigest()}
    assert (tables / "summary.csv").read_bytes() == before
    # each row says how to reproduce it; the command gives the same failure
    assert failures["command"].tolist() == [f"shrinkstudy replicate {cell} {r} --config {cfg}" for r in failing]
    cmd = failures["command"].iloc[0].split()
    res = subprocess.run([sys.executable, "-m", "shrinkstudy", *cmd[1:], "--out", str(tmp_path / "rep")],
                         capture_output=True, text=True, cwd=repo)
    assert res.returncode == 0, res.stderr
    assert "ArithmeticError: first group mean above 1" in res.stdout


def test_replicate_gives_the_stored_numbers(example, repo, tmp_path):
    """``shrinkstudy replicate CELL REP`` regenerates a replication's dataset and refits it: the
    same numbers as the study stored, for several cells and replications, one a boundary fit."""
    from shrinkstudy.config import load_study
    from shrinkstudy.evaluate.losses import LOSS_COLUMNS
    from shrinkstudy.study.fit import replicate

    workdir, config, results = example
    study = load_study(yaml.safe_load(config.read_text()), root=repo)
    checked_boundary = False
    for cell in ("J6_n2_sigma2.5_tau1_mu0", "J24_n10_sigma2.5_tau1_mu0", "J12_n100x6+2x6_sigma5_tau1_mu0"):
        losses = pd.read_parquet(results / "fit" / cell / "reps0-500.losses.parquet")
        varcomp = pd.read_parquet(results / "fit" / cell / "reps0-500.varcomp.parquet")
        data = pd.read_parquet(results / "simulate" / cell / "reps0-500.parquet")
        boundary = varcomp.loc[varcomp["boundary"], "rep"].tolist()
        reps = [0, 499] + boundary[:1]
        checked_boundary |= bool(boundary)
        for rep in reps:
            res = replicate(study, cell, rep, repo)
            stored = losses[losses["rep"] == rep].reset_index(drop=True)
            pd.testing.assert_frame_equal(res.losses[list(LOSS_COLUMNS)], stored[list(LOSS_COLUMNS)], check_exact=True)
            pd.testing.assert_frame_equal(res.varcomp, varcomp[varcomp["rep"] == rep].reset_index(drop=True), check_exact=True)
            np.testing.assert_array_equal(res.data["y"].to_numpy(), data.loc[data["rep"] == rep, "y"].to_numpy())
    assert checked_boundary, "no boundary fit among the checked cells"
    # the command line writes the dataset and tables, and prints the losses
    cmd = [sys.executable, "-m", "shrinkstudy", "replicate", "J6_n2_sigma2.5_tau1_mu0", "7", "--config", str(config), "--out", str(tmp_path)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=repo)
    assert res.returncode == 0, res.stderr
    assert "limited_translation" in res.stdout and "variance components (REML)" in res.stdout
    written = pd.read_csv(tmp_path / "J6_n2_sigma2.5_tau1_mu0_rep7.csv")
    stored = pd.read_parquet(results / "simulate" / "J6_n2_sigma2.5_tau1_mu0" / "reps0-500.parquet")
    np.testing.assert_array_equal(written["y"].to_numpy(), stored.loc[stored["rep"] == 7, "y"].to_numpy())
    bad = subprocess.run(cmd[:4] + ["J6_n2_sigma9_tau1_mu0", "7", "--config", str(config)], capture_output=True, text=True, cwd=repo)
    assert bad.returncode == 2 and bad.stderr.startswith("shrinkstudy: error: no cell 'J6_n2_sigma9_tau1_mu0'")
    bad = subprocess.run(cmd[:4] + ["J6_n2_sigma2.5_tau1_mu0", "500", "--config", str(config)], capture_output=True, text=True, cwd=repo)
    assert bad.returncode == 2 and "replication 500 is not one of the study's 0 to 499" in bad.stderr


def test_a_users_effects_distribution_runs_and_is_an_input(repo, tmp_path):
    """effects: 'module:function' from the project: the study runs (the module imports in every
    job), the draws have the stated SD, and editing the module reruns its cell's simulations."""
    config = {
        "base_seed": 4,
        "replications": 40,
        "chunk_size": 40,
        "estimators": ["raw", "blup", "oracle_linear", "oracle"],
        "grid": {"u": {"J": [6], "sizes": [4], "sigma": [1], "tau": [1], "effects": ["examples.uniform_effects:draw"]}},
    }
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    run(repo, tmp_path, cfg, "--cores", "2", "results/tables/summary.csv")
    cell = "J6_n4_sigma1_tau1_mu0_eff-examples.uniform_effects.draw"
    truth = read_columns(tmp_path / "results" / "simulate" / cell / "reps0-40.truth.parquet")
    assert np.all(np.abs(truth["mean"]) <= np.sqrt(3.0))  # uniform on +-sqrt(3) tau
    summary = pd.read_csv(tmp_path / "results" / "tables" / "summary.csv")
    assert set(summary["effects"]) == {"examples.uniform_effects:draw"}
    path = repo / "examples" / "uniform_effects.py"
    original = path.read_text()
    try:
        path.write_text(original + "\n# a change\n")
        jobs = planned(repo, tmp_path, cfg)
    finally:
        path.write_text(original)
    assert jobs.get("simulate") == 1 and jobs.get("fit") == 1
