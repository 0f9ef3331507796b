"""Helpers of the figures of the worlds where the normal model is wrong (``worlds_relmse``,
``worlds_w1``, ``worlds_coverage``).

* ``_worlds_rows`` (in ``facets``, beside the other cells' rows): the ``all``-groups rows of every
  cell outside the normal world (effects not normal, t errors or a sigma ratio above 1) and of the
  normal-world cells with the same design, sigma, tau and mu (the reference "normal" level of
  each panel);
* ``_facet_by_effects``: small multiples with columns J (and the other cell parameters when they
  vary), rows the errors and sigma ratio, x the effects distribution, one marker per estimator
  with +-``MCSE_Z`` MCSE bars; the oracles (no marker) as short horizontal segments across
  their x position, their MCSE a shaded band.

Everything here is internal to the figures package.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ...design import worlds
from .facets import _fmt, _log_axis_numbers, _worlds_rows
from .style import DOUBLE, MCSE_Z, RC, _style, _supylabel
from .summary import _normalise

__all__: list[str] = []

#: The columns naming a cell's world.
WORLD_COLUMNS = ("effects", "effects_param", "errors", "errors_df", "sigma_ratio")
#: The columns of every ``*_data`` frame of these figures, before the measure and its MCSE.
COLUMNS = ["cell", "J", "design", "n", "sigma", "tau", "mu", *WORLD_COLUMNS, "estimator"]
#: Placeholder of a study without such cells.
NO_WORLDS = "no cells outside the normal world in this study"


def _effects_key(row) -> tuple:
    """Order of the effects distributions: normal, the built-ins in their order, then others."""
    names = list(worlds.EFFECTS)
    name = str(row["effects"])
    param = row["effects_param"]
    param = float(param) if pd.notna(param) else -np.inf
    return (names.index(name) if name in names else len(names), name, param)


def _effects_label(name, param) -> str:
    """``t (3)``, ``skewed (2)``; the normal as ``normal``."""
    if name == "normal" or pd.isna(param):
        return str(name)
    return f"{name} ({_fmt(param)})"


def _errors_key(row) -> tuple:
    df = row["errors_df"]
    return (float(row["sigma_ratio"]), 0 if row["errors"] == "normal" else 1, str(row["errors"]),
            float(df) if pd.notna(df) else -np.inf)  # fmt: skip


def _errors_label(key) -> str:
    ratio, _, errors, df = key
    err = "normal errors" if errors == "normal" else f"{errors} errors" + (
        f" ({_fmt(df)} df)" if np.isfinite(df) else ""
    )
    return f"{err}, σ ratio {_fmt(ratio)}"


def _column_key(row) -> tuple:
    return (int(row["J"]), str(row["design"]), float(row["sigma"]), float(row["tau"]), float(row["mu"]))


def _column_labels(keys) -> dict:
    """``J = 12``, with n (or the design), sigma, tau and mu added where they vary."""
    labels = {}
    vary = [i for i in range(1, 5) if len({k[i] for k in keys}) > 1]
    names = {1: "n", 2: "σ", 3: "τ", 4: "μ"}
    for k in keys:
        parts = [f"J = {k[0]}"] + [f"{names[i]} = {k[i] if i == 1 else _fmt(k[i])}" for i in vary]
        labels[k] = ", ".join(parts)
    return labels


def _sort_world_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows by estimator (the study's order), J, design, sigma, tau, mu, sigma ratio, errors,
    effects; a fresh index."""
    from .style import estimator_order

    order = {e: i for i, e in enumerate(estimator_order(df["estimator"].unique()))}
    out = df.assign(
        _e=df["estimator"].map(order),
        _x=[_effects_key(r) for _, r in df.iterrows()] if len(df) else [],
        _r=[_errors_key(r) for _, r in df.iterrows()] if len(df) else [],
    )
    out = out.sort_values(["_e", "J", "design", "sigma", "tau", "mu", "_r", "_x"], kind="stable")
    return out.drop(columns=["_e", "_x", "_r"]).reset_index(drop=True)


def _world_data(summary, value: str, mcse: str, chosen) -> pd.DataFrame:
    """The rows of ``_worlds_rows`` of the ``chosen`` estimators with a finite ``value``."""
    df = _worlds_rows(summary)
    if df.empty:
        return pd.DataFrame(columns=[*COLUMNS, value, mcse])
    df = df[df["estimator"].isin(chosen) & np.isfinite(df[value].astype(float))]
    return _sort_world_rows(df[[*COLUMNS, value, mcse]])


#: Estimators drawn as segments across their x position (they have no marker).
def _is_segment(e) -> bool:
    return not _style(e)["marker"]


def _facet_by_effects(data, value, mcse, *, estimators, ylabel, log_y, reference=None,
                      ref_label=None, width=DOUBLE, panel_height=1.45, ylim=None):
    """Small multiples: columns J (and the cell parameters that vary), rows errors and sigma
    ratio, x the effects distribution, one marker per estimator (side by side) with
    +-``MCSE_Z`` MCSE bars; estimators without a marker (the oracles) as a segment across the
    x position with a shaded +-``MCSE_Z`` MCSE band."""
    cols = sorted({_column_key(r) for _, r in data.iterrows()})
    col_labels = _column_labels(cols)
    rows = sorted({_errors_key(r) for _, r in data.iterrows()})
    xkeys = sorted({_effects_key(r) for _, r in data.iterrows()})
    xlabels = []
    for k in xkeys:
        params = data[[_effects_key(r) == k for _, r in data.iterrows()]]["effects_param"]
        xlabels.append(_effects_label(k[1], params.iloc[0]))
    xpos = {k: i for i, k in enumerate(xkeys)}
    markers = [e for e in estimators if not _is_segment(e)]
    half = 0.38
    step = 2 * half / max(len(markers), 1)
    offset = {e: -half + step * (i + 0.5) for i, e in enumerate(markers)}

    nrow, ncol = max(len(rows), 1), max(len(cols), 1)
    fig = Figure(figsize=(width, 0.75 + panel_height * nrow), layout="constrained")
    axes = np.atleast_2d(fig.subplots(nrow, ncol, sharex=True, sharey=True, squeeze=False))
    row_key = [_errors_key(r) for _, r in data.iterrows()]
    col_key = [_column_key(r) for _, r in data.iterrows()]
    x_of = np.array([xpos[_effects_key(r)] for _, r in data.iterrows()], dtype=float)
    for i, rk in enumerate(rows):
        for j, ck in enumerate(cols):
            ax = axes[i, j]
            in_panel = np.array([a == rk and b == ck for a, b in zip(row_key, col_key)], dtype=bool)
            panel = data[in_panel]
            xs = x_of[in_panel]
            for k in range(1, len(xkeys)):
                ax.axvline(k - 0.5, color="0.9", lw=0.5, zorder=0)
            if reference is not None:
                ax.axhline(reference, color="0.35", lw=0.7, zorder=0)
            for e in estimators:
                sel = (panel["estimator"] == e).to_numpy()
                if not sel.any():
                    continue
                s = _style(e)
                x = xs[sel]
                y = panel.loc[sel, value].to_numpy(float)
                err = MCSE_Z * panel.loc[sel, mcse].to_numpy(float)
                if _is_segment(e):
                    for xi, yi, ei in zip(x, y, err):
                        seg = ax.plot([xi - half, xi + half], [yi, yi], color=s["color"],
                                      linestyle=s["linestyle"], lw=1.1, zorder=3)[0]  # fmt: skip
                        seg.set_gid(e)
                        if np.isfinite(ei) and ei > 0:
                            ax.fill_between([xi - half, xi + half], yi - ei, yi + ei,
                                            color=s["color"], alpha=0.15, lw=0, zorder=0)  # fmt: skip
                    continue
                cont = ax.errorbar(
                    x + offset[e],
                    y,
                    yerr=err,
                    color=s["color"],
                    marker=s["marker"],
                    linestyle="none",
                    mfc=s.get("mfc", s["color"]),
                    elinewidth=0.6,
                    markersize=3.0,
                    zorder=2,
                )
                cont.lines[0].set_gid(e)
            ax.set_xticks(range(len(xkeys)), xlabels, rotation=30, ha="right", rotation_mode="anchor")
            ax.set_xlim(-0.5, len(xkeys) - 0.5)
            if log_y:
                ax.set_yscale("log")
                _log_axis_numbers(ax, "y")
            if i == 0:
                ax.set_title(col_labels[ck])
            if j == ncol - 1:
                ax.text(1.03, 0.5, _errors_label(rk), transform=ax.transAxes, rotation=270,
                        ha="left", va="center")  # fmt: skip
    if ylim is not None:
        axes[0, 0].set_ylim(*ylim)
    _supylabel(fig, ylabel)
    fig.supxlabel("distribution of the effects", fontsize=RC["axes.labelsize"])
    handles = []
    for e in estimators:
        s = _style(e)
        if _is_segment(e):
            handles.append(Line2D([], [], color=s["color"], linestyle=s["linestyle"], label=s["label"]))
        else:  # markers only: the x axis is categorical, nothing joins the points
            handles.append(Line2D([], [], color=s["color"], marker=s["marker"], linestyle="none",
                                  mfc=s.get("mfc", s["color"]), label=s["label"]))  # fmt: skip
    if reference is not None and ref_label:
        handles.append(Line2D([], [], color="0.35", lw=0.7, label=ref_label))
    fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 7), columnspacing=1.2)
    return fig
