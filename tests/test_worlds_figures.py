"""The figures of the worlds where the normal model is wrong (relative MSE, W1 histogram accuracy,
coverage by the distribution of the effects): their data functions held against the rows of a
small synthetic summary, the figures drawn from it, and placeholders when a study has no cell
outside the normal world. No pixel comparisons."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from helpers import summary_row
from shrinkstudy.report import figures
from shrinkstudy.design.cells import Cell
from shrinkstudy.evaluate.measures import SUMMARY_COLUMNS

ESTIMATORS = ("raw", "pooled", "blup", "blup_ml", "varmatch", "constrained_bayes", "hier_bayes", "npmle",
              "sure", "oracle_linear", "oracle")  # fmt: skip
INTERVALS = ("raw", "blup", "hier_bayes", "oracle_linear", "oracle")
EFFECTS = (("normal", None), ("t", 3.0), ("skewed", 2.0), ("bimodal", 0.9), ("sparse", 0.2))
R = 300


def _w1(cell: Cell, e: str, k: int, rng) -> float:
    """W1 with varmatch the best estimator but under sparse effects (NPMLE), oracles lower."""
    if e.startswith("oracle"):
        return 0.1 + rng.uniform(0, 0.02)
    if e == "varmatch" and cell.effects != "sparse":
        return 0.2 + rng.uniform(0, 0.02)
    if e == "npmle" and cell.effects == "sparse":
        return 0.15 + rng.uniform(0, 0.02)
    return 0.3 + 0.02 * k + rng.uniform(0, 0.02)


def _rows(cell: Cell, rng: np.random.Generator) -> list[dict]:
    rows = []
    for k, e in enumerate(ESTIMATORS):
        rel = 1.0 if e == "raw" else 0.3 + 0.05 * k + rng.uniform(0, 0.02)
        has_cov = e in INTERVALS and not (e == "oracle" and cell.effects != "normal")
        cov = 0.95 - 0.02 * k + rng.uniform(0, 0.01) if has_cov else math.nan
        row = summary_row(
            cell,
            e,
            "all",
            reps=R,
            failures=0,
            level=0.95,
            mse=rel * cell.sigma**2 / cell.n,
            raw_risk=cell.sigma**2 / cell.n,
            oracle_risk=0.4 * cell.sigma**2 / cell.n,
            p_boundary_theory=0.3,
            boundary_share=0.3,
            boundary_share_mcse=0.02,
            mse_mcse=0.02,
            rel_mse=rel,
            rel_mse_mcse=0.0 if e == "raw" else 0.01,
            spread=0.9,
            spread_mcse=0.01,
            w1=_w1(cell, e, k, rng),
            w1_mcse=0.005,
            spearman=0.5,
            spearman_mcse=0.01,
            coverage=cov,
            coverage_mcse=math.sqrt(cov * (1 - cov) / R) if has_cov else math.nan,
        )
        rows.append(row)
    return rows


def worlds_summary(Js=(12, 48), with_worlds=True) -> pd.DataFrame:
    """Normal-world balanced cells (n = 2 and 5, sigma 2.5 and 1) and, when ``with_worlds``,
    the worlds at n = 5, sigma = 2.5: every effects distribution x normal / t errors x sigma
    ratio 1 / 4 (the normal one with normal errors and ratio 1 is the balanced cell)."""
    rng = np.random.default_rng(3)
    rows = []
    for J in Js:
        for n in (2, 5):
            for sigma in (1.0, 2.5):
                rows += _rows(Cell((n,) * J, sigma, 1.0, block="balanced"), rng)
        if not with_worlds:
            continue
        for effects, param in EFFECTS:
            for errors, df in (("normal", None), ("t", 5.0)):
                for ratio in (1.0, 4.0):
                    if effects == "normal" and errors == "normal" and ratio == 1.0:
                        continue
                    cell = Cell((5,) * J, 2.5, 1.0, block="worlds", effects=effects, effects_param=param,
                                errors=errors, errors_df=df, sigma_ratio=ratio)  # fmt: skip
                    rows += _rows(cell, rng)
    table = pd.DataFrame(rows)[list(SUMMARY_COLUMNS)]
    # a group-class row must never be picked
    extra = table.iloc[[0]].assign(groups="n=5")
    return pd.concat([table, extra], ignore_index=True)


@pytest.fixture(scope="module")
def summary(summary_table) -> pd.DataFrame:
    """The synthetic table, written to CSV and read back as the scripts do."""
    return summary_table(worlds_summary().to_dict("records"))


DATA = {
    "relmse": (figures.worlds_relmse_data, "rel_mse"),
    "w1": (figures.worlds_w1_data, "w1"),
    "coverage": (figures.worlds_coverage_data, "coverage"),
}


def _expected(summary, value, estimators):
    """The rows a worlds figure should plot, chosen here independently of the figures."""
    a = summary[summary["groups"] == "all"]
    outside = ~((a["effects"] == "normal") & (a["errors"] == "normal") & (a["sigma_ratio"] == 1.0))
    reference = (a["J"].isin(a.loc[outside, "J"])) & (a["n"] == 5) & (a["sigma"] == 2.5)
    rows = a[(outside | reference) & a["estimator"].isin(estimators) & a[value].notna()]
    return rows


@pytest.mark.parametrize(
    "name, estimators",
    [
        ("relmse", [e for e in ESTIMATORS if e not in ("raw", "pooled")]),
        ("w1", list(ESTIMATORS)),
        ("coverage", list(INTERVALS)),  # a study that chose its estimators: every interval
    ],
)
def test_worlds_data_are_the_table_rows(summary, name, estimators):
    data_fn, value = DATA[name]
    data = data_fn(summary)
    expected = _expected(summary, value, estimators)
    assert len(data) == len(expected) > 0
    assert set(zip(data["cell"], data["estimator"])) == set(zip(expected["cell"], expected["estimator"]))
    merged = data.merge(expected[["cell", "estimator", value, f"{value}_mcse"]], on=["cell", "estimator"],
                        suffixes=("", "_table"), validate="one_to_one")  # fmt: skip
    for c in (value, f"{value}_mcse"):
        np.testing.assert_array_equal(merged[c].to_numpy(float), merged[f"{c}_table"].to_numpy(float))
    # the reference level: the normal-world cell of the same J, n, sigma, tau, mu, and no other
    normal = data[(data["effects"] == "normal") & (data["errors"] == "normal") & (data["sigma_ratio"] == 1)]
    assert sorted(normal["cell"].unique()) == ["J12_n5_sigma2.5_tau1_mu0", "J48_n5_sigma2.5_tau1_mu0"]
    # 5 effects x 2 errors x 2 ratios per J
    assert data.groupby("estimator")["cell"].nunique().max() == 2 * 20
    assert list(data["estimator"].drop_duplicates()) == figures.estimator_order(data["estimator"].unique())


def test_worlds_coverage_has_the_oracle_where_it_has_intervals(summary):
    data = figures.worlds_coverage_data(summary)
    oracle = data[data["estimator"] == "oracle"]
    assert len(oracle) > 0 and set(oracle["effects"]) == {"normal"}
    assert "raw" in set(data["estimator"])  # this study chose its estimators: every interval drawn
    # the default list (every built-in) draws its fixed set
    from shrinkstudy.methods import registry
    from shrinkstudy.report.captions import WORLDS_COVERAGE_ESTIMATORS

    assert registry.figure_estimators(registry.names(), default=WORLDS_COVERAGE_ESTIMATORS) == list(
        WORLDS_COVERAGE_ESTIMATORS)
    assert set(figures.worlds_coverage_data(summary, ["raw", "blup"])["estimator"]) == {"raw", "blup"}


def test_worlds_data_respect_estimator_choice(summary):
    data = figures.worlds_relmse_data(summary, ["oracle", "blup", "raw"])
    assert list(data["estimator"].drop_duplicates()) == ["raw", "blup", "oracle"]


def _drawn(fig, name=None, tmp_path=None):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.tell() > 500
    if tmp_path is not None:
        png, pdf = tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"
        figures.save_figure(fig, png, pdf, dpi=60)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"


def _plotted(fig, gids):
    ys = []
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_gid() in gids:
                ys.extend(np.unique(np.asarray(line.get_ydata(), float)))
    return np.sort(np.asarray(ys))


@pytest.mark.parametrize("name", ["relmse", "w1", "coverage"])
def test_worlds_figures_draw_their_rows(summary, name, tmp_path):
    data_fn, value = DATA[name]
    fig = getattr(figures, f"plot_worlds_{name}")(summary)
    _drawn(fig, name, tmp_path)
    data = data_fn(summary)
    # 4 rows (errors x sigma ratio) x 2 columns (J)
    assert len([ax for ax in fig.axes if ax.get_subplotspec() is not None]) == 8
    ests = list(data["estimator"].unique())
    np.testing.assert_allclose(_plotted(fig, ests), np.sort(data[value].to_numpy(float)))


def test_worlds_coverage_nominal_line(summary):
    fig = figures.plot_worlds_coverage(summary, level=0.9)
    assert any(np.allclose(line.get_ydata(), 0.9) for line in fig.axes[0].get_lines())


@pytest.mark.parametrize("name", ["relmse", "w1", "coverage"])
def test_worlds_figures_without_such_cells_say_so(name):
    """A study of the normal world only (config/quick.yaml) still gets every figure file; so
    does a summary from before the worlds' columns."""
    plot = getattr(figures, f"plot_worlds_{name}")
    normal_only = worlds_summary(Js=(12,), with_worlds=False)
    old = normal_only.drop(columns=["effects", "effects_param", "errors", "errors_df", "sigma_ratio"])
    for table in (normal_only, old):
        assert DATA[name][0](table).empty
        fig = plot(table)
        assert "no cells outside the normal world" in fig.axes[0].texts[0].get_text()
        _drawn(fig)


def test_worlds_figures_from_a_single_world_cell():
    """One cell outside the normal world and its reference: one panel, two x positions."""
    table = worlds_summary(Js=(12,))
    keep = table["cell"].isin(["J12_n5_sigma2.5_tau1_mu0", "J12_n5_sigma2.5_tau1_mu0_eff-t3"])
    for name in ("relmse", "w1", "coverage"):
        fig = getattr(figures, f"plot_worlds_{name}")(table[keep])
        _drawn(fig)
        assert len([ax for ax in fig.axes if ax.get_subplotspec() is not None]) == 1


# --------------------------------------------------------------------------------------------
# the README's numbers of the worlds (shrinkstudy.report.findings.worlds_findings)


def test_worlds_findings_are_the_table_s():
    from shrinkstudy.report.findings import findings, worlds_findings
    from shrinkstudy.report.tables import normalise_summary

    table = normalise_summary(worlds_summary())
    found = worlds_findings(table)
    a = table[table["groups"] == "all"]

    def value(cell, est, col):
        return float(a.loc[(a["cell"] == cell) & (a["estimator"] == est), col].iloc[0])

    assert found["worlds_cells"]["text"] == "38"
    assert found["worlds_J"]["text"] == "{12, 48}" and found["worlds_sigma_ratio"]["text"] == "4"
    effects = "t (df 3), skewed (skew 2), bimodal (sep 0.9) and sparse (p 0.2)"
    assert found["worlds_effects"]["text"] == effects
    sparse, normal, sr4 = (f"J48_n5_sigma2.5_tau1_mu0{x}" for x in ("_eff-sparse0.2", "", "_sr4"))
    assert found["worlds_relmse_blup_sparse"]["value"] == value(sparse, "blup", "rel_mse")
    assert found["worlds_relmse_oracle_normal"]["value"] == value(normal, "oracle", "rel_mse")
    assert found["worlds_hetero_relmse_sure"]["value"] == value(sr4, "sure", "rel_mse")
    # W1: varmatch wins but under sparse effects, where NPMLE does; the BLUP in no cell
    assert found["worlds_w1_match_wins"]["text"] == "normal, t, skewed and bimodal"
    assert found["worlds_w1_best_sparse"]["text"] == "NPMLE"
    assert found["worlds_w1_cells"]["text"] == "40" and found["worlds_w1_blup_best"]["text"] == "0"
    # coverage: the lowest BLUP coverage with sigma ratio 1 outside the normal cell, at J = 12
    ratio1 = a[(a["J"] == 12) & (a["sigma_ratio"] == 1) & (a["estimator"] == "blup")
               & ((a["effects"] != "normal") | (a["errors"] != "normal"))]  # fmt: skip
    assert found["worlds_coverage_blup_ratio1_min_J12"]["value"] == ratio1["coverage"].min()
    hb = a[(a["estimator"] == "hier_bayes") & (a["n"] == 5) & (a["sigma"] == 2.5)]["coverage"]
    assert found["worlds_coverage_hier_bayes_max"]["value"] == hb.max()
    # every entry has its text and what; findings() carries them
    assert all(e["text"] and e["what"] for e in found.values())
    assert {k: v for k, v in findings(table, pd.DataFrame({"rel_mcse": [0.01]})).items()
            if k.startswith("worlds_")} == found  # fmt: skip


def test_no_worlds_no_worlds_findings():
    from shrinkstudy.report.findings import worlds_findings
    from shrinkstudy.report.tables import normalise_summary

    assert worlds_findings(normalise_summary(worlds_summary(with_worlds=False))) == {}


def test_precision_findings_keep_the_worlds_apart():
    """The first section's Monte Carlo precision is over the normal world's cells; the cells
    outside it have their own entries."""
    from shrinkstudy.report.findings import findings
    from shrinkstudy.report.tables import normalise_summary

    table = normalise_summary(worlds_summary())
    replication = pd.DataFrame({
        "cell": ["J12_n5_sigma2.5_tau1_mu0", "J12_n2_sigma1_tau1_mu0",
                 "J48_n5_sigma2.5_tau1_mu0_eff-t3_sr4", "J12_n5_sigma2.5_tau1_mu0_err-t5"],
        "measure": ["mse", "mse", "rel_mse", "mse"],
        "estimator": ["blup", "raw", "pooled", "npmle"],
        "rel_mcse": [0.02, 0.04, 0.083, 0.01],
    })  # fmt: skip
    found = findings(table, replication)
    assert found["largest_rel_mcse"]["text"] == "4.0%" and found["median_rel_mcse"]["text"] == "3.0%"
    assert found["worlds_largest_rel_mcse"]["text"] == "8.3%"
    assert found["worlds_largest_rel_mcse_of"]["text"] == "pooled's relative MSE"
    assert found["worlds_median_rel_mcse"]["text"] == "4.7%"
