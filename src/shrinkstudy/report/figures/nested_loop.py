"""Nested loop plot (Rucker & Schwarzer 2014) of relative MSE over every balanced cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .catalog import figure
from .facets import _SYMBOL, _cell_rows, _drawn, _fmt, _log_axis_numbers, _sort_rows
from .style import DOUBLE, MCSE_Z, _legend, _placeholder, _style, _styled, estimator_order

__all__ = ["nested_loop_data", "plot_nested_loop"]

#: Its catalog entry: the cells and estimators it draws, its measure.
FIGURE = figure("nested_loop")


def nested_loop_data(summary: pd.DataFrame, estimators=None, loop=("J", "n", "sigma")) -> pd.DataFrame:
    """Relative MSE of every balanced cell in nested-loop order: the rows of ``plot_nested_loop``.

    Cells are ordered by the parameters of ``loop``, the first the outermost (Rucker &
    Schwarzer 2014); tau and mu, when they vary, are appended as inner loops. raw (1 by
    definition) is the reference line, not a row.

    Returns columns position (0, 1, ... in loop order), cell, J, n, sigma, tau, mu, estimator,
    rel_mse, rel_mse_mcse, ordered by estimator then position.
    """
    df = _cell_rows(summary, FIGURE)
    loop = list(loop) + [p for p in ("tau", "mu") if p not in loop and df[p].nunique() > 1]
    cells = df.drop_duplicates("cell").sort_values(loop + ["cell"], kind="stable")["cell"].tolist()
    position = {c: i for i, c in enumerate(cells)}
    df = df[df["estimator"].isin(_drawn(FIGURE, df, estimators)) & np.isfinite(df["rel_mse"])]
    df = df.assign(position=df["cell"].map(position).astype(int))
    cols = ["position", "cell", "J", "n", "sigma", "tau", "mu", "estimator", "rel_mse", "rel_mse_mcse"]
    return _sort_rows(df[cols], ["position"])


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
    top.set_ylabel(FIGURE.ylabel)
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
