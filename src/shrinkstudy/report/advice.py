"""The advice of ``shrinkstudy advise``, read from its study's summary table: each world's rows
(``world_rows``), the estimators best within Monte Carlo error (``best_estimators``), and
advice.md, its figure and its self-contained HTML page (``advice_markdown``, ``advice_figure``,
``advice_html``). Every number of the worlds is the summary's, as ``tables.format_estimate``
writes it.

"Best within Monte Carlo error": the estimators, the oracles aside (they need the truth), whose
relative MSE is within ``BEST_Z`` combined MCSE of the smallest,
``r_e - r_min <= 2 sqrt(mcse_e^2 + mcse_min^2)``.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..design.calibration import DIGITS, WORLDS, Calibration, round_digits

__all__ = ["BEST_Z", "advice_figure", "advice_html", "advice_markdown", "best_estimators", "world_rows"]

#: "Best within Monte Carlo error": within this many combined MCSE of the smallest relative MSE.
BEST_Z = 2.0


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


def _world_title(block: str, tau: float, cal: Calibration) -> str:
    what = {b: text for b, _, text in WORLDS}.get(block, block)
    role = cal.taus().get(round_digits(tau, DIGITS))
    return f"{what}, tau = {tau:g}" + (f" ({role})" if role else "")


def advice_markdown(summary, cal: Calibration, *, data_name: str, study_file: str, figure: str | None) -> str:
    """advice.md: the data's fit, the rule, the answer and one table per world (every number of
    the worlds from ``summary``, as ``tables.format_estimate`` writes it)."""
    from ..methods import registry
    from .tables import format_estimate

    worlds = world_rows(summary)
    reps = sorted(set(int(r) for r in summary["reps"]))
    rel = summary[(summary["groups"] == "all") & (summary["estimator"] != "raw")]["rel_mse_mcse"].dropna()
    interval = f"{round_digits(cal.tau_lower, DIGITS):g} to {round_digits(cal.tau_upper, DIGITS):g}"
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
            f"- REML with known standard errors: mu = {round_digits(cal.mu, DIGITS):g}, "
            f"tau = {round_digits(cal.tau, DIGITS):g} (95% profile-likelihood interval {interval}).{zero}",
        ]
        design = "The data's own standard errors and mu at the fit"
    else:
        fit_lines = [
            f"- {cal.J} groups, {cal.N} observations, group sizes {min(cal.sizes)} to {max(cal.sizes)}.",
            f"- REML: mu = {round_digits(cal.mu, DIGITS):g}, sigma = {round_digits(cal.sigma, DIGITS):g}, "
            f"tau = {round_digits(cal.tau, DIGITS):g} (95% profile-likelihood interval {interval}).{zero}",
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
