"""Each performance measure is one entry of ``measures.MEASURES``: the loss columns, the summary
columns, the protocol's measures table, the precision targets (the config's enum and the
replications they need) and the figures' labels are read from it."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

from shrinkstudy.evaluate import measures
from shrinkstudy.config import SCHEMA_PATH, ConfigError, _schema, load_study
from shrinkstudy.design.cells import Cell
from shrinkstudy.methods.estimators import Fit
from shrinkstudy.evaluate.losses import LOSS_COLUMNS, loss_columns
from shrinkstudy.evaluate.measures import MEASURES, PRECISION_MEASURES, SUMMARY_COLUMNS, summary_rows
from shrinkstudy.evaluate.precision import needed_replications
from shrinkstudy.report.protocol import MEASURE_FORMULAS

NAMES = [m.name for m in MEASURES]
CELL = Cell(sizes=(2, 2, 2), sigma=1.0, tau=1.0, block="b")


def test_every_measure_and_its_mcse_is_a_summary_column_in_the_entries_order():
    cols = [c for c in SUMMARY_COLUMNS if c in NAMES or c.removesuffix("_mcse") in NAMES]
    assert cols == [c for m in MEASURES for c in (m.name, f"{m.name}_mcse")]
    assert len(set(NAMES)) == len(NAMES)


def test_loss_columns_are_those_the_entries_read():
    read = [c for m in MEASURES for c in m.losses]
    assert list(LOSS_COLUMNS) == ["rep", "estimator", "groups", *dict.fromkeys(read), "failed", "message"]
    computed = [c for m in MEASURES if m.statistic is not None for c in m.losses]
    assert set(computed) == set(read)  # every column read is computed by one entry
    assert len(computed) == len(set(computed))  # ... and by one only


def test_protocol_table_and_functions_are_the_entries():
    assert [row[0] for row in MEASURE_FORMULAS] == NAMES
    for m, (name, estimate, mcse, function) in zip(MEASURES, MEASURE_FORMULAS):
        assert (name, estimate, mcse) == (m.name, m.estimate, m.mcse)
        assert getattr(measures, function) is m.function


def test_the_schema_lists_exactly_the_precision_measures():
    """The config check's enum is the entries' precision measures, and the schema file itself
    names no measure (no list to drift)."""
    assert _schema()["$defs"]["precision_measure"]["enum"] == list(PRECISION_MEASURES)
    assert PRECISION_MEASURES == tuple(m.name for m in MEASURES if m.precision)
    raw = yaml.safe_load(SCHEMA_PATH.read_text())["$defs"]["precision_measure"]
    assert "enum" not in raw
    assert not {w for w in re.findall(r"[a-z_0-9]+", raw["description"]) if w in NAMES}


def test_a_precision_target_accepts_the_entries_and_nothing_else():
    base = {"grid": {"b": {"J": [3], "sizes": [2], "sigma": [1], "tau": [1]}}, "chunk_size": 10}

    def with_target(measure):
        return dict(base, precision={"pilot": 10, "max": 20, "targets": [
            {"estimator": "blup", "measure": measure, "mcse": 0.01}]})

    for name in PRECISION_MEASURES:
        assert load_study(with_target(name)).precision["targets"][0]["measure"] == name
    with pytest.raises(ConfigError, match="measure"):
        load_study(with_target("boundary_share"))  # a property of the fit, the same for all
    with pytest.raises(ValueError, match="not a measure a precision target may name"):
        needed_replications("boundary_share", 0.1, 40, 40, 0.01)


def test_needed_replications_follow_the_entrys_kind():
    for m in MEASURES:
        if m.precision == "empse":
            assert needed_replications(m.name, 0.2, 41, 41, 0.1) == pytest.approx(1 + 40 * 4)
        elif m.precision:
            assert needed_replications(m.name, 0.2, 41, 41, 0.1) == pytest.approx(41 * 4)
    fraction = [m.name for m in MEASURES if m.precision == "fraction"]
    assert fraction == ["coverage"]
    q = 3 / 40
    assert needed_replications("coverage", 0.0, 40, 40, 0.01) == pytest.approx(q * (1 - q) / 1e-4)


def test_losses_and_summary_of_an_exact_small_case():
    """Two replications of three groups, by hand: every loss column from its entry's
    statistic and the summary row of it."""
    means = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 4.0]])
    est = np.array([[0.5, 1.0, 1.0], [1.0, 2.0, 2.0]])
    lo, hi = est - 0.75, est + 0.75
    fit = Fit(estimates={"raw": est}, intervals={"raw": (lo, hi)}, failed={"raw": np.zeros(2, bool)}, varcomp=None)
    cols = loss_columns(fit, means, [0, 1], CELL)
    e = est - means  # [[0.5, 0, -1], [0, 1, -2]]
    np.testing.assert_array_equal(cols["sq_err"], [(0.25 + 0 + 1) / 3, (0 + 1 + 4) / 3])
    np.testing.assert_array_equal(cols["err"], e.mean(axis=1))
    np.testing.assert_array_equal(cols["covered"], [2 / 3, 1 / 3])
    np.testing.assert_array_equal(cols["width"], [1.5, 1.5])
    varcomp = {"rep": np.array([0, 1]), "boundary": np.array([True, False]), "status": np.zeros(2, np.int64)}
    (row,) = summary_rows(cols, varcomp, CELL)
    s = np.array([1.25 / 3, 5 / 3])
    assert row["mse"] == pytest.approx(s.mean()) and row["mse_mcse"] == pytest.approx(abs(s[1] - s[0]) / 2)
    assert row["rel_mse"] == 1.0 and row["rel_mse_mcse"] == 0.0  # raw against itself
    assert row["coverage"] == pytest.approx(0.5) and row["coverage_mcse"] == pytest.approx(1 / 6)
    assert row["boundary_share"] == 0.5 and row["boundary_share_mcse"] == pytest.approx(0.5 / np.sqrt(2))


def test_a_measure_missing_from_old_losses_is_empty():
    """Losses written before a measure was declared lack its column: that measure is NaN and
    the others are computed."""
    means = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 4.0]])
    fit = Fit(estimates={"raw": means + 1.0}, intervals={}, failed={"raw": np.zeros(2, bool)}, varcomp=None)
    cols = loss_columns(fit, means, [0, 1], CELL)
    del cols["w1"]
    varcomp = {"rep": np.array([0, 1]), "boundary": np.array([False, False]), "status": np.zeros(2, np.int64)}
    (row,) = summary_rows(cols, varcomp, CELL)
    assert np.isnan(row["w1"]) and np.isnan(row["w1_mcse"])
    assert row["bias"] == 1.0 and row["mse"] == 1.0


def test_mean_absolute_error_of_an_exact_case():
    """mae = mean_i a_i, a_i = mean over the class's groups of |est_ij - m_ij|, MCSE
    sd(a_i) / sqrt(R), on the rows of every class; a failed replication is left out."""
    cell = Cell(sizes=(2, 2, 5), sigma=1.0, tau=1.0, block="b")
    means = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 4.0], [0.0, 0.0, 0.0]])
    est = np.array([[0.5, 1.0, 1.0], [1.0, 2.0, 2.0], [9.0, 9.0, 9.0]])
    failed = np.array([False, False, True])
    fit = Fit(estimates={"raw": est}, intervals={}, failed={"raw": failed}, varcomp=None)
    cols = loss_columns(fit, means, [0, 1, 2], cell)
    a_all, a_n2, a_n5 = np.array([1.5 / 3, 3.0 / 3]), np.array([0.25, 0.5]), np.array([1.0, 2.0])
    by = {g: cols["abs_err"][(cols["groups"] == g) & ~cols["failed"]] for g in ("all", "n=2", "n=5")}
    np.testing.assert_array_equal(by["all"], a_all)
    np.testing.assert_array_equal(by["n=2"], a_n2)
    np.testing.assert_array_equal(by["n=5"], a_n5)
    assert np.isnan(cols["abs_err"][cols["failed"]]).all()
    varcomp = {"rep": np.arange(3), "boundary": np.zeros(3, bool), "status": np.zeros(3, np.int64)}
    rows = {r["groups"]: r for r in summary_rows(cols, varcomp, cell)}
    for g, a in (("all", a_all), ("n=2", a_n2), ("n=5", a_n5)):
        assert rows[g]["reps"] == 2 and rows[g]["failures"] == 1
        assert rows[g]["mae"] == pytest.approx(a.mean(), rel=1e-15)
        assert rows[g]["mae_mcse"] == pytest.approx(np.std(a, ddof=1) / np.sqrt(2), rel=1e-15)
    assert rows["n=5"]["mae_mcse"] == pytest.approx(0.5)  # |2 - 1| / 2


def test_mean_absolute_error_is_in_the_summary_the_protocol_and_the_precision_targets():
    assert SUMMARY_COLUMNS.index("mae_mcse") == SUMMARY_COLUMNS.index("mae") + 1
    assert "abs_err" in LOSS_COLUMNS
    row = next(r for r in MEASURE_FORMULAS if r[0] == "mae")
    assert row == ("mae", "mean_i a_i, a_i = mean_{j in G} abs(e_ij)", "sd(x, ddof=1) / sqrt(R)", "mcse_mean")
    assert "mae" in PRECISION_MEASURES and "mae" in _schema()["$defs"]["precision_measure"]["enum"]
    assert needed_replications("mae", 0.02, 100, 100, 0.01) == pytest.approx(400)


def test_the_readme_lists_every_measure_a_precision_target_may_name():
    from pathlib import Path

    from shrinkstudy.config import PRECISION_MEASURES

    text = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert "but the boundary share, the same for every estimator: " + ", ".join(
        f"`{m}`" for m in PRECISION_MEASURES
    ) + ")" in text


def test_the_formulas_document_and_the_protocol_table_are_the_entries():
    """docs/formulas.md section 5 is MEASURES' text, row for row; no entry's text holds a `|`,
    which would split a Markdown table's cells (the protocol's measures table too)."""
    from pathlib import Path

    from shrinkstudy.evaluate.measures import MEASURES

    for m in MEASURES:
        for field in (m.name, m.label, m.estimate, m.mcse):
            assert "|" not in field, (m.name, field)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "formulas.md").read_text(encoding="utf-8")
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    assert rows == [f"| `{m.name}` | {m.label} | {m.estimate} | {m.mcse} |" for m in MEASURES]
