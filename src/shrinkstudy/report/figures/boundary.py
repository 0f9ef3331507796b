"""Share of boundary fits (tau^2^ = 0) against n, with the F-distribution probability."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ...evaluate.measures import boundary_probability
from .catalog import figure
from .facets import _cell_rows, _n_axis, _scenario_key, _scenario_labels
from .style import DOUBLE, MCSE_Z, SINGLE, _placeholder, _styled

__all__ = ["boundary_data", "boundary_probability", "plot_boundary"]

#: Its catalog entry: the cells it draws, its measure.
FIGURE = figure("boundary")


def boundary_data(summary: pd.DataFrame, estimator: str = "blup") -> pd.DataFrame:
    """Share of boundary fits (tau^2^ = 0) per balanced cell with its F-distribution probability:
    the rows plotted by ``plot_boundary``.

    The share is a property of the variance-component fit, the same for every estimator that
    uses it; the row of ``estimator`` (BLUP) is taken, or else the first row of the cell with a
    finite share. Returns columns cell, J, n, N, sigma, tau, mu, boundary_share,
    boundary_share_mcse, p_boundary_theory, one row per cell, ordered by sigma, tau, mu, J, n.
    """
    df = _cell_rows(summary, FIGURE)
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


@_styled
def plot_boundary(summary: pd.DataFrame, width: float = DOUBLE) -> Figure:
    """Share of boundary fits (tau^2^ = 0) against n, one colour per J, points with +-1.96 MCSE
    bars, and the F-distribution probability as curves; one panel per (sigma, tau).

    The curves are ``measures.boundary_probability`` over a fine grid of n: at the cells' n,
    the function that gives the table's ``p_boundary_theory``.
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
    # the curves span the x axis (with a single n, a factor of 2 either side of it: _n_axis)
    lo, hi = (min(ns), max(ns)) if len(ns) > 1 else (ns[0] / 2.0, ns[0] * 2.0)
    grid = np.geomspace(lo, hi, 200) if ns else np.array([])
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
        _n_axis(ax, ns)
        ax.set_title(labels[key])
        ax.set_xlabel("n per group")
        ax.set_ylim(-0.02, 1.0)
    axes[0].set_ylabel(FIGURE.ylabel)
    handles = [Line2D([], [], color=colours[J], marker="o", lw=0.9, label=f"J = {J}") for J in Js]
    handles.append(Line2D([], [], color="0.3", lw=0.9, label="F probability"))
    handles.append(Line2D([], [], color="0.3", marker="o", linestyle="none", label="simulated"))
    fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 7))
    return fig
