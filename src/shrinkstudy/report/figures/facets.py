"""Helpers shared by several figures: choosing and ordering rows, naming the scenarios
(sigma, tau, mu) of panels, log axes with plain numbers, and the small multiples by n
(``_facet_by_n``: columns J, rows scenarios) of the relative-MSE, spread and coverage figures.

Everything here is internal to the figures package.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogFormatter, LogLocator, NullLocator

from .style import DOUBLE, MCSE_Z, RC, _legend, _style, _supylabel, estimator_order
from ...methods import registry
from ..tables import known_se_rows, normal_world
from .summary import _normalise

__all__: list[str] = []

#: How the parameters of a cell are written in titles, labels and legends.
_SYMBOL = {"J": "J", "n": "n", "sigma": "σ", "tau": "τ", "mu": "μ"}


def _fmt(x) -> str:
    """A parameter value as short text (2, 0.5, 100)."""
    x = float(x)
    return f"{x:g}"


def _cell_rows(summary: pd.DataFrame, fig) -> pd.DataFrame:
    """The summary's rows of the cells figure ``fig`` (its catalog entry) draws, its ``cells``:
    the balanced cells of the normal world over all their groups, the unbalanced ones by
    group-size class, or the cells outside the normal world with their matching normal-world
    cells (as ``captions.drawn_cells`` selects the study's cells)."""
    if fig.cells == "worlds":
        return _worlds_rows(summary)
    if fig.cells == "balanced":
        return _balanced_all(summary)
    if fig.cells == "unbalanced":
        df = _normalise(summary)
        return df[~df["balanced"] & (df["groups"] != "all") & normal_world(df)]
    raise KeyError(fig.cells)


#: The cells outside the normal world: what a cell's reference normal-world cell shares with it.
MATCH = ("J", "design", "sigma", "tau", "mu")


def _worlds_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The ``all``-groups rows of the cells outside the normal world and of their matching
    normal-world cells (same J, design, sigma, tau, mu); empty when there is no such cell."""
    df = _normalise(summary)
    if any(c not in df for c in ("effects", "errors", "sigma_ratio")):
        return df.iloc[0:0]
    df = df[(df["groups"] == "all") & ~known_se_rows(df)]  # known-SE cells: no n or sigma to draw by
    normal = normal_world(df)
    other = df[~normal]
    if other.empty:
        return other
    key = pd.Series(list(zip(*(df[c] for c in MATCH))), index=df.index)
    keys = set(key[~normal])
    return df[~normal | (normal & key.map(lambda k: k in keys).astype(bool))]


def _drawn(fig, rows: pd.DataFrame, asked=None) -> list[str]:
    """The estimators figure ``fig`` draws of its cells' ``rows``: its catalog entry's
    (``Figure.drawn_estimators``, which its caption calls too), of those with a finite value of
    its measure; ``asked``: those asked for."""
    having = set(rows.loc[np.isfinite(rows[fig.measure].astype(float)), "estimator"])
    return fig.drawn_estimators(rows["estimator"].unique(), having, asked)


def _balanced_all(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows of the balanced cells of the normal world over all their groups."""
    df = _normalise(summary)
    return df[df["balanced"] & (df["groups"] == "all") & normal_world(df)]


def _varying(df: pd.DataFrame, params) -> list[str]:
    """The ``params`` that take more than one value in ``df``."""
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
    """The (sigma, tau, mu) of a row, as the keys of ``_scenario_labels``."""
    return tuple(float(row[p]) for p in params)


def _sort_rows(df: pd.DataFrame, by) -> pd.DataFrame:
    """Rows by estimator (the study's order), then by the columns ``by``; a fresh index."""
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


def _n_axis(ax, ns):
    """A log x axis of group sizes with a tick at each n; with a single n the axis spans a factor
    of 2 either side of it (matplotlib would otherwise give it a width of 0, hiding every point,
    or stretch the estimators' dodged points across the whole panel as if they were other n)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(ns))
    ax.xaxis.set_minor_locator(NullLocator())
    _log_axis_numbers(ax, "x")
    if len(ns) == 1:
        ax.set_xlim(float(ns[0]) / 2.0, float(ns[0]) * 2.0)


def _dodge(estimators, width=0.07):
    """Offsets on a log-n axis (in log units) that set the estimators' points side by side."""
    k = len(estimators)
    offsets = (np.arange(k) - (k - 1) / 2) * width / max(k - 1, 1) * 2 if k > 1 else np.zeros(1)
    return dict(zip(estimators, offsets))


def _facet_by_n(data, value, mcse, *, estimators, ylabel, log_y, reference=None, ref_label=None,
                clip=(), width=DOUBLE, panel_height=1.35, ylim=None):
    """Small multiples by n: columns J, rows the scenarios (sigma, tau, mu), one line per
    estimator with +-``MCSE_Z`` MCSE bars.

    Parameters
    ----------
    data : rows with columns J, n, sigma, tau, mu, estimator, ``value`` and ``mcse``.
    value, mcse : the columns plotted and their Monte Carlo standard errors.
    estimators : the estimators drawn, in legend order.
    ylabel : label of the shared y axis.
    log_y : whether the y axis is logarithmic.
    reference, ref_label : a horizontal reference line and its legend entry, if any.
    clip : estimators that do not set the y limits of a row (they may leave the panel).
    width, panel_height : figure width and height of a row, inches.
    ylim : fixed y limits of every row, instead.
    """
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
            _n_axis(ax, ns)
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
    _supylabel(fig, ylabel)
    extra = []
    if reference is not None and ref_label:
        extra.append(Line2D([], [], color="0.35", lw=0.7, label=ref_label))
    _legend(fig, estimators, extra)
    return fig
