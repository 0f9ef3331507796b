"""The README's numbers from the study's tables (shrinkstudy.report.findings), on a small summary whose
every number is known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helpers import summary_row
from shrinkstudy.design.cells import Cell
from shrinkstudy.report.findings import findings, findings_json, fmt, write_findings
from shrinkstudy.report.tables import FLOAT_FORMAT

ESTIMATORS = ("raw", "pooled", "blup", "varmatch", "bayesglm", "hier_bayes", "oracle")
R = 400


#: what every row of the small summary has
RUN = {"reps": R, "failures": 0, "level": 0.95}


def small_summary() -> pd.DataFrame:
    """Two balanced cells and the seed's cell, numbers chosen so that each finding is known."""
    rows = []
    for k, cell in enumerate(
        [Cell((2,) * 6, 5.0, 1.0, block="balanced"), Cell((10,) * 3, 1.0, 1.0, block="balanced")]
    ):
        raw_risk = cell.sigma**2 / cell.n
        p = 0.2 + 0.1 * k
        common = {
            "raw_risk": raw_risk,
            "oracle_risk": 0.5 * raw_risk,
            "p_boundary_theory": p,
            "boundary_share": p + 0.01 * (k + 1),
            "boundary_share_mcse": 0.02,
        }
        blup_mse = 1.0 + k
        per = {
            "raw": {
                "mse": raw_risk + 0.3 * (k + 1),
                "mse_mcse": 0.1,
                "rel_mse": 1.0,
                "spread": 1.5 + k,
                "coverage": 0.95 - 0.01 * (k + 1),
                "coverage_mcse": 0.005,
            },
            "pooled": {"mse": 3.0, "mse_mcse": 0.1, "rel_mse": 0.9, "spread": 0.0},
            "blup": {
                "mse": blup_mse,
                "mse_mcse": 0.1,
                "rel_mse": 0.5,
                "spread": 0.8 + 0.1 * k,
                "coverage": 0.6 + 0.2 * k,
                "coverage_mcse": 0.01,
            },
            "varmatch": {"mse": 1.5, "mse_mcse": 0.1, "rel_mse": 0.7, "spread": 0.99 + 0.02 * k},
            "bayesglm": {
                "mse": blup_mse * (1 + [0.01, 0.002][k]),
                "mse_mcse": 0.1,
                "rel_mse": 0.5,
                "spread": 0.8,
            },
            "hier_bayes": {
                "mse": 1.1,
                "mse_mcse": 0.1,
                "rel_mse": 0.55,
                "spread": 0.85,
                "coverage": 0.93 + 0.04 * k,
                "coverage_mcse": 0.01,
            },
            "oracle": {
                "mse": 0.5 * raw_risk - 0.2,
                "mse_mcse": 0.1,
                "rel_mse": 0.4,
                "spread": 0.7,
                "coverage": 0.95,
                "coverage_mcse": 0.004,
            },
        }
        rows += [summary_row(cell, e, "all", **RUN, **common, **per[e]) for e in ESTIMATORS]
    seed = Cell((100,) * 6 + (2,) * 6, 5.0, 1.0, block="seed")
    common = {"boundary_share": 0.1, "boundary_share_mcse": 0.01, "raw_risk": 6.5, "oracle_risk": 1.0}
    seed_all = {
        "raw": {"mse": 6.5, "rel_mse": 1.0, "spread": 2.7345, "coverage": 0.95, "coverage_mcse": 0.005},
        "pooled": {"mse": 1.0, "rel_mse": 0.16, "spread": 0.0},
        "blup": {"mse": 0.7, "rel_mse": 0.1068, "spread": 0.6764, "coverage": 0.8482, "coverage_mcse": 0.01},
        "varmatch": {"mse": 0.98, "rel_mse": 0.1503, "spread": 1.0034},
        "bayesglm": {"mse": 0.7, "rel_mse": 0.1068, "spread": 0.6764},
        "hier_bayes": {
            "mse": 0.73,
            "rel_mse": 0.1127,
            "spread": 0.75,
            "coverage": 0.95,
            "coverage_mcse": 0.01,
        },
        "oracle": {"mse": 0.57, "rel_mse": 0.0875, "spread": 0.67, "coverage": 0.96, "coverage_mcse": 0.005},
    }
    for e in ESTIMATORS:
        rows.append(summary_row(seed, e, "all", **RUN, **common, mse_mcse=0.01, **seed_all[e]))
        rows.append(
            summary_row(seed, e, "n=2", **RUN, **common, mse=1.0, mse_mcse=0.01,
                        rel_mse={"blup": 0.0907}.get(e, 0.5))
        )
        rows.append(
            summary_row(seed, e, "n=100", **RUN, **common, mse=0.2, mse_mcse=0.01,
                        rel_mse={"blup": 0.9108}.get(e, 0.9))
        )
    return pd.DataFrame(rows)


def small_replication() -> pd.DataFrame:
    return pd.DataFrame({"cell": ["a", "b", "c"], "rel_mcse": [0.041056, 0.019, 0.01]})


SEED_FIT = {
    "cell": "J12_n100x6+2x6_sigma5_tau1_mu0",
    "seed": 523886,
    "method": "REML",
    "tau": 0.7212,
    "sigma": 4.9433,
    "mu": 0.02847,
    "tau2": 0.52,
    "sigma2": 24.4,
    "seed_choice": {
        "rule": "closest_fit",
        "seed": 523886,
        "candidates": 2000,
        "first": 522387,
        "target": {"tau": 0.75, "sigma": 5.1, "mu": 0.035},
        "distance": 0.058,
    },
}


@pytest.fixture(scope="module")
def found():
    return findings(small_summary(), small_replication(), seed_fit=SEED_FIT)


def text(found, key):
    return found[key]["text"]


@pytest.mark.parametrize(
    "value, spec, expected",
    [
        (0.0907, "%0", "9%"),
        (0.91079, "%0", "91%"),
        (0.000115, "%2", "0.01%"),
        (0.01411, "%1", "1.4%"),
        (2.1296, "ceil1", "2.2"),
        (2.37, "ceil1", "2.4"),
        (2.4, "ceil1", "2.4"),
        (2.4074, "ceil1", "2.5"),
        (1000, ",", "1,000"),
        (5.0, "g", "5"),
        (0.035, "g", "0.035"),
        (1.003383, ".3f", "1.003"),
    ],
)
def test_fmt(value, spec, expected):
    assert fmt(value, spec) == expected


def test_design_entries(found):
    assert text(found, "cells") == "3" and text(found, "replications") == "400"
    assert text(found, "balanced_J") == "{3, 6}" and text(found, "balanced_n") == "{2, 10}"
    assert text(found, "balanced_sigma") == "{1, 5}" and text(found, "balanced_tau") == "1"
    assert text(found, "seed_J") == "12" and text(found, "seed_design") == "100x6+2x6"
    assert text(found, "seed_small_n") == "2"


def test_seed_cell_entries(found):
    assert text(found, "seed_blup_relmse_small") == "9%" and text(found, "seed_blup_relmse_large") == "91%"
    assert text(found, "seed_spread_varmatch") == "1.003"
    assert text(found, "seed_spread_blup") == "0.68" and text(found, "seed_spread_raw") == "2.73"
    assert text(found, "seed_relmse_varmatch") == "0.150" and text(found, "seed_relmse_blup") == "0.107"
    assert found["seed_varmatch_over_blup"]["value"] == pytest.approx(0.1503 / 0.1068 - 1)
    assert text(found, "seed_varmatch_over_blup") == "41%"
    assert text(found, "blup_coverage_seed") == "0.85"


def test_balanced_and_all_cell_entries(found):
    assert found["median_spread_varmatch"]["value"] == pytest.approx(1.0)  # median of 0.99, 1.01
    assert found["median_spread_blup"]["value"] == pytest.approx(0.85)
    # |bayesglm / blup - 1| over all three cells: 0.01, 0.002, 0
    assert found["bayesglm_blup_median"]["value"] == pytest.approx(0.002)
    assert found["bayesglm_blup_max"]["value"] == pytest.approx(0.01)
    assert text(found, "bayesglm_blup_max_cell") == "J = 6, n = 2, sigma = 5"
    assert found["blup_coverage_min_balanced"]["value"] == pytest.approx(0.6)
    assert (text(found, "hier_bayes_coverage_min"), text(found, "hier_bayes_coverage_max")) == (
        "0.930",
        "0.970",
    )
    # raw 0.93 / 0.005 = 4 MCSE in the second balanced cell
    assert found["raw_oracle_coverage_mcse"]["value"] == pytest.approx(4.0)


def test_theory_entries(found):
    assert found["theory_raw_mcse"]["value"] == pytest.approx(6.0)  # 0.6 / 0.1
    assert found["theory_oracle_mcse"]["value"] == pytest.approx(2.0)
    p = np.array([0.2, 0.3])
    z = np.array([0.01, 0.02]) / np.sqrt(p * (1 - p) / R)
    assert found["theory_boundary_mcse"]["value"] == pytest.approx(z.max())


def test_precision_and_seed_example_entries(found):
    assert text(found, "largest_rel_mcse") == "4.1%" and text(found, "median_rel_mcse") == "1.9%"
    assert text(found, "seed_example_seed") == "523886" and text(found, "seed_example_candidates") == "2,000"
    assert (
        text(found, "seed_example_tau"),
        text(found, "seed_example_sigma"),
        text(found, "seed_example_mu"),
    ) == ("0.72", "4.94", "0.028")
    assert [text(found, f"seed_example_target_{k}") for k in ("tau", "sigma", "mu")] == [
        "0.75",
        "5.1",
        "0.035",
    ]


def test_every_entry_has_text_and_what(found):
    for key, entry in found.items():
        assert entry["text"] and entry["what"], key


def test_written_file_is_the_function_of_the_written_tables(tmp_path):
    """findings.json from summary.csv and replication.csv on disk is what findings() gives on the
    tables (same bytes twice)."""
    summary, rep = small_summary(), small_replication()
    summary.to_csv(tmp_path / "summary.csv", index=False, float_format=FLOAT_FORMAT)
    rep.to_csv(tmp_path / "replication.csv", index=False, float_format=FLOAT_FORMAT)
    (tmp_path / "fit.json").write_text(json.dumps(SEED_FIT))
    out = write_findings(
        tmp_path / "summary.csv",
        tmp_path / "replication.csv",
        tmp_path / "findings.json",
        seed_fit_json=tmp_path / "fit.json",
    )
    again = write_findings(
        tmp_path / "summary.csv",
        tmp_path / "replication.csv",
        tmp_path / "again.json",
        seed_fit_json=tmp_path / "fit.json",
    )
    assert out.read_bytes() == again.read_bytes()
    text_cols = {c: str for c in ("cell", "block", "design", "estimator", "groups")}
    read = pd.read_csv(tmp_path / "summary.csv", dtype=text_cols)
    expected = findings(read, pd.read_csv(tmp_path / "replication.csv"), seed_fit=SEED_FIT)
    assert out.read_text() == findings_json(expected)
    # and, up to the tables' 10 significant digits, the findings of the tables in memory
    direct = findings(summary, rep, seed_fit=SEED_FIT)
    for key, entry in json.loads(out.read_text()).items():
        assert entry["text"] == direct[key]["text"], key
        if "value" in entry:
            assert entry["value"] == pytest.approx(direct[key]["value"], rel=1e-9), key


def test_what_a_study_lacks_is_left_out(found):
    """No cell of the seed's design at that sigma: its findings are left out, the rest stay; a
    study without bayesglm and hier_bayes (config/example_plugin.yaml) has none of theirs."""
    other = findings(small_summary(), small_replication(), seed_sigma=2.5)
    assert not any(k.startswith("seed_") for k in other) and "blup_coverage_seed" not in other
    assert other["bayesglm_blup_max"] == found["bayesglm_blup_max"]
    summary = small_summary()
    fewer = findings(summary[~summary["estimator"].isin(["bayesglm", "hier_bayes"])], small_replication())
    assert not any(k.startswith(("bayesglm", "hier_bayes")) for k in fewer)
    assert fewer["seed_spread_blup"] == found["seed_spread_blup"]
    only_seed = findings(summary[summary["block"] == "seed"], small_replication())
    assert "balanced_J" not in only_seed and "theory_raw_mcse" not in only_seed and "seed_J" in only_seed


def test_an_interval_that_always_covered_is_a_finite_number_of_mcses(found):
    """The oracle's interval covered in every replication of one cell (coverage 1, MCSE 0): its
    distance from the level is counted in the binomial MCSE at the nominal level,
    |1 - 0.95| / sqrt(0.95 * 0.05 / R), not an infinite z that cannot be written."""
    summary = small_summary()
    row = (summary["estimator"] == "oracle") & (summary["block"] == "balanced") & (summary["groups"] == "all")
    first = summary.index[row][0]
    summary.loc[first, ["coverage", "coverage_mcse"]] = [1.0, 0.0]
    got = findings(summary, small_replication())["raw_oracle_coverage_mcse"]
    z = 0.05 / np.sqrt(0.95 * 0.05 / R)
    assert got["value"] == pytest.approx(max(z, found["raw_oracle_coverage_mcse"]["value"]), rel=1e-12)
    assert got["text"] == fmt(got["value"], "ceil1") and np.isfinite(got["value"])
