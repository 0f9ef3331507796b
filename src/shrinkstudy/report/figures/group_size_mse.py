"""MSE by group-size class in the unbalanced cells (the seed's 100 x 6 + 2 x 6 design)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .catalog import figure
from .facets import _SYMBOL, _cell_rows, _drawn, _fmt, _sort_rows, _varying
from .style import DOUBLE, MCSE_Z, SINGLE, _placeholder, _style, _styled, estimator_order

__all__ = ["group_size_mse_data", "plot_group_size_mse"]

#: Its catalog entry: the cells and estimators it draws, its measure.
FIGURE = figure("group_size_mse")


def group_size_mse_data(summary: pd.DataFrame, estimators=None) -> pd.DataFrame:
    """MSE per group-size class in the unbalanced cells (the seed's 100 x 6 + 2 x 6 design): the
    rows plotted by ``plot_group_size_mse``.

    Returns columns cell, design, sigma, tau, mu, groups ('n=2', 'n=100', ...), size (the class's
    n), estimator, mse, mse_mcse, ordered by cell, size class, estimator.
    """
    df = _cell_rows(summary, FIGURE)
    df = df[df["estimator"].isin(_drawn(FIGURE, df, estimators)) & np.isfinite(df["mse"])]
    df = df.assign(size=df["groups"].str.extract(r"(\d+)", expand=False).astype(float))
    cols = ["cell", "design", "sigma", "tau", "mu", "groups", "size", "estimator", "mse", "mse_mcse"]
    return _sort_rows(df[cols], ["design", "sigma", "tau", "mu", "cell", "size"])


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
                ax.set_ylabel(f"{FIGURE.ylabel}, groups of {g}")
            ax.set_xticks(range(len(ests)), [_style(e)["label"] for e in ests], rotation=45,
                          ha="right", rotation_mode="anchor")
            ax.set_xlim(-0.6, len(ests) - 0.4)
    return fig
