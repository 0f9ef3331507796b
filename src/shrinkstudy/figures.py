"""Figures of the study and of the seed answer's illustration.

Two kinds of functions:

* ``*_data(summary, ...)``: the rows of the summary table (``results/tables/summary.csv``, one
  row per cell, estimator and set of groups) that a figure plots, with exactly the numbers it
  plots. Tests hold these against the table.
* ``plot_*``: draw one figure and return a ``matplotlib.figure.Figure``. They build figures
  without ``pyplot`` (no GUI backend, no global figure registry), so they run headless anywhere;
  ``save_figure`` writes PNG and PDF with fixed metadata (no creation date), so the same inputs
  give the same files.

Conventions shared by every study figure:

* one colour and marker per estimator (``ESTIMATOR_STYLE``), from the Okabe-Ito colour-blind
  safe palette, the same in every figure; the oracle (the floor no estimator beats on average)
  is a grey dashed line;
* error bars and bands are +-1.96 Monte Carlo standard errors (``MCSE_Z``);
* sizes for a journal page: ``SINGLE`` (3.5 in) and ``DOUBLE`` (7 in) column widths, 7-8 pt text.

The seed answer's two figures keep its own colours: true means red, raw means blue crosshairs,
shrunken (variance-matched) means purple, lme4 BLUPs and ``arm::bayesglm`` estimates black.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogFormatter, LogLocator, NullLocator
from scipy import special

from . import registry

__all__ = [
    "RC",
    "MCSE_Z",
    "SINGLE",
    "DOUBLE",
    "ESTIMATOR_STYLE",
    "SEED_COLOURS",
    "read_summary",
    "save_figure",
    "estimator_order",
    "boundary_probability",
    "relmse_by_n_data",
    "nested_loop_data",
    "group_size_mse_data",
    "spread_data",
    "boundary_data",
    "coverage_data",
    "plot_seed_shrinkage",
    "plot_seed_blup_bayesglm",
    "plot_relmse_by_n",
    "plot_nested_loop",
    "plot_group_size_mse",
    "plot_spread",
    "plot_boundary",
    "plot_coverage",
    "summary_html",
    "text_html",
]

log = logging.getLogger(__name__)

#: Column widths of a two-column journal page, inches.
SINGLE, DOUBLE = 3.5, 7.0
#: Half-width of error bars and bands, in Monte Carlo standard errors (a 95% interval).
MCSE_Z = 1.96

#: Style of every figure (applied with ``matplotlib.rc_context``, so it holds wherever the
#: figures are drawn; ``matplotlibrc`` at the repository top only selects the Agg backend).
RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "legend.handlelength": 1.8,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "lines.linewidth": 1.0,
    "lines.markersize": 3.5,
    "errorbar.capsize": 0,
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.hashsalt": "shrinkstudy",
}

#: One style per estimator, the same in every study figure (from the registry).
ESTIMATOR_STYLE = {e.name: e.style.kwargs(e.label) for e in registry.BUILTIN}

#: The seed answer's colours (its figures 1 and 2).
SEED_COLOURS = {
    "sample": "#b3b3b3",
    "true": "#d7191c",
    "raw": "#2166ac",
    "varmatch": "#7b3294",
    "blup": "#000000",
    "bayesglm": "#000000",
}

#: Parameters of a cell that can vary between the panels or positions of a figure.
_PARAMS = ("J", "n", "sigma", "tau", "mu")
_SYMBOL = {"J": "J", "n": "n", "sigma": "σ", "tau": "τ", "mu": "μ"}


# --------------------------------------------------------------------------------------------
# input, output, helpers


def read_summary(path) -> pd.DataFrame:
    """Read ``summary.csv`` with the text columns kept as text (a design '5' stays '5')."""
    df = pd.read_csv(
        path, dtype={"cell": str, "block": str, "design": str, "estimator": str, "groups": str}
    )
    return _normalise(df)


def _normalise(summary: pd.DataFrame) -> pd.DataFrame:
    df = summary.copy()
    if df["balanced"].dtype != bool:
        df["balanced"] = df["balanced"].astype(str).str.lower().isin(["true", "1", "yes"])
    df["design"] = df["design"].astype(str)
    df["groups"] = df["groups"].astype(str)
    return df


def save_figure(fig: Figure, *paths, dpi: float | None = None) -> list[Path]:
    """Save ``fig`` to every path (format from the suffix), with no timestamp in the file.

    ``dpi`` sets the resolution of raster formats (default ``RC["savefig.dpi"]``, 300).
    """
    out = []
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # its font-subsetting chatter
    with mpl.rc_context(RC):
        for path in paths:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fmt = path.suffix.lstrip(".").lower()
            metadata = {"CreationDate": None} if fmt == "pdf" else None
            if fmt == "svg":
                metadata = {"Date": None}
            fig.savefig(path, format=fmt, metadata=metadata, dpi=dpi or RC["savefig.dpi"])
            out.append(path)
    return out


def _styled(func):
    """Draw under the study's rc settings."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(RC):
            return func(*args, **kwargs)

    return wrapper


def estimator_order(names) -> list[str]:
    """Estimators in the study's order (the registry's), unknown names last."""
    return registry.order(names)


def _style(name: str) -> dict:
    return registry.style(name).kwargs(registry.label(name))


def _fmt(x) -> str:
    x = float(x)
    return f"{x:g}"


def _pick(df: pd.DataFrame, estimators, default_exclude=()) -> list[str]:
    present = estimator_order(df["estimator"].unique())
    if estimators is None:
        return [e for e in present if e not in default_exclude]
    return [e for e in estimator_order(estimators) if e in present]


def _balanced_all(summary: pd.DataFrame) -> pd.DataFrame:
    df = _normalise(summary)
    return df[df["balanced"] & (df["groups"] == "all")]


def _varying(df: pd.DataFrame, params) -> list[str]:
    return [p for p in params if p in df and df[p].nunique(dropna=False) > 1]


def _scenario_labels(df: pd.DataFrame, params=("sigma", "tau", "mu")):
    """One label per distinct (sigma, tau, mu) of the rows, naming only what varies."""
    vary = _varying(df, params) or ["sigma"]
    keys = sorted({tuple(float(r[p]) for p in params) for _, r in df[list(params)].iterrows()})
    labels = {}
    for key in keys:
        values = dict(zip(params, key))
        labels[key] = ", ".join(f"{_SYMBOL[p]} = {_fmt(values[p])}" for p in vary)
    return keys, labels


def _scenario_key(row, params=("sigma", "tau", "mu")):
    return tuple(float(row[p]) for p in params)


def _sort_rows(df: pd.DataFrame, by) -> pd.DataFrame:
    order = {e: i for i, e in enumerate(estimator_order(df["estimator"].unique()))}
    out = df.assign(_e=df["estimator"].map(order)).sort_values(["_e", *by], kind="stable")
    return out.drop(columns="_e").reset_index(drop=True)


class _PlainLogFormatter(LogFormatter):
    """matplotlib's choice of labelled log ticks, written as plain numbers (0.2, not 2e-01)."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:g}"


def _log_axis_numbers(ax, axis="y"):
    """Plain numbers on a log axis (on y, some minor ticks labelled when the range is short)."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    if axis == "y":
        # minor ticks labelled too when the axis spans about two decades or less
        target.set_major_locator(LogLocator(base=10))
        target.set_minor_locator(LogLocator(base=10, subs="auto"))
        target.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
        target.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.6)))
    else:
        target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        target.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _legend(fig: Figure, estimators, extra=(), ncol=None, markers=True):
    handles = []
    for e in estimators:
        s = _style(e)
        handles.append(
            Line2D(
                [],
                [],
                color=s["color"],
                marker=(s["marker"] or None) if markers else None,
                linestyle=s["linestyle"],
                mfc=s.get("mfc", s["color"]),
                label=s["label"],
            )
        )
    handles.extend(extra)
    fig.legend(
        handles=handles,
        loc="outside upper center",
        ncol=ncol or min(len(handles), 5),
        columnspacing=1.2,
    )


def _placeholder(text: str, width: float = SINGLE) -> Figure:
    """A figure that says why there is nothing to draw (the workflow still gets its file)."""
    fig = Figure(figsize=(width, 1.2), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    return fig


# --------------------------------------------------------------------------------------------
# data of the study figures


def relmse_by_n_data(summary: pd.DataFrame, estimators=None) -> pd.DataFrame:
    """Relative MSE (against raw) of the balanced cells, by group size n: the rows plotted by
    ``plot_relmse_by_n``.

    raw itself (1 by definition) is the reference line, not a row. Returns columns cell, J, n,
    sigma, tau, mu, estimator, rel_mse, rel_mse_mcse, ordered by estimator, J, sigma, tau, mu, n.
    """
    df = _balanced_all(summary)
    chosen = [e for e in _pick(df, estimators) if e != "raw"]
    df = df[df["estimator"].isin(chosen) & np.isfinite(df["rel_mse"])]
    cols = ["cell", "J", "n", "sigma", "tau", "mu", "estimator", "rel_mse", "rel_mse_mcse"]
    return _sort_rows(df[cols], ["J", "sigma", "tau", "mu", "n"])


def spread_data(summary: pd.DataFrame, estimators=None) -> pd.DataFrame:
    """Spread ratio sd_j(estimates) / sd_j(true means) of the balanced cells, by n: the rows
    plotted by ``plot_spread``. pooled (spread 0) is left out unless asked for.

    Returns columns cell, J, n, sigma, tau, mu, estimator, spread, spread_mcse.
    """
    df = _balanced_all(summary)
    chosen = _pick(df, estimators, default_exclude=("pooled",))
    df = df[df["estimator"].isin(chosen) & np.isfinite(df["spread"])]
    cols = ["cell", "J", "n", "sigma", "tau", "mu", "estimator", "spread", "spread_mcse"]
    return _sort_rows(df[cols], ["J", "sigma", "tau", "mu", "n"])


def coverage_data(summary: pd.DataFrame, estimators=None) -> pd.DataFrame:
    """Coverage of the intervals in the balanced cells, by n: the rows plotted by
    ``plot_coverage``. Returns columns cell, J, n, sigma, tau, mu, estimator, coverage,
    coverage_mcse."""
    df = _balanced_all(summary)
    chosen = _pick(df, estimators)
    df = df[df["estimator"].isin(chosen) & np.isfinite(df["coverage"])]
    cols = ["cell", "J", "n", "sigma", "tau", "mu", "estimator", "coverage", "coverage_mcse"]
    return _sort_rows(df[cols], ["J", "sigma", "tau", "mu", "n"])


def nested_loop_data(summary: pd.DataFrame, estimators=None, loop=("J", "n", "sigma")) -> pd.DataFrame:
    """Relative MSE of every balanced cell in nested-loop order: the rows of ``plot_nested_loop``.

    Cells are ordered by the parameters of ``loop``, the first the outermost (Rucker &
    Schwarzer 2014); tau and mu, when they vary, are appended as inner loops. raw (1 by
    definition) is the reference line, not a row.

    Returns columns position (0, 1, ... in loop order), cell, J, n, sigma, tau, mu, estimator,
    rel_mse, rel_mse_mcse, ordered by estimator then position.
    """
    df = _balanced_all(summary)
    loop = list(loop) + [p for p in ("tau", "mu") if p not in loop and df[p].nunique() > 1]
    cells = df.drop_duplicates("cell").sort_values(loop + ["cell"], kind="stable")["cell"].tolist()
    position = {c: i for i, c in enumerate(cells)}
    chosen = [e for e in _pick(df, estimators) if e != "raw"]
    df = df[df["estimator"].isin(chosen) & np.isfinite(df["rel_mse"])]
    df = df.assign(position=df["cell"].map(position).astype(int))
    cols = ["position", "cell", "J", "n", "sigma", "tau", "mu", "estimator", "rel_mse", "rel_mse_mcse"]
    return _sort_rows(df[cols], ["position"])


def group_size_mse_data(summary: pd.DataFrame, estimators=None) -> pd.DataFrame:
    """MSE per group-size class in the unbalanced cells (the seed's 100 x 6 + 2 x 6 design): the
    rows plotted by ``plot_group_size_mse``.

    Returns columns cell, design, sigma, tau, mu, groups ('n=2', 'n=100', ...), size (the class's
    n), estimator, mse, mse_mcse, ordered by cell, size class, estimator.
    """
    df = _normalise(summary)
    df = df[~df["balanced"] & (df["groups"] != "all")]
    chosen = _pick(df, estimators) if len(df) else []
    df = df[df["estimator"].isin(chosen) & np.isfinite(df["mse"])]
    df = df.assign(size=df["groups"].str.extract(r"(\d+)", expand=False).astype(float))
    cols = ["cell", "design", "sigma", "tau", "mu", "groups", "size", "estimator", "mse", "mse_mcse"]
    return _sort_rows(df[cols], ["design", "sigma", "tau", "mu", "cell", "size"])


def boundary_data(summary: pd.DataFrame, estimator: str = "blup") -> pd.DataFrame:
    """Share of boundary fits (tau^2^ = 0) per balanced cell with its F-distribution probability:
    the rows plotted by ``plot_boundary``.

    The share is a property of the variance-component fit, the same for every estimator that
    uses it; the row of ``estimator`` (BLUP) is taken, or else the first row of the cell with a
    finite share. Returns columns cell, J, n, N, sigma, tau, mu, boundary_share,
    boundary_share_mcse, p_boundary_theory, one row per cell, ordered by sigma, tau, mu, J, n.
    """
    df = _balanced_all(summary)
    df = df[np.isfinite(df["boundary_share"])]
    df = df.assign(_first=(df["estimator"] != estimator).astype(int))
    df = df.sort_values(["cell", "_first"], kind="stable").drop_duplicates("cell")
    cols = [
        "cell",
        "J",
        "n",
        "N",
        "sigma",
        "tau",
        "mu",
        "boundary_share",
        "boundary_share_mcse",
        "p_boundary_theory",
    ]
    return df.sort_values(["sigma", "tau", "mu", "J", "n"], kind="stable")[cols].reset_index(drop=True)


def boundary_probability(J, n, sigma, tau) -> np.ndarray:
    """Probability of a boundary fit (tau^2^ = 0) in a balanced design, REML or ANOVA.

    tau^2^ = 0 exactly when MSB <= MSW, and MSB / MSW ~ (1 + n tau^2 / sigma^2) F_{J-1, J(n-1)},
    so ``P = P(F_{J-1, J(n-1)} < 1 / (1 + n tau^2 / sigma^2))`` (DESIGN section 5). ``n`` may be
    fractional, to draw a smooth curve.
    """
    J, n = np.asarray(J, dtype=float), np.asarray(n, dtype=float)
    ratio = (np.asarray(tau, dtype=float) / np.asarray(sigma, dtype=float)) ** 2
    return special.fdtr(J - 1.0, J * (n - 1.0), 1.0 / (1.0 + n * ratio))


# --------------------------------------------------------------------------------------------
# small multiples by n: columns J, rows (sigma, tau, mu)


def _dodge(estimators, width=0.07):
    k = len(estimators)
    offsets = (np.arange(k) - (k - 1) / 2) * width / max(k - 1, 1) * 2 if k > 1 else np.zeros(1)
    return dict(zip(estimators, offsets))


def _facet_by_n(data, value, mcse, *, estimators, ylabel, log_y, reference=None, ref_label=None,
                clip=(), width=DOUBLE, panel_height=1.35, ylim=None):
    Js = sorted(data["J"].unique())
    keys, labels = _scenario_labels(data)
    ns = sorted(data["n"].unique())
    ncol, nrow = max(len(Js), 1), max(len(keys), 1)
    fig = Figure(figsize=(width, 0.55 + panel_height * nrow), layout="constrained")
    axes = np.atleast_2d(fig.subplots(nrow, ncol, sharex=True, sharey="row", squeeze=False))
    dodge = _dodge(estimators)
    for i, key in enumerate(keys):
        row = data[[_scenario_key(r) == key for _, r in data.iterrows()]]
        for j, J in enumerate(Js):
            ax = axes[i, j]
            panel = row[row["J"] == J]
            if reference is not None:
                ax.axhline(reference, color="0.35", lw=0.7, zorder=0)
            for e in estimators:
                d = panel[panel["estimator"] == e].sort_values("n")
                if d.empty:
                    continue
                s = _style(e)
                x = d["n"].to_numpy(float) * np.exp(dodge[e])
                y = d[value].to_numpy(float)
                yerr = MCSE_Z * d[mcse].to_numpy(float)
                cont = ax.errorbar(
                    x,
                    y,
                    yerr=yerr,
                    color=s["color"],
                    marker=s["marker"] or None,
                    linestyle=s["linestyle"],
                    mfc=s.get("mfc", s["color"]),
                    elinewidth=0.6,
                    zorder=1 if e == "oracle" else 2,
                )
                cont.lines[0].set_gid(e)
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(FixedLocator(ns))
            ax.xaxis.set_minor_locator(NullLocator())
            _log_axis_numbers(ax, "x")
            if log_y:
                ax.set_yscale("log")
                _log_axis_numbers(ax, "y")
            if i == 0:
                ax.set_title(f"J = {J}")
            if i == nrow - 1:
                ax.set_xlabel("n per group")
            if j == ncol - 1:
                ax.text(1.04, 0.5, labels[key], transform=ax.transAxes, rotation=270,
                        ha="left", va="center")
        # y limits of the row from the estimators that are not clipped
        keep = row[~row["estimator"].isin(clip)]
        if ylim is not None:
            axes[i, 0].set_ylim(*ylim)
        elif len(keep) and clip:
            lo = np.nanmin(keep[value] - MCSE_Z * keep[mcse])
            hi = np.nanmax(keep[value] + MCSE_Z * keep[mcse])
            if reference is not None:
                lo, hi = min(lo, reference), max(hi, reference)
            if log_y:
                lo, hi = max(lo, 1e-3) / 1.15, hi * 1.15
            else:
                pad = 0.05 * (hi - lo)
                lo, hi = lo - pad, hi + pad
            axes[i, 0].set_ylim(lo, hi)
    fig.supylabel(ylabel, fontsize=RC["axes.labelsize"])
    extra = []
    if reference is not None and ref_label:
        extra.append(Line2D([], [], color="0.35", lw=0.7, label=ref_label))
    _legend(fig, estimators, extra)
    return fig


@_styled
def plot_relmse_by_n(summary: pd.DataFrame, estimators=None, width: float = DOUBLE) -> Figure:
    """Relative MSE against n (balanced cells): columns J, rows sigma, one line per estimator
    with +-1.96 MCSE bars, raw = 1 as the reference line, the oracle (dashed) as the floor.

    The y axis is logarithmic; pooled, whose relative MSE grows without bound in n, leaves the
    top of a panel rather than setting its scale.
    """
    data = relmse_by_n_data(summary, estimators)
    if data.empty:
        return _placeholder("no balanced cells in this study")
    ests = estimator_order(data["estimator"].unique())
    return _facet_by_n(
        data,
        "rel_mse",
        "rel_mse_mcse",
        estimators=ests,
        ylabel="MSE / MSE(raw)",
        log_y=True,
        reference=1.0,
        ref_label="raw (= 1)",
        clip=("pooled",),
        width=width,
    )


@_styled
def plot_spread(summary: pd.DataFrame, estimators=None, width: float = DOUBLE) -> Figure:
    """Spread ratio sqrt(sum var_j(estimates) / sum var_j(true means)) against n (balanced cells):
    columns J, rows sigma, +-1.96 MCSE bars, a reference line at 1 (the true means' spread)."""
    data = spread_data(summary, estimators)
    if data.empty:
        return _placeholder("no balanced cells in this study")
    ests = estimator_order(data["estimator"].unique())
    return _facet_by_n(
        data,
        "spread",
        "spread_mcse",
        estimators=ests,
        ylabel="spread ratio: SD(estimates) / SD(true means)",
        log_y=True,
        reference=1.0,
        ref_label="right spread (1)",
        width=width,
    )


@_styled
def plot_coverage(summary: pd.DataFrame, level: float | None = None, estimators=None,
                  width: float = DOUBLE) -> Figure:
    """Coverage of the intervals against n (balanced cells), +-1.96 MCSE bars, the nominal
    ``level`` as the reference line (default: the table's ``level`` column, else 0.95)."""
    data = coverage_data(summary, estimators)
    if data.empty:
        return _placeholder("no balanced cells in this study")
    if level is None:
        levels = summary["level"].dropna().unique() if "level" in summary else []
        level = float(levels[0]) if len(levels) == 1 else 0.95
    ests = estimator_order(data["estimator"].unique())
    return _facet_by_n(
        data,
        "coverage",
        "coverage_mcse",
        estimators=ests,
        ylabel="coverage",
        log_y=False,
        reference=float(level),
        ref_label=f"nominal {float(level):g}",
        width=width,
    )


# --------------------------------------------------------------------------------------------
# nested loop plot


@_styled
def plot_nested_loop(summary: pd.DataFrame, estimators=None, loop=("J", "n", "sigma"),
                     width: float = DOUBLE) -> Figure:
    """Nested loop plot (Rucker & Schwarzer 2014) of relative MSE over every balanced cell.

    x: the cells, ordered by ``loop`` (outermost first). Top: one step line per estimator (a
    bold level per cell, joined by a light line) with a +-1.96 MCSE band, raw = 1 as the
    reference, log scale (pooled may leave the top). Bottom: the parameters of each cell as step
    lines, one band per parameter, outermost on top.
    """
    data = nested_loop_data(summary, estimators, loop)
    if data.empty:
        return _placeholder("no balanced cells in this study")
    ests = estimator_order(data["estimator"].unique())
    cells = data.drop_duplicates("position").sort_values("position")
    params = [p for p in dict.fromkeys(list(loop) + ["tau", "mu"]) if p in cells and (
        p in loop or cells[p].nunique() > 1)]
    K = len(cells)
    fig = Figure(figsize=(width, 3.9), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3.0, 0.32 * len(params) + 0.2])
    top.axhline(1.0, color="0.35", lw=0.7, zorder=0)
    for e in ests:
        d = data[data["estimator"] == e].sort_values("position")
        s = _style(e)
        x = d["position"].to_numpy(float)
        y = d["rel_mse"].to_numpy(float)
        half = MCSE_Z * d["rel_mse_mcse"].to_numpy(float)
        xs = np.column_stack([x - 0.5, x + 0.5]).ravel()  # each cell's band spans the whole cell
        top.fill_between(xs, np.repeat(np.maximum(y - half, 1e-6), 2), np.repeat(y + half, 2),
                         color=s["color"], alpha=0.22, lw=0, zorder=1)
        z = 1.5 if e == "oracle" else 2
        # a light step line joins the cells; a bold level per cell carries the comparison
        (line,) = top.plot(x, y, drawstyle="steps-mid", color=s["color"], lw=0.5, alpha=0.45, zorder=z)
        line.set_gid(e)
        top.hlines(y, x - 0.5, x + 0.5, color=s["color"], linestyle=s["linestyle"], lw=1.4, zorder=z)
    keep = data[data["estimator"] != "pooled"]
    if len(keep):
        lo = np.nanmin(keep["rel_mse"] - MCSE_Z * keep["rel_mse_mcse"])
        hi = np.nanmax(keep["rel_mse"] + MCSE_Z * keep["rel_mse_mcse"])
        top.set_ylim(max(min(lo, 1.0), 1e-3) / 1.15, max(hi, 1.0) * 1.15)
    top.set_yscale("log")
    _log_axis_numbers(top, "y")
    top.set_ylabel("MSE / MSE(raw)")
    outer = loop[0] if loop else None
    if outer in cells:
        change = np.flatnonzero(np.diff(cells[outer].to_numpy(float)) != 0) + 0.5
        for x in change:
            top.axvline(x, color="0.85", lw=0.6, zorder=0)
            bottom.axvline(x, color="0.85", lw=0.6, zorder=0)
    # parameter step lines, one band per parameter, outermost on top
    ticks, ticklabels = [], []
    x = cells["position"].to_numpy(float)
    for k, p in enumerate(params):
        base = (len(params) - 1 - k) * 1.0
        values = cells[p].to_numpy(float)
        levels = np.unique(values)
        rank = np.searchsorted(levels, values) / max(len(levels) - 1, 1)
        y = base + 0.1 + 0.6 * rank
        bottom.stairs(y, np.arange(K + 1) - 0.5, baseline=None, color="0.2", lw=0.8)
        # label each run of a level when there is room for it
        runs = np.split(np.arange(K), np.flatnonzero(np.diff(values) != 0) + 1)
        labelled = False
        for run in runs:
            if len(run) >= 3:
                bottom.text(x[run].mean(), y[run[0]] + 0.07, _fmt(values[run[0]]), ha="center",
                            va="bottom", fontsize=6)
                labelled = True
        ticks.append(base + 0.4)
        ticklabels.append(_SYMBOL[p] if labelled else f"{_SYMBOL[p]}: " + ", ".join(map(_fmt, levels)))
    bottom.set_yticks(ticks, ticklabels)
    bottom.set_ylim(-0.05, len(params) + 0.05)
    bottom.tick_params(axis="y", length=0)
    bottom.spines["left"].set_visible(False)
    bottom.set_xlim(-0.5, K - 0.5)
    bottom.set_xticks([])
    order = ", then ".join(_SYMBOL[p] for p in params)
    bottom.set_xlabel(f"{K} balanced cells, ordered by {order}")
    extra = [Line2D([], [], color="0.35", lw=0.7, label="raw (= 1)")]
    _legend(fig, ests, extra, markers=False)
    return fig


# --------------------------------------------------------------------------------------------
# the unbalanced design: MSE by group-size class


@_styled
def plot_group_size_mse(summary: pd.DataFrame, estimators=None, width: float | None = None) -> Figure:
    """MSE per group in each group-size class of the unbalanced cells: bars per estimator with
    +-1.96 MCSE error bars; columns: the cells (sigma), rows: the size classes, each row on its
    own scale (the MSE of small groups is far larger), each bar labelled with its value."""
    data = group_size_mse_data(summary, estimators)
    if data.empty:
        return _placeholder("no unbalanced cells in this study")
    ests = estimator_order(data["estimator"].unique())
    cells = data.drop_duplicates("cell")[["cell", "design", "sigma", "tau", "mu"]]
    classes = data.drop_duplicates("groups").sort_values("size")["groups"].tolist()
    vary = _varying(cells, ("design", "sigma", "tau", "mu")) or ["sigma"]
    ncol, nrow = max(len(cells), 1), max(len(classes), 1)
    width = width or (SINGLE if ncol == 1 else DOUBLE)
    fig = Figure(figsize=(width, 0.7 + 1.45 * nrow), layout="constrained")
    axes = fig.subplots(nrow, ncol, sharex=True, squeeze=False)
    xpos = {e: i for i, e in enumerate(ests)}
    for j, (_, c) in enumerate(cells.iterrows()):
        title = ", ".join(
            f"design {c['design']}" if p == "design" else f"{_SYMBOL[p]} = {_fmt(c[p])}" for p in vary
        )
        for i, g in enumerate(classes):
            ax = axes[i, j]
            d = data[(data["cell"] == c["cell"]) & (data["groups"] == g)]
            for _, r in d.iterrows():
                s = _style(r["estimator"])
                bar = ax.bar(xpos[r["estimator"]], r["mse"], width=0.75, color=s["color"],
                             alpha=0.9 if r["estimator"] != "bayesglm" else 0.75,
                             gid=r["estimator"])
                bar.patches[0].set_gid(r["estimator"])
                top = r["mse"] + MCSE_Z * r["mse_mcse"]
                ax.errorbar(xpos[r["estimator"]], r["mse"], yerr=MCSE_Z * r["mse_mcse"], color="0.15",
                            lw=0.8, capsize=1.5)
                ax.annotate(f"{r['mse']:.2g}", (xpos[r["estimator"]], top), xytext=(0, 1.5),
                            textcoords="offset points", ha="center", va="bottom", fontsize=5.5)
            ax.margins(y=0.12)
            if i == 0:
                ax.set_title(title)
            if j == 0:
                ax.set_ylabel(f"MSE, groups of {g}")
            ax.set_xticks(range(len(ests)), [_style(e)["label"] for e in ests], rotation=45,
                          ha="right", rotation_mode="anchor")
            ax.set_xlim(-0.6, len(ests) - 0.4)
    return fig


# --------------------------------------------------------------------------------------------
# boundary fits


@_styled
def plot_boundary(summary: pd.DataFrame, width: float = DOUBLE) -> Figure:
    """Share of boundary fits (tau^2^ = 0) against n, one colour per J, points with +-1.96 MCSE
    bars, and the F-distribution probability as curves; one panel per (sigma, tau).

    The curves are ``boundary_probability`` over a fine grid of n; at the cells' n they are
    the table's ``p_boundary_theory`` (a mismatch is logged as a warning).
    """
    data = boundary_data(summary)
    if data.empty:
        return _placeholder("no balanced cells in this study")
    keys, labels = _scenario_labels(data)
    Js = sorted(data["J"].unique())
    colours = dict(zip(Js, mpl.colormaps["viridis"](np.linspace(0.0, 0.85, max(len(Js), 1)))))
    ncol = max(len(keys), 1)
    width = width if ncol > 1 else SINGLE
    fig = Figure(figsize=(width, 2.6), layout="constrained")
    axes = fig.subplots(1, ncol, sharex=True, sharey=True, squeeze=False)[0]
    ns = sorted(data["n"].unique())
    grid = np.geomspace(min(ns), max(ns), 200) if ns else np.array([])
    check = boundary_probability(data["J"], data["n"], data["sigma"], data["tau"])
    bad = np.abs(check - data["p_boundary_theory"].to_numpy(float)) > 1e-6
    if bad.any():
        log.warning("p_boundary_theory differs from the F probability in cells %s",
                    data.loc[bad, "cell"].tolist())
    for ax, key in zip(axes, keys):
        panel = data[[_scenario_key(r) == key for _, r in data.iterrows()]]
        sigma, tau = key[0], key[1]
        for J in Js:
            d = panel[panel["J"] == J].sort_values("n")
            if d.empty:
                continue
            ax.plot(grid, boundary_probability(J, grid, sigma, tau), color=colours[J], lw=0.9, zorder=1)
            cont = ax.errorbar(d["n"].to_numpy(float), d["boundary_share"],
                               yerr=MCSE_Z * d["boundary_share_mcse"], color=colours[J], marker="o",
                               linestyle="none", elinewidth=0.7, zorder=2)
            cont.lines[0].set_gid(f"J={J}")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(ns))
        ax.xaxis.set_minor_locator(NullLocator())
        _log_axis_numbers(ax, "x")
        ax.set_title(labels[key])
        ax.set_xlabel("n per group")
        ax.set_ylim(-0.02, 1.0)
    axes[0].set_ylabel("share of fits with τ² estimate = 0")
    handles = [Line2D([], [], color=colours[J], marker="o", lw=0.9, label=f"J = {J}") for J in Js]
    handles.append(Line2D([], [], color="0.3", lw=0.9, label="F probability"))
    handles.append(Line2D([], [], color="0.3", marker="o", linestyle="none", label="simulated"))
    fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 7))
    return fig


# --------------------------------------------------------------------------------------------
# the seed answer's figures


def _seed_xlabel(estimates: pd.DataFrame) -> str:
    groups = estimates["group"].to_numpy()
    n = estimates["n"].to_numpy()
    runs = np.split(np.arange(len(n)), np.flatnonzero(np.diff(n) != 0) + 1)
    if len(runs) == 1:
        return f"group (n = {n[0]})"
    parts = [f"{groups[r[0]]}–{groups[r[-1]]}: n = {n[r[0]]}" if len(r) > 1 else
             f"{groups[r[0]]}: n = {n[r[0]]}" for r in runs]
    return "group (" + "; ".join(parts) + ")"


def _seed_ylim(estimates: pd.DataFrame, columns) -> tuple[float, float]:
    values = estimates[[c for c in columns if c in estimates]].to_numpy(float)
    lo, hi = np.nanmin(values), np.nanmax(values)
    pad = 0.15 * (hi - lo) + 0.3
    return lo - pad, hi + pad


def _fit_text(fit_info: dict) -> str:
    method = fit_info.get("method", "REML")
    text = (f"{method} estimates: μ = {fit_info['mu']:.2f}, τ = {np.sqrt(fit_info['tau2']):.2f}, "
            f"σ = {np.sqrt(fit_info['sigma2']):.2f}")
    return text + (" (boundary fit, τ = 0)" if fit_info.get("boundary") else "")


def _seed_title(fit_info: dict) -> str:
    """Figure 1's title: the dataset's seed and how it was chosen (``seed_example.choose_seed``),
    then its fit (``_fit_text``)."""
    choice = fit_info.get("seed_choice") or {"rule": "seed", "seed": fit_info.get("seed")}
    if choice["rule"] != "closest_fit":
        return f"Seed {choice['seed']}. " + _fit_text(fit_info)
    t, k = choice["target"], choice["candidates"]
    last = choice["first"] + k - 1
    head = (f"Seed {choice['seed']}: of the {k:,} seeds {choice['first']}–{last}, the one whose "
            f"{fit_info.get('method', 'REML')} fit is closest to the answer's "
            f"(τ = {t['tau']:g}, σ = {t['sigma']:g}, μ = {t['mu']:g})")
    fit = (f"{fit_info.get('method', 'REML')} estimates: τ = {np.sqrt(fit_info['tau2']):.2f}, "
           f"σ = {np.sqrt(fit_info['sigma2']):.2f}, μ = {fit_info['mu']:.3f}")
    return head + "\n" + fit + (" (boundary fit, τ = 0)" if fit_info.get("boundary") else "")


@_styled
def plot_seed_shrinkage(data: pd.DataFrame, estimates: pd.DataFrame, fit_info: dict,
                        width: float = DOUBLE, jitter_seed: int = 0) -> Figure:
    """The seed's figure 1: sample points (grey, jittered within their group), true means (red),
    raw means (blue crosshairs), the variance-matched shrunken means (purple crosses, with an
    arrow for the pull from raw) and the mixed-model BLUPs beside them (black crosses).

    The y axis is zoomed to the means, as in the answer; sample points beyond it are cut off.
    The jitter is drawn from ``numpy.random.default_rng(jitter_seed)``, so the figure is the same
    on every run.
    """
    rng = np.random.default_rng(jitter_seed)
    fig = Figure(figsize=(width, 3.1), layout="constrained")
    ax = fig.subplots()
    x = estimates["group"].to_numpy(float)
    ax.scatter(data["group"].to_numpy(float) + rng.uniform(-0.3, 0.3, len(data)), data["y"], s=2.5,
               color=SEED_COLOURS["sample"], alpha=0.6, lw=0, zorder=0, label="observations")
    ax.axhline(fit_info["mu"], color="0.5", lw=0.7, linestyle="--", zorder=0.5)
    raw, vm = estimates["raw"].to_numpy(float), estimates["varmatch"].to_numpy(float)
    for xi, a, b in zip(x, raw, vm):
        if abs(b - a) > 1e-9:
            ax.annotate("", xy=(xi, b), xytext=(xi, a), zorder=2,
                        arrowprops=dict(arrowstyle="-|>", color=SEED_COLOURS["varmatch"], lw=0.7,
                                        shrinkA=3, shrinkB=3, mutation_scale=6, alpha=0.8))
    ax.scatter(x, estimates["true_mean"], s=22, color=SEED_COLOURS["true"], zorder=3, label="true mean")
    ax.scatter(x, raw, s=55, facecolor="none", edgecolor=SEED_COLOURS["raw"], lw=1.0, zorder=4,
               label="raw mean")
    ax.scatter(x, raw, s=110, marker="+", color=SEED_COLOURS["raw"], lw=1.0, zorder=4)
    ax.scatter(x, vm, s=30, marker="x", color=SEED_COLOURS["varmatch"], lw=1.3, zorder=5,
               label="shrunken (varmatch)")
    ax.scatter(x + 0.3, estimates["blup"], s=22, marker="x", color=SEED_COLOURS["blup"], lw=1.0,
               zorder=5, label="BLUP")
    ax.set_ylim(*_seed_ylim(estimates, ["true_mean", "raw", "varmatch", "blup"]))
    ax.set_xlim(x.min() - 0.6, x.max() + 0.6)
    ax.set_xticks(x, [str(int(g)) for g in x])
    ax.set_xlabel(_seed_xlabel(estimates))
    ax.set_ylabel("y")
    handles = [
        Line2D([], [], color=SEED_COLOURS["sample"], marker="o", linestyle="none", ms=2.5,
               label="observations"),
        Line2D([], [], color=SEED_COLOURS["true"], marker="o", linestyle="none", ms=4.5, label="true mean"),
        Line2D([], [], color=SEED_COLOURS["raw"], marker="$\\oplus$", linestyle="none", ms=8,
               label="raw mean"),
        Line2D([], [], color=SEED_COLOURS["varmatch"], marker="x", linestyle="none", ms=5, mew=1.3,
               label="shrunken (variance-matched)"),
        Line2D([], [], color=SEED_COLOURS["blup"], marker="x", linestyle="none", ms=4.5, label="BLUP"),
        Line2D([], [], color="0.5", linestyle="--", lw=0.7, label="estimated grand mean"),
    ]
    fig.legend(handles=handles, loc="outside upper center", ncol=3)
    ax.set_title(_seed_title(fit_info), loc="left", fontsize=7)
    return fig


@_styled
def plot_seed_blup_bayesglm(estimates: pd.DataFrame, fit_info: dict, width: float = SINGLE) -> Figure:
    """The seed's figure 2: lme4-style BLUPs (black crosses) and ``arm::bayesglm`` with the mixed
    model's prior (black open circles) on top of each other, true means in red."""
    fig = Figure(figsize=(width, 2.7), layout="constrained")
    ax = fig.subplots()
    x = estimates["group"].to_numpy(float)
    ax.axhline(fit_info["mu"], color="0.5", lw=0.7, linestyle="--", zorder=0)
    ax.scatter(x, estimates["true_mean"], s=18, color=SEED_COLOURS["true"], zorder=2, label="true mean")
    ax.scatter(x, estimates["bayesglm"], s=45, facecolor="none", edgecolor=SEED_COLOURS["bayesglm"],
               lw=0.9, zorder=3, label="bayesglm")
    ax.scatter(x, estimates["blup"], s=28, marker="x", color=SEED_COLOURS["blup"], lw=0.9, zorder=4,
               label="BLUP")
    ax.set_ylim(*_seed_ylim(estimates, ["true_mean", "blup", "bayesglm"]))
    ax.set_xlim(x.min() - 0.6, x.max() + 0.6)
    ax.set_xticks(x, [str(int(g)) for g in x])
    ax.set_xlabel(_seed_xlabel(estimates))
    ax.set_ylabel("group mean")
    ax.set_title(_fit_text(fit_info), loc="left", fontsize=6.5)
    handles = [
        Line2D([], [], color=SEED_COLOURS["true"], marker="o", linestyle="none", ms=4, label="true mean"),
        Line2D([], [], color=SEED_COLOURS["blup"], marker="x", linestyle="none", ms=5, label="BLUP (REML)"),
        Line2D([], [], color=SEED_COLOURS["bayesglm"], marker="o", mfc="none", linestyle="none", ms=6,
               label="bayesglm"),
    ]
    fig.legend(handles=handles, loc="outside upper center", ncol=3)
    return fig


# --------------------------------------------------------------------------------------------
# tables as pages of the Snakemake report (it shows images and HTML inline)

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; font-size: 13px; margin: 1em; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; }}
th {{ position: sticky; top: 0; background: #f4f4f4; }}
td:nth-child(-n+3), th:nth-child(-n+3) {{ text-align: left; }}
pre {{ font-size: 12px; }}
</style></head>
<body><h3>{title}</h3>
{body}
</body></html>
"""

#: Columns of the summary shown in the report (the CSV holds them all).
REPORT_COLUMNS = (
    "cell", "estimator", "groups", "reps", "failures", "mse", "mse_mcse", "rel_mse", "rel_mse_mcse",
    "bias", "spread", "coverage", "coverage_mcse", "boundary_share", "p_boundary_theory",
)  # fmt: skip


def summary_html(summary: pd.DataFrame, title: str = "Summary of the study") -> str:
    """The summary table as a standalone HTML page (4 significant digits, NaN left blank)."""
    cols = [c for c in REPORT_COLUMNS if c in summary]
    body = summary[cols].to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)
    note = "<p>Every column, at full precision: <code>results/tables/summary.csv</code>.</p>"
    return _PAGE.format(title=title, body=note + body)


def text_html(text: str, title: str) -> str:
    """A text file (such as ``headline.md``) as a standalone HTML page, shown verbatim."""
    import html

    return _PAGE.format(title=html.escape(title), body=f"<pre>{html.escape(text)}</pre>")


# --------------------------------------------------------------------------------------------
# `shrinkstudy fit --plot`: figure 1 for a user's own data (no true means)


@_styled
def plot_fit(estimates: pd.DataFrame, mu: float, title: str = "", width: float = DOUBLE) -> Figure:
    """Raw means (blue crosshairs), the variance-matched shrunken means (purple, with the pull from
    raw) and the BLUPs (black crosses) of one dataset's groups, the estimated grand mean dashed.

    ``estimates`` has columns group, raw, varmatch, blup (one row per group, in plotting order).
    """
    fig = Figure(figsize=(width, 3.0), layout="constrained")
    ax = fig.subplots()
    x = np.arange(1, len(estimates) + 1, dtype=float)
    raw, vm = estimates["raw"].to_numpy(float), estimates["varmatch"].to_numpy(float)
    ax.axhline(mu, color="0.5", lw=0.7, linestyle="--", zorder=0)
    for xi, a, b in zip(x, raw, vm):
        if np.isfinite(a) and np.isfinite(b) and abs(b - a) > 1e-9:
            ax.annotate("", xy=(xi, b), xytext=(xi, a), zorder=2,
                        arrowprops=dict(arrowstyle="-|>", color=SEED_COLOURS["varmatch"], lw=0.7,
                                        shrinkA=3, shrinkB=3, mutation_scale=6, alpha=0.8))
    ax.scatter(x, raw, s=55, facecolor="none", edgecolor=SEED_COLOURS["raw"], lw=1.0, zorder=4)
    ax.scatter(x, raw, s=110, marker="+", color=SEED_COLOURS["raw"], lw=1.0, zorder=4)
    ax.scatter(x, vm, s=30, marker="x", color=SEED_COLOURS["varmatch"], lw=1.3, zorder=5)
    ax.scatter(x + 0.3, estimates["blup"], s=22, marker="x", color=SEED_COLOURS["blup"], lw=1.0, zorder=5)
    ax.set_xticks(x, [str(g) for g in estimates["group"]])
    ax.set_xlim(x.min() - 0.6, x.max() + 0.6)
    ax.set_xlabel("group")
    ax.set_ylabel("group mean")
    handles = [
        Line2D([], [], color=SEED_COLOURS["raw"], marker="$\\oplus$", linestyle="none", ms=8, label="raw mean"),
        Line2D([], [], color=SEED_COLOURS["varmatch"], marker="x", linestyle="none", ms=5, mew=1.3,
               label="shrunken (variance-matched)"),
        Line2D([], [], color=SEED_COLOURS["blup"], marker="x", linestyle="none", ms=4.5, label="BLUP"),
        Line2D([], [], color="0.5", linestyle="--", lw=0.7, label="estimated grand mean"),
    ]
    fig.legend(handles=handles, loc="outside upper center", ncol=4)
    if title:
        ax.set_title(title, loc="left", fontsize=7)
    return fig


def seed_figure1(estimates: pd.DataFrame, fit: dict, out) -> list[Path]:
    """Figure 1 for ``shrinkstudy fit --plot``: the first dataset of the fit, saved to ``out``
    (PNG) and beside it as PDF. ``estimates`` and ``fit`` are what the command writes
    (estimates.csv and fit.json)."""
    est = estimates
    if "dataset" in est.columns:
        est = est[est["dataset"] == est["dataset"].iloc[0]]
    record = fit["datasets"][0]
    mu = record.get("mu")
    mu = float(mu) if mu is not None else float(np.nanmean(est["raw"]))
    tau2, sigma2 = record.get("tau2"), record.get("sigma2")
    title = f"{fit.get('method', 'REML')} estimates: μ = {mu:.3g}"
    if tau2 is not None:
        title += f", τ = {np.sqrt(tau2):.3g}"
    if sigma2 is not None:
        title += f", σ = {np.sqrt(sigma2):.3g}"
    fig = plot_fit(est.reset_index(drop=True), mu, title)
    out = Path(out)
    return save_figure(fig, out, out.with_suffix(".pdf"))
