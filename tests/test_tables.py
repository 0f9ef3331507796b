"""Tables and provenance: deterministic bytes, content of each table, provenance fields."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from shrinkstudy.design.cells import Cell
from shrinkstudy.methods.estimators import Truth, fit_estimators
from shrinkstudy.evaluate.losses import replication_losses, varcomp_table
from shrinkstudy.evaluate.measures import SUMMARY_COLUMNS, summarise_cell
from shrinkstudy.report.provenance import (
    PACKAGES,
    SEEDING,
    canonical_json,
    config_sha256,
    git_state,
    library_closure,
    module_file,
    provenance,
    script_modules,
)
from shrinkstudy.design.simulate import simulate_reps, suffstats_from_array
from shrinkstudy.report.tables import (
    HEADLINE_COLUMNS,
    REPLICATION_COLUMNS,
    format_estimate,
    normalise_summary,
    replication_table,
    sort_summary,
    stored_summary,
    write_tables,
)

FAST = ("raw", "pooled", "blup", "varmatch", "bayesglm", "james_stein", "oracle")
CELLS = [
    Cell(sizes=(100,) * 6 + (2,) * 6, sigma=5.0, tau=1.0, block="seed"),
    Cell(sizes=(5,) * 5, sigma=5.0, tau=1.0, block="balanced"),
    Cell(sizes=(20,) * 12, sigma=5.0, tau=1.0, block="balanced"),
    Cell(sizes=(5,) * 12, sigma=5.0, tau=2.0, block="balanced"),
    Cell(sizes=(5,) * 5, sigma=1.0, tau=0.0, block="balanced"),
]
CONFIG = {"seed": 20240501, "reps": 80, "grid": {"balanced": {"J": [5, 12], "sizes": [5, 20]}}}
FILES = [
    "summary.csv",
    "summary.md",
    "summary.tex",
    "headline.csv",
    "headline.md",
    "replication.csv",
    "replication.md",
    "provenance.json",
]


@pytest.fixture(scope="module")
def summary():
    out = []
    for cell in CELLS:
        reps = np.arange(80)
        y, means = simulate_reps(cell, reps, 20240501)
        stats = suffstats_from_array(y, cell.sizes)
        fit = fit_estimators(stats, FAST, truth=Truth(cell.mu, cell.tau, cell.sigma))
        L = replication_losses(fit, means, reps, cell)
        out.append(summarise_cell(L, varcomp_table(fit, reps), cell))
    return pd.concat(out, ignore_index=True)


def test_identical_inputs_give_identical_bytes(summary, tmp_path):
    prov = provenance(CONFIG)
    a = write_tables(summary, tmp_path / "a", prov)
    b = write_tables(summary.sample(frac=1.0, random_state=1), tmp_path / "b", prov)
    assert [p.name for p in a] == FILES
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


def test_summary_csv_round_trips(summary, tmp_path):
    paths = write_tables(summary, tmp_path, provenance(CONFIG))
    csv = pd.read_csv(paths[0])
    assert list(csv.columns) == list(SUMMARY_COLUMNS)
    assert len(csv) == len(summary)
    s = sort_summary(summary)
    assert csv["cell"].tolist() == s["cell"].tolist()
    assert csv["estimator"].tolist() == s["estimator"].tolist()
    for c in ("mse", "mse_mcse", "rel_mse", "boundary_share", "oracle_risk"):
        np.testing.assert_allclose(csv[c], s[c], rtol=1e-9, equal_nan=True)
    # sort order: raw first within each cell, "all" before the size classes
    seed = csv[csv["design"] == "100x6+2x6"]
    assert seed["estimator"].iloc[0] == "raw"
    assert seed["groups"].iloc[:3].tolist() == ["all", "n=2", "n=100"]
    assert "\r" not in paths[0].read_text()


def test_paper_tables(summary, tmp_path):
    paths = {p.name: p for p in write_tables(summary, tmp_path, provenance(CONFIG))}
    md = paths["summary.md"].read_text().splitlines()
    table = [line for line in md if line.startswith("| ")]
    header = [h.strip() for h in table[0].strip("|").split("|")]
    assert header[-len(FAST) :] == list(FAST)
    assert len(table) == 1 + len(CELLS)  # header + one row per cell
    seed_row = next(line for line in table if "100x6+2x6" in line)
    assert seed_row.rstrip(" |").split("|")[-2].strip() == "n/a"  # james_stein does not apply
    raw = summary[
        (summary["design"] == "100x6+2x6") & (summary["estimator"] == "raw") & (summary["groups"] == "all")
    ]
    assert format_estimate(raw["mse"].iloc[0], raw["mse_mcse"].iloc[0]) in seed_row
    tex = paths["summary.tex"].read_text()
    assert tex.count(r"\\") == 1 + len(CELLS)
    assert r"james\_stein" in tex and r"\toprule" in tex and r"\bottomrule" in tex


def test_format_estimate():
    assert format_estimate(0.82345, 0.01234) == "0.823 (0.012)"
    assert format_estimate(6.6008, 0.1172) == "6.60 (0.12)"
    assert format_estimate(123.4, 5.6) == "123.4 (5.6)"
    assert format_estimate(1234.4, 56.0) == "1234 (56)"
    assert format_estimate(1.0, 0.0) == "1.000 (0)"
    assert format_estimate(float("nan"), 0.1) == "n/a"


def test_headline_table(summary, tmp_path):
    paths = {p.name: p for p in write_tables(summary, tmp_path, provenance(CONFIG))}
    head = pd.read_csv(paths["headline.csv"])
    assert list(head.columns) == list(HEADLINE_COLUMNS)
    assert "raw" not in set(head["estimator"])
    bal = head[head["table"] == "balanced"]
    assert (bal["sigma"] == 5).all() and (bal["groups"] == "all").all()
    assert sorted(set(zip(bal["J"], bal["n"]))) == [(5, 5), (12, 5), (12, 20)]  # sigma = 1 cell left out
    seed = head[head["table"] == "seed"]
    assert set(seed["groups"]) == {"all", "n=2", "n=100"}
    assert set(seed["design"]) == {"100x6+2x6"}
    r = summary[
        (summary["design"] == "100x6+2x6") & (summary["estimator"] == "blup") & (summary["groups"] == "n=2")
    ]
    got = seed[(seed["estimator"] == "blup") & (seed["groups"] == "n=2")]["rel_mse"].iloc[0]
    assert got == pytest.approx(r["rel_mse"].iloc[0], rel=1e-9)
    md = paths["headline.md"].read_text()
    assert "Balanced designs, sigma = 5" in md and "100x6+2x6" in md


def test_replication_table(summary, tmp_path):
    paths = {p.name: p for p in write_tables(summary, tmp_path, provenance(CONFIG))}
    rep = pd.read_csv(paths["replication.csv"])
    assert list(rep.columns) == list(REPLICATION_COLUMNS)
    assert len(rep) == len(CELLS) and set(rep["cell"]) == {c.name for c in CELLS}
    assert set(rep["measure"]) <= {"mse", "rel_mse"}
    # the maximum, computed directly
    for cell in CELLS:
        s = summary[summary["cell"] == cell.name]
        cands = [s["mse_mcse"] / s["mse"], (s["rel_mse_mcse"] / s["rel_mse"])[s["estimator"] != "raw"]]
        best = pd.concat(cands).replace(np.inf, np.nan).max()
        got = rep.loc[rep["cell"] == cell.name, "rel_mcse"].iloc[0]
        assert got == pytest.approx(best, rel=1e-9)
    md = paths["replication.md"].read_text()
    assert "Largest over all 5 cells" in md
    t = replication_table(summary)
    assert (t["rel_mcse"] > 0).all()


def test_provenance_fields(summary, tmp_path):
    prov = provenance(CONFIG)
    assert set(prov) == {"config", "config_sha256", "files", "packages", "git", "platform", "seeding"}
    assert prov["files"] == {"estimators": {}, "config": {}}  # none given here
    assert prov["config"] == CONFIG
    assert set(PACKAGES) | {"python"} == set(prov["packages"])
    assert prov["packages"]["numpy"] == np.__version__
    assert prov["seeding"] == SEEDING and "SeedSequence(base_seed, spawn_key=(cell_key, rep))" in SEEDING
    # the hash ignores key order and numpy scalar types, and sees any value change
    reordered = {
        "grid": {"balanced": {"sizes": [5, 20], "J": [np.int64(5), 12]}},
        "reps": 80,
        "seed": 20240501,
    }
    assert config_sha256(reordered) == prov["config_sha256"]
    assert canonical_json(reordered) == canonical_json(CONFIG)
    assert config_sha256({**CONFIG, "reps": 81}) != prov["config_sha256"]
    # deterministic: two calls agree; the JSON file holds exactly this dict
    assert provenance(CONFIG) == prov
    paths = {p.name: p for p in write_tables(summary, tmp_path, prov)}
    assert json.loads(paths["provenance.json"].read_text()) == json.loads(json.dumps(prov))


def test_git_state_with_and_without_a_repository(tmp_path):
    assert git_state(tmp_path) == {"commit": None, "dirty": None}
    try:
        subprocess.run(["git", "init", "-q", str(tmp_path / "r")], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git not available")
    repo = tmp_path / "r"
    env = ["-c", "user.name=t", "-c", "user.email=t@example.org"]
    (repo / "a.txt").write_text("1\n")
    subprocess.run(["git", "-C", str(repo), "add", "a.txt"], check=True)
    subprocess.run(["git", "-C", str(repo), *env, "commit", "-qm", "x"], check=True)
    state = git_state(repo)
    assert len(state["commit"]) == 40 and state["dirty"] is False
    (repo / "a.txt").write_text("2\n")
    assert git_state(repo)["dirty"] is True
    assert provenance({}, repo=repo)["git"]["commit"] == state["commit"]


def test_tables_from_the_stored_summary(summary, tmp_path):
    """The workflow writes the tables from ``stored_summary``: the numbers as summary.csv stores
    them (10 significant digits). Its tables are byte for byte those written from memory, and
    reading summary.csv back gives the same frame."""
    stored = stored_summary(summary)
    assert stored["mse"].tolist() == [float("%.10g" % v) for v in summary["mse"]]
    prov = provenance(CONFIG)
    a = {p.name: p for p in write_tables(summary, tmp_path / "mem", prov)}
    b = {p.name: p for p in write_tables(stored, tmp_path / "stored", prov)}
    for name in ("summary.csv", "headline.csv", "summary.md", "headline.md"):
        assert a[name].read_bytes() == b[name].read_bytes(), name
    back = normalise_summary(pd.read_csv(b["summary.csv"]))
    pd.testing.assert_frame_equal(back, sort_summary(stored), check_exact=True)
    assert "| 12 | 20 | 1 |" in b["headline.md"].read_text()  # n printed as 20, not 20.0


def test_library_closure_follows_relative_imports(tmp_path):
    # the real package: the intervals' t table is reached through hierbayes, the summary form
    # through the registry's "shrinkstudy.methods.knownse:..." references; __init__ always
    assert library_closure(["methods.estimators"]) == [
        "__init__", "design", "design.cells", "design.names", "design.simulate", "design.worlds",
        "methods", "methods.ebayes", "methods.estimators", "methods.hierbayes", "methods.knownse",
        "methods.plugins", "methods.registry", "methods.reml", "methods.tdist", "store", "store.smkio",
        "usercode",
    ]
    assert library_closure(["design.cells"]) == [
        "__init__", "design", "design.cells", "design.names", "design.worlds", "store", "store.smkio",
        "usercode",
    ]
    assert "report.figures" in library_closure(["cli"])  # importlib.import_module("shrinkstudy.report.figures")
    # the figures subpackage: its __init__ re-exports every figure module, which reach the
    # registry through "from ...methods.registry import" / "from ...methods import registry"
    closure = library_closure(["report.figures"])
    assert {
        "report.figures", "report.figures.style", "report.figures.facets", "report.figures.seed",
        "methods.registry",
    } <= set(closure)
    package_dir = module_file("__init__").parent
    assert module_file("report.figures").relative_to(package_dir).as_posix() == "report/figures/__init__.py"
    assert library_closure(["report.figures.style"]) == closure  # the subpackage's __init__ runs first
    # a toy package: every import form, imports inside functions, attributes and other packages
    # skipped, cycles
    pkg = tmp_path / "toypkg"
    pkg.mkdir()
    files = {
        "__init__.py": "__version__ = '1'\n",
        "a.py": "import numpy\nfrom .b import x\nfrom . import __version__\nimport toypkg.e as e\n",
        "b.py": "def f():\n    from . import c\n",
        "c.py": "from .a import y\nfrom os import path\nfrom toypkg import f\n",
        "d.py": "",
        "e.py": "import importlib\nm = importlib.import_module('toypkg.g')\nfrom .sub.h import z\n",
        "f.py": "from toypkg.d import w\n",
        "g.py": "",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    assert library_closure(["a"], pkg) == ["__init__", "a", "b", "c", "d", "e", "f", "g"]
    assert library_closure(["d"], pkg) == ["__init__", "d"]
    with pytest.raises(FileNotFoundError, match="'zz'"):
        library_closure(["d", "zz"], pkg)
    # a toy subpackage: relative imports inside it (".", ".."; one going above the package is
    # skipped), a submodule imported by name from it, a module importing one of its modules
    sub = pkg / "fig"
    sub.mkdir()
    files = {
        "fig/__init__.py": "from .style import s\nfrom .plot import p\n",
        "fig/style.py": "from ..d import w\nfrom .. import g\nfrom ...other import q\n",
        "fig/plot.py": "def p():\n    from .style import s\n    from toypkg.fig import helpers, s\n",
        "fig/helpers.py": "",
        "fig/unused.py": "from ..a import x\n",
        "k.py": "from toypkg.fig.plot import p\n",
        "m.py": "import toypkg.fig.helpers\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    fig = ["fig", "fig.helpers", "fig.plot", "fig.style"]
    assert library_closure(["k"], pkg) == ["__init__", "d", *fig, "g", "k"]
    assert library_closure(["m"], pkg) == ["__init__", "d", *fig, "g", "m"]  # fig/__init__ runs
    assert library_closure(["fig.helpers"], pkg) == ["__init__", "d", *fig, "g"]
    everything = ["__init__", "a", "b", "c", "d", "e", "f", *fig, "fig.unused", "g"]
    assert library_closure(["fig.unused"], pkg) == everything
    assert module_file("fig", pkg) == sub / "__init__.py"
    assert module_file("fig.style", pkg) == sub / "style.py"
    assert module_file("__init__", pkg) == pkg / "__init__.py"
    assert module_file("fig.s", pkg) is None and module_file("zz", pkg) is None
    with pytest.raises(FileNotFoundError, match="'fig.zz'"):
        library_closure(["fig.zz"], pkg)
    # a script: attributes of the subpackage are not modules, its modules are
    script = tmp_path / "script.py"
    script.write_text("from toypkg.fig import p, helpers\nfrom toypkg import fig, __version__\n")
    assert script_modules(script, "toypkg", pkg) == ["fig", "fig.helpers"]


def test_headline_leaves_out_an_interval_of_anothers_point(summary, tmp_path):
    """blup_pr is blup's point with another interval: the headline (relative MSE alone) does not
    repeat blup's column, the summary (coverage too) keeps it."""
    pr = summary[summary["estimator"] == "blup"].assign(estimator="blup_pr")
    both = pd.concat([summary, pr], ignore_index=True)
    paths = {p.name: p for p in write_tables(both, tmp_path, provenance(CONFIG))}
    head = pd.read_csv(paths["headline.csv"])
    assert "blup" in set(head["estimator"]) and "blup_pr" not in set(head["estimator"])
    assert "blup_pr" not in paths["headline.md"].read_text()
    assert "blup_pr" in set(pd.read_csv(paths["summary.csv"])["estimator"])
