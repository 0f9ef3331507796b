"""The workflow end to end on a small study: it runs, reruns only what changed, and its
tables do not depend on the core count or on interruptions."""

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
# the workflow runs from a copy of the repository, so a test can edit a library module
# (Snakemake reruns on a changed input's content, not on its timestamp alone)
WORKFLOW_FILES = ("Snakefile", "workflow", "src", "config", "matplotlibrc")

SMALL = {
    "base_seed": 5,
    "replications": 40,
    "chunk_size": 20,
    "estimators": ["raw", "pooled", "blup", "varmatch", "bayesglm", "hier_bayes", "james_stein", "oracle"],
    "grid": {
        "balanced": {"J": [3, 5], "sizes": [2, 4], "sigma": [3], "tau": [1]},
        "seed": {"sizes": ["100x6+2x6"], "sigma": [5], "tau": [1]},
    },
}

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workflow")]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A copy of the workflow and the library."""
    dest = tmp_path_factory.mktemp("repo")
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def write_config(workdir: Path, config: dict) -> Path:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args, check=True, config=None, repo_dir=None):
    cmd = [SNAKEMAKE, "-s", str((repo_dir or REPO[0]) / "Snakefile"), "-d", str(workdir)]
    cmd += ["--configfile", str(config or workdir / "config.yaml"), *args]
    env = dict(os.environ, MPLBACKEND="Agg")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and res.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


def planned_jobs(workdir: Path, *args) -> dict:
    """rule -> list of the wildcards of each job a dry run would execute."""
    res = snakemake(workdir, "-n", *args)
    jobs, current = {}, None
    for line in res.stdout.splitlines():
        line = line.strip()
        for prefix in ("rule ", "localrule "):
            if line.startswith(prefix) and line.endswith(":"):
                current = line[len(prefix) : -1]
                jobs.setdefault(current, [])
        if line.startswith("wildcards:") and current:
            jobs[current].append(line[len("wildcards:") :].strip())
    return jobs


REPO: list = []


@pytest.fixture(scope="module")
def study(tmp_path_factory, repo):
    """The small study, run once on 2 cores."""
    REPO[:] = [repo]
    workdir = tmp_path_factory.mktemp("study")
    write_config(workdir, SMALL)
    snakemake(workdir, "--cores", "2")
    return workdir


def test_study_writes_tables_and_figures(study):
    tables = study / "results" / "tables"
    for name in ("summary.csv", "summary.md", "summary.tex", "headline.md", "replication.md", "provenance.json"):
        assert (tables / name).stat().st_size > 0, name
    import pandas as pd

    summary = pd.read_csv(tables / "summary.csv")
    assert summary["cell"].nunique() == 5
    assert set(summary["estimator"]) >= {"raw", "blup", "hier_bayes", "oracle"}
    assert (summary.loc[summary["estimator"] == "raw", "rel_mse"] == 1).all()
    # every rule leaves a log and a benchmark
    assert any((study / "results" / "benchmarks" / "fit").rglob("*.tsv"))
    assert any((study / "results" / "logs" / "simulate").rglob("*.log"))
    figures = list((study / "results" / "figures").glob("*.png"))
    assert figures, "no figures"


def test_nothing_to_do_after_a_run(study):
    jobs = planned_jobs(study)
    assert jobs == {}, jobs


def test_one_grid_value_reruns_only_its_cells(study, tmp_path):
    config = yaml.safe_load((study / "config.yaml").read_text())
    config["grid"]["balanced"]["J"] = [3, 4]  # 5 -> 4: two new cells, two gone
    cfg = write_config(tmp_path, config)
    jobs = planned_jobs(study, "--configfile", str(cfg))
    sim_cells = {w.split("cell=")[1].split(",")[0] for w in jobs.get("simulate", [])}
    assert sim_cells == {f"J4_n{n}_sigma3_tau1_mu0" for n in (2, 4)}
    assert len(jobs["fit"]) == 4 and len(jobs["summarise"]) == 2
    assert "aggregate" in jobs


def test_more_replications_only_add_chunks(study, tmp_path):
    config = yaml.safe_load((study / "config.yaml").read_text())
    config["replications"] = 60
    cfg = write_config(tmp_path, config)
    jobs = planned_jobs(study, "--configfile", str(cfg))
    assert all("start=40" in w for w in jobs["simulate"]) and len(jobs["simulate"]) == 5
    assert all("start=40" in w for w in jobs["fit"]) and len(jobs["fit"]) == 5
    assert len(jobs["summarise"]) == 5


@pytest.mark.parametrize("name", ["estimators", "tdist"])  # tdist only through hierbayes
def test_library_change_reruns_fits_not_simulations(study, repo, name):
    module = repo / "src" / "shrinkstudy" / f"{name}.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# a change\n")
        jobs = planned_jobs(study)
    finally:
        module.write_text(original)
    assert "simulate" not in jobs
    assert len(jobs["fit"]) == 10 and len(jobs["summarise"]) == 5 and "aggregate" in jobs


def test_another_results_directory_leaves_the_study_alone(study, tmp_path):
    """A study with its own ``results`` directory (as config/quick.yaml) plans every job, and only
    jobs writing below that directory, beside a finished study of the same cells."""
    config = dict(SMALL, results="results/other", base_seed=6)
    cfg = write_config(tmp_path, config)
    res = snakemake(study, "-n", "--configfile", str(cfg))
    outputs = [line.strip()[len("output: "):] for line in res.stdout.splitlines() if line.strip().startswith("output: ")]
    files = [f for line in outputs for f in line.split(", ")]
    assert len(files) > 50 and all(f.startswith("results/other/") for f in files), files[:5]
    jobs = planned_jobs(study, "--configfile", str(cfg))
    assert len(jobs["simulate"]) == 10 and len(jobs["fit"]) == 10 and "aggregate" in jobs
    assert "simulate" not in planned_jobs(study)  # the finished study is untouched


def test_bad_config_stops_before_any_job(tmp_path):
    config = dict(SMALL, replications=0)
    write_config(tmp_path, config)
    res = snakemake(tmp_path, "--cores", "1", check=False, repo_dir=ROOT)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "config error: replications: 0 is not valid" in out
    assert not (tmp_path / "results").exists()


def test_same_tables_on_one_core_reordered_and_interrupted(study, tmp_path):
    """--cores 1 with the grid's blocks and lists reordered, interrupted once, gives the same bytes."""
    config = yaml.safe_load((study / "config.yaml").read_text())
    config["grid"] = {
        "seed": config["grid"]["seed"],
        "balanced": {**config["grid"]["balanced"], "J": [5, 3], "sizes": [4, 2]},
    }
    write_config(tmp_path, config)
    cmd = [SNAKEMAKE, "-s", str(REPO[0] / "Snakefile"), "-d", str(tmp_path), "--configfile", str(tmp_path / "config.yaml")]
    proc = subprocess.Popen([*cmd, "--cores", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fit_dir = tmp_path / "results" / "fit"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(fit_dir.rglob("*.losses.parquet"))) < 3:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    # jobs cut short are marked incomplete (and rerun); every other output must be kept as is
    marks = tmp_path / ".snakemake" / "incomplete"
    cut = {base64.b64decode(m.name).decode() for m in marks.iterdir()} if marks.exists() else set()
    done_before = {
        p: p.stat().st_mtime_ns
        for p in fit_dir.rglob("*.losses.parquet")
        if str(p.relative_to(tmp_path)) not in cut and p.with_name(p.name.replace("losses", "varcomp")).exists()
    }
    assert done_before, "the run was interrupted before any fit finished"
    res = snakemake(tmp_path, "--cores", "1", "--rerun-incomplete")
    assert res.returncode == 0
    for p, mtime in done_before.items():
        assert p.stat().st_mtime_ns == mtime, f"{p} was recomputed"
    for name in ("summary.csv", "summary.md", "summary.tex", "headline.md", "replication.md"):
        a = (study / "results" / "tables" / name).read_bytes()
        b = (tmp_path / "results" / "tables" / name).read_bytes()
        assert a == b, name


def test_lint_is_clean():
    res = subprocess.run([SNAKEMAKE, "--lint", "-s", str(ROOT / "Snakefile"), "-d", str(ROOT)], capture_output=True, text=True)
    assert "Congratulations" in res.stdout + res.stderr, res.stdout[-3000:] + res.stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# damaged and foreign intermediate files
# ---------------------------------------------------------------------------------------------

TWO_CELLS = {
    "base_seed": 3,
    "replications": 20,
    "chunk_size": 20,
    "estimators": ["raw", "blup"],
    "keep_datasets": True,
    "grid": {"balanced": {"J": [3], "sizes": [2], "sigma": [3, 5], "tau": [1]}},
}
CELL_A, CELL_B = "J3_n2_sigma3_tau1_mu0", "J3_n2_sigma5_tau1_mu0"


def _stopped_on(res, path):
    """The run failed, and said in one line which file to delete."""
    assert res.returncode != 0, res.stdout[-2000:]
    want = f"error: {path}: "
    lines = [line for line in (res.stdout + res.stderr).splitlines() if line.startswith(want)]
    assert len(lines) == 1, (res.stdout[-3000:], res.stderr[-3000:])
    assert lines[0].endswith("; delete it and run the same command again"), lines[0]
    assert "Traceback" not in res.stderr
    return lines[0]


def test_damaged_or_foreign_intermediate_stops_the_job(repo, tmp_path):
    """A simulate file with a flipped byte, cut short, of zero bytes, or another cell's valid
    file copied over it: the fit job stops with one line naming the file, writes nothing, and
    after deleting the file the same command regenerates it (byte-identical) and finishes. The
    same for a fit file read by summarise and a summary CSV read by aggregate."""
    write_config(tmp_path, TWO_CELLS)
    sim = {c: f"results/simulate/{c}/reps0-20.parquet" for c in (CELL_A, CELL_B)}
    truth = {c: p.replace(".parquet", ".truth.parquet") for c, p in sim.items()}
    fit_a = f"results/fit/{CELL_A}/reps0-20.losses.parquet"
    snakemake(tmp_path, "--cores", "1", *sim.values(), *truth.values(), repo_dir=repo)
    target = tmp_path / sim[CELL_A]
    good = target.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    damaged = {
        "a flipped byte": bytes(flipped),
        "cut short": good[: len(good) - 100],
        "zero bytes": b"",
        "another cell's file": (tmp_path / sim[CELL_B]).read_bytes(),
    }
    for case, content in damaged.items():
        target.write_bytes(content)
        res = snakemake(tmp_path, "--cores", "1", fit_a, check=False, repo_dir=repo)
        line = _stopped_on(res, sim[CELL_A])
        if case == "another cell's file":
            assert CELL_B in line, line
        assert not (tmp_path / fit_a).exists(), case
    target.unlink()  # as the line says: delete it and rerun
    snakemake(tmp_path, "--cores", "1", fit_a, repo_dir=repo)
    assert target.read_bytes() == good

    # a fit file (read by summarise) and a cell's summary (read by aggregate)
    summary_a = f"results/summarise/{CELL_A}.csv"
    snakemake(tmp_path, "--cores", "1", summary_a, f"results/summarise/{CELL_B}.csv", repo_dir=repo)
    losses = tmp_path / fit_a
    (tmp_path / summary_a).unlink()
    losses.write_bytes((tmp_path / f"results/fit/{CELL_B}/reps0-20.losses.parquet").read_bytes())
    res = snakemake(tmp_path, "--cores", "1", summary_a, check=False, repo_dir=repo)
    assert CELL_B in _stopped_on(res, fit_a)
    losses.unlink()
    snakemake(tmp_path, "--cores", "1", summary_a, repo_dir=repo)
    (tmp_path / summary_a).write_text((tmp_path / f"results/summarise/{CELL_B}.csv").read_text())
    res = snakemake(tmp_path, "--cores", "1", "results/tables/summary.csv", check=False, repo_dir=repo)
    assert CELL_B in _stopped_on(res, summary_a)
    assert not (tmp_path / "results/tables/summary.csv").exists()
