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

from helpers import ROOT, SNAKEMAKE, dry_run_jobs, run_snakemake
# the workflow runs from a copy of the repository, so a test can edit a library module
# (Snakemake reruns on a changed input's content, not on its timestamp alone)
WORKFLOW_FILES = ("Snakefile", "workflow", "src", "config", "examples", "matplotlibrc", "profiles", "Makefile")
BIN = Path(sys.executable).parent

SMALL = {
    "base_seed": 5,
    "replications": 40,
    "chunk_size": 20,
    "estimators": ["raw", "pooled", "blup", "varmatch", "bayesglm", "hier_bayes", "james_stein", "oracle"],
    "grid": {
        "balanced": {"J": [3, 5], "sizes": [2, 4], "sigma": [3], "tau": [1]},
        "seed": {"sizes": ["100x6+2x6"], "sigma": [5], "tau": [1]},
    },
    # the seed example runs only when asked for: the default study's block
    "seed_example": {
        "seed": 522387, "choose": "closest_fit", "target": {"tau": 0.75, "sigma": 5.1, "mu": 0.035},
        "candidates": 2000, "sizes": "100x6+2x6", "sigma": 5, "tau": 1, "mu": 0,
    },
}

pytestmark = pytest.mark.slow
REPO: list = []  # the copy of the repository (set by the fixture repo)


def copy_repo(dest: Path) -> Path:
    """A copy of the workflow and the library in ``dest`` (no git repository)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A copy of the workflow and the library."""
    dest = copy_repo(tmp_path_factory.mktemp("repo"))
    # a git repository of its own: provenance records its commit
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org", "-C", str(dest)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "copy"], check=True)
    REPO[:] = [dest]
    return dest


def write_config(workdir: Path, config: dict) -> Path:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args, check=True, config=None, repo_dir=None):
    """The copy's workflow (or ``repo_dir``'s) in ``workdir`` on its config.yaml (or ``config``)."""
    config = str(config or workdir / "config.yaml")
    return run_snakemake(repo_dir or REPO[0], workdir, "--configfile", config, *args, check=check)


def planned_jobs(workdir: Path, *args, config=None) -> dict:
    """rule -> the wildcards of each job a dry run would execute (``helpers.dry_run_jobs``)."""
    return dry_run_jobs(snakemake(workdir, "-n", *args, config=config).stdout)


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


def test_provenance_records_the_projects_commit(study, repo):
    """Run with -s from another directory: the commit is the project's, not the run directory's."""
    import json

    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    prov = json.loads((study / "results" / "tables" / "provenance.json").read_text())
    assert len(head) == 40 and prov["git"]["commit"] == head


TABLES = ("summary.csv", "summary.md", "summary.tex", "headline.md", "headline.csv", "replication.md",
          "replication.csv", "provenance.json")


#: Outputs whose rule is not the one of their folder (below).
RULE_OF = {"tables/findings.json": "findings", "protocol.md": "protocol", "report/protocol.html": "protocol"}


@pytest.mark.parametrize(
    "name",
    [f"tables/{t}" for t in TABLES]
    + ["seed/fit.json", "report/headline.html", "figures/coverage.pdf", *RULE_OF],
)
def test_a_deleted_output_is_rebuilt(study, name):
    path = study / "results" / name
    moved = path.with_name(path.name + ".away")
    path.rename(moved)
    try:
        jobs = planned_jobs(study)
    finally:
        moved.rename(path)
    assert "simulate" not in jobs and "fit" not in jobs
    rule = RULE_OF.get(name) or {
        "tables": "aggregate", "seed": "seed_example", "report": "report_tables", "figures": "summary_figures"
    }[name.split("/")[0]]
    assert rule in jobs, jobs


def test_protocol_and_findings_of_the_study(study):
    """The protocol names every cell and estimator of the study and the commands of its own
    config file; findings.json holds the seed example's chosen seed."""
    import json

    import pandas as pd

    text = (study / "results" / "protocol.md").read_text()
    summary = pd.read_csv(study / "results" / "tables" / "summary.csv")
    for cell in summary["cell"].unique():
        assert f"| `{cell}` |" in text
    for est in SMALL["estimators"]:
        assert f"- `{est}` (" in text
    assert f"--configfile {study / 'config.yaml'}" in text
    assert "shrinkstudy replicate J12_n100x6+2x6_sigma5_tau1_mu0 0 --config" in text
    found = json.loads((study / "results" / "tables" / "findings.json").read_text())
    fit = json.loads((study / "results" / "seed" / "fit.json").read_text())
    assert fit["seed_choice"]["rule"] == "closest_fit"
    assert found["seed_example_seed"]["text"] == str(fit["seed"])
    assert (study / "results" / "report" / "protocol.html").stat().st_size > 0


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
    assert len(jobs["fit"]) == 4 and "summarise" not in jobs  # the study's summary is one job
    assert "aggregate" in jobs


def test_more_replications_only_add_chunks(study, tmp_path):
    config = yaml.safe_load((study / "config.yaml").read_text())
    config["replications"] = 60
    cfg = write_config(tmp_path, config)
    jobs = planned_jobs(study, "--configfile", str(cfg))
    assert all("start=40" in w for w in jobs["simulate"]) and len(jobs["simulate"]) == 5
    assert all("start=40" in w for w in jobs["fit"]) and len(jobs["fit"]) == 5
    assert "aggregate" in jobs and "summarise" not in jobs


@pytest.mark.parametrize("name", ["estimators", "tdist"])  # tdist only through hierbayes
def test_library_change_reruns_fits_not_simulations(study, repo, name):
    module = repo / "src" / "shrinkstudy" / "methods" / f"{name}.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# a change\n")
        jobs = planned_jobs(study)
    finally:
        module.write_text(original)
    assert "simulate" not in jobs
    assert len(jobs["fit"]) == 10 and "aggregate" in jobs


def test_figure_module_change_reruns_figures_only(study, repo):
    """A module of the figures subpackage is an input of every rule whose script imports the
    package (its __init__ imports each figure module), and of nothing upstream."""
    module = repo / "src" / "shrinkstudy" / "report" / "figures" / "facets.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# a change\n")
        jobs = planned_jobs(study)
    finally:
        module.write_text(original)
    figures = {"fig_seed_shrinkage", "fig_seed_blup_bayesglm", "summary_figures"}
    # report_tables and protocol draw their pages with figures.text_html
    assert set(jobs) - {"all"} == figures | {"report_tables", "protocol"}


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
    res = snakemake(tmp_path, "--cores", "1")  # the same command (the profile reruns incomplete jobs)
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
    same for a fit file read by a cell's summary and by the study's (aggregate)."""
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

    # a fit file read by a cell's own summary (on demand) and by the study's summary (aggregate)
    summary_a = f"results/summarise/{CELL_A}.csv"
    snakemake(tmp_path, "--cores", "1", summary_a, f"results/summarise/{CELL_B}.csv", repo_dir=repo)
    losses = tmp_path / fit_a
    good_losses = losses.read_bytes()
    (tmp_path / summary_a).unlink()
    losses.write_bytes((tmp_path / f"results/fit/{CELL_B}/reps0-20.losses.parquet").read_bytes())
    res = snakemake(tmp_path, "--cores", "1", summary_a, check=False, repo_dir=repo)
    assert CELL_B in _stopped_on(res, fit_a)
    res = snakemake(tmp_path, "--cores", "1", "results/tables/summary.csv", check=False, repo_dir=repo)
    assert CELL_B in _stopped_on(res, fit_a)
    assert not (tmp_path / "results/tables/summary.csv").exists()
    losses.unlink()
    snakemake(tmp_path, "--cores", "1", summary_a, "results/tables/summary.csv", repo_dir=repo)
    assert losses.read_bytes() == good_losses


def test_a_changed_table_stops_its_readers_and_is_rebuilt_when_deleted(study, tmp_path):
    """One byte of tables/summary.csv flipped (as a hand edit would): the next job that reads it
    (the figures) stops with one line naming it and draws nothing; deleted, the same command
    writes it again with the same bytes, the outputs that read it are those of the first run,
    and a dry run then has nothing to do. A deleted checksum record reruns the rule that wrote
    it, as a deleted table does."""
    work = tmp_path / "study"
    shutil.copytree(study, work, symlinks=True)
    cfg = study / "config.yaml"  # the study's own file: the copy's jobs have the same params
    summary = work / "results" / "tables" / "summary.csv"
    good = summary.read_bytes()
    readers = ["figures/relmse_by_n.png", "figures/coverage.pdf", "report/summary.html", "tables/findings.json",
               "protocol.md"]
    before = {name: (work / "results" / name).read_bytes() for name in readers}
    flipped = bytearray(good)
    i = good.index(b"\n", len(good) // 2) - 2  # a digit of a value
    flipped[i] ^= 0x01
    summary.write_bytes(bytes(flipped))
    res = snakemake(work, "--cores", "1", check=False, config=cfg)
    line = _stopped_on(res, "results/tables/summary.csv")
    assert "checksum mismatch" in line, line
    assert not (work / "results" / "figures" / "relmse_by_n.png").exists()  # nothing drawn from it

    summary.unlink()  # as the line says
    snakemake(work, "--cores", "2", config=cfg)
    assert summary.read_bytes() == good
    after = {name: (work / "results" / name).read_bytes() for name in readers}
    assert {n for n in readers if after[n] != before[n]} == set()
    assert planned_jobs(work, config=cfg) == {}

    for record in ("tables/.checksums/summary.csv.sha256", "seed/.checksums/fit.json.sha256"):
        path = work / "results" / record
        path.unlink()
        jobs = planned_jobs(work, config=cfg)
        assert ("aggregate" if record.startswith("tables") else "seed_example") in jobs, (record, jobs)
        assert "simulate" not in jobs and "fit" not in jobs


# --- which config is the study: the default, or a given file alone -----------------------------

ONE = {"replications": 20, "chunk_size": 10, "grid": {"mine": {"J": [3], "sizes": [4], "sigma": [1], "tau": [1]}}}
# a block named as one of the default's, holding one of the default's cells
ONE_DEFAULT_NAME = {"replications": 20, "chunk_size": 10, "grid": {"balanced": {"J": [3], "sizes": [2], "sigma": [1], "tau": [1]}}}


def dry_run(cwd: Path, *args) -> dict:
    """rule -> wildcards of the jobs a dry run started in ``cwd`` would execute."""
    res = subprocess.run([SNAKEMAKE, "-n", *args], cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return dry_run_jobs(res.stdout)


def summarised(jobs: dict) -> set:
    """The cells whose fits a dry run plans (the study's summary reads every cell's)."""
    return {w.split("cell=")[1].split(",")[0] for w in jobs.get("fit", [])}


@pytest.mark.parametrize("where", ["project", "elsewhere"])
def test_a_config_file_is_the_whole_study(repo, tmp_path, where):
    """No --configfile: config/config.yaml (116 cells). A file: that file alone, from the project
    directory and from another one (-s); --config key=value still applies on top."""
    run_dir = repo if where == "project" else tmp_path
    s = [] if where == "project" else ["-s", str(repo / "Snakefile")]
    default = dry_run(run_dir, *s)
    assert len(summarised(default)) == 116 and len(default["simulate"]) == 116
    one = write_config(tmp_path, ONE)
    jobs = dry_run(run_dir, *s, "--configfile", str(one))
    assert summarised(jobs) == {"J3_n4_sigma1_tau1_mu0"} and len(jobs["simulate"]) == 2
    jobs = dry_run(run_dir, *s, "--configfile", str(one), "--config", "replications=40")
    assert summarised(jobs) == {"J3_n4_sigma1_tau1_mu0"} and len(jobs["simulate"]) == 4
    same_name = tmp_path / "same_name.yaml"
    same_name.write_text(yaml.safe_dump(ONE_DEFAULT_NAME))
    jobs = dry_run(run_dir, *s, "--configfile", str(same_name))  # no duplicate-cell error
    assert summarised(jobs) == {"J3_n2_sigma1_tau1_mu0"}


# --- bad values and bad files stop the run before any job, with one line ------------------------

SMALL_YAML = yaml.safe_dump({k: v for k, v in SMALL.items() if k != "grid"})
GRID_YAML = "grid:\n  b: {J: [3], sizes: [2], sigma: [1], tau: [1]}\n"


@pytest.mark.parametrize(
    "text, line",
    [
        ("level: .nan\n" + GRID_YAML, "config error: level: nan is not a finite number"),
        ("hier_bayes_prior: {scale: .inf}\n" + GRID_YAML, "config error: hier_bayes_prior.scale: inf is not a finite number"),
        ("seed_example: {sizes: '100x6+2x6', sigma: .nan}\n" + GRID_YAML, "config error: seed_example.sigma: nan is not a finite number"),
        ("seed_example: {sizes: 1, J: 12}\n" + GRID_YAML, "config error: seed_example.sizes: design '1' has a single observation"),
        ("replications: 1e12\n" + GRID_YAML, "config error: replications: 1000000000000 is not valid"),
        ("replications: 100000000\nchunk_size: 10\n" + GRID_YAML, "config error: replications: 100000000 is not valid"),
        ("grid:\n  b: {J: [3, 100000000], sizes: [2], sigma: [1], tau: [1]}\n", "config error: grid.b.J.1: 100000000 is not valid"),
        ("grid:\n  b: {J: [3], sizes: [2, 100000000], sigma: [1], tau: [1]}\n", "config error: grid.b.sizes.1: 100000000 is not valid"),
        ("grid:\n  b: {J: [3], sizes: [1], sigma: [1], tau: [1]}\n", "config error: grid.b.sizes: design '1' has a single observation"),
        ("replications: 20\n" + GRID_YAML + "replications: 40\n", "config error: {file}:4: key 'replications' is given twice (also on line 1)"),
        ("results: src\n" + GRID_YAML, "config error: results: 'src' is inside the project's own folder 'src'"),
        ("results: taken/mine\n" + GRID_YAML, "config error: results: 'taken/mine': taken exists and is not a directory"),
    ],
)
def test_bad_config_stops_with_one_line(repo, tmp_path, text, line):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(text)
    (tmp_path / "taken").write_text("a file")
    res = snakemake(tmp_path, "--cores", "1", check=False, config=cfg, repo_dir=repo)
    # stopped while reading the study, before any job was planned
    assert res.returncode != 0 and "Building DAG of jobs" not in res.stdout + res.stderr
    errors = [x for x in (res.stdout + res.stderr).splitlines() if "error" in x.lower()]
    assert len(errors) == 1 and errors[0].startswith(line.format(file=cfg)), res.stderr[-2000:]
    assert not (tmp_path / "results").exists()


def test_integral_replications_and_exponents_are_accepted(repo, tmp_path):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("replications: 200.0\nchunk_size: 1e2\nlevel: 9e-1\n" + GRID_YAML)
    jobs = planned_jobs(tmp_path, "--configfile", str(cfg))
    assert len(jobs["simulate"]) == 2 and "start=100, stop=200" in " ".join(jobs["simulate"])


def make_cmd(target, *args):
    """``make <target>`` in the project copy with this test's virtualenv (not rebuilt)."""
    return [shutil.which("make") or "make", "-s", "-o", f"{BIN}/snakemake", target, f"BIN={BIN}", "CORES=2", *args]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(
    "content, line",
    [
        (None, "config error: {file}: no such config file"),
        (b"# caf\xe9\nreplications: 20\n", "config error: {file}:1: not UTF-8 text (byte 0xe9); save the file as UTF-8"),
        (b"", "config error: {file}: the file is empty; a study config needs at least a grid"),
        (b"replications: 20\ngrid: [unclosed\n", "config error: {file}:3: not valid YAML (expected ',' or ']', but got '<stream end>')"),
    ],
)
def test_make_study_names_a_bad_config_file(repo, tmp_path, content, line):
    """Files Snakemake itself cannot read (it reads --configfile before the workflow runs):
    ``make study CONFIG=file`` checks the file first and names it, and the line."""
    cfg = tmp_path / "mine.yaml"
    if content is not None:
        cfg.write_bytes(content)
    res = subprocess.run(make_cmd("study", f"CONFIG={cfg}"), cwd=repo, capture_output=True, text=True)
    assert res.returncode != 0
    assert res.stderr.splitlines()[0] == line.format(file=cfg), res.stderr
    assert "Building DAG" not in res.stdout + res.stderr  # snakemake did not start


@pytest.mark.parametrize(
    "content, line",
    [
        (None, "config error: {file}: no such config file"),
        (b"# caf\xe9\nreplications: 20\n", "config error: {file}:1: not UTF-8 text (byte 0xe9); save the file as UTF-8"),
        (b"replications: 20\ngrid: [unclosed\n", "config error: {file}:3: not valid YAML (expected ',' or ']', but got '<stream end>')"),
        (
            b"replications: 20\n__use_yte__: true\nchunk_size: ?open('{ran}', 'w').write('ran') and 10\n",
            "config error: {file}:2: '__use_yte__' asks Snakemake to run the file's Python expressions "
            "(YAML templating); a study file holds plain values only",
        ),
        (
            b"results: 'results/{x}'\n" + GRID_YAML.encode(),
            "config error: results: 'results/{x}' has '{' '}', which Snakemake reads as a wildcard or a "
            "pattern or which breaks its paths; use letters, digits and . _ - + / only",
        ),
    ],
)
def test_snakemake_configfile_names_a_bad_file(repo, tmp_path, content, line):
    """``snakemake --configfile F`` in the project (the README's way for the example study), which
    reads F before the Snakefile: one line naming the file and the line, and a templated file's
    Python never runs."""
    cfg, ran = tmp_path / "mine.yaml", tmp_path / "ran"
    if content is not None:
        cfg.write_bytes(content.replace(b"{ran}", str(ran).encode()))
    res = subprocess.run([SNAKEMAKE, "--cores", "1", "--configfile", str(cfg)], cwd=repo, capture_output=True, text=True)
    assert res.returncode == 1
    errors = [x for x in (res.stdout + res.stderr).splitlines() if "error" in x.lower()]
    assert errors == [line.replace("{file}", str(cfg))], res.stderr[-3000:]
    assert not ran.exists()  # the expression did not run
    assert "Building DAG" not in res.stdout + res.stderr


def test_user_effects_bad_draws_stop_the_simulate_job_with_one_line(tmp_path):
    """A user's effects distribution that passes the check before the jobs but draws a
    non-finite value in a simulate job (here: only for J = 7 groups): one line naming it, and
    nothing stored."""
    copy = copy_repo(tmp_path / "copy")
    (copy / "badjob.py").write_text(
        "import numpy as np\n\n\ndef nan7(rng, shape, tau):\n    x = tau * rng.standard_normal(shape)\n"
        "    if np.shape(x) == (7,):\n        x[3] = np.nan\n    return x\n"
    )
    work = tmp_path / "work"
    work.mkdir()
    write_config(work, dict(ONE, grid={"b": {"J": [7], "sizes": [4], "sigma": [1], "tau": [1], "effects": ["badjob:nan7"]}}))
    res = snakemake(work, "--cores", "1", check=False, repo_dir=copy)
    assert res.returncode != 0
    errors = [x for x in res.stderr.splitlines() if x.startswith("error: ")]
    assert errors == ["error: effects: badjob:nan7 returned 1 non-finite value(s) of 7 at tau = 1"], res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    assert not list((work / "results").rglob("*.parquet"))


# --- the project's own library, whatever environment is active ---------------------------------


def test_jobs_run_the_copys_own_library(tmp_path):
    """An environment whose shrinkstudy is another copy of the project (PYTHONPATH naming this
    repository's src/, as an editable install of it does): the jobs of a copy run the copy's
    src/, as an edit there shows."""
    copy = copy_repo(tmp_path / "copy")
    marker = tmp_path / "chunk_columns.txt"
    module = copy / "src" / "shrinkstudy" / "design" / "simulate.py"
    module.write_text(
        module.read_text()
        + "\n\n_chunk_columns = chunk_columns\n\n\ndef chunk_columns(*args, **kwargs):\n"
        + f"    open({str(marker)!r}, 'a').write(__file__ + '\\n')\n"
        + "    return _chunk_columns(*args, **kwargs)\n"
    )
    work = tmp_path / "work"
    work.mkdir()
    write_config(work, ONE)
    target = "results/simulate/J3_n4_sigma1_tau1_mu0/reps0-10.truth.parquet"
    cmd = [SNAKEMAKE, "-s", str(copy / "Snakefile"), "-d", str(work), "--configfile", str(work / "config.yaml")]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), MPLBACKEND="Agg")
    res = subprocess.run([*cmd, "--cores", "1", target], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (work / target).is_file()
    assert marker.read_text().splitlines() == [str(module)]  # the one simulate job, the copy's code


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_checks_a_study_with_the_copys_own_library(tmp_path):
    """The config check of ``make study`` in a copy imports the copy's src/, so that a user's
    estimator file of the copy is found (relative to the copy, not to the installed package's
    project)."""
    copy = copy_repo(tmp_path / "copy")
    shutil.copy(copy / "examples" / "limited_translation.py", copy / "examples" / "only_in_the_copy.py")
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(yaml.safe_dump(dict(ONE, estimators=["raw", "blup", "examples/only_in_the_copy.py:estimate"])))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    res = subprocess.run(make_cmd("study", f"CONFIG={cfg}", "CORES=1 -n"), cwd=copy, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.splitlines()[0] == f"{cfg}: 1 cells, 20 replications each"


# --- a killed run resumes with the same command ---------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _wait_for_no_process_in(workdir: Path, timeout: float = 120.0) -> None:
    """Until no process (this one and its ancestors aside) has ``workdir`` as its directory."""
    from shrinkstudy.store.runlock import _ancestors

    here = workdir.resolve()
    mine = _ancestors(os.getpid())
    deadline = time.time() + timeout
    while time.time() < deadline:
        busy = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in mine:
                continue
            try:
                if Path(os.readlink(entry / "cwd")).resolve() == here:
                    busy.append(entry.name)
            except OSError:
                continue
        if not busy:
            return
        time.sleep(0.1)
    raise AssertionError(f"processes still running in {workdir}: {busy}")


def _snakemake_pid(pid: int) -> int | None:
    """The snakemake process below ``pid`` (make runs it)."""
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            argv = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(os.path.basename(a.decode()) == "snakemake" for a in argv[:2]):
            return p
        todo += _children(p)
    return None


@pytest.mark.skipif(not Path("/proc/self/task").exists() or shutil.which("make") is None, reason="needs Linux /proc and make")
def test_kill_9_then_the_same_command_finishes(study, repo, tmp_path):
    """``make study`` killed with kill -9 (snakemake itself, its jobs left running) at a random
    moment, after a fit, and once the tables are written; each time the same command goes on
    (no --unlock, no --rerun-incomplete), a second run beside a live one is refused, and the
    tables are byte-identical to an uninterrupted run's."""
    import random

    from shrinkstudy.store.runlock import lock_files

    cfg = write_config(tmp_path, dict(SMALL, results="results/killed"))
    out = repo / "results" / "killed"
    cmd = make_cmd("study", f"CONFIG={cfg}")
    fits = lambda: len(list((out / "fit").rglob("*.losses.parquet")))  # noqa: E731
    logs = []
    lock_at_start = []  # a lock (an earlier run's) was there when the run started
    left_lock = []  # a lock was there just after the kill

    def run_until(cond):
        log = tmp_path / f"run{len(logs)}.log"
        lock_at_start.append(bool(lock_files(repo)))
        with open(log, "w") as fh:
            proc = subprocess.Popen(cmd, cwd=repo, stdout=fh, stderr=subprocess.STDOUT)
            deadline = time.time() + 300
            killed = False
            while proc.poll() is None and time.time() < deadline:
                if cond():
                    pid = _snakemake_pid(proc.pid)
                    if pid is not None:
                        os.kill(pid, signal.SIGKILL)
                        killed = True
                        time.sleep(0.2)
                        left_lock.append(bool(lock_files(repo)))  # a kill before the lock leaves none
                        break
                time.sleep(0.05)
            proc.wait(timeout=120)
        logs.append(log.read_text())
        if killed:
            # the killed run's jobs go on (kill -9 reaches snakemake alone) and may still write
            # files: the next run starts once they are gone, so that what it sees is settled
            _wait_for_no_process_in(repo)
        return killed, proc.returncode

    delay = random.uniform(1.0, 8.0)
    t0 = time.time()
    killed, _ = run_until(lambda: time.time() - t0 > delay)
    assert killed, f"finished within {delay:.1f} s:\n{logs[-1][-2000:]}"
    n0 = fits()  # counted once the killed run's jobs have ended: "one more fit" is the resumed run's
    lock_checked = []

    def after_one_more_fit():
        if fits() <= n0:
            return False
        if not lock_checked:  # the same command beside this live run is refused, its lock kept
            res = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
            lock_checked.append(res)
            assert lock_files(repo), "the lock of a live run was removed"
        return True

    killed, _ = run_until(after_one_more_fit)
    assert killed, logs[-1][-3000:]
    assert left_lock[-1], "a run killed after a fit of its own left no lock"
    res = lock_checked[0]
    assert res.returncode != 0 and "LockException" in res.stdout + res.stderr
    killed, _ = run_until(lambda: (out / "tables" / "summary.csv").exists())
    assert killed, logs[-1][-3000:]
    killed, rc = run_until(lambda: False)
    assert rc == 0, logs[-1][-3000:]
    for log in logs[1:]:
        assert "IncompleteFilesException" not in log and "LockException" not in log, log[-3000:]
    # a run removes a lock only where an earlier run left one, and every run that read the
    # Snakefile (Snakemake then says how it assumes the file system) with a lock there removed it;
    # a kill can land before Snakemake locks, and before the next run reads its Snakefile
    for log, locked in zip(logs[1:], lock_at_start[1:]):
        removed = "Removed the lock of an earlier run" in log
        parsed = "Assuming unrestricted shared filesystem usage" in log
        assert removed <= locked and (removed or not (locked and parsed)), (locked, log[-3000:])
    assert any("Removed the lock of an earlier run" in log for log in logs[1:]), lock_at_start
    for name in TABLES[:-1]:
        assert (study / "results" / "tables" / name).read_bytes() == (out / "tables" / name).read_bytes(), name
    assert dry_run(repo, "--configfile", str(cfg)) == {}  # nothing left to do
    assert not lock_files(repo)


def test_one_new_cell_reruns_its_jobs_and_gives_the_files_of_a_full_run(study, tmp_path):
    """A new value in one block (one new cell): only the new cell is simulated and fitted, the
    study's summary and the outputs that read it rerun, and of the figures only the one that plots
    the new cell is drawn. Every table, figure and report page is then byte for byte that of a
    full run of the final config from an empty directory."""
    import copy

    grown = tmp_path / "grown"
    shutil.copytree(study, grown, symlinks=True)
    config = copy.deepcopy(SMALL)
    config["grid"]["seed"]["sigma"] = [5, 2]  # one new cell of the seed's design
    write_config(grown, config)
    new = "J12_n100x6+2x6_sigma2_tau1_mu0"
    jobs = planned_jobs(grown)
    assert {w.split("cell=")[1].split(",")[0] for w in jobs["simulate"] + jobs["fit"]} == {new}
    assert set(jobs) == {"simulate", "fit", "aggregate", "summary_figures", "report_tables", "findings",
                         "protocol", "all"}, jobs
    snakemake(grown, "--cores", "2")
    log = (grown / "results" / "logs" / "figures" / "summary_figures.log").read_text()
    assert "drawn: group_size_mse;" in log, log

    full = tmp_path / "full"
    full.mkdir()
    write_config(full, config)
    snakemake(full, "--cores", "2")
    a, b = grown / "results", full / "results"
    files = [p.relative_to(b) for p in b.rglob("*") if p.is_file()
             and p.parts[len(b.parts)] in ("tables", "figures", "report", "seed", "protocol.md")
             and ".cache" not in p.parts]
    assert len(files) > 30
    # the protocol names the study's config file, the only difference between the two runs
    same = lambda f: (a / f).read_bytes().replace(bytes(grown), bytes(full)) == (b / f).read_bytes()  # noqa: E731
    # the checksum records too, but provenance.json's: that file names the study's directory
    records = [f for f in files if ".checksums" in f.parts]
    assert [str(f) for f in files if f.name != "provenance.json.sha256" and not same(f)] == []
    from shrinkstudy.store.smkio import read_checked

    for f in records:  # each run's record is its own file's
        data = f.parent.parent / f.name.removesuffix(".sha256")
        assert read_checked(a / data) == (a / data).read_bytes() and read_checked(b / data) == (b / data).read_bytes()
    assert len(records) == 13


def test_the_report_of_a_study_without_a_balanced_block(repo, tmp_path):
    """The report's captions read only what every study has: one without a block named
    'balanced' (its figures say they have no balanced cells) still gets its report."""
    config = {
        "base_seed": 3,
        "replications": 20,
        "chunk_size": 20,
        "grid": {"mine": {"sizes": ["100x6+2x6"], "sigma": [2, 5], "tau": [1]}},
        "seed_example": {"seed": 522387, "sizes": "100x6+2x6", "sigma": 5, "tau": 1},
    }
    write_config(tmp_path, config)
    snakemake(tmp_path, "--cores", "2", repo_dir=repo)
    snakemake(tmp_path, "--report", str(tmp_path / "report.html"), repo_dir=repo)
    text = (tmp_path / "report.html").read_text(encoding="utf-8", errors="ignore")
    assert "relmse_by_n.png" in text and "as in each cell" not in text
