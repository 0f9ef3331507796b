"""Result tables of the study, written from the stacked per-cell summaries.

``write_tables(summary, outdir, provenance)`` writes, into ``outdir`` (the workflow uses
``results/tables``):

* ``summary.csv``: every row of every cell (``measures.SUMMARY_COLUMNS``), sorted by
  ``sort_summary``, floats as ``%.10g``: identical inputs give identical bytes;
* ``summary.md``, ``summary.tex``: the paper table, one row per cell, estimators side by side,
  MSE over all groups with its Monte Carlo SE in parentheses;
* ``headline.csv``, ``headline.md``: relative MSE (MSE / MSE of raw, paired) of each estimator,
  (a) balanced cells with sigma = 5 by J and n (and tau, mu), (b) the seed's design
  ``100x6+2x6`` (J = 12) at sigma = 5 by group-size class;
* ``replication.csv``, ``replication.md``: per cell, the largest Monte Carlo SE relative to its
  estimate among the MSE and relative-MSE rows, naming the measure, estimator and groups:
  the number that justifies the replication count; with a ``precision`` block (the cells'
  plans, ``precision.plan_cell``), also per cell the target that set the count, the MCSE it
  reached, the replications planned and run, why, and whether the cell was held at the cap;
* ``provenance.json``: the dict from ``provenance.provenance``.

Each is written atomically with a record of its SHA-256 (``.checksums/<name>.sha256``,
``smkio.write_sealed``; also ``failures.csv`` and ``failures.md`` of ``write_failures``): the
jobs that read a table read it through ``smkio.read_checked``.

Nothing here reads a clock, so the files depend only on the inputs.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..methods import registry
from ..evaluate.measures import FAILURE_COLUMNS, SUMMARY_COLUMN_TYPES, SUMMARY_COLUMNS
from .provenance import plain_json
from ..design.worlds import world_label

__all__ = [
    "FLOAT_FORMAT",
    "HEADLINE_COLUMNS",
    "HEADLINE_SIGMA",
    "PLAN_COLUMNS",
    "PLAN_REASONS",
    "REPLICATION_COLUMNS",
    "SEED_DESIGN",
    "format_estimate",
    "headline_table",
    "normalise_summary",
    "read_replication",
    "read_summary",
    "stored_summary",
    "summary_frame",
    "summarise_study",
    "replication_table",
    "sort_summary",
    "write_csv",
    "write_tables",
]

#: printf format of every float in the CSV files.
FLOAT_FORMAT = "%.10g"
#: The seed answer's group-size design (docs/formulas.md section 1) and sigma: the defaults of
#: the headline table (the workflow passes its config's ``seed_example`` design and sigma).
SEED_DESIGN = "100x6+2x6"
HEADLINE_SIGMA = 5.0
#: Columns of headline.csv (tidy: one row per table section, cell, group class and estimator).
HEADLINE_COLUMNS = (
    "table",
    "cell",
    "J",
    "design",
    "n",
    "sigma",
    "tau",
    "mu",
    "groups",
    "estimator",
    "reps",
    "rel_mse",
    "rel_mse_mcse",
    "mse",
    "mse_mcse",
)
#: Columns of replication.csv (one row per cell).
REPLICATION_COLUMNS = (
    "cell",
    "block",
    "J",
    "design",
    "sigma",
    "tau",
    "mu",
    "reps",
    "measure",
    "estimator",
    "groups",
    "estimate",
    "mcse",
    "rel_mcse",
)
#: Columns replication.csv gains with a precision block (``PLAN_REASONS`` for ``reason``).
PLAN_COLUMNS = (
    "pilot",
    "planned",
    "run",
    "max",
    "capped",
    "reason",
    "target_estimator",
    "target_measure",
    "target_mcse",
    "needed",
    "achieved_mcse",
    "all_met",
)
#: Why a cell has its count: its target needed it, the pilot already met every target, the
#: cap held it short, or no target applies in the cell.
PLAN_REASONS = ("target", "pilot", "cap", "no target")


# ----------------------------------------------------------------------------------------------
# ordering and formatting


def _estimator_rank(names: pd.Series) -> pd.Series:
    rank = {e: i for i, e in enumerate(registry.order(names))}
    return names.map(rank).astype("int64")


def _group_rank(groups: pd.Series) -> pd.Series:
    def rank(g: str) -> int:
        if g == "all":
            return -1
        try:
            return int(str(g).split("=", 1)[1])
        except (IndexError, ValueError):
            return 1 << 40

    return groups.map(rank).astype("int64")


def _columns_of(kind: str) -> tuple:
    return tuple(c for c in SUMMARY_COLUMNS if SUMMARY_COLUMN_TYPES.get(c, "float") == kind)


def normal_world(summary: pd.DataFrame) -> pd.Series:
    """Rows of cells in the world the mixed model assumes: normal effects, normal errors, one
    sigma (every row of a summary without those columns)."""
    mask = pd.Series(True, index=summary.index)
    if "effects" in summary:
        mask &= summary["effects"].astype(str) == "normal"
    if "errors" in summary:
        mask &= summary["errors"].astype(str) == "normal"
    if "sigma_ratio" in summary:
        mask &= summary["sigma_ratio"].astype(float) == 1.0
    return mask


def normalise_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with ``SUMMARY_COLUMNS`` in order and fixed dtypes, whether it comes from
    ``summarise_cell`` or from a CSV file (where ``design`` "5" reads back as an integer, an
    empty ``block`` as NaN and ``n`` as float)."""
    missing = [c for c in SUMMARY_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"summary: missing column(s) {missing}")
    df = summary.loc[:, list(SUMMARY_COLUMNS)].copy()
    for c in _columns_of("str"):
        df[c] = pd.array(["" if pd.isna(v) else str(v) for v in df[c]], dtype="str")
    for c in _columns_of("int"):
        df[c] = df[c].astype("int64")
    for c in _columns_of("nullable int"):
        df[c] = pd.to_numeric(df[c]).astype("Int64")
    for c in _columns_of("bool"):
        df[c] = df[c].map(lambda v: str(v).lower() in ("true", "1")).astype(bool)
    return df.astype({c: "float64" for c in _columns_of("float")})


def sort_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows in a fixed order: block, J, balanced first, n, design, sigma, tau, mu, then
    estimator (registry order) and groups (``"all"`` first, then by group size)."""
    df = summary.copy()
    df["_bal"] = ~df["balanced"].astype(bool)
    df["_n"] = df["n"].astype("Float64").fillna(np.inf).astype(float)
    df["_e"] = _estimator_rank(df["estimator"])
    df["_g"] = _group_rank(df["groups"])
    keys = ["block", "J", "_bal", "_n", "design", "sigma", "tau", "mu", "_e", "_g"]
    df = df.sort_values(keys, kind="stable").drop(columns=["_bal", "_n", "_e", "_g"])
    return df.reset_index(drop=True)


def format_estimate(value: float, se: float) -> str:
    """``"0.823 (0.012)"``: the estimate and its MCSE, rounded to the MCSE's second significant
    digit (at most 6 decimals); 3 decimals when the MCSE is 0 or missing; ``"n/a"`` when the
    estimate is missing."""
    if value is None or pd.isna(value):
        return "n/a"
    if se is None or pd.isna(se):
        return f"{value:.3f}"
    if se <= 1e-12 * max(abs(value), 1e-300):  # zero up to rounding (e.g. raw against itself)
        return f"{value:.3f} (0)"
    d = int(min(6, max(0, 1 - math.floor(math.log10(se)))))
    return f"{value:.{d}f} ({se:.{d}f})"


def _num(x) -> str:
    return f"{float(x):g}"


#: The sigma column's text for a known-SE cell (it has no within-group SD).
KNOWN_SE_SIGMA = "known SE"


def _sigma(x) -> str:
    """sigma as ``_num``; a known-SE cell's missing sigma as ``KNOWN_SE_SIGMA``."""
    return KNOWN_SE_SIGMA if pd.isna(x) else _num(x)


def known_se_rows(summary: pd.DataFrame) -> pd.Series:
    """Rows of known-SE cells (one estimate per group with a given standard error): those
    without a within-group SD (sigma missing)."""
    return summary["sigma"].astype(float).isna()


def no_known_se_form(summary: pd.DataFrame) -> list[str]:
    """The study's estimators (in its rows) that have no row in its known-SE cells: those without
    a known-SE form (bayesglm, a user's estimator). Empty without known-SE cells."""
    known = known_se_rows(summary)
    if not known.any():
        return []
    there = set(summary.loc[known, "estimator"])
    return [e for e in _estimators_in(summary) if e not in there and e != "james_stein"]


def known_se_note(summary: pd.DataFrame) -> str:
    """What a table of a study with known-SE cells says of them ('' without): their sigma
    column, and the estimators that have no rows there and why."""
    if not known_se_rows(summary).any():
        return ""
    text = (
        f" Known-SE cells (sizes `se...`: one estimate per group with a given standard error; sigma "
        f"'{KNOWN_SE_SIGMA}') fit each estimator's known-SE form; James-Stein there needs equal "
        "standard errors."
    )
    missing = no_known_se_form(summary)
    if missing:
        text += f" n/a in them: {', '.join(missing)} (no known-SE form)."
    return text


def _md_table(header: list[str], rows: list[list[str]], align: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(a for a in align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    return (
        str(text)
        .replace("\\", r"\textbackslash{}")
        .replace("_", r"\_")
        .replace("%", r"\%")
        .replace("&", r"\&")
        .replace("#", r"\#")
    )


def _tex_design(design: str) -> str:
    return str(design).replace("x", r"$\times$").replace("+", " + ")


def _write(path: Path, text: str, *, sealed: bool = True) -> Path:
    """``text`` at ``path`` (UTF-8, as given), atomically; ``sealed``: with its checksum record
    (``smkio.write_sealed``), checked by every job that reads the table (``smkio.read_checked``)."""
    from ..store.smkio import write_sealed, write_text

    if sealed:
        return write_sealed(path, text)
    write_text(path, text)
    return path


def _csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def write_csv(df: pd.DataFrame, path) -> Path:
    """``df`` as CSV at ``path``, as the tables are written (floats as ``FLOAT_FORMAT``)."""
    return _write(Path(path), _csv(df), sealed=False)


def _estimators_in(df: pd.DataFrame) -> list[str]:
    return registry.order(df["estimator"])


# ----------------------------------------------------------------------------------------------
# the paper table


def _cell_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (its ``"all"`` rows), in ``sort_summary`` order."""
    first = summary[summary["groups"] == "all"].drop_duplicates("cell")
    return first.reset_index(drop=True)


def _paper_table(summary: pd.DataFrame):
    """Header, rows (as strings) and failure notes of the paper table."""
    allrows = summary[summary["groups"] == "all"]
    ests = _estimators_in(allrows)
    show_mu = bool((allrows["mu"] != 0).any())
    world = _world_columns(allrows)
    header = ["J", "sizes", "sigma", "tau"] + (["mu"] if show_mu else []) + [h for h, _ in world]
    header += ["R", "P(tau^=0)"] + ests
    rows, notes = [], []
    by_cell: dict[str, dict[str, dict]] = {}
    for r in allrows[["cell", "estimator", "reps", "mse", "mse_mcse", "failures"]].to_dict("records"):
        by_cell.setdefault(r["cell"], {})[r["estimator"]] = r
    for c in _cell_rows(summary).to_dict("records"):
        g = by_cell[c["cell"]]
        R = max(int(r["reps"]) for r in g.values())
        row = [str(c["J"]), str(c["design"]), _sigma(c["sigma"]), _num(c["tau"])]
        row += [_num(c["mu"])] if show_mu else []
        row += [label(c) for _, label in world]
        row += [str(R), format_estimate(c["boundary_share"], c["boundary_share_mcse"])]
        for e in ests:
            if e in g:
                row.append(format_estimate(g[e]["mse"], g[e]["mse_mcse"]))
                if g[e]["failures"] > 0:
                    notes.append(f"{c['cell']}: {e} failed on {int(g[e]['failures'])} replications")
            else:
                row.append("n/a")
        rows.append(row)
    return header, rows, notes, ests, show_mu, len(world)


def _world_columns(rows: pd.DataFrame) -> list:
    """The world columns a table of these rows shows, as (header, label of a row): the effects,
    the errors and the SD ratio, each where some cell leaves the normal model's value (so that
    a normal and a t cell of the same J, n and sigma are told apart)."""
    out = []
    if "effects" in rows and (rows["effects"].astype(str) != "normal").any():
        out.append(("effects", lambda c: world_label("effects", c["effects"], c.get("effects_param"))))
    if "errors" in rows and (rows["errors"].astype(str) != "normal").any():
        out.append(("errors", lambda c: world_label("errors", c["errors"], c.get("errors_df"))))
    if "sigma_ratio" in rows and (rows["sigma_ratio"].astype(float) != 1.0).any():
        out.append(("SD ratio", lambda c: world_label("sigma_ratio", c["sigma_ratio"])))
    return out


def summary_markdown(summary: pd.DataFrame, paper=None) -> str:
    """The paper table in Markdown (``paper``: ``_paper_table(summary)``, when already built)."""
    header, rows, notes, ests, show_mu, nworld = paper or _paper_table(summary)
    text = [
        "# Mean squared error of the group-mean estimates",
        "",
        (
            "MSE = mean over replications of the mean over groups of (estimate - true mean)^2; Monte "
            "Carlo SE in parentheses (Morris, White & Crowther 2019). R = replications; "
            "P(tau^=0) = share of REML fits on the boundary. n/a: the estimator does not apply "
            "(James-Stein needs equal group sizes)." + known_se_note(summary)
        ),
        "",
    ]
    align = ["---:", ":---", "---:", "---:"] + (["---:"] if show_mu else []) + [":---"] * nworld + ["---:", "---:"]
    align += ["---:"] * len(ests)
    text.append(_md_table(header, rows, align))
    text.append("Failed fits: " + ("; ".join(notes) + "." if notes else "none.") + "\n")
    return "\n".join(text)


def summary_latex(summary: pd.DataFrame, paper=None) -> str:
    """The paper table in LaTeX (``paper``: ``_paper_table(summary)``, when already built)."""
    header, rows, notes, ests, show_mu, nworld = paper or _paper_table(summary)
    k = 4 + (1 if show_mu else 0) + nworld
    spec = "r l " + " ".join(["r"] * (k - 2)) + " r r " + " ".join(["r"] * len(ests))
    tex_header = [r"$J$", r"$n_j$", r"$\sigma$", r"$\tau$"] + ([r"$\mu$"] if show_mu else [])
    tex_header += [_tex_escape(h) for h in header[k - nworld : k]]
    tex_header += [r"$R$", r"$P(\hat\tau^2 = 0)$"] + [r"\texttt{" + _tex_escape(e) + "}" for e in ests]
    lines = [
        "% MSE of the group-mean estimates (mean over groups of squared error), Monte Carlo SE in",
        "% parentheses; written by shrinkstudy.report.tables from summary.csv. Needs \\usepackage{booktabs}.",
        r"\begin{tabular}{" + spec + "}",
        r"\toprule",
        " & ".join(tex_header) + r" \\",
        r"\midrule",
    ]
    for r in rows:
        cells = list(r)
        cells[1] = _tex_design(cells[1])
        lines.append(" & ".join(_tex_escape(x) if i != 1 else x for i, x in enumerate(cells)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        lines.append("% failed fits: " + "; ".join(notes))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# headline and replication tables


def _against_raw(estimator: pd.Series) -> pd.Series:
    """The headline's estimators: all but raw (the reference) and those whose point is another's."""
    return (estimator != "raw") & ~estimator.map(registry.shares_point)


def headline_table(summary: pd.DataFrame, sigma: float = HEADLINE_SIGMA, seed_design: str = SEED_DESIGN):
    """Relative MSE of each estimator (raw, the reference, left out), tidy.

    Section ``"balanced"``: balanced cells with the given sigma, ``"all"`` rows, by J, n, tau, mu.
    Section ``"seed"``: cells of the seed's design at that sigma, every group class
    (``"all"``, ``"n=2"``, ``"n=100"``). Columns ``HEADLINE_COLUMNS``.
    """
    s = sort_summary(normalise_summary(summary))
    s = s[(s["sigma"] == sigma) & _against_raw(s["estimator"])]
    bal = s[s["balanced"].astype(bool) & (s["groups"] == "all")].copy()
    bal["table"] = "balanced"
    bal = bal.sort_values(["J", "n", "tau", "mu"], kind="stable")
    seed = s[s["design"] == seed_design].copy()
    seed["table"] = "seed"
    seed = seed.sort_values(["tau", "mu"], kind="stable")
    out = pd.concat([bal, seed], ignore_index=True)
    if out.empty:
        # a study without the seed answer's sigma or design: each block's cells, in the summary's
        # order ("all" rows), so that every study has a headline
        rest = sort_summary(normalise_summary(summary))
        out = rest[_against_raw(rest["estimator"]) & (rest["groups"] == "all")].copy()
        out["table"] = "block:" + out["block"].astype(str)
    return out.loc[:, list(HEADLINE_COLUMNS)].reset_index(drop=True)


def _headline_markdown(head: pd.DataFrame, sigma: float, seed_design: str, summary=None) -> str:
    if len(head) and str(head["table"].iloc[0]).startswith("block:"):
        return _headline_blocks_markdown(head, summary)
    text = [
        "# Relative MSE against the raw group means",
        "",
        (
            "Relative MSE = MSE of the estimator / MSE of the raw means on the same replications "
            "(raw = 1 by definition; below 1 is better). Monte Carlo SE (delta method on the paired "
            "per-replication losses) in parentheses."
        ),
        "",
        f"## Balanced designs, sigma = {sigma:g}",
        "",
    ]
    bal = head[head["table"] == "balanced"]
    ests = _estimators_in(bal) if len(bal) else []
    if len(bal):
        show_mu = bool((bal["mu"] != 0).any())
        header = ["J", "n", "tau"] + (["mu"] if show_mu else []) + ["R"] + ests
        rows = []
        for _, g in bal.groupby("cell", sort=False):
            g = g.set_index("estimator")
            c = g.iloc[0]
            row = [str(c["J"]), _num(c["n"]), _num(c["tau"])] + ([_num(c["mu"])] if show_mu else [])
            row.append(str(int(g["reps"].max())))
            for e in ests:
                row.append(
                    format_estimate(g.at[e, "rel_mse"], g.at[e, "rel_mse_mcse"]) if e in g.index else "n/a"
                )
            rows.append(row)
        align = ["---:"] * (len(header) - len(ests)) + ["---:"] * len(ests)
        text.append(_md_table(header, rows, align))
    else:
        text.append(f"(no balanced cells with sigma = {sigma:g} in this study)\n")
    text += [f"## The seed's design {seed_design} (J = 12), sigma = {sigma:g}, by group size", ""]
    seed = head[head["table"] == "seed"]
    if len(seed):
        ests = _estimators_in(seed)
        show_mu = bool((seed["mu"] != 0).any())
        header = ["tau"] + (["mu"] if show_mu else []) + ["groups", "R"] + ests
        rows = []
        for _, g in seed.groupby(["cell", "groups"], sort=False):
            g = g.set_index("estimator")
            c = g.iloc[0]
            row = [_num(c["tau"])] + ([_num(c["mu"])] if show_mu else []) + [str(c["groups"])]
            row.append(str(int(g["reps"].max())))
            for e in ests:
                row.append(
                    format_estimate(g.at[e, "rel_mse"], g.at[e, "rel_mse_mcse"]) if e in g.index else "n/a"
                )
            rows.append(row)
        align = ["---:"] * (1 + show_mu) + [":---", "---:"] + ["---:"] * len(ests)
        text.append(_md_table(header, rows, align))
    else:
        text.append(f"(the seed's design is not in this study at sigma = {sigma:g})\n")
    return "\n".join(text)


def _headline_blocks_markdown(head: pd.DataFrame, summary=None) -> str:
    """The headline of a study without the seed answer's sigma and design: one table per block,
    relative MSE of every estimator in each cell (the world columns where a cell has them)."""
    text = [
        "# Relative MSE against the raw group means",
        "",
        (
            "Relative MSE = MSE of the estimator / MSE of the raw means on the same replications "
            "(raw = 1 by definition; below 1 is better), over all groups of each cell, block by block. "
            "Monte Carlo SE (delta method on the paired per-replication losses) in parentheses."
        ),
        "",
    ]
    cells = None
    if summary is not None:
        cells = normalise_summary(summary).drop_duplicates("cell").set_index("cell")
    for table, part in head.groupby("table", sort=False):
        block = table.split(":", 1)[1]
        # a block of known-SE cells shows every estimator of the study, n/a where it has no
        # known-SE form (the note below says so) rather than leaving it out unsaid
        ests = _estimators_in(head if known_se_rows(part).any() else part)
        info = cells.loc[part["cell"].unique()].reset_index() if cells is not None else part
        world = _world_columns(info) if cells is not None else []
        show_mu = bool((part["mu"] != 0).any())
        header = ["J", "sizes", "sigma", "tau"] + (["mu"] if show_mu else []) + [h for h, _ in world] + ["R"] + ests
        rows = []
        for cell, g in part.groupby("cell", sort=False):
            g = g.set_index("estimator")
            c = g.iloc[0]
            row = [str(c["J"]), str(c["design"]), _sigma(c["sigma"]), _num(c["tau"])]
            row += [_num(c["mu"])] if show_mu else []
            row += [label(cells.loc[cell]) for _, label in world]
            row.append(str(int(g["reps"].max())))
            for e in ests:
                row.append(
                    format_estimate(g.at[e, "rel_mse"], g.at[e, "rel_mse_mcse"]) if e in g.index else "n/a"
                )
            rows.append(row)
        align = ["---:", ":---", "---:", "---:"] + (["---:"] if show_mu else []) + [":---"] * len(world)
        align += ["---:"] * (1 + len(ests))
        text += [f"## Block `{block}`", "", _md_table(header, rows, align)]
    note = known_se_note(summary) if summary is not None else ""
    if note:
        text.append(note.strip() + "\n")
    return "\n".join(text)


def replication_table(summary: pd.DataFrame, plans: list[dict] | None = None) -> pd.DataFrame:
    """Per cell, the largest MCSE relative to its estimate among the ``mse`` and ``rel_mse``
    rows (every estimator and group class; raw's rel_mse, identically 1, and estimates that
    are 0 or missing are skipped). Columns ``REPLICATION_COLUMNS``; ``rel_mcse = mcse /
    |estimate|``. Ties go to the first row in ``sort_summary`` order, mse before rel_mse.

    With ``plans`` (one per cell, ``precision.plan_cell``), the columns ``PLAN_COLUMNS`` too
    (``plan_columns``)."""
    s = sort_summary(normalise_summary(summary))
    parts = []
    for measure in ("mse", "rel_mse"):
        p = s.loc[
            :, ["cell", "block", "J", "design", "sigma", "tau", "mu", "reps", "estimator", "groups"]
        ].copy()
        p["measure"] = measure
        p["estimate"] = s[measure].to_numpy(dtype=float)
        p["mcse"] = s[f"{measure}_mcse"].to_numpy(dtype=float)
        if measure == "rel_mse":
            p = p[p["estimator"] != "raw"]
        parts.append(p)
    long = pd.concat(parts, ignore_index=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        long["rel_mcse"] = long["mcse"] / long["estimate"].abs()
    long = long[np.isfinite(long["rel_mcse"].to_numpy(dtype=float)) & (long["estimate"] != 0)]
    cells = s.drop_duplicates("cell")["cell"].tolist()
    rows = []
    for cell in cells:
        g = long[long["cell"] == cell]
        if len(g):
            rows.append(g.loc[g["rel_mcse"].idxmax()])
        else:
            r = s[s["cell"] == cell].iloc[0]
            rows.append(
                pd.Series({c: r[c] for c in ("cell", "block", "J", "design", "sigma", "tau", "mu", "reps")})
            )
    out = pd.DataFrame(rows).reindex(columns=list(REPLICATION_COLUMNS)).reset_index(drop=True)
    out = out.astype(
        {"J": "int64", "reps": "int64", "estimate": "float64", "mcse": "float64", "rel_mcse": "float64"}
    )
    if plans is None:
        return out
    by_cell = {p["cell"]: p for p in plans}
    missing = [c for c in out["cell"] if c not in by_cell]
    if missing:
        raise ValueError(f"plans: no plan for cell(s) {missing[:5]}")
    extra = pd.DataFrame([plan_columns(by_cell[c], s[s["cell"] == c]) for c in out["cell"]])
    ints = dict.fromkeys(("pilot", "planned", "run", "max"), "int64")
    extra = extra.reindex(columns=list(PLAN_COLUMNS)).astype({**ints, "capped": bool, "all_met": bool})
    return pd.concat([out, extra], axis=1)


def plan_columns(plan: dict, cell_summary: pd.DataFrame) -> dict:
    """The ``PLAN_COLUMNS`` of one cell from its plan and its final summary rows.

    ``run``: the replications summarised (used and failed) for the target that set the count
    (the cell's largest count without one); ``achieved_mcse``: that target's measure's MCSE in
    the final summary; ``all_met``: every target that applies has its MCSE at most its target
    in the final summary; ``reason``: one of ``PLAN_REASONS``."""
    rows = cell_summary[cell_summary["groups"] == "all"].set_index("estimator")
    why = plan.get("reason")
    if why is not None and why["estimator"] in rows.index:
        r = rows.loc[why["estimator"]]
        run = int(r["reps"]) + int(r["failures"])
        achieved = float(r[f"{why['measure']}_mcse"])
    else:
        run = int((rows["reps"] + rows["failures"]).max())
        achieved = math.nan
    met = True
    for t in plan["targets"]:
        if t["needed"] is None or t["estimator"] not in rows.index:
            continue  # the target does not apply in this cell
        value = float(rows.at[t["estimator"], f"{t['measure']}_mcse"])
        met = met and bool(value <= t["mcse"])
    if why is None:
        reason = "no target"
    elif plan["capped"]:
        reason = "cap"
    elif plan["replications"] <= plan["pilot"]:
        reason = "pilot"
    else:
        reason = "target"
    return {
        "pilot": plan["pilot"],
        "planned": plan["replications"],
        "run": run,
        "max": plan["max"],
        "capped": bool(plan["capped"]),
        "reason": reason,
        "target_estimator": why["estimator"] if why else "",
        "target_measure": why["measure"] if why else "",
        "target_mcse": float(why["mcse"]) if why else math.nan,
        "needed": float(plan["needed"]) if plan.get("needed") is not None else math.nan,
        "achieved_mcse": achieved,
        "all_met": met,
    }


def plan_targets(plans: list[dict], summary: pd.DataFrame) -> pd.DataFrame:
    """Every precision target of every cell (not only the one that set its count): per cell and
    target, the target MCSE, the pilot's MCSE, the replications it needs, and the MCSE reached
    in the final summary, met or not (``applies`` False where the cell has no row of the
    target's estimator). Rows in the order of the cells of ``summary``, then of the targets."""
    rows_of = {c: g[g["groups"] == "all"].set_index("estimator") for c, g in summary.groupby("cell", sort=False)}
    by_cell = {p["cell"]: p for p in plans}
    out = []
    for cell in summary.drop_duplicates("cell")["cell"]:
        plan = by_cell[cell]
        rows = rows_of.get(cell)
        for t in plan["targets"]:
            applies = t.get("needed") is not None and rows is not None and t["estimator"] in rows.index
            achieved = float(rows.at[t["estimator"], f"{t['measure']}_mcse"]) if applies else math.nan
            out.append({
                "cell": cell,
                "estimator": t["estimator"],
                "measure": t["measure"],
                "target_mcse": float(t["mcse"]),
                "pilot_mcse": float(t["pilot_mcse"]) if t.get("pilot_mcse") is not None else math.nan,
                "needed": float(t["needed"]) if t.get("needed") is not None else math.nan,
                "achieved_mcse": achieved,
                "applies": bool(applies),
                "met": bool(applies and achieved <= float(t["mcse"])),
            })
    return pd.DataFrame(out)


def _targets_markdown(targets: pd.DataFrame) -> str:
    """The section of every target per cell (``plan_targets``)."""
    text = [
        "",
        "### Every target per cell",
        "",
        "Each precision target of each cell: the pilot's MCSE, the replications the target needs "
        "(pilot x (pilot MCSE / target)^2), and the MCSE reached in the final summary (n/a: the "
        "target's estimator has no row in the cell).",
        "",
    ]
    rows = []
    for _, r in targets.iterrows():
        ok = bool(r["applies"])
        rows.append([
            str(r["cell"]),
            f"{r['measure']} of {r['estimator']}",
            f"{r['target_mcse']:g}",
            f"{r['pilot_mcse']:.2g}" if ok and pd.notna(r["pilot_mcse"]) else "n/a",
            f"{math.ceil(r['needed']):,}" if ok and pd.notna(r["needed"]) else "n/a",
            f"{r['achieved_mcse']:.2g}" if ok and pd.notna(r["achieved_mcse"]) else "n/a",
            ("yes" if r["met"] else "no") if ok else "n/a",
        ])
    header = ["cell", "target", "MCSE target", "pilot MCSE", "needed", "achieved", "met"]
    text.append(_md_table(header, rows, [":---", ":---", "---:", "---:", "---:", "---:", ":---"]))
    return "\n".join(text)


def _replication_markdown(rep: pd.DataFrame, targets: pd.DataFrame | None = None) -> str:
    text = [
        "# Monte Carlo precision per cell",
        "",
        (
            "For each cell: the largest Monte Carlo SE relative to its estimate, over the MSE and "
            "relative-MSE of every estimator and group class."
        ),
        "",
    ]
    vals = rep["rel_mcse"].to_numpy(dtype=float)
    if np.isfinite(vals).any():
        i = int(np.nanargmax(vals))
        w = rep.iloc[i]
        text.append(
            f"Largest over all {len(rep)} cells: {100 * vals[i]:.2f}% ({w['measure']} of "
            f"{w['estimator']}, groups {w['groups']}, cell {w['cell']}, R = {int(w['reps'])}); "
            f"median over cells: {100 * float(np.nanmedian(vals)):.2f}%."
        )
        text.append("")
    header = ["cell", "R", "measure", "estimator", "groups", "estimate (MCSE)", "MCSE / estimate"]
    rows = []
    for _, r in rep.iterrows():
        ok = pd.notna(r["rel_mcse"])
        rows.append(
            [
                str(r["cell"]),
                str(int(r["reps"])),
                str(r["measure"]) if ok else "n/a",
                str(r["estimator"]) if ok else "n/a",
                str(r["groups"]) if ok else "n/a",
                format_estimate(r["estimate"], r["mcse"]) if ok else "n/a",
                f"{100 * r['rel_mcse']:.2f}%" if ok else "n/a",
            ]
        )
    text.append(_md_table(header, rows, [":---", "---:", ":---", ":---", ":---", "---:", "---:"]))
    if "planned" in rep.columns:
        text.append(_plan_markdown(rep))
    if targets is not None and len(targets):
        text.append(_targets_markdown(targets))
    return "\n".join(text)


def _plan_markdown(rep: pd.DataFrame) -> str:
    """The section of the precision targets: per cell, the count, why, and the MCSE reached."""
    capped = rep[rep["capped"].astype(bool)]
    unmet = rep[~rep["all_met"].astype(bool)]
    text = [
        "## Replications from the precision targets",
        "",
        (
            "Each cell ran its pilot, then as many whole chunks as its Monte Carlo SE targets need "
            "(pilot x (pilot MCSE / target)^2, the largest over the targets, at most the cap). "
            "Set by: the target that needed the most replications; reason: target (it set the "
            "count), pilot (the pilot already met every target), cap (held at the maximum, short "
            "of the target), no target (none applies in the cell). Achieved: that target's MCSE in "
            "the final summary; met: every target's MCSE at most its target."
        ),
        "",
        (
            f"Held at the cap: {len(capped)} of {len(rep)} cells"
            + (" (" + ", ".join(capped["cell"].astype(str)) + ")" if len(capped) else "")
            + f"; targets not all met: {len(unmet)}."
        ),
        "",
    ]
    header = ["cell", "pilot", "needed", "planned", "run", "set by", "target", "achieved", "met", "reason"]
    rows = []
    for _, r in rep.iterrows():
        has = bool(r["target_estimator"])
        needed = r["needed"]
        rows.append(
            [
                str(r["cell"]),
                f"{int(r['pilot']):,}",
                f"{math.ceil(needed):,}" if pd.notna(needed) else "n/a",
                f"{int(r['planned']):,}",
                f"{int(r['run']):,}",
                f"{r['target_measure']} of {r['target_estimator']}" if has else "n/a",
                f"{r['target_mcse']:g}" if has else "n/a",
                f"{r['achieved_mcse']:.2g}" if pd.notna(r["achieved_mcse"]) else "n/a",
                "yes" if r["all_met"] else "no",
                f"**cap {int(r['max']):,}**" if r["capped"] else str(r["reason"]),
            ]
        )
    align = [":---", "---:", "---:", "---:", "---:", ":---", "---:", "---:", ":---", ":---"]
    text.append(_md_table(header, rows, align))
    return "\n".join(text)


# ----------------------------------------------------------------------------------------------


def failures_markdown(failures: pd.DataFrame, limit: int = 200) -> str:
    """The failed replications, one row each (cell, replication, estimator, message); the first
    ``limit`` rows, with a count of the rest."""
    if failures.empty:
        return "# Failures\n\nNo estimator failed on any replication.\n"
    rows = [
        [f"`{r.cell}`", str(r.rep), r.estimator, str(r.message).replace("|", "\\|"), f"`{r.command}`"]
        for r in failures.head(limit).itertuples()
    ]
    header = ["cell", "replication", "estimator", "message", "reproduce"]
    text = "# Failures\n\n" + _md_table(header, rows, [":---", "---:", ":---", ":---", ":---"])
    counts = failures.groupby("estimator", sort=False).size()
    text += "\nFailures per estimator: " + ", ".join(f"{e} {n}" for e, n in counts.items()) + ".\n"
    if len(failures) > limit:
        text += f"\n({len(failures) - limit} more rows in failures.csv.)\n"
    return text


def replicate_command(cell: str, rep: int, configfiles=()) -> str:
    """The command that regenerates one replication and refits it (``shrinkstudy replicate``)."""
    return " ".join([f"shrinkstudy replicate {cell} {int(rep)}"] + [f"--config {f}" for f in configfiles])


def write_failures(failures: pd.DataFrame, outdir, configfiles=()) -> list[Path]:
    """``failures.csv`` and ``failures.md``: every failed replication of every estimator, with the
    command that reproduces it (``configfiles``: the study's, as given to Snakemake)."""
    outdir = Path(outdir)
    failures = failures.assign(_rank=_estimator_rank(failures["estimator"]))
    failures = failures.sort_values(["cell", "_rank", "rep"], kind="stable").drop(columns="_rank")
    failures["command"] = [replicate_command(c, r, configfiles) for c, r in zip(failures["cell"], failures["rep"])]
    return [
        _write(outdir / "failures.csv", failures.to_csv(index=False, lineterminator="\n")),
        _write(outdir / "failures.md", failures_markdown(failures)),
    ]


def write_tables(
    summary: pd.DataFrame,
    outdir,
    provenance: dict,
    *,
    headline_sigma: float = HEADLINE_SIGMA,
    seed_design: str = SEED_DESIGN,
    plans: list[dict] | None = None,
) -> list[Path]:
    """Write every table of the study into ``outdir`` (see the module docstring).

    Parameters
    ----------
    summary : DataFrame
        The per-cell summaries (``measures.summarise_cell``) of all cells, stacked.
    outdir : path
        Output directory (created if needed), e.g. ``results/tables``.
    provenance : dict
        From ``provenance.provenance(config)``; written as ``provenance.json``.
    headline_sigma, seed_design : the sigma and the unbalanced design of the headline table
        (the study's ``seed_example``).
    plans : the cells' plans with a ``precision`` block (``precision.plan_cell``), for the
        replication table; None with fixed replications.

    Returns
    -------
    list of Path: summary.csv, summary.md, summary.tex, headline.csv, headline.md,
    replication.csv, replication.md, provenance.json.
    """
    outdir = Path(outdir)
    s = sort_summary(normalise_summary(summary))
    if s.duplicated(["cell", "estimator", "groups"]).any():
        raise ValueError("summary: a (cell, estimator, groups) row appears more than once")
    head = headline_table(s, headline_sigma, seed_design)
    rep = replication_table(s, plans)
    paper = _paper_table(s)
    paths = [
        _write(outdir / "summary.csv", _csv(s)),
        _write(outdir / "summary.md", summary_markdown(s, paper)),
        _write(outdir / "summary.tex", summary_latex(s, paper)),
        _write(outdir / "headline.csv", _csv(head)),
        _write(outdir / "headline.md", _headline_markdown(head, headline_sigma, seed_design, s)),
        _write(outdir / "replication.csv", _csv(rep)),
        _write(outdir / "replication.md", _replication_markdown(rep, plan_targets(plans, s) if plans else None)),
        _write(outdir / "provenance.json", json.dumps(plain_json(provenance), indent=2, sort_keys=True) + "\n"),
    ]
    return paths


def stored_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (summaries as ``measures.summarise_cell`` builds them) as ``summary.csv`` stores
    it: floats to ``FLOAT_FORMAT``'s 10 significant digits, read back as pandas reads the file,
    with ``normalise_summary``'s types. Every table, figure and finding is computed from these
    numbers, so a table written here and one computed from the file agree to the last digit."""
    text = frame.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return summary_frame(io.StringIO(text))


def summary_frame(source) -> pd.DataFrame:
    """A summary in CSV (a path or a file object) as the tables hold it: ``SUMMARY_COLUMNS`` in
    order with ``SUMMARY_COLUMN_TYPES`` (``normalise_summary``)."""
    return normalise_summary(pd.read_csv(source))


def read_summary(path) -> pd.DataFrame:
    """``summary.csv`` as the study wrote it: its bytes checked against their record
    (``smkio.read_checked``: a missing, changed or unrecorded file raises ``smkio.DamagedFile``
    naming it), read by ``summary_frame``. Every job that reads the summary reads it here."""
    from ..store.smkio import read_checked

    return summary_frame(io.BytesIO(read_checked(path)))


def read_replication(path) -> pd.DataFrame:
    """``replication.csv`` as the study wrote it (checked as ``read_summary``), with the text
    columns as text (a design "5" stays "5")."""
    from ..store.smkio import read_checked

    text = {c: str for c in ("cell", "block", "design", "measure", "estimator", "groups")}
    return pd.read_csv(io.BytesIO(read_checked(path)), dtype=text)


def _stored_oracle_risks(paths):
    """The oracle's per-group risks its fit jobs stored with a cell's losses, if every chunk has
    the same; else None (older files: ``measures.oracle_bayes_risk`` computes them)."""
    from ..store.smkio import read_extras

    stored = [(e or {}).get("oracle_group_risks") for e in read_extras(paths)]
    if not stored or stored[0] is None or any(s != stored[0] for s in stored[1:]):
        return None
    return stored[0]


def summarise_study(cells, losses, varcomp, level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summaries and failures of every cell, from the fit files of their chunks.

    ``cells``: the cells (``design.Cell``); ``losses``, ``varcomp``: the paths of every chunk's
    fit files, ``<results>/fit/<cell>/reps<start>-<stop>.{losses,varcomp}.parquet``, grouped
    by the cell named by their folder. Each file must be the one written for its cell and chunk,
    whole (``smkio.read_parquets`` checks, and raises ``smkio.DamagedFile`` naming the file);
    a cell with no chunk is an error. Returns ``(summary, failures)``: ``stored_summary`` of the
    stacked ``measures.summary_rows`` (cells in the given order), and the failed replications
    (``measures.FAILURE_COLUMNS``, ``measures.failure_rows`` of each cell).
    """
    from ..evaluate.measures import _summary_frame, failure_rows, summary_rows
    from ..store.smkio import chunk_identities, read_parquets

    def by_cell(paths):
        out: dict[str, list[str]] = {}
        for path in paths:
            out.setdefault(Path(path).parent.name, []).append(str(path))
        return out

    loss_files, varcomp_files = by_cell(losses), by_cell(varcomp)
    rows, failed = [], []
    for cell in cells:
        name = cell.name
        if not loss_files.get(name) or not varcomp_files.get(name):
            raise ValueError(f"cell {name}: no fit files among the inputs")
        lcols = read_parquets(loss_files[name], chunk_identities("losses", name, loss_files[name]))
        vcols = read_parquets(varcomp_files[name], chunk_identities("varcomp", name, varcomp_files[name]))
        rows += summary_rows(lcols, vcols, cell, level=level, oracle_risks=_stored_oracle_risks(loss_files[name]))
        failed += failure_rows(lcols, cell)
    failures = pd.DataFrame(failed, columns=list(FAILURE_COLUMNS)).astype({"rep": "int64"})
    return stored_summary(_summary_frame(rows)), failures
