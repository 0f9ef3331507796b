"""Figures: each one drawn from a small synthetic summary table into PNG and PDF, their data
functions held against the table's rows, and the seed example checked for reproducibility and
against the estimators. No pixel comparisons."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from helpers import summary_row
from shrinkstudy.report import figures
from shrinkstudy.design.cells import Cell
from shrinkstudy.methods.estimators import Truth, fit_estimators
from shrinkstudy.evaluate.measures import SUMMARY_COLUMNS
# the estimators of the synthetic summaries below (the figures draw whatever rows they are given)
ESTIMATORS = ("raw", "pooled", "blup", "varmatch", "bayesglm", "hier_bayes", "james_stein", "oracle")
from shrinkstudy.report.seed_example import seed_example
from shrinkstudy.design.simulate import simulate_reps, suffstats_from_array

INTERVALS = ("raw", "blup", "hier_bayes", "oracle")


def _rows_of_cell(cell: Cell, block: str, rng: np.random.Generator, reps: int = 200) -> list[dict]:
    """Plausible measures of one cell (near their known-hyperparameter values, plus noise)."""
    sizes = np.asarray(cell.sizes, float)
    tau2, sigma2 = cell.tau**2, cell.sigma**2
    classes = {"all": np.arange(cell.J)}
    if not cell.balanced:
        classes.update(cell.size_classes())
    p_theory = (
        float(figures_free_boundary(cell.J, cell.n, cell.sigma, cell.tau)) if cell.balanced else np.nan
    )
    boundary = float(np.clip((p_theory if cell.balanced else 0.3) + rng.normal(0, 0.01), 0, 1))
    rows = []
    for groups, idx in classes.items():
        n = sizes[idx]
        B = tau2 / (tau2 + sigma2 / n)
        raw_risk = float(np.mean(sigma2 / n))
        oracle_risk = float(np.mean(B * sigma2 / n))
        risk = {
            "raw": raw_risk,
            "pooled": tau2 * (1 - 1 / cell.J) + sigma2 / sizes.sum(),
            "blup": oracle_risk * 1.08,
            "varmatch": float(np.mean(2 * tau2 * (1 - np.sqrt(B)))),
            "bayesglm": oracle_risk * 1.09,
            "hier_bayes": oracle_risk * 1.04,
            "james_stein": oracle_risk * 1.15 if cell.balanced else np.nan,
            "oracle": oracle_risk,
        }
        spread = {
            "raw": float(np.sqrt(np.mean(1 / B))),
            "pooled": 0.0,
            "blup": 0.85 * float(np.sqrt(np.mean(B))),
            "varmatch": 0.97,
            "bayesglm": 0.85 * float(np.sqrt(np.mean(B))),
            "hier_bayes": 0.9 * float(np.sqrt(np.mean(B))),
            "james_stein": 0.8 * float(np.sqrt(np.mean(B))),
            "oracle": float(np.sqrt(np.mean(B))),
        }
        for e in ESTIMATORS:
            if e == "james_stein" and not cell.balanced:
                continue
            mse = risk[e] * (1 + rng.normal(0, 0.02)) if e != "raw" else raw_risk
            cov = {"raw": 0.95, "blup": 0.90, "hier_bayes": 0.94, "oracle": 0.95}.get(e, np.nan)
            if np.isfinite(cov):
                cov = float(np.clip(cov + rng.normal(0, 0.01), 0, 1))
            rows.append(
                summary_row(
                    cell,
                    e,
                    groups,
                    block=block,
                    reps=reps,
                    failures=0,
                    mse=mse,
                    mse_mcse=0.05 * mse,
                    bias=rng.normal(0, 0.01),
                    bias_mcse=0.01,
                    empse=np.sqrt(mse),
                    empse_mcse=0.02,
                    rel_mse=mse / raw_risk,
                    rel_mse_mcse=0.0 if e == "raw" else 0.03 * mse / raw_risk,
                    spread=spread[e] * (1 + rng.normal(0, 0.01)) if groups == "all" else np.nan,
                    spread_mcse=0.01 if groups == "all" else np.nan,
                    coverage=cov,
                    coverage_mcse=np.sqrt(cov * (1 - cov) / reps) if np.isfinite(cov) else np.nan,
                    width=2.0 if np.isfinite(cov) else np.nan,
                    width_mcse=0.01 if np.isfinite(cov) else np.nan,
                    boundary_share=boundary,
                    boundary_share_mcse=np.sqrt(boundary * (1 - boundary) / reps),
                    raw_risk=raw_risk,
                    oracle_risk=oracle_risk,
                    p_boundary_theory=p_theory,
                )
            )
    return rows


def figures_free_boundary(J, n, sigma, tau):
    """The F probability of a boundary fit, written out here independently of ``figures``."""
    return sps.f.cdf(1.0 / (1.0 + n * tau**2 / sigma**2), J - 1, J * n - J)


def synthetic_rows(Js=(3, 6), ns=(2, 5, 20), sigmas=(1.0, 5.0), seed_sigmas=(2.5, 5.0)) -> list[dict]:
    rng = np.random.default_rng(1)
    rows = []
    for J in Js:
        for n in ns:
            for sigma in sigmas:
                rows += _rows_of_cell(Cell((n,) * J, sigma, 1.0, 0.0, block="balanced"), "balanced", rng)
    for sigma in seed_sigmas:
        rows += _rows_of_cell(Cell((100,) * 6 + (2,) * 6, sigma, 1.0, 0.0, block="seed"), "seed", rng)
    return rows


@pytest.fixture(scope="module")
def summary(summary_table) -> pd.DataFrame:
    """The synthetic table, written to CSV and read back as the scripts do."""
    return summary_table(synthetic_rows())


def _table_rows(summary, data, columns, keys=("cell", "estimator")):
    """The table's values of ``columns`` at the keys of ``data``'s rows, in ``data``'s order."""
    table = summary
    if "groups" not in keys:
        table = table[table["groups"] == "all"]
    merged = data[list(keys)].merge(table[list(keys) + list(columns)], on=list(keys), how="left",
                                    validate="one_to_one")  # fmt: skip
    return merged


def _assert_rows_equal(summary, data, columns, keys=("cell", "estimator")):
    merged = _table_rows(summary, data, columns, keys)
    assert len(merged) == len(data)
    for c in columns:
        np.testing.assert_array_equal(data[c].to_numpy(float), merged[c].to_numpy(float), err_msg=c)


def _plotted_y(fig, gids):
    """Every y value of the lines tagged with an estimator (or other) gid, sorted."""
    ys = []
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_gid() in gids:
                ys.extend(np.asarray(line.get_ydata(), float))
    return np.sort(np.asarray(ys))


def _saved(fig, tmp_path, name):
    png, pdf = tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"
    figures.save_figure(fig, png, pdf, dpi=60)  # low resolution: the tests check files, not pixels
    assert png.stat().st_size > 1000 and pdf.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    return png, pdf


def _drawn(fig):
    """Render to an in-memory PNG at low resolution (layout and drawing run; nothing kept)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.tell() > 500


# --------------------------------------------------------------------------------------------
# data functions against the table


def test_relmse_data_are_table_rows(summary):
    data = figures.relmse_by_n_data(summary)
    balanced = summary[summary["balanced"] & (summary["groups"] == "all")]
    assert set(data["cell"]) == set(balanced["cell"])
    assert "raw" not in set(data["estimator"])  # raw is the reference line at 1
    assert set(data["estimator"]) == set(ESTIMATORS) - {"raw"}
    assert len(data) == len(balanced) - balanced["cell"].nunique()
    _assert_rows_equal(summary, data, ["rel_mse", "rel_mse_mcse", "J", "n", "sigma"])


def test_relmse_data_respects_estimator_choice(summary):
    data = figures.relmse_by_n_data(summary, estimators=["oracle", "blup", "raw"])
    assert list(dict.fromkeys(data["estimator"])) == ["blup", "oracle"]


def test_nested_loop_data_order_and_values(summary):
    data = figures.nested_loop_data(summary)
    cells = data.drop_duplicates("position").sort_values("position")
    assert cells["position"].tolist() == list(range(len(cells)))
    key = list(zip(cells["J"], cells["n"], cells["sigma"]))
    assert key == sorted(key)  # J outermost, then n, then sigma
    assert len(cells) == summary.loc[summary["balanced"], "cell"].nunique()
    _assert_rows_equal(summary, data, ["rel_mse", "rel_mse_mcse"])


def test_group_size_mse_data_are_table_rows(summary):
    data = figures.group_size_mse_data(summary)
    assert set(data["groups"]) == {"n=2", "n=100"}
    assert "james_stein" not in set(data["estimator"])  # does not apply to unbalanced designs
    unbalanced = summary[~summary["balanced"] & (summary["groups"] != "all")]
    assert len(data) == len(unbalanced)
    _assert_rows_equal(summary, data, ["mse", "mse_mcse"], keys=("cell", "estimator", "groups"))


def test_spread_and_coverage_data_are_table_rows(summary):
    spread = figures.spread_data(summary)
    assert "pooled" not in set(spread["estimator"])
    _assert_rows_equal(summary, spread, ["spread", "spread_mcse"])
    cov = figures.coverage_data(summary)
    assert set(cov["estimator"]) == set(INTERVALS)
    _assert_rows_equal(summary, cov, ["coverage", "coverage_mcse"])


def test_boundary_data_one_row_per_cell_and_theory(summary):
    data = figures.boundary_data(summary)
    assert data["cell"].is_unique
    assert set(data["cell"]) == set(summary.loc[summary["balanced"], "cell"])
    data = data.assign(estimator="blup")
    _assert_rows_equal(summary, data, ["boundary_share", "boundary_share_mcse", "p_boundary_theory"])
    # the curve drawn through the points is the table's F probability at the cells' n
    curve = figures.boundary_probability(data["J"], data["n"], data["sigma"], data["tau"])
    np.testing.assert_allclose(curve, data["p_boundary_theory"], rtol=1e-9)


def test_boundary_probability_known_value():
    # balanced J = 5, n = 5, tau^2 / sigma^2 = 0.25 gives a boundary fit in ~23% of datasets
    assert figures.boundary_probability(5, 5, 2.0, 1.0) == pytest.approx(0.23, abs=0.01)


# --------------------------------------------------------------------------------------------
# figures drawn and saved


def test_relmse_figure(summary, tmp_path):
    fig = figures.plot_relmse_by_n(summary)
    data = figures.relmse_by_n_data(summary)
    np.testing.assert_array_equal(_plotted_y(fig, set(data["estimator"])), np.sort(data["rel_mse"]))
    assert len(fig.axes) == 2 * 2  # rows: sigma 1, 5; columns: J 3, 6
    assert [ax.get_title() for ax in fig.axes[:2]] == ["J = 3", "J = 6"]
    assert fig.get_supylabel() == "MSE / MSE(raw)"
    _saved(fig, tmp_path, "relmse_by_n")


def test_nested_loop_figure(summary, tmp_path):
    fig = figures.plot_nested_loop(summary)
    data = figures.nested_loop_data(summary)
    np.testing.assert_array_equal(_plotted_y(fig, set(data["estimator"])), np.sort(data["rel_mse"]))
    _saved(fig, tmp_path, "nested_loop")


def test_group_size_figure(summary, tmp_path):
    fig = figures.plot_group_size_mse(summary)
    data = figures.group_size_mse_data(summary)
    heights = sorted(p.get_height() for ax in fig.axes for p in ax.patches if p.get_gid())
    np.testing.assert_array_equal(heights, np.sort(data["mse"]))
    _saved(fig, tmp_path, "group_size_mse")


def test_spread_coverage_boundary_figures(summary, tmp_path):
    fig = figures.plot_spread(summary)
    data = figures.spread_data(summary)
    np.testing.assert_array_equal(_plotted_y(fig, set(data["estimator"])), np.sort(data["spread"]))
    _saved(fig, tmp_path, "spread")

    fig = figures.plot_coverage(summary, level=0.9)
    data = figures.coverage_data(summary)
    np.testing.assert_array_equal(_plotted_y(fig, set(data["estimator"])), np.sort(data["coverage"]))
    assert any(np.allclose(line.get_ydata(), 0.9) for line in fig.axes[0].get_lines())  # nominal level
    _saved(fig, tmp_path, "coverage")

    fig = figures.plot_boundary(summary)
    data = figures.boundary_data(summary)
    gids = {f"J={J}" for J in data["J"].unique()}
    np.testing.assert_array_equal(_plotted_y(fig, gids), np.sort(data["boundary_share"]))
    _saved(fig, tmp_path, "boundary")


def test_figures_read_their_axis_labels_from_the_measures(summary, monkeypatch):
    """Each figure's y label is its measure's entry (``measures.MEASURES``) unless its catalog
    entry gives one: change the entry and the figure follows."""
    from shrinkstudy.evaluate import measures
    from shrinkstudy.report.figures import catalog

    assert catalog.figure("relmse_by_n").ylabel == "MSE / MSE(raw)" == measures.MEASURES_BY_NAME["rel_mse"].label
    assert catalog.figure("spread").ylabel == "spread ratio: SD(estimates) / SD(true means)"
    assert catalog.figure("worlds_relmse").ylabel == "relative MSE (MSE / MSE of the raw means)"
    for name, entry in (("spread", "spread"), ("coverage", "coverage")):
        changed = measures.MEASURES_BY_NAME[entry]._replace(axis=f"my {entry}")
        monkeypatch.setitem(measures.MEASURES_BY_NAME, entry, changed)
        assert getattr(figures, f"plot_{name}")(summary).get_supylabel() == f"my {entry}"
    changed = measures.MEASURES_BY_NAME["mse"]._replace(label="squared error")
    monkeypatch.setitem(measures.MEASURES_BY_NAME, "mse", changed)
    ylabels = {ax.get_ylabel() for ax in figures.plot_group_size_mse(summary).axes} - {""}
    assert ylabels == {"squared error, groups of n=2", "squared error, groups of n=100"}


def test_data_functions_take_the_tables_in_memory_dtypes(summary):
    """As written by the measures module: nullable Int64 n, string columns, a level column."""
    table = pd.DataFrame(synthetic_rows()).reindex(columns=list(SUMMARY_COLUMNS)).astype(
        {"n": "Int64", "cell": "str", "design": "str", "estimator": "str", "groups": "str"}
    )
    table["level"] = 0.95
    pd.testing.assert_frame_equal(
        figures.relmse_by_n_data(table).astype({"n": float}), figures.relmse_by_n_data(summary),
        check_dtype=False,
    )
    assert len(figures.boundary_data(table)) == len(figures.boundary_data(summary))
    fig = figures.plot_coverage(table)  # nominal level from the table's column
    assert any(np.allclose(line.get_ydata(), 0.95) for line in fig.axes[0].get_lines())


def test_figures_from_a_minimal_table(summary_table):
    """One balanced cell and one unbalanced: every figure still draws."""
    table = summary_table(synthetic_rows(Js=(3,), ns=(2,), sigmas=(5.0,), seed_sigmas=(5.0,)))
    for plot in (
        figures.plot_relmse_by_n,
        figures.plot_nested_loop,
        figures.plot_group_size_mse,
        figures.plot_spread,
        figures.plot_boundary,
        figures.plot_coverage,
    ):
        _drawn(plot(table))


def test_figures_without_their_cells_say_so(summary_table):
    """A study with no balanced (or no unbalanced) cells still gets every figure file."""
    table = summary_table(synthetic_rows(Js=(3,), ns=(2,), sigmas=(5.0,), seed_sigmas=(5.0,)))
    balanced_only, unbalanced_only = table[table["balanced"]], table[~table["balanced"]]
    fig = figures.plot_group_size_mse(balanced_only)
    assert "no unbalanced cells" in fig.axes[0].texts[0].get_text()
    for plot in (figures.plot_relmse_by_n, figures.plot_nested_loop, figures.plot_spread,
                 figures.plot_boundary, figures.plot_coverage):  # fmt: skip
        fig = plot(unbalanced_only)
        assert "no balanced cells" in fig.axes[0].texts[0].get_text()
        _drawn(fig)


def test_figure_styles_are_the_registry_s():
    from shrinkstudy.methods import registry

    assert tuple(figures.ESTIMATOR_STYLE) == registry.names()
    assert figures.ESTIMATOR_STYLE["blup"]["label"] == "BLUP"
    assert figures.ESTIMATOR_STYLE["bayesglm"]["mfc"] == "none"
    assert figures.estimator_order(["mine", "oracle", "raw"]) == ["raw", "oracle", "mine"]


def test_estimator_colours_are_fixed_and_distinct():
    from shrinkstudy.methods import registry

    looks = [tuple(sorted(figures.ESTIMATOR_STYLE[e].items())) for e in registry.names()]
    assert len(set(looks)) == len(looks)  # no two estimators drawn alike
    colours = {figures.ESTIMATOR_STYLE[e]["color"] for e in registry.names()}
    assert colours <= set(registry.OKABE_ITO.values()) | {"#332288"}


def test_pdf_has_no_creation_date(summary, tmp_path):
    fig = figures.plot_boundary(summary)
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    figures.save_figure(fig, a)
    figures.save_figure(figures.plot_boundary(summary), b)
    assert b"CreationDate" not in a.read_bytes()
    assert a.read_bytes() == b.read_bytes()  # same inputs, same file (determinism, not a reference image)


# --------------------------------------------------------------------------------------------
# the seed example

SEED_CELL = Cell(sizes=(100,) * 6 + (2,) * 6, sigma=5.0, tau=1.0, mu=0.0)


@pytest.fixture(scope="module")
def seed_run():
    return seed_example(SEED_CELL, 522387)


def test_seed_example_shapes(seed_run):
    data, estimates, info = seed_run
    assert list(data.columns) == ["group", "y"]
    assert len(data) == SEED_CELL.N
    assert data.groupby("group").size().tolist() == list(SEED_CELL.sizes)
    assert estimates["group"].tolist() == list(range(1, 13))
    for col in ["n", "true_mean", "raw", "blup", "varmatch", "bayesglm", "hier_bayes", "oracle"]:
        assert col in estimates and np.isfinite(estimates[col]).all(), col
    np.testing.assert_allclose(estimates["raw"], data.groupby("group")["y"].mean().to_numpy(), rtol=1e-12)
    json.dumps(info)  # plain Python values
    assert set(info) >= {"mu", "tau2", "sigma2", "boundary"}
    assert isinstance(info["boundary"], bool)


def test_seed_example_reproducible(seed_run):
    data, estimates, info = seed_run
    data2, estimates2, info2 = seed_example(SEED_CELL, 522387)
    pd.testing.assert_frame_equal(data, data2)
    pd.testing.assert_frame_equal(estimates, estimates2)
    assert info == info2
    other, _, _ = seed_example(SEED_CELL, 522388)
    assert not np.allclose(other["y"], data["y"])


def test_seed_example_matches_the_estimators(seed_run):
    data, estimates, info = seed_run
    y, means = simulate_reps(SEED_CELL, [0], 522387)
    np.testing.assert_array_equal(data["y"].to_numpy(), y[0])
    np.testing.assert_array_equal(estimates["true_mean"].to_numpy(), means[0])
    stats = suffstats_from_array(y, SEED_CELL.sizes)
    fit = fit_estimators(stats, ("raw", "blup", "varmatch", "bayesglm"), truth=Truth(0.0, 1.0, 5.0))
    for name in ("raw", "blup", "varmatch", "bayesglm"):
        np.testing.assert_allclose(
            estimates[name].to_numpy(), fit.estimates[name][0], rtol=1e-12, err_msg=name
        )
    assert info["tau2"] == pytest.approx(float(fit.varcomp.tau2[0]), rel=1e-12)
    assert info["mu"] == pytest.approx(float(fit.varcomp.mu[0]), rel=1e-12)
    # BLUP: mu^ + B^_j (ybar_j - mu^), written out
    B = info["tau2"] / (info["tau2"] + info["sigma2"] / estimates["n"])
    blup = info["mu"] + B * (estimates["raw"] - info["mu"])
    np.testing.assert_allclose(estimates["blup"], blup, rtol=1e-10)


def test_seed_figures(seed_run, tmp_path):
    data, estimates, info = seed_run
    _saved(figures.plot_seed_shrinkage(data, estimates, info), tmp_path, "seed_shrinkage")
    _saved(figures.plot_seed_blup_bayesglm(estimates, info), tmp_path, "seed_blup_bayesglm")


def test_cli_plot_draws_figure1_for_own_data(tmp_path):
    """`shrinkstudy fit --plot` draws the user's first dataset: raw, varmatch and BLUP as fitted."""
    import json

    from shrinkstudy.cli import main as cli_main

    rng = np.random.default_rng(3)
    rows = [(g, m + e) for g, n in zip("ABCDEF", [20, 20, 20, 2, 2, 2]) for m in [rng.normal()] for e in rng.normal(0, 2, n)]
    path = tmp_path / "d.csv"
    pd.DataFrame(rows, columns=["group", "y"]).to_csv(path, index=False)
    assert cli_main(["fit", str(path), "--out", str(tmp_path / "out"), "--plot"]) == 0
    png, pdf = tmp_path / "out" / "figure1.png", tmp_path / "out" / "figure1.pdf"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"
    est = pd.read_csv(tmp_path / "out" / "estimates.csv")
    fit = json.loads((tmp_path / "out" / "fit.json").read_text())
    fig = figures.plot_fit(est, fit["datasets"][0]["mu"])
    ax = fig.axes[0]
    drawn = [c.get_offsets()[:, 1] for c in ax.collections]
    np.testing.assert_allclose(drawn[0], est["raw"])
    np.testing.assert_allclose(drawn[2], est["varmatch"])
    np.testing.assert_allclose(drawn[3], est["blup"])


# --- figures redrawn only when what they plot changed (figures.cache) ----------------------------


def test_figure_cache_copies_what_drawing_gives_and_redraws_on_change(summary, tmp_path, monkeypatch):
    """A figure whose data rows, options and code are unchanged is copied from the cache, byte
    for byte what drawing gives; a changed row of its own redraws it, a row of another figure
    does not; a damaged cache entry is redrawn, never copied."""
    from shrinkstudy.report.figures import cache as fc

    drawn = []
    real_plot = figures.plot_group_size_mse

    def counting(*args, **kwargs):
        drawn.append(1)
        return real_plot(*args, **kwargs)

    monkeypatch.setattr(figures, "plot_group_size_mse", counting)
    store = tmp_path / "cache"
    out = [tmp_path / "a" / "g.png", tmp_path / "a" / "g.pdf"]
    fresh = [tmp_path / "b" / "g.png", tmp_path / "b" / "g.pdf"]
    assert fc.draw_summary_figure("group_size_mse", summary, out, cache=store) is True
    assert fc.draw_summary_figure("group_size_mse", summary, fresh, cache=None) is True
    assert [p.read_bytes() for p in out] == [p.read_bytes() for p in fresh]  # drawing is reproducible
    again = [tmp_path / "c" / "g.png", tmp_path / "c" / "g.pdf"]
    assert fc.draw_summary_figure("group_size_mse", summary, again, cache=store) is False
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in out] and len(drawn) == 2

    # a balanced cell changes: not a row of this figure (the unbalanced design's) -> same key
    other = summary.copy()
    other.loc[other["block"] == "balanced", ["mse", "rel_mse"]] *= 1.5
    assert fc.figure_key("group_size_mse", other) == fc.figure_key("group_size_mse", summary)
    assert fc.figure_key("relmse_by_n", other) != fc.figure_key("relmse_by_n", summary)
    # one of its own rows changes in the last bit -> a new key, redrawn
    mine = summary.copy()
    at = mine.index[(mine["block"] == "seed") & (mine["estimator"] == "blup") & (mine["groups"] == "n=2")][0]
    mine.loc[at, "mse"] = np.nextafter(mine.loc[at, "mse"], np.inf)
    assert fc.draw_summary_figure("group_size_mse", mine, again, cache=store) is True and len(drawn) == 3
    # options are part of the key
    assert fc.figure_key("coverage", summary, {"level": 0.9}) != fc.figure_key("coverage", summary, {"level": 0.95})

    # a damaged cache file: redrawn (with a warning), the outputs are the drawing's
    assert fc.draw_summary_figure("group_size_mse", summary, again, cache=store) is True
    png = store / "group_size_mse.png"
    png.write_bytes(png.read_bytes()[:-10])
    assert fc.draw_summary_figure("group_size_mse", summary, again, cache=store) is True
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in out]
    assert fc.draw_summary_figure("group_size_mse", summary, again, cache=store) is False


def test_the_figures_package_loads_matplotlib_only_for_figures():
    """The report's HTML pages come without matplotlib (half a second a job);
    every public name still resolves."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from shrinkstudy.report.figures import summary_html, text_html\n"
        "assert 'matplotlib' not in sys.modules\n"
        "from shrinkstudy.report import figures\n"
        "assert all(getattr(figures, n) is not None for n in figures.__all__)\n"
        "assert 'matplotlib' in sys.modules\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
