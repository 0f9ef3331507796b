"""``shrinkstudy advise``: which estimator for my data, answered by a study calibrated to it.

Usage::

    shrinkstudy advise DATA [--group G --value Y] [--out DIR] [--replications R]
                            [--estimator SPEC ...] [--cores N]
    shrinkstudy advise DATA --value Y --se SE [--group G] [...]   # one estimate and known SE per group

1. Reads and fits DATA as ``shrinkstudy fit`` does (the same readers and checks: bad input is
   one line and exit status 2, and nothing is written): REML mu, sigma and tau, the 95% profile
   likelihood interval for tau (``reml.tau_interval``) and the NPMLE of the group means
   (``ebayes.npmle``). The known-SE form (``--se``, read by ``cli.fitting.summary_data`` as ``fit --se``
   reads it): REML mu and tau with known standard errors (``knownse.fit_meta_varcomp``), the
   interval of ``knownse.meta_tau_interval`` and the NPMLE of the y_j with their s_j
   (``ebayes.npmle_fit``).
2. Writes ``DIR/study.yaml`` (``study_config``), a study like any other (``make study
   CONFIG=DIR/study.yaml`` reruns it): the data's own group sizes and sigma at the fit (known-SE
   form: a block's ``ses``, the data's standard errors in ascending order); mu at the fit; tau at
   the ends of its interval and at the fit (0 when the data cannot rule it out: the study grid
   allows tau = 0); effects normal, t (``worlds``' ``t``, 3 degrees of freedom) and drawn from
   the NPMLE of the data (``discrete``); every built-in estimator that applies and the user's
   own (known-SE form: the built-ins with a known-SE form, James-Stein when every standard error
   is equal; a user's estimator has no such form and is refused). The file is written only when its text changes, so the same data run no job again.
3. Runs it through the project's Snakemake workflow, up to its summary table, showing progress.
4. Writes ``DIR/advice.md``, ``DIR/advice.html`` (the same, with the figure embedded) and
   ``DIR/advice.png`` (relative MSE by world and estimator, +-2 MCSE), every number of the
   worlds read from the study's ``summary.csv`` (``tables.read_summary``).

"Best within Monte Carlo error" (``best_estimators``): the estimators, the oracles aside (they
need the truth), whose relative MSE is within ``BEST_Z`` combined MCSE of the smallest,
``r_e - r_min <= 2 sqrt(mcse_e^2 + mcse_min^2)``.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "BEST_Z",
    "DEFAULT_REPLICATIONS",
    "Calibration",
    "add_parser",
    "advice_markdown",
    "best_estimators",
    "calibrate_known_se",
    "calibrate_long",
    "design_block",
    "study_config",
    "study_text",
    "world_rows",
]

#: Replications per world unless --replications says otherwise.
DEFAULT_REPLICATIONS = 400
#: Seed of every study advise writes (the same data give the same study, byte for byte).
BASE_SEED = 20261205
#: "Best within Monte Carlo error": within this many combined MCSE of the smallest relative MSE.
BEST_Z = 2.0
#: Significant digits of mu, sigma and tau in the study file (and its cell names).
DIGITS = 4
#: Significant digits of the NPMLE's atoms and weights in the study file.
PMF_DIGITS = 6
#: Level of the interval for tau.
LEVEL = 0.95
#: The worlds: grid block, effects distribution, and how advice.md names them.
WORLDS = (
    ("normal", "normal", "normal effects"),
    ("t", "t", "t effects (3 df: heavy tails)"),
    ("npmle", "discrete", "effects drawn from the data's NPMLE"),
)


def add_parser(sub) -> None:
    """Register ``advise`` among the subcommands ``sub`` of the ``shrinkstudy`` parser."""
    from .args import _jobs

    p = sub.add_parser(
        "advise",
        help="which estimator for your data: a study calibrated to it, run and summarised",
        description=(
            "Fit DATA (long form, or with --se one estimate and its known standard error per group) as "
            "'fit' does, write DIR/study.yaml (a study of the data's design "
            "at its fit and across the uncertainty of tau), run it through the workflow and write "
            "DIR/advice.md, DIR/advice.html and DIR/advice.png."
        ),
    )
    p.add_argument(
        "data", metavar="DATA", help="CSV or Parquet file, one row per observation (with --se: per group)"
    )
    p.add_argument("--group", default="group", metavar="COL", help="group column (default: group)")
    p.add_argument(
        "--value", default="y", metavar="COL", help="observation (with --se, estimate) column (default: y)"
    )
    p.add_argument(
        "--se", metavar="COL", help="known-SE form: the column of each group's known standard error"
    )
    p.add_argument(
        "--out", metavar="DIR", help="output directory inside the project (default: advice/<DATA's stem>)"
    )
    p.add_argument(
        "--replications",
        type=_replications,
        default=DEFAULT_REPLICATIONS,
        metavar="R",
        help=f"replications per world (default: {DEFAULT_REPLICATIONS})",
    )
    p.add_argument(
        "--estimator",
        action="append",
        default=[],
        metavar="SPEC",
        help="also study your own estimator, 'file.py:function' or 'module:function' inside the project",
    )
    p.add_argument("--cores", type=_jobs, metavar="N", help="cores of the study (default: every usable one)")
    # the settings of 'fit' that advise keeps at their defaults (its readers take them)
    p.set_defaults(func=command, dataset=None, method="REML", level=LEVEL, prior=None, prior_scale=None)


def _replications(text):
    import argparse

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 2:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 2")
    return v


# ---------------------------------------------------------------------------------------------
# the data's fit
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """What the study takes from the data: its design (``sizes``, long form; ``ses``, the
    known-SE form, ascending, with ``sizes`` empty and ``sigma`` NaN), the REML fit, the
    interval for tau (``zero_inside``: it holds 0) and the NPMLE's atoms and weights."""

    sizes: tuple[int, ...]
    mu: float
    sigma: float
    tau: float
    tau_lower: float
    tau_upper: float
    zero_inside: bool
    atoms: tuple[float, ...]
    weights: tuple[float, ...]
    ses: tuple[float, ...] | None = None

    @property
    def known_se(self) -> bool:
        return self.ses is not None

    @property
    def J(self) -> int:
        return len(self.ses) if self.known_se else len(self.sizes)

    @property
    def N(self) -> int:
        """Observations (known-SE form: estimates, one per group)."""
        return self.J if self.known_se else int(sum(self.sizes))

    def study_ses(self) -> list[float]:
        """The standard errors as the study file writes them (``DIGITS`` significant digits)."""
        return [_round(s, DIGITS) for s in self.ses]

    def equal_ses(self) -> bool:
        """Every standard error the same, as the study writes them (James-Stein applies)."""
        return self.known_se and len(set(self.study_ses())) == 1

    def se_range(self) -> str:
        """The standard errors as the advice and the study's aims state them."""
        ses = self.study_ses()
        return f"all {ses[0]:g}" if self.equal_ses() else f"{min(ses):g} to {max(ses):g}"

    def taus(self) -> dict[float, str]:
        """The study's values of tau (rounded to ``DIGITS``), ascending, each with its role."""
        roles: dict[float, str] = {}
        for value, role in (
            (self.tau_lower, "the lower end of its 95% interval"),
            (self.tau, "the fit"),
            (self.tau_upper, "the upper end of its 95% interval"),
        ):
            v = _round(value, DIGITS)
            roles[v] = f"{roles[v]} and {role}" if v in roles else role
        return dict(sorted(roles.items()))

    def pmf(self):
        """The NPMLE as ``worlds.Pmf`` (atoms and weights rounded), or None when it has a single
        atom (the data look like tau = 0: no shape of their own)."""
        from ..design.worlds import Pmf

        if len(self.atoms) < 2:
            return None
        w = [_round(x, PMF_DIGITS) for x in self.weights]
        try:
            return Pmf.of({"atoms": [_round(a, PMF_DIGITS) for a in self.atoms], "weights": w})
        except ValueError:
            return None


def _round(x: float, digits: int) -> float:
    return float(f"{float(x):.{digits}g}") + 0.0


def calibrate_long(data) -> Calibration:
    """The calibration of one long-form dataset (``fitting.LongData``, values divided by a power of
    two where they were extreme; the answers are scaled back)."""
    from .args import InputError
    from ..methods.ebayes import npmle
    from ..methods.reml import OK, fit_varcomp, tau_interval

    stats, scale = data.stats, float(data.scale[0])
    if stats.R != 1:
        raise InputError("advise takes one dataset per file")
    vc = fit_varcomp(stats, "REML")
    if int(vc.status[0]) != OK:
        raise InputError(f"{data.names[0]}: the mixed model cannot be fitted (its status: {int(vc.status[0])})")
    ti = tau_interval(stats, LEVEL, "REML", fit=vc)
    fit = npmle(stats, stats.ssw / (stats.N - stats.J))
    sizes = stats.n[0][stats.present[0]].astype(int)
    return _calibration(
        vc, ti, fit, scale, sizes=tuple(sorted(int(s) for s in sizes)), sigma=math.sqrt(float(vc.sigma2[0])) * scale
    )


def _calibration(vc, ti, fit, scale: float, **design) -> Calibration:
    """A ``Calibration`` of one dataset's REML fit ``vc``, interval ``ti`` and NPMLE ``fit``
    (of data divided by ``scale``; scaled back here) and its ``design`` (sizes and sigma, or ses)."""
    keep = np.isfinite(fit.atoms[0]) & (fit.weights[0] > 0)
    atoms, weights = fit.atoms[0][keep] * scale, fit.weights[0][keep]
    return Calibration(
        mu=float(vc.mu[0]) * scale,
        tau=math.sqrt(float(vc.tau2[0])) * scale,
        tau_lower=0.0 if bool(ti.zero_inside[0]) else float(ti.lower[0]) * scale,
        tau_upper=float(ti.upper[0]) * scale,
        zero_inside=bool(ti.zero_inside[0]),
        atoms=tuple(float(a) for a in atoms),
        weights=tuple(float(w) for w in weights / weights.sum()),
        **design,
    )


def calibrate_known_se(data) -> Calibration:
    """The calibration of one summary-form dataset (``cli.fitting.SummaryData``, one estimate and its
    known standard error per group; divided by a power of two where extreme, the answers scaled
    back): REML mu and tau (``knownse.fit_meta_varcomp``), the profile interval for tau
    (``knownse.meta_tau_interval``) and the NPMLE of the y_j with their s_j (``ebayes.npmle_fit``)."""
    from .args import InputError
    from ..methods.ebayes import npmle_fit
    from ..methods.knownse import fit_meta_varcomp, meta_tau_interval
    from ..methods.reml import OK

    if data.Y.shape[0] != 1:
        raise InputError("advise takes one dataset per file")
    scale = float(data.scale[0])
    y, se = data.Y[0] / scale, data.S[0] / scale
    vc = fit_meta_varcomp(y[None], se[None], "REML")
    if int(vc.status[0]) != OK:
        raise InputError(f"{data.names[0]}: the model cannot be fitted (its status: {int(vc.status[0])})")
    ti = meta_tau_interval(y[None], se[None], LEVEL, "REML", fit=vc)
    fit = npmle_fit(y[None], np.square(se)[None])
    ses = tuple(sorted(float(s) for s in data.S[0][np.isfinite(data.S[0])]))
    return _calibration(vc, ti, fit, scale, sizes=(), sigma=math.nan, ses=ses)


# ---------------------------------------------------------------------------------------------
# the study file
# ---------------------------------------------------------------------------------------------


def design_block(cal: Calibration) -> dict:
    """The design keys of every grid block: the data's group sizes and sigma at its fit, or in
    the known-SE form its standard errors (``ses``, one design)."""
    from ..design.cells import sizes_label

    if cal.known_se:
        return {"ses": [cal.study_ses()]}

    balanced = {"J": [cal.J]} if len(set(cal.sizes)) == 1 else {}  # a balanced label needs J
    return {**balanced, "sizes": [sizes_label(cal.sizes)], "sigma": [_round(cal.sigma, DIGITS)]}


def _estimators(cal: Calibration, users) -> list:
    """Every built-in estimator that applies to the data's design (James-Stein needs equal
    group sizes), then the user's; in the known-SE form the built-ins with a known-SE form
    (James-Stein when the standard errors are equal)."""
    from ..methods.registry import BUILTIN

    if cal.known_se:
        equal = cal.equal_ses()
        return [e.name for e in BUILTIN if e.known_se is not None and (e.applies == "all" or equal)] + list(users)
    balanced = len(set(cal.sizes)) == 1
    return [e.name for e in BUILTIN if e.applies == "all" or balanced] + list(users)


def _chunk_size(replications: int, N: int) -> int:
    """The largest divisor of ``replications`` whose jobs stay within ``config.MAX_OBS_PER_JOB``."""
    from ..config import MAX_OBS_PER_JOB

    best = 1
    for c in range(1, replications + 1):
        if replications % c == 0 and c * N <= MAX_OBS_PER_JOB:
            best = c
    return best


def study_config(cal: Calibration, *, name: str, results: str, replications: int, users=()) -> dict:
    """The study of the data (a config as ``config.load_study`` takes it)."""
    from ..design.cells import fmt_number

    taus = list(cal.taus())
    pmf = cal.pmf()
    grid = {}
    for block, effects, _ in WORLDS:
        values = taus if effects == "normal" else [t for t in taus if t > 0]
        if not values or (effects == "discrete" and pmf is None):
            continue
        spec = {**design_block(cal), "tau": values, "mu": [_round(cal.mu, DIGITS)], "effects": [effects]}
        if effects == "discrete":
            spec["effects_pmf"] = [pmf.spec()]
        grid[block] = spec
    lo, hi = (fmt_number(_round(v, DIGITS)).replace("m", "-") for v in (cal.tau_lower, cal.tau_upper))
    if cal.known_se:
        aims = (
            f"Which estimator of the group means suits {name}: {cal.J} estimates with known standard errors "
            f"{cal.se_range()}, fitted by REML at mu {_round(cal.mu, DIGITS):g}, "
            f"tau {_round(cal.tau, DIGITS):g} (95% interval {lo} to {hi})? Estimates with its standard errors "
            "are simulated at tau's fit and at the ends of its interval, with normal, t and NPMLE-shaped "
            "effects, and every estimator's MSE is compared with the raw estimates'."
        )
    else:
        aims = (
            f"Which estimator of the group means suits {name}: {cal.J} groups of {min(cal.sizes)} to "
            f"{max(cal.sizes)} observations ({cal.N} in all), fitted by REML at mu {_round(cal.mu, DIGITS):g}, "
            f"sigma {_round(cal.sigma, DIGITS):g}, tau {_round(cal.tau, DIGITS):g} (95% interval {lo} to {hi})? "
            "Datasets of its design are simulated at tau's fit and at the ends of its interval, with normal, "
            "t and NPMLE-shaped effects, and every estimator's MSE is compared with the raw means'."
        )
    return {
        "aims": aims,
        "base_seed": BASE_SEED,
        "replications": replications,
        "chunk_size": _chunk_size(replications, cal.N),
        "method": "REML",
        "engine": "exact",
        "level": LEVEL,
        "estimators": _estimators(cal, users),
        "results": results,
        "keep_datasets": False,
        "grid": grid,
    }


def study_text(config: dict) -> str:
    """The study file's text: YAML, keys in the order given (the same config, the same bytes)."""
    import yaml

    head = "# The study of `shrinkstudy advise` (rerun it with: make study CONFIG=<this file>)\n"
    return head + yaml.safe_dump(config, sort_keys=False, width=100, default_flow_style=None)


# ---------------------------------------------------------------------------------------------
# reading the study's summary
# ---------------------------------------------------------------------------------------------


def world_rows(summary):
    """``[(block, tau, rows)]``: every world of the study (block order of ``WORLDS``, tau
    ascending) with its rows over all groups, estimators in table order."""
    rows = summary[summary["groups"] == "all"]
    order = [b for b, _, _ in WORLDS] + sorted(set(rows["block"]) - {b for b, _, _ in WORLDS})
    out = []
    for block in order:
        part = rows[rows["block"] == block]
        for tau in sorted(set(part["tau"])):
            out.append((block, float(tau), part[part["tau"] == tau]))
    return out


def _oracles() -> set[str]:
    from ..methods.registry import BUILTIN

    return {e.name for e in BUILTIN if "truth" in e.needs}


def best_estimators(rows) -> list[str]:
    """The estimators of one world (its summary rows over all groups; the oracles aside) whose
    relative MSE is within ``BEST_Z`` combined MCSE of the smallest (a missing MCSE counts 0)."""
    rows = rows[~rows["estimator"].isin(_oracles()) & rows["rel_mse"].notna()]
    if rows.empty:
        return []
    mcse = rows["rel_mse_mcse"].fillna(0.0).to_numpy()
    r = rows["rel_mse"].to_numpy()
    k = int(np.argmin(r))
    within = r - r[k] <= BEST_Z * np.sqrt(mcse**2 + mcse[k] ** 2)
    return [str(e) for e in rows["estimator"].to_numpy()[within]]


# ---------------------------------------------------------------------------------------------
# the advice
# ---------------------------------------------------------------------------------------------


def _world_title(block: str, tau: float, cal: Calibration) -> str:
    what = {b: text for b, _, text in WORLDS}.get(block, block)
    role = cal.taus().get(_round(tau, DIGITS))
    return f"{what}, tau = {tau:g}" + (f" ({role})" if role else "")


def advice_markdown(summary, cal: Calibration, *, data_name: str, study_file: str, figure: str | None) -> str:
    """advice.md: the data's fit, the rule, the answer and one table per world (every number of
    the worlds from ``summary``, as ``tables.format_estimate`` writes it)."""
    from ..methods import registry
    from ..report.tables import format_estimate

    worlds = world_rows(summary)
    reps = sorted(set(int(r) for r in summary["reps"]))
    rel = summary[(summary["groups"] == "all") & (summary["estimator"] != "raw")]["rel_mse_mcse"].dropna()
    interval = f"{_round(cal.tau_lower, DIGITS):g} to {_round(cal.tau_upper, DIGITS):g}"
    zero = (
        " It holds tau = 0: the data cannot rule out that the groups' means are equal, and the study "
        "runs tau = 0 (its grid allows it) for the lower end."
        if cal.zero_inside
        else ""
    )
    pmf = cal.pmf()
    npmle = (
        f"The NPMLE of the group means has {len(cal.atoms)} atoms; the world 'effects drawn from the "
        "data's NPMLE' draws the effects from it, standardised (mean 0, SD tau)."
        if pmf is not None
        else f"The NPMLE of the group means has {len(cal.atoms)} atom: no shape of its own, and no world of it."
    )
    if cal.known_se:
        fit_lines = [
            f"- Known standard errors: {cal.J} groups, one estimate and its known standard error each; "
            f"standard errors {cal.se_range()}.",
            f"- REML with known standard errors: mu = {_round(cal.mu, DIGITS):g}, "
            f"tau = {_round(cal.tau, DIGITS):g} (95% profile-likelihood interval {interval}).{zero}",
        ]
        design = "The data's own standard errors and mu at the fit"
    else:
        fit_lines = [
            f"- {cal.J} groups, {cal.N} observations, group sizes {min(cal.sizes)} to {max(cal.sizes)}.",
            f"- REML: mu = {_round(cal.mu, DIGITS):g}, sigma = {_round(cal.sigma, DIGITS):g}, "
            f"tau = {_round(cal.tau, DIGITS):g} (95% profile-likelihood interval {interval}).{zero}",
        ]
        design = "The data's own group sizes, sigma and mu at the fit"
    lines = [
        f"# Which estimator for {data_name}?",
        "",
        f"Written by `shrinkstudy advise` from the study `{study_file}`, calibrated to the data: every "
        "number of the worlds below is read from its summary table.",
        "",
        "## The data's fit",
        "",
        *fit_lines,
        f"- {npmle}",
        "",
        "## The study",
        "",
        f"{design}, tau at {', '.join(f'{t:g}' for t in cal.taus())}; "
        f"{len(worlds)} worlds of {', '.join(str(r) for r in reps)} replications each. "
        f"The Monte Carlo SE of a relative MSE is at most {rel.max():.2g} (median {rel.median():.2g}).",
        "",
        "## The answer",
        "",
        "Best within Monte Carlo error: the estimators whose relative MSE (MSE over that of the raw "
        f"{'estimates' if cal.known_se else 'means'}, on the same datasets) is within {BEST_Z:g} combined MCSE of the smallest, "
        f"`r - r_min <= {BEST_Z:g} sqrt(mcse^2 + mcse_min^2)`; the oracles need the true parameters "
        "and are shown as the floor only.",
        "",
    ]
    bests = [(block, tau, best_estimators(rows)) for block, tau, rows in worlds]
    everywhere = [e for e in bests[0][2] if all(e in b for _, _, b in bests)] if bests else []
    if everywhere:
        lines.append(f"- Best in every world: {', '.join(f'`{e}`' for e in everywhere)}.")
    else:
        lines.append("- No estimator is best in every world.")
    if any(set(b) != set(bests[0][2]) for _, _, b in bests):
        lines.append("- The answer depends on the world:")
        lines += [f"  - {_world_title(block, tau, cal)}: {', '.join(f'`{e}`' for e in b)}" for block, tau, b in bests]
    else:
        lines.append("- The answer does not depend on the world.")
    if figure:
        lines += ["", f"![Relative MSE by world and estimator, +-2 MCSE]({figure})"]
    for (block, tau, rows), (_, _, best) in zip(worlds, bests, strict=True):
        lines += ["", f"## World: {_world_title(block, tau, cal)}", ""]
        lines += ["| estimator | relative MSE (MCSE) | coverage (MCSE) | best |", "|:---|---:|---:|:---:|"]
        for row in rows.itertuples(index=False):
            cov = format_estimate(row.coverage, row.coverage_mcse) if not math.isnan(row.coverage) else ""
            mark = "yes" if row.estimator in best else ""
            label = f"{row.estimator}" + (" (floor)" if row.estimator in _oracles() else "")
            lines.append(f"| {label} | {format_estimate(row.rel_mse, row.rel_mse_mcse)} | {cov} | {mark} |")
    lines += [
        "",
        f"Estimators: {', '.join(f'`{e}` ({registry.label(e)})' if e in registry.names() else f'`{e}`' for e in dict.fromkeys(summary['estimator']))}.",
        "",
    ]
    return "\n".join(lines)


def advice_figure(summary) -> bytes:
    """advice.png: relative MSE of every estimator but raw in each world, +-2 MCSE."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..methods import registry

    worlds = world_rows(summary)
    names = [e for e in dict.fromkeys(summary["estimator"]) if e != "raw"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(worlds) + 2), 4.5))
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        x, y, e = [], [], []
        for w, (_, _, rows) in enumerate(worlds):
            r = rows[rows["estimator"] == name]
            if len(r) and not math.isnan(r["rel_mse"].iloc[0]):
                x.append(w - 0.4 + (k + 0.5) * width)
                y.append(float(r["rel_mse"].iloc[0]))
                e.append(BEST_Z * float(np.nan_to_num(r["rel_mse_mcse"].iloc[0])))
        style = registry.style(name, k).kwargs(registry.label(name) if name in registry.names() else name)
        style["linestyle"] = "none"
        ax.errorbar(x, y, yerr=e, markersize=5, capsize=2, **style)
    ax.axhline(1.0, color="0.5", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(worlds)))
    short = {"normal": "normal", "t": "t (3)", "npmle": "NPMLE"}
    ax.set_xticklabels([f"{short.get(b, b)}\ntau {t:g}" for b, t, _ in worlds], fontsize=8)
    ax.set_ylabel("MSE / MSE(raw)")
    ax.legend(fontsize=7, ncol=2, frameon=False, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def advice_html(markdown: str, png: bytes | None) -> str:
    """A self-contained page of advice.md (headings, lists, tables, paragraphs), the figure
    embedded as a base64 PNG."""
    import base64
    import html

    def inline(text: str) -> str:
        text = html.escape(text)
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)

    out = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8"><title>advice</title>',
           "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}</style>",
           "</head><body>"]
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
        elif line.startswith("!["):
            if png is not None:
                alt = html.escape(line[2 : line.index("]")])
                data = base64.b64encode(png).decode()
                out.append(f'<p><img alt="{alt}" src="data:image/png;base64,{data}"></p>')
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            out.append("<table>")
            out.append("<tr>" + "".join(f"<th>{inline(c)}</th>" for c in rows[0]) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows[2:]]
            out.append("</table>")
            continue
        elif line.lstrip().startswith("- "):
            out.append("<ul>")
            while i < len(lines) and lines[i].lstrip().startswith("- "):
                out.append(f"<li>{inline(lines[i].lstrip()[2:])}</li>")
                i += 1
            out.append("</ul>")
            continue
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
        i += 1
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------


def _out_dir(args, path: Path, project: Path) -> Path:
    """The output directory, checked to lie inside the project (the study runs there) and to
    name a results directory the study's checks accept."""
    from .args import InputError

    if args.out is None:
        stem = re.sub(r"[^\w.+-]", "_", path.stem) or "data"
        return project / "advice" / stem
    out = Path(args.out).resolve()
    try:
        out.relative_to(project)
    except ValueError:
        raise InputError(f"--out {args.out}: must be a directory inside the project {project}") from None
    return out


def _user_specs(specs, project: Path) -> list[str]:
    """The --estimator specs as the study file names them: a file relative to the project."""
    from .args import InputError
    from ..methods.plugins import _is_file

    out = []
    for spec in specs:
        target, sep, fn = str(spec).rpartition(":")
        if not sep:
            raise InputError(f"--estimator {spec}: write it 'file.py:function' or 'module:function'")
        if _is_file(target):
            file = Path(target).resolve()
            try:
                target = file.relative_to(project).as_posix()
            except ValueError:
                raise InputError(f"--estimator {spec}: {file} is not inside the project {project}") from None
        out.append(f"{target}:{fn}")
    return out


def _known_se_users(args) -> None:
    """Refuse (one line) an --estimator without a known-SE form: the study's cells of known
    standard errors could not fit it (a user's estimator takes the long form's statistics)."""
    from .args import InputError
    from .fitting import _user_estimators

    for spec, entry in zip(args.estimator, _user_estimators(args), strict=True):
        if entry.known_se is None:
            raise InputError(
                f"--estimator {spec}: has no known-SE form, so the study of estimates with known "
                "standard errors (--se) cannot fit it; leave it out, or give the observations"
            )


def _snakemake(project: Path, study: Path, target: str, cores: int) -> int:
    """Run the workflow on ``study`` up to ``target`` (progress on this terminal); its status."""
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "snakemake"]
    cmd += [target, "--snakefile", str(project / "Snakefile"), "--directory", str(project)]
    cmd += ["--configfile", str(study), "--cores", str(cores), "--quiet", "rules", "host"]
    env = dict(os.environ, MPLBACKEND="Agg")
    src = str(project / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    sys.stdout.flush()
    return subprocess.run(cmd, cwd=project, env=env).returncode


def command(args) -> int:
    """``shrinkstudy advise``: see the module's docstring."""
    from .args import InputError
    from .fitting import _check_not_input, _check_out, _read_and_fit, _write_outputs, long_data, summary_data
    from ..config import PROJECT, load_study
    from ..design.cells import ConfigError
    from ..methods.workers import usable_cores

    path = Path(args.data)
    project = PROJECT.resolve()
    out = _out_dir(args, path, project)
    names = ("study.yaml", "advice.md", "advice.html", "advice.png")
    _check_not_input(out, path, names)
    _check_out(out)
    if args.se is not None:
        _known_se_users(args)
        cal = calibrate_known_se(_read_and_fit(args, path, fit=summary_data))
    else:
        cal = calibrate_long(_read_and_fit(args, path, fit=long_data))
    rel = out.relative_to(project).as_posix()
    config = study_config(
        cal,
        name=path.name,
        results=f"{rel}/study",
        replications=args.replications,
        users=_user_specs(args.estimator, project),
    )
    try:
        checked = load_study(config, cwd=project, root=project)
    except ConfigError as exc:
        raise InputError(f"{path}: the study of these data cannot run: {exc}") from None
    text = study_text(config)
    study = out / "study.yaml"
    if not (study.is_file() and study.read_text() == text):  # unchanged: not rewritten
        _write_outputs(out, {"study.yaml": lambda p: p.write_text(text)})
    print(f"study {study}: {len(checked.cells)} worlds, {args.replications} replications each")
    summary_path = f"{rel}/study/tables/summary.csv"
    status = _snakemake(project, study, summary_path, args.cores or usable_cores())
    if status != 0:
        print(f"shrinkstudy: error: the study {study} stopped (snakemake exit status {status})", file=sys.stderr)
        return 1
    from ..report.tables import read_summary

    summary = read_summary(project / summary_path)
    md = advice_markdown(summary, cal, data_name=path.name, study_file=f"{rel}/study.yaml", figure="advice.png")
    png = advice_figure(summary)
    written = _write_outputs(
        out,
        {
            "advice.md": lambda p: p.write_text(md),
            "advice.png": lambda p: p.write_bytes(png),
            "advice.html": lambda p: p.write_text(advice_html(md, png)),
        },
    )
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
