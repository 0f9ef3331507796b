"""The study's protocol (shrinkstudy.report.protocol): every section, from the config, the registry and
the tables; the measures' MCSE formulas quoted from the functions that compute them; the same
inputs give the same text."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import summary_row
from shrinkstudy.evaluate import measures
from shrinkstudy.config import load_study
from shrinkstudy.report.protocol import MEASURE_FORMULAS, protocol_markdown, reproduce_commands
from shrinkstudy.report.provenance import SEEDING

ROOT = Path(__file__).resolve().parents[1]

CONFIG = {
    "base_seed": 777,
    "replications": 200,
    "chunk_size": 100,
    "grid": {
        "balanced": {"J": [3, 6], "sizes": [5], "sigma": [1, 2.5], "tau": [1]},
        "seed": {"sizes": ["100x6+2x6"], "sigma": [5], "tau": [1]},
    },
    "estimators": [
        "raw",
        "blup",
        "varmatch",
        {"function": "examples/limited_translation.py:estimate", "label": "limited"},
    ],
}
REPLICATION = pd.DataFrame(
    {
        "cell": ["J3_n5_sigma1_tau1_mu0", "J6_n5_sigma1_tau1_mu0"],
        "measure": ["mse", "rel_mse"],
        "estimator": ["raw", "blup"],
        "groups": ["all", "all"],
        "rel_mcse": [0.0123456, 0.05],
    }
)
PROVENANCE = {
    "config_sha256": "ab" * 32,
    "git": {"commit": "c0ffee" + "0" * 34, "dirty": False},
    "packages": {"numpy": "2.4.6", "pandas": "3.1.1", "python": "3.11.7", "statsmodels": None},
}
SEED_FIT = {
    "cell": "J12_n100x6+2x6_sigma5_tau1_mu0",
    "seed": 523886,
    "method": "REML",
    "tau": 0.7212,
    "sigma": 4.9433,
    "mu": 0.02847,
    "seed_choice": {
        "rule": "closest_fit",
        "seed": 523886,
        "candidates": 2000,
        "first": 522387,
        "target": {"tau": 0.75, "sigma": 5.1, "mu": 0.035},
        "distance": 0.0585,
    },
}


@pytest.fixture(scope="module")
def study():
    return load_study(copy.deepcopy(CONFIG), root=ROOT)


def summary_of(study) -> pd.DataFrame:
    rows = []
    for c in study.cells:
        for e in study.estimators:
            failed = int(e.name == "blup")
            rows.append(summary_row(c, e.name, "all", reps=200 - failed, failures=failed))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def text(study):
    return protocol_markdown(
        study.config,
        study.cells,
        study.estimators,
        summary_of(study),
        REPLICATION,
        PROVENANCE,
        seed_fit=SEED_FIT,
        config_file="mine.yaml",
    )


def section(text: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.DOTALL | re.MULTILINE)
    assert m, title
    return m.group(1)


def test_sections_in_order(text):
    titles = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert titles == [
        "Aims",
        "Data-generating mechanisms",
        "Estimands",
        "Methods",
        "Performance measures",
        "Replications",
        "Seeds",
        "Software",
        "Reproducing",
    ]


def test_cells_table(study, text):
    dgm = section(text, "Data-generating mechanisms")
    assert f"{len(study.cells)} cells" in dgm
    for c in study.cells:
        assert f"| `{c.name}` | {c.block} | {c.J} | {c.design} | {c.N} |" in dgm
    assert "| `J12_n100x6+2x6_sigma5_tau1_mu0` | seed | 12 | 100x6+2x6 | 612 | 5 | 1 | 0 |" in dgm


def test_methods_one_line_per_estimator_of_the_study(study, text):
    methods = section(text, "Methods")
    lines = [line for line in methods.splitlines() if line.startswith("- `")]
    assert [re.match(r"- `([^`]+)`", line).group(1) for line in lines] == [e.name for e in study.estimators]
    for e, line in zip(study.estimators, lines):
        assert e.description in line
        if e.reference:
            assert f"Reference: {e.reference}" in line
    user = lines[-1]
    assert (
        user.startswith("- `limited_translation` (limited)")
        and "Reference: examples/limited_translation.py:estimate" in user
    )
    assert str(ROOT) not in text  # no path of this machine
    assert f"Failed fits: {len(study.cells)}." in lines[1]  # blup: one per cell
    assert "REML (engine `exact`)" in methods and "level 0.95" in methods


def test_measures_formulas_are_those_of_the_functions():
    """Each MCSE text is quoted from the docstring of the function that computes it."""
    for measure, _, mcse, function in MEASURE_FORMULAS:
        doc = " ".join(getattr(measures, function).__doc__.split())
        assert mcse in doc, (measure, function)
    assert {m for m, *_ in MEASURE_FORMULAS} >= {
        "mse",
        "bias",
        "empse",
        "rel_mse",
        "coverage",
        "boundary_share",
    }


def test_measures_table(text):
    table = section(text, "Performance measures")
    for measure, estimate, mcse, function in MEASURE_FORMULAS:
        assert f"| `{measure}` | {estimate} | {mcse.replace('``', '`')} | `{function}` |" in table


def test_replications_justified_by_the_largest_mcse(text):
    reps = section(text, "Replications")
    assert "200 replications per cell" in reps and "jobs of 100" in reps
    assert "5.00% (rel_mse of blup, groups all, cell `J6_n5_sigma1_tau1_mu0`)" in reps
    assert "median over cells of each cell's largest is 3.12%" in reps
    assert "199 to 200" in reps


def test_seeds(text):
    seeds = section(text, "Seeds")
    assert "Base seed 777" in seeds and SEEDING in seeds
    assert "seed 523886: of the 2,000 seeds 522387 to 524386" in seeds
    assert (
        "(tau 0.75, sigma 5.1, mu 0.035)" in seeds and "Its fit: tau 0.7212, sigma 4.943, mu 0.02847" in seeds
    )


def test_software(text):
    soft = section(text, "Software")
    assert PROVENANCE["git"]["commit"] in soft and "uncommitted" not in soft
    assert "| numpy | 2.4.6 |" in soft and "| statsmodels | not installed |" in soft


def test_reproduce_commands(text):
    rep = section(text, "Reproducing")
    assert "make study CONFIG=mine.yaml" in rep and "snakemake --cores all --configfile mine.yaml\n" in rep
    cell = "J12_n100x6+2x6_sigma5_tau1_mu0"  # the seed example's cell, a cell of this study
    assert f"snakemake --cores all --configfile mine.yaml results/summarise/{cell}.csv" in rep
    assert f"shrinkstudy replicate {cell} 0 --config mine.yaml" in rep


def test_reproduce_commands_default_study():
    cmds = reproduce_commands(None, "results", "J3_n5_sigma1_tau1_mu0")
    assert cmds["study"] == ["make study", "snakemake --cores all"]
    assert cmds["cell"] == ["snakemake --cores all results/summarise/J3_n5_sigma1_tau1_mu0.csv"]
    assert cmds["replication"] == ["shrinkstudy replicate J3_n5_sigma1_tau1_mu0 0"]  # the default study


def test_deterministic(study, text):
    again = protocol_markdown(
        copy.deepcopy(study.config),
        study.cells,
        study.estimators,
        summary_of(study),
        REPLICATION.copy(),
        copy.deepcopy(PROVENANCE),
        seed_fit=dict(SEED_FIT),
        config_file="mine.yaml",
    )
    assert again == text


def test_default_study_protocol_names_every_estimator():
    study = load_study(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    text = protocol_markdown(
        study.config, study.cells, study.estimators, pd.DataFrame(), pd.DataFrame(), PROVENANCE, seed_fit=None
    )
    assert "116 cells" in text
    for e in study.estimators:
        assert f"- `{e.name}` ({e.label}): {e.description}" in text


def test_replications_from_a_precision_plan():
    """With a precision block the protocol states the plan (pilot, targets, cap) and the counts
    each cell ran, naming the cells held at the cap, from the replication table."""
    config = {k: v for k, v in CONFIG.items() if k != "replications"}
    config["precision"] = {
        "pilot": 100,
        "max": 400,
        "targets": [{"estimator": "blup", "measure": "rel_mse", "mcse": 0.005}],
    }
    study = load_study(copy.deepcopy(config), root=ROOT)
    replication = REPLICATION.assign(run=[200, 400], planned=[200, 400], capped=[False, True])
    text = protocol_markdown(
        study.config, study.cells, study.estimators, summary_of(study), replication, PROVENANCE
    )
    part = section(text, "Replications")
    assert "a pilot of 100 replications" in part and "at most 400" in part
    assert "MCSE of rel_mse of `blup` at most 0.005" in part
    assert "Replications run per cell: 200 to 400; 1 cell(s) held at the cap: `J6_n5_sigma1_tau1_mu0`." in part
