"""Share of boundary fits (tau^2^ = 0) against n, with the F-distribution probability."""

from __future__ import annotations

import logging

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, NullLocator
from scipy import special

from .facets import _balanced_all, _log_axis_numbers, _scenario_key, _scenario_labels
from .style import DOUBLE, MCSE_Z, SINGLE, _placeholder, _styled

__all__ = ["boundary_data", "boundary_probability", "plot_boundary"]

log = logging.getLogger(__name__)


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
    so ``P = P(F_{J-1, J(n-1)} < 1 / (1 + n tau^2 / sigma^2))`` (docs/formulas.md section 2). ``n`` may be
    fractional, to draw a smooth curve.
    """
    J, n = np.asarray(J, dtype=float), np.asarray(n, dtype=float)
    ratio = (np.asarray(tau, dtype=float) / np.asarray(sigma, dtype=float)) ** 2
    return special.fdtr(J - 1.0, J * (n - 1.0), 1.0 / (1.0 + n * ratio))


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
