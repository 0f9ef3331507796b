"""A study of the user's own shape reads as well as the default one: a study of 8 cells (one
block not called ``balanced``, one group size, normal and t effects, no seed example, no
bayesglm, a user's estimator), run once end to end on a few replications; every table, figure
and protocol line is then held against what the study asked for."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import ROOT, run_snakemake
FILES = ("Snakefile", "workflow", "src", "config", "examples", "matplotlibrc", "Makefile", "pyproject.toml")

pytestmark = pytest.mark.slow

ESTIMATORS = ["raw", "blup", "james_stein", "npmle", "constrained_bayes"]
PLUGIN = "examples/limited_translation.py:estimate"
STUDY = {
    "base_seed": 11,
    "replications": 20,
    "chunk_size": 20,
    "results": "results/mine",
    "estimators": ESTIMATORS + [PLUGIN],
    "grid": {"main": {"J": [5, 20], "sizes": [4], "sigma": [1, 3], "tau": [1], "effects": ["normal", "t"]}},
}
#: every estimator of the study, by the name its rows carry
NAMES = ESTIMATORS + ["limited_translation"]
#: the built-ins this study does not have (no generated text may name them)
ABSENT = ["pooled", "varmatch", "bayesglm", "hier_bayes", "oracle", "sure", "blup_pr"]


def _copy_project(dest: Path) -> Path:
    for name in FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "results"))
        else:
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """One copy of the project for every study of this module (each writes to its own
    ``results:`` directory)."""
    return _copy_project(tmp_path_factory.mktemp("project"))


def run_study(repo: Path, name: str, study: dict) -> tuple[Path, Path]:
    """Write ``study`` to ``<repo>/<name>.yaml`` and run it to every output on 2 cores:
    (config file, results directory)."""
    config = repo / f"{name}.yaml"
    config.write_text(yaml.safe_dump(study, sort_keys=False))
    run_snakemake(repo, repo, "--cores", "2", "--configfile", str(config))
    return config, repo / study["results"]


@pytest.fixture(scope="module")
def mine(project):
    """The study, run once to every output: (project copy, config file, results directory)."""
    return (project, *run_study(project, "mine", STUDY))


@pytest.fixture(scope="module")
def summary(mine):
    from shrinkstudy.report import tables

    return tables.read_summary(mine[2] / "tables" / "summary.csv")


def _visible_points(fig) -> dict:
    """Per gid, the number of data points of lines carrying that gid that lie inside their axes'
    limits (a point outside the limits, or on an axis of width 0, is not seen). A horizontal
    segment of two points (a worlds figure's oracle) is one value, and so is a bar."""
    import numpy as np

    out: dict = {}
    for ax in fig.axes:
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        wide = x1 > x0 * (1 + 1e-9)
        for line in ax.lines:
            gid = line.get_gid()
            if gid is None:
                continue
            x = np.asarray(line.get_xdata(), float)
            y = np.asarray(line.get_ydata(), float)
            seen = wide & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1) & np.isfinite(y)
            if len(y) == 2 and y[0] == y[1] and line.get_linestyle() != "None" and line.get_gid().find("=") < 0:
                seen = seen[:1] & seen[1:]  # a segment: one value
            out[gid] = out.get(gid, 0) + int(seen.sum())
        for bar in ax.patches:
            gid = bar.get_gid()
            if gid is not None:
                h = bar.get_y() + bar.get_height()
                out[gid] = out.get(gid, 0) + int(wide and np.isfinite(h) and y0 <= h <= y1)
    return out


def test_boundary_figure_draws_every_cell_with_one_group_size(summary):
    """Point 1: one n gave an x axis of width 0 and an empty figure."""
    from shrinkstudy.report import figures

    data = figures.boundary_data(summary)
    assert len(data) == 4  # the normal-effects cells: J 5, 20 x sigma 1, 3
    fig = figures.plot_boundary(summary)
    seen = _visible_points(fig)
    assert seen == {"J=5": 2, "J=20": 2}
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        assert lo < 4 < hi and hi / lo >= 2


@pytest.mark.parametrize("name", ["relmse_by_n", "spread", "coverage"])
def test_by_n_figures_with_one_group_size_keep_the_estimators_at_their_n(summary, name):
    """Point 4: with one n the dodged estimators were stretched across the panel."""
    import numpy as np

    from shrinkstudy.report import figures

    fig = getattr(figures, f"plot_{name}")(summary)
    for ax in fig.axes:
        if not ax.lines:
            continue
        lo, hi = ax.get_xlim()
        xs = np.concatenate([np.asarray(l.get_xdata(), float) for l in ax.lines if l.get_gid()])
        # every point within 10% of n = 4 on an axis spanning a factor of 2 either side of it
        assert np.all(np.abs(np.log(xs / 4.0)) < np.log(1.1))
        assert lo == pytest.approx(2.0) and hi == pytest.approx(8.0)


def _clipped_texts(fig) -> list[str]:
    """The drawn, non-empty text artists whose extent leaves the figure (tick labels only where
    their tick is drawn)."""
    fig.draw_without_rendering()
    renderer = fig._get_renderer()
    box = fig.bbox
    texts = [t for t in fig.texts + fig.legends if t.get_visible()]
    for ax in fig.axes:
        if not ax.axison:
            texts += list(ax.texts)
            continue
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis._update_ticks():  # the ticks drawn (inside the view)
                texts += [tick.label1, tick.label2]
    out = []
    for t in texts:
        if not t.get_visible() or (hasattr(t, "get_text") and not str(t.get_text()).strip()):
            continue
        e = t.get_window_extent(renderer)
        if e.x0 < box.x0 - 0.5 or e.y0 < box.y0 - 0.5 or e.x1 > box.x1 + 0.5 or e.y1 > box.y1 + 0.5:
            out.append(t.get_text() if hasattr(t, "get_text") else repr(t))
    return out


SUMMARY_FIGURES = ["relmse_by_n", "nested_loop", "group_size_mse", "spread", "boundary", "coverage",
                   "worlds_relmse", "worlds_w1", "worlds_coverage"]


@pytest.mark.parametrize("name", SUMMARY_FIGURES)
def test_no_text_leaves_the_figure(summary, name):
    """Point 5: the worlds figures cut off their y label with one row of panels."""
    from shrinkstudy.report import figures

    fig = getattr(figures, f"plot_{name}")(summary)
    assert _clipped_texts(fig) == []


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_protocol_measures_table_has_every_measure_of_the_summary(mine):
    """Point 8: W1 and Spearman were in summary.csv but not in the protocol's measures table."""
    results = mine[2]
    columns = pd.read_csv(results / "tables" / "summary.csv", nrows=1).columns
    measures = [c[: -len("_mcse")] for c in columns if c.endswith("_mcse")]
    assert {"w1", "spearman", "mse", "coverage"} <= set(measures)
    table = _section((results / "protocol.md").read_text(), "Performance measures")
    listed = [line.split("|")[1].strip().strip("`") for line in table.splitlines() if line.startswith("| `")]
    assert listed == measures


def test_generated_text_points_to_the_study_s_own_results(mine):
    """Point 9: with ``results: results/mine`` the protocol pointed to results/tables/."""
    import re

    text = (mine[2] / "protocol.md").read_text()
    paths = re.findall(r"`(results/[^`]*)`", text)
    assert paths and all(p.startswith("results/mine/") for p in paths), paths


def test_plan_table_formats_every_count_one_way():
    """Point 9: replication.md printed needed "2,650" beside planned "1500"."""
    from shrinkstudy.report.tables import _plan_markdown

    rep = pd.DataFrame([{
        "cell": "J5_n4_sigma1_tau1_mu0", "pilot": 1000, "planned": 1500, "run": 1500, "max": 5000,
        "capped": False, "reason": "target", "target_estimator": "blup", "target_measure": "rel_mse",
        "target_mcse": 0.005, "needed": 1412.3, "achieved_mcse": 0.0049, "all_met": True,
    }, {
        "cell": "J20_n4_sigma1_tau1_mu0", "pilot": 1000, "planned": 5000, "run": 5000, "max": 5000,
        "capped": True, "reason": "cap", "target_estimator": "blup", "target_measure": "rel_mse",
        "target_mcse": 0.001, "needed": 26500.0, "achieved_mcse": 0.002, "all_met": False,
    }])
    row1, row2 = [l for l in _plan_markdown(rep).splitlines() if l.startswith("| J")]
    assert row1.split(" | ")[1:5] == ["1,000", "1,413", "1,500", "1,500"]
    assert row2.split(" | ")[1:5] == ["1,000", "26,500", "5,000", "5,000"]
    assert "**cap 5,000**" in row2


def test_make_report_with_a_config_file(mine):
    """Point 7: `make report CONFIG=mine.yaml` dropped the config file in its report step. The
    Makefile's own report command (from `make -n`) is run with this environment's tools."""
    repo, config, results = mine
    # run as make's own child under `make test` too: no "Entering/Leaving directory" lines
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    dry = subprocess.run(["make", "-n", "--no-print-directory", "report", f"CONFIG={config}"], cwd=repo,
                         capture_output=True, text=True, check=True, env=env).stdout.strip().splitlines()
    command = dry[-1]
    assert "--report" in command and f"--configfile {config}" in command
    bin_dir = str(Path(sys.executable).parent)
    command = command.replace(".venv/bin/", bin_dir + "/")
    res = subprocess.run(["bash", "-c", command], cwd=repo, capture_output=True, text=True,
                         env=dict(os.environ, MPLBACKEND="Agg"))
    assert res.returncode == 0, res.stderr[-3000:]
    report = results / "report.html"
    assert report.stat().st_size > 10_000
    assert not (repo / "results" / "report.html").exists()


def _md_rows(text: str, first: str) -> list[dict]:
    """The rows of the Markdown table whose header starts with ``| first |``, as dicts."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith(f"| {first} |"))
    header = [h.strip() for h in lines[start].strip("|").split("|")]
    out = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        out.append(dict(zip(header, [c.strip() for c in line.strip("|").split("|")])))
    return out


def test_summary_markdown_tells_the_worlds_apart(mine):
    """Point 2: summary.md had no effects column, so a normal and a t row looked identical."""
    results = mine[2]
    rows = _md_rows((results / "tables" / "summary.md").read_text(), "J")
    assert len(rows) == 8
    assert sorted(r["effects"] for r in rows) == ["normal"] * 4 + ["t (3)"] * 4
    keys = [(r["J"], r["sizes"], r["sigma"], r["tau"], r["effects"]) for r in rows]
    assert len(set(keys)) == 8


def test_protocol_describes_each_cell_s_effects_and_errors(mine):
    """Point 2: the protocol stated theta_j ~ N(0, tau^2) for every cell, the t cells too."""
    results = mine[2]
    summary = pd.read_csv(results / "tables" / "summary.csv").drop_duplicates("cell").set_index("cell")
    text = (results / "protocol.md").read_text()
    dgm = _section(text, "Data-generating mechanisms")
    rows = {r["cell"].strip("`"): r for r in _md_rows(dgm, "cell")}
    assert set(rows) == set(summary.index)
    for cell, r in rows.items():
        want = "normal" if summary.at[cell, "effects"] == "normal" else f"t ({summary.at[cell, 'effects_param']:g})"
        assert r["effects"] == want and r["errors"] == "normal" and r["SD ratio"] == "1"
    assert "- effects `t (3)` (4 of the 8 cells): theta_j = tau sqrt((df - 2) / df) T_df" in dgm
    assert "- effects `normal` (4 of the 8 cells): theta_j ~ N(0, tau^2)." in dgm
    assert "theta_j ~ N(0, tau^2) and e_ij ~ N(0, sigma^2) in every cell" not in dgm


def test_headline_exists_for_any_study(mine):
    """Point 3: headline.md was empty ("no balanced cells with sigma = 5", "the seed's design is
    not in this study") for a study without the seed answer's sigma and design."""
    results = mine[2]
    text = (results / "tables" / "headline.md").read_text()
    assert "no balanced cells" not in text and "not in this study" not in text
    assert "## Block `main`" in text
    rows = _md_rows(text, "J")
    assert len(rows) == 8
    summary = pd.read_csv(results / "tables" / "summary.csv")
    want = summary[(summary["groups"] == "all") & (summary["estimator"] != "raw")]
    for name in NAMES[1:]:
        got = [r[name] for r in rows]
        assert len(got) == 8 and all(g != "n/a" and g for g in got), name
    head = pd.read_csv(results / "tables" / "headline.csv")
    assert len(head) == len(want) == 8 * 5


def test_findings_count_every_cell(mine):
    """Point 6: findings.json said cells: 4 (the normal-world cells) for an 8-cell study."""
    import json

    found = json.loads((mine[2] / "tables" / "findings.json").read_text())
    assert found["cells"]["value"] == 8
    assert found["normal_world_cells"]["value"] == 4


@pytest.mark.parametrize(
    "name, measure, expected",
    [
        ("relmse_by_n", "rel_mse", ["blup", "james_stein", "npmle", "constrained_bayes", "limited_translation"]),
        ("spread", "spread", NAMES),
    ],
)
def test_figures_draw_every_estimator_the_study_asked_for(summary, name, measure, expected):
    """Point 4: npmle and constrained_bayes, asked for, were missing from the normal world's
    figures. Every point drawn: the normal-world cells (4) x the estimators with the measure."""
    from shrinkstudy.report import figures

    fig = getattr(figures, f"plot_{name}")(summary)
    seen = _visible_points(fig)
    assert seen == {e: 4 for e in expected}


def test_coverage_draws_every_estimator_with_an_interval(summary):
    from shrinkstudy.report import figures

    rows = summary[(summary["groups"] == "all") & summary["coverage"].notna()]
    with_intervals = [e for e in NAMES if e in set(rows["estimator"])]
    assert "raw" in with_intervals and "blup" in with_intervals
    seen = _visible_points(figures.plot_coverage(summary))
    assert seen == {e: 4 for e in with_intervals}


def test_no_seed_example_without_its_config_key(mine):
    """Point 2 of round 2: the schema's default seed_example ran the seed example for every
    study. Without the key no seed job is planned, no seed file or figure is written, and the
    protocol, the findings and the report name no seed example."""
    import json

    repo, config, results = mine
    dry = run_snakemake(repo, repo, "-n", "--forceall", "--configfile", str(config)).stdout
    jobs = {line.split()[1].rstrip(":") for line in dry.splitlines() if line.startswith(("rule ", "localrule "))}
    assert {"aggregate", "summary_figures", "protocol"} <= jobs
    assert not jobs & {"seed_example", "fig_seed_shrinkage", "fig_seed_blup_bayesglm"}
    assert not (results / "seed").exists()
    assert not list((results / "figures").glob("seed_*"))
    protocol = (results / "protocol.md").read_text()
    assert "seed example" not in protocol.lower() and "figures 1 and 2" not in protocol
    found = json.loads((results / "tables" / "findings.json").read_text())
    assert not [k for k in found if k.startswith("seed_example")]


ESTIMATOR_FIGURES = [n for n in SUMMARY_FIGURES if n not in ("boundary", "group_size_mse")]


def _named(text: str) -> list[str]:
    import re

    return re.findall(r"``([A-Za-z0-9_]+)``", text)


@pytest.fixture(scope="module")
def captions():
    import copy

    from shrinkstudy.report.captions import figure_captions
    from shrinkstudy.config import load_study

    return figure_captions(load_study(copy.deepcopy(STUDY), root=ROOT))


@pytest.mark.parametrize("name", SUMMARY_FIGURES)
def test_captions_name_only_what_the_study_has(captions, name):
    """Point 1 of round 2: the static captions named the oracle, pooled and varmatch, and tau "as
    in each cell's name", in a study without them. Each caption is written from the study: it
    names only the study's estimators, no block or seed example, and the cells it leaves out."""
    from shrinkstudy.methods import registry

    text = captions[name]
    assert (ROOT / "workflow" / "report" / f"{name}.rst").read_text().strip().endswith(
        f'{{{{ snakemake.params.captions["{name}"] }}}}'
    )
    assert set(_named(text)) <= set(NAMES)
    for absent in ABSENT:
        assert absent not in text and registry.label(absent) not in text, absent
    assert "as in each cell" not in text and "seed" not in text.lower() and "block" not in text
    if name in ("relmse_by_n", "nested_loop", "spread", "coverage", "boundary"):
        assert "the 4 cells outside the normal world" in text and "in the worlds figures" in text
    if name == "group_size_mse":  # no unbalanced cell: an empty figure, and where the cells are
        assert text.startswith("This study has no cell of the normal world with unequal group sizes")
        assert "the 4 cells outside the normal world" in text and "the 4 cells of the normal world" in text
    if name in ESTIMATOR_FIGURES:  # every estimator of the study is named: drawn, or left out and why
        assert set(_named(text)) == set(NAMES)


@pytest.mark.parametrize("name", ESTIMATOR_FIGURES)
def test_captions_name_the_estimators_each_figure_draws(captions, summary, name):
    """What a caption says is drawn is what the figure draws (its lines' gids)."""
    from shrinkstudy.report import figures

    drawn = _named(captions[name].split("Drawn: ", 1)[1].split(". ", 1)[0])
    fig = getattr(figures, f"plot_{name}")(summary)
    assert set(drawn) == set(_visible_points(fig)), name
    if name == "coverage":
        assert "Not drawn:" in captions[name] and "(no interval)" in captions[name]


def test_protocol_aims_and_seeds_are_the_study_s(mine):
    """Point 3 of round 2: Aims and Seeds were the seed answer's (varmatch, bayesglm, the
    Cross Validated answer; theta_j ~ N(0, tau^2) for every cell). Without an ``aims`` key the
    aims name the study's estimators, block and measures; the seeds describe each world's draws."""
    from shrinkstudy.methods import registry

    text = (mine[2] / "protocol.md").read_text()
    aims, seeds = _section(text, "Aims"), _section(text, "Seeds")
    for name in NAMES:
        assert f"`{name}`" in aims, name
    assert "block `main`" in aims and "`w1`" in aims and "`coverage`" in aims
    for absent in ABSENT:
        for part in (aims, seeds):
            assert f"`{absent}`" not in part and registry.label(absent) not in part, absent
    assert "Cross Validated" not in aims and "theta_j ~ N(0, tau^2), e_ij" not in aims
    assert "theta_j ~ N(0, tau^2) are drawn" not in seeds
    assert "- effects `t (3)` (4 of the 8 cells): the J effects, theta_j = tau sqrt((df - 2) / df) T_df" in seeds
    assert "- effects `normal` (4 of the 8 cells): the J effects, theta_j ~ N(0, tau^2)." in seeds
    assert "- errors `normal` (every cell): then the N errors, e_ij ~ N(0, sigma_j^2)" in seeds


def test_protocol_aims_from_the_config():
    """The default study's aims are its config's ``aims``; any study may give its own."""
    import copy

    from shrinkstudy.config import load_study
    from shrinkstudy.report.protocol import protocol_markdown

    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    assert "Cross Validated answer 522387" in default["aims"]
    study = load_study(dict(copy.deepcopy(STUDY), aims="Mine, in my words."), root=ROOT)
    text = protocol_markdown(study.config, study.cells, study.estimators, pd.DataFrame(),
                             pd.DataFrame(columns=["rel_mcse"]), {})
    assert _section(text, "Aims").strip() == "Mine, in my words."


# --- a matrix of study shapes ------------------------------------------------------------------
#
# Each shape is a study of its own, run once end to end on a few replications per cell (the
# fixture ``shape``, one run shared by every assertion on it), then held to what it asked for:
# every figure draws each of its cells for each requested estimator with the figure's measure,
# every requested estimator is in every table, no text leaves a figure, the protocol gives each
# cell's effects and errors, and no generated text names an estimator, block or cell the study
# does not have. The default study is not run here (see ``test_default_study_*`` below).

#: an estimator of a user's own with an interval (the BLUP's plug-in interval without g2),
#: written into the project copy for the plugin-only shape
INTERVAL_PLUGIN = '''"""The BLUP with the interval that takes the variance components as known."""

from statistics import NormalDist

import numpy as np


def estimate(stats, varcomp, level):
    """the BLUP, with the interval of known variance components"""
    mu, tau2, sigma2 = (a[:, None] for a in (varcomp.mu, varcomp.tau2, varcomp.sigma2))
    with np.errstate(invalid="ignore", divide="ignore"):
        B = np.where(tau2 > 0, tau2 / (tau2 + sigma2 / stats.n), 0.0)
        half = NormalDist().inv_cdf(0.5 + level / 2) * np.sqrt(B * sigma2 / stats.n)
    est = mu + B * (stats.ybar - mu)
    return est, est - half, est + half
'''

SHAPES = {
    # (a) one J, one n, one sigma: a normal cell and one outside the normal world beside it
    "single": {
        "estimators": ["raw", "pooled", "blup", "varmatch", "hier_bayes", "james_stein", "oracle_linear", "oracle"],
        "grid": {"one": {"J": [8], "sizes": [5], "sigma": [2], "tau": [1], "effects": ["normal", "skewed"]}},
    },
    # (b) worlds blocks only: no balanced block, no normal-world cell, no seed example
    "worlds": {
        "estimators": ["raw", "blup", "blup_pr", "constrained_bayes", "sure", "npmle", "oracle_linear", "oracle"],
        "grid": {
            "heavy": {"J": [6], "sizes": [4], "sigma": [1.5], "tau": [1], "effects": ["t", "sparse"],
                      "errors": ["normal", "t"]},
            "spread_sds": {"J": [6], "sizes": [4], "sigma": [1.5], "tau": [1], "sigma_ratio": [3]},
        },
    },
    # (c) raw (which every study needs) and a user's estimators only, one of them with an interval
    "plugins": {
        "estimators": ["raw", PLUGIN, {"function": "examples/known_interval.py:estimate", "name": "known_blup",
                                      "label": "BLUP, known VC"}],
        "grid": {
            "even": {"J": [4], "sizes": [3, 8], "sigma": [1], "tau": [1]},
            "uneven": {"sizes": ["8x3+2x3"], "sigma": [1], "tau": [1]},
        },
    },
    # (d) replications from a precision block; one cell outside the normal world
    "precision": {
        "estimators": ["raw", "blup", "hier_bayes", "james_stein", "bayesglm"],
        "precision": {"pilot": 10, "max": 20, "targets": [
            {"estimator": "blup", "measure": "rel_mse", "mcse": 0.05},
            {"estimator": "hier_bayes", "measure": "coverage", "mcse": 0.01},
            {"estimator": "james_stein", "measure": "mse", "mcse": 1.0},
        ]},
        "grid": {
            "p": {"J": [5], "sizes": [4, 10], "sigma": [1], "tau": [1]},
            "tails": {"J": [5], "sizes": [4], "sigma": [1], "tau": [1], "effects": ["bimodal"], "errors": ["t"]},
        },
    },
    # (e) known standard errors (grid blocks with ses): the eight schools and an equal-SE design like
    # Efron & Morris's batting averages (James-Stein applies), one outside the normal world, beside a
    # long-form cell; bayesglm has no known-SE form (n/a there)
    "knownse": {
        "estimators": ["raw", "pooled", "blup", "blup_pr", "bayesglm", "hier_bayes", "james_stein", "sure", "npmle",
                       "oracle_linear", "oracle"],
        "grid": {
            "schools": {"ses": [[15, 10, 16, 11, 9, 11, 10, 18]], "tau": [0, 10], "mu": [-1.5]},
            "baseball": {"ses": [[0.0659] * 18], "tau": [0.03], "effects": ["normal", "t"]},
            "long": {"J": [20], "sizes": [4], "sigma": [2], "tau": [0.5]},
        },
    },
}


def _shape_study(name: str) -> dict:
    """The full config of a shape: a few replications per cell, its own results directory."""
    study = {"base_seed": 17, "chunk_size": 10, "results": f"results/{name}", **SHAPES[name]}
    if "precision" not in study:
        study["replications"] = 10
    return study


class Shape:
    """One shape's run: its config, results, summary, captions and the names it has and lacks."""

    def __init__(self, repo: Path, name: str):
        import copy

        from shrinkstudy.methods import registry
        from shrinkstudy.report import tables
        from shrinkstudy.report.captions import figure_captions
        from shrinkstudy.config import load_study

        if name == "plugins":
            (repo / "examples" / "known_interval.py").write_text(INTERVAL_PLUGIN)
        self.name, self.repo, self.study = name, repo, _shape_study(name)
        self.config, self.results = run_study(repo, name, self.study)
        self.summary = tables.read_summary(self.results / "tables" / "summary.csv")
        loaded = load_study(copy.deepcopy(self.study), root=repo)
        self.cells = list(loaded.cells)
        self.estimators = [e.name for e in loaded.estimators]
        self.labels = [e.label for e in loaded.estimators]
        self._figures: dict = {}
        self.captions = figure_captions(loaded)
        self.absent = [e for e in registry.names() if e not in self.estimators]
        self.blocks = list(self.study["grid"])

    def figure(self, name: str):
        """Figure ``name`` drawn from the shape's summary (once)."""
        from shrinkstudy.report import figures

        if name not in self._figures:
            self._figures[name] = getattr(figures, f"plot_{name}")(self.summary)
        return self._figures[name]


@pytest.fixture(scope="module", params=list(SHAPES))
def shape(request, project):
    return Shape(project, request.param)


def _normal_world(rows: pd.DataFrame) -> pd.Series:
    return (rows["effects"] == "normal") & (rows["errors"] == "normal") & (rows["sigma_ratio"] == 1)


def _figure_rows(summary: pd.DataFrame, name: str) -> pd.DataFrame:
    """The summary rows a figure plots, chosen here from the cells' own columns: the balanced
    normal-world cells; the unbalanced ones (every group class); the cells outside the normal
    world with the normal-world cells of the same J, design, sigma, tau and mu."""
    summary = summary[summary["sigma"].notna()]  # known-SE cells: no n or sigma to draw them by
    normal = _normal_world(summary)
    if name == "group_size_mse":
        return summary[normal & ~summary["balanced"] & (summary["groups"] != "all")]  # by group size
    rows = summary[summary["groups"] == "all"]
    normal = normal[rows.index]
    if name in ("worlds_relmse", "worlds_w1", "worlds_coverage"):
        key = rows[["J", "design", "sigma", "tau", "mu"]].astype(str).apply(tuple, axis=1)
        return rows[~normal | key.isin(set(key[~normal]))]
    return rows[normal & rows["balanced"]]


#: figure -> (its measure, the study's estimators it leaves out by design: raw is the reference
#: line of relative MSE, pooled's spread is 0, its relative MSE in the worlds far above the rest)
FIGURE_MEASURE = {
    "relmse_by_n": ("rel_mse", {"raw"}), "nested_loop": ("rel_mse", {"raw"}), "spread": ("spread", {"pooled"}),
    "coverage": ("coverage", set()), "group_size_mse": ("mse", set()), "worlds_relmse": ("rel_mse", {"raw", "pooled"}),
    "worlds_w1": ("w1", set()), "worlds_coverage": ("coverage", set()),
}


@pytest.mark.parametrize("name", SUMMARY_FIGURES)
def test_shape_figures_draw_every_cell_of_every_requested_estimator(shape, name):
    """Each figure draws one value per cell it applies to and per requested estimator with its
    measure there (points = cells x estimators); a figure no cell applies to says so in its
    caption."""

    rows = _figure_rows(shape.summary, name)
    seen = _visible_points(shape.figure(name))
    if name == "boundary":
        want = rows.drop_duplicates("cell")["J"].value_counts()
        assert seen == {f"J={J}": int(k) for J, k in want.items()}
    else:
        measure, left_out = FIGURE_MEASURE[name]
        has = rows[rows[measure].notna() & rows["estimator"].isin(shape.estimators)]
        want = has[~has["estimator"].isin(left_out)]["estimator"].value_counts()
        assert seen == {e: int(k) for e, k in want.items()}
    if rows.empty:
        assert shape.captions[name].startswith("This study has no cell")
    else:
        assert seen and not shape.captions[name].startswith("This study has no cell")


@pytest.mark.parametrize("name", SUMMARY_FIGURES)
def test_shape_figures_keep_their_text_inside(shape, name):
    assert _clipped_texts(shape.figure(name)) == []


def _latex(name: str) -> str:
    return name.replace("_", r"\_")


def test_shape_tables_have_every_requested_estimator(shape):
    """summary.csv, .md and .tex, the headline (relative MSE: every estimator but raw and those
    whose point is another's) and the protocol's methods carry every estimator of the study."""
    from shrinkstudy.methods import registry

    tables = shape.results / "tables"
    summary = shape.summary[shape.summary["groups"] == "all"]
    for cell in shape.cells:
        here = set(summary.loc[summary["cell"] == cell.name, "estimator"])
        # James-Stein: equal group sizes, or equal standard errors; a known-SE cell: the estimators
        # with a known-SE form
        equal = len(set(cell.ses)) == 1 if cell.known_se else cell.balanced
        want = {e for e in shape.estimators if (equal or e != "james_stein")
                and (not cell.known_se or registry.get(e).known_se is not None)}
        assert here == want, cell.name
    md = _md_rows((tables / "summary.md").read_text(), "J")
    assert len(md) == len(shape.cells)
    for row in md:
        assert all(row[e] and (row[e] != "n/a" or e == "james_stein" or (
            row["sigma"] == "known SE" and registry.get(e).known_se is None)) for e in shape.estimators), row
    tex = (tables / "summary.tex").read_text()
    assert all(_latex(e) in tex for e in shape.estimators)
    headline = (tables / "headline.md").read_text()
    relative = [e for e in shape.estimators if e != "raw" and not registry.shares_point(e)]
    header = [l for l in headline.splitlines() if l.startswith("| J |") or l.startswith("| groups |")]
    assert header and all(set(relative) <= {c.strip() for c in h.split("|")} for h in header)
    assert set(pd.read_csv(tables / "headline.csv")["estimator"]) == set(relative)
    methods = _section((shape.results / "protocol.md").read_text(), "Methods")
    assert [l.split("`")[1] for l in methods.splitlines() if l.startswith("- `")] == shape.estimators


def _label(name, value) -> str:
    return name if pd.isna(value) else f"{name} ({value:g})"


#: what the protocol must say of each distribution (its formula's telling part)
MECHANISM = {"normal": "~ N(0, ", "t": "T_df", "skewed": "Gamma(k, 1)", "bimodal": "1/2 N(-sep tau",
             "sparse": "probability 1 - p"}


def test_shape_protocol_describes_each_cell_s_effects_and_errors(shape):
    cells = shape.summary.drop_duplicates("cell").set_index("cell")
    assert set(cells.index) == {c.name for c in shape.cells}
    _check_mechanisms((shape.results / "protocol.md").read_text(), cells)


def _check_mechanisms(protocol: str, cells: pd.DataFrame) -> None:
    """The protocol's data-generating mechanisms against ``cells`` (index the cell names; columns
    effects, effects_param, errors, errors_df, sigma_ratio): each cell's row, and one line per
    distribution with its count of cells and its formula."""
    dgm = _section(protocol, "Data-generating mechanisms")
    rows = {r["cell"].strip("`"): r for r in _md_rows(dgm, "cell")}
    assert set(rows) == set(cells.index)
    normal = _normal_world(cells)
    if normal.all():
        assert "theta_j ~ N(0, tau^2) and e_ij ~ N(0, sigma^2) in every cell" in dgm
        assert "effects" not in rows[cells.index[0]]
        return
    for kind, name, param in (("effects", "effects", "effects_param"), ("errors", "errors", "errors_df")):
        labels = pd.Series([_label(n, p) for n, p in zip(cells[name], cells[param])], index=cells.index)
        for cell, label in labels.items():
            assert rows[cell][kind] == label, (cell, kind)
        for label, k in labels.value_counts().items():
            scope = "every cell" if k == len(cells) else f"{k} of the {len(cells)} cells"
            line = next(l for l in dgm.splitlines() if l.startswith(f"- {kind} `{label}` ({scope}): "))
            dist = label.split(" ")[0]
            assert MECHANISM[dist] in line, line
            if dist != "normal":
                assert f"= {label.split('(')[1].rstrip(')')}" in line, line
    for cell, ratio in cells["sigma_ratio"].items():
        assert rows[cell]["SD ratio"] == f"{ratio:g}"


def test_known_se_shape_against_theory_and_its_text(project):
    """The known-SE shape: raw's MSE is mean s_j^2 and the oracle's its Bayes risk, within 4 Monte
    Carlo SE in every cell; the protocol gives each cell's standard errors and their mechanism;
    the tables name the estimator without a known-SE form; every figure's caption says why these
    cells are not drawn."""
    shape = Shape(project, "knownse")
    s = shape.summary[shape.summary["groups"] == "all"].set_index(["cell", "estimator"])
    known = [c for c in shape.cells if c.known_se]
    assert len(known) == 4
    for cell in known:
        raw, orc = s.loc[(cell.name, "raw")], s.loc[(cell.name, "oracle")]
        assert raw["raw_risk"] == pytest.approx(np.mean(np.square(cell.ses)), rel=1e-9)
        assert abs(raw["mse"] - raw["raw_risk"]) < 4 * raw["mse_mcse"], cell.name
        if cell.tau > 0:
            assert abs(orc["mse"] - orc["oracle_risk"]) < 4 * orc["mse_mcse"], cell.name
        else:
            assert orc["mse"] < 1e-24
        assert np.isnan(raw["sigma"]) and raw["N"] == cell.J
    protocol = (shape.results / "protocol.md").read_text()
    assert "4 of the 5 cells are one estimate per group, y_j ~ N(m_j, s_j^2) with s_j given" in protocol
    rows = {r["cell"].strip("`"): r for r in _md_rows(_section(protocol, "Data-generating mechanisms"), "cell")}
    assert rows["J8_se.4b3c6b21_tau10_mum1.5"]["group sizes"] == "SEs 15, 10, 16, 11, 9, 11, 10, 18"
    assert rows["J18_se0.0659x18_tau0.03_mu0_eff-t3"]["group sizes"] == "SE 0.0659 x 18"
    assert rows["J18_se0.0659x18_tau0.03_mu0"]["sigma"] == "known SE"
    assert "n/a in them: bayesglm (no known-SE form)." in (shape.results / "tables" / "summary.md").read_text()
    for name, text in shape.captions.items():
        assert "The study's 4 cells of known standard errors (one estimate per group" in text, name


def test_known_se_shape_same_bytes_whatever_the_chunks(project):
    """The known-SE study run again in chunks of 5 (not 10) and on one core: summary.csv the same bytes."""
    first = Shape(project, "knownse").results / "tables" / "summary.csv"
    study = dict(_shape_study("knownse"), chunk_size=5, results="results/knownse_chunks5")
    config = project / "knownse_chunks5.yaml"
    config.write_text(yaml.safe_dump(study, sort_keys=False))
    run_snakemake(project, project, "--cores", "1", "--configfile", str(config))
    assert (project / "results" / "knownse_chunks5" / "tables" / "summary.csv").read_bytes() == first.read_bytes()


#: the default study's blocks: a study without them must not name them
DEFAULT_BLOCKS = ("balanced", "worlds", "worlds_normal_t_errors", "worlds_normal_sr4", "seed")


def _absent_names(text: str, estimators, labels, absent, blocks, cells) -> list[str]:
    """What ``text`` names that the study lacks: an estimator (as a word of its own, or its
    legend label), a block, a cell, the seed example."""
    import re

    from shrinkstudy.methods import registry

    found = []
    # the study's own estimators may say what they are (varmatch: the seed answer's rule)
    own = tuple(f"- `{e}` (" for e in estimators)
    text = "\n".join(line for line in text.splitlines() if not line.startswith(own))
    for e in absent:
        if re.search(rf"(?<![\w.-]){re.escape(e)}(?![\w-])", text):
            found.append(e)
    bare = text
    for label in sorted(set(labels), key=len, reverse=True):  # the study's own labels
        bare = bare.replace(label, "")
    found += [registry.label(e) for e in absent if registry.label(e) != e and registry.label(e) in bare]
    for b in DEFAULT_BLOCKS:
        if b not in blocks and re.search(rf"(block `{b}`|`{b}` block|## Block `{b}`)", text):
            found.append(f"block {b}")
    names = {c.name for c in cells}
    cell = r"J\d+_n[0-9x+.]+_sigma[0-9.]+_tau[0-9.]+_mu[-0-9.]+(?:_[A-Za-z0-9.-]+)*"
    found += [c for c in re.findall(cell, text) if re.sub(r"\.(csv|parquet|json)$|\.$", "", c) not in names]
    found += re.findall(r"seed example|seed answer|seed's (?:design|cell)|Cross Validated", text, flags=re.I)
    return found


def test_shape_generated_text_names_only_what_the_study_has(shape):
    """Captions, protocol, headline, findings, replication.md and summary.md name no estimator,
    block or cell the study lacks."""
    tables = shape.results / "tables"
    texts = {f"caption {k}": v for k, v in shape.captions.items()}
    texts["protocol.md"] = (shape.results / "protocol.md").read_text()
    for name in ("headline.md", "findings.json", "replication.md", "summary.md"):
        texts[name] = (tables / name).read_text()
    found = {k: _absent_names(v, shape.estimators, shape.labels, shape.absent, shape.blocks, shape.cells) for k, v in texts.items()}
    assert {k: v for k, v in found.items() if v} == {}


# --- the default study ---------------------------------------------------------------------
#
# Not run here: 116 cells of 1,000 replications take minutes. Its numbers are docs/findings.json
# and the README's (held to each other by test_readme); test_workflow's SMALL study runs its
# balanced and seed blocks with its seed example end to end, and test_worlds_figures draws the
# worlds figures from a summary of its worlds grid. Here, what its config alone gives: the plan
# of jobs, the captions, the protocol's aims and mechanisms.


@pytest.fixture(scope="module")
def default_study():
    from shrinkstudy.config import load_study

    return load_study(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), root=ROOT)


def test_default_study_plans_every_output(project):
    """A dry run of the default study (no config file) plans every cell, the seed example and its
    two figures, the summary figures, the protocol and the findings."""
    dry = run_snakemake(project, project, "-n", "--forceall").stdout
    jobs: dict = {}
    for line in dry.splitlines():
        if line.startswith(("rule ", "localrule ")):
            name = line.split()[1].rstrip(":")
            jobs[name] = jobs.get(name, 0) + 1
    assert jobs["simulate"] == jobs["fit"] == 116
    assert {"seed_example", "fig_seed_shrinkage", "fig_seed_blup_bayesglm", "summary_figures", "protocol",
            "findings", "aggregate"} <= set(jobs)


def test_default_study_text_follows_its_config(default_study):
    """Every caption draws cells and names only the study's estimators and blocks; the protocol's
    aims are the config's, and it gives each of the 116 cells its effects and errors."""
    from shrinkstudy.methods import registry
    from shrinkstudy.report.captions import figure_captions
    from shrinkstudy.report.protocol import protocol_markdown

    study = default_study
    assert [e.name for e in study.estimators] == list(registry.names())
    for name, text in figure_captions(study).items():
        assert not text.startswith("This study has no cell"), name
        assert set(_named(text)) <= set(registry.names()), name
    text = protocol_markdown(study.config, study.cells, study.estimators, pd.DataFrame(),
                             pd.DataFrame(columns=["rel_mcse"]), {})
    assert _section(text, "Aims").strip() == " ".join(study.config["aims"].split())
    cells = pd.DataFrame([{"cell": c.name, "effects": c.effects, "effects_param": c.effects_param,
                           "errors": c.errors, "errors_df": c.errors_df, "sigma_ratio": c.sigma_ratio}
                          for c in study.cells]).set_index("cell")
    cells = cells.astype({"effects_param": float, "errors_df": float, "sigma_ratio": float})
    assert len(cells) == 116
    _check_mechanisms(text, cells)
