"""The seed answer's two figures and figure 1 for a user's own data (``shrinkstudy fit --plot``).

They keep the answer's own colours (``SEED_COLOURS``): true means red, raw means blue
crosshairs, shrunken (variance-matched) means purple, lme4 BLUPs and ``arm::bayesglm``
estimates black.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .style import DOUBLE, SEED_COLOURS, SINGLE, _styled, save_figure

__all__ = ["plot_seed_shrinkage", "plot_seed_blup_bayesglm", "plot_fit", "seed_figure1"]


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
