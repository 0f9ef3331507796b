"""The study's protocol, written by the workflow: ``results/protocol.md``.

``protocol_markdown`` writes the protocol of a simulation study in the order of Morris, White
& Crowther (2019, section 3, "ADEMP"): aims, data-generating mechanisms (the cells), estimands,
methods (one line per estimator of the study, from the estimator registry, user estimators
included), performance measures with their Monte Carlo SE formulas (``MEASURE_FORMULAS``), the
number of replications and its justification (the largest Monte Carlo SE relative to its
estimate, from ``replication.csv``), seeds and the seeding scheme, package versions and the
commit (``provenance.json``), and the commands that reproduce the study, one cell and one
replication.

Every number in it comes from the config, the registries or the results: none is typed here.
It reads no clock, so the same inputs give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..evaluate.measures import MEASURES
from .provenance import SEEDING, SEEDING_EXAMPLE
from ..design.worlds import COMPONENTS, is_normal_world

if TYPE_CHECKING:
    import pandas as pd

    from ..design.cells import Cell
    from ..methods.registry import Estimator

__all__ = ["ESTIMANDS", "default_aims", "MEASURE_FORMULAS", "protocol_markdown", "reproduce_commands"]

#: What is estimated (docs/formulas.md sections 1 and 5).
ESTIMANDS = (
    "The J true group means m_j = mu + theta_j of each dataset, drawn anew in every replication. "
    "The loss of a replication is averaged over the groups of a class (all groups; in an "
    "unbalanced cell also the groups of each size), then summarised across replications. "
    "Secondary: the spread of the true means (the spread ratio of the estimates against it) and "
    "the event tau^2^ = 0 of the variance-component fit."
)

#: The performance measures and their Monte Carlo SEs (Morris, White & Crowther 2019, table 6;
#: docs/formulas.md section 5): (measure, estimate, Monte Carlo SE, the function of
#: ``shrinkstudy.evaluate.measures`` computing it), read from ``measures.MEASURES``, where each measure is
#: declared once. Per replication i and group class G: s_i = mean_{j in G} e_ij^2,
#: ebar_i = mean_{j in G} e_ij with e_ij = est_ij - m_ij, c_i the fraction of G's intervals
#: containing m_ij; x the per-replication values, R the replications that did not fail.
MEASURE_FORMULAS = tuple((m.name, m.estimate, m.mcse, m.function.__name__) for m in MEASURES)


def _num(x) -> str:
    return f"{float(x):g}"


#: Standard errors a known-SE cell's row of the cell table lists before it abbreviates.
_SE_SHOWN = 12


def _sizes_text(c: Cell) -> str:
    """The cell table's group sizes: the design label; a known-SE cell's standard errors."""
    if not c.known_se:
        return c.design
    ses = [_num(s) for s in c.ses]
    if len(set(ses)) == 1:
        return f"SE {ses[0]} x {len(ses)}"
    shown = ", ".join(ses[:_SE_SHOWN]) + (f", ... ({len(ses)} in all; the config lists them)" if len(ses) > _SE_SHOWN else "")
    return f"SEs {shown}"


def _sigma_text(c: Cell) -> str:
    return "known SE" if c.known_se else _num(c.sigma)


def _known_se_mechanism(known: Sequence[Cell], cells: Sequence[Cell]) -> str:
    """The data-generating mechanism of the known-SE cells (a block's ``ses``)."""
    scope = "every cell is" if len(known) == len(cells) else f"{len(known)} of the {len(cells)} cells are"
    return (
        f"Known standard errors: {scope} one estimate per group, y_j ~ N(m_j, s_j^2) with s_j given "
        "(the config's `ses`), simulated directly as y_j = m_j + s_j e_j with e_j from the cell's errors "
        "distribution standardised to SD 1; there are no observations within a group and no sigma "
        "(their N is J). Their estimators are each one's known-SE form (`shrinkstudy.methods.knownse`; tau^2 by "
        "that form's exact REML or ML whatever the engine, the hierarchical-Bayes prior on tau / s0 with "
        "s0 the root mean square SE); an estimator without one (bayesglm, a user's) has no rows there."
    )


def _normal_world(c: Cell) -> bool:
    return is_normal_world(c)


def _world_text() -> str:
    """``effects, errors and SD ratio``: the world's components (``worlds.COMPONENTS``)."""
    return _and(comp.title for comp in COMPONENTS.values())


def _and(items) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def default_aims(cells: Sequence[Cell], estimators: Sequence[Estimator]) -> str:
    """The aims of a study whose config gives none (``aims``): what it compares (its
    estimators), where (its blocks and cells) and by what (the measures of the summary)."""
    blocks = dict.fromkeys(c.block for c in cells)
    where = _and(
        f"`{b}` ({sum(c.block == b for c in cells)} cell{'s' if sum(c.block == b for c in cells) != 1 else ''})"
        for b in blocks
    )
    model = (
        "theta_j ~ N(0, tau^2), e_ij ~ N(0, sigma^2)"
        if all(_normal_world(c) for c in cells)
        else f"theta_j and e_ij drawn as each cell's {_world_text()} say (below)"
    )
    return (
        f"Compare {len(estimators)} estimators of the group means of the one-way random-effects model "
        f"y_ij = mu + theta_j + e_ij, {model}: {_and(f'`{e.name}`' for e in estimators)}, over the "
        f"study's {len(cells)} cell{'s' if len(cells) != 1 else ''}, in block{'s' if len(blocks) != 1 else ''} "
        f"{where}, by the performance measures {_and(f'`{m.name}`' for m in MEASURES)} "
        "(below), each with its Monte Carlo SE. (The config's `aims` replaces this text.)"
    )


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: Sequence[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


def reproduce_commands(config_file: str | None, results: str, cell: str, rep: int = 0) -> dict:
    """The commands that reproduce the whole study, one cell's summary and one replication.

    ``config_file``: the study's file as given to Snakemake (None: the default study,
    config/config.yaml); ``results``: its results directory; ``cell``: an example cell.
    """
    from .tables import replicate_command

    given = f" --configfile {config_file}" if config_file else ""
    make = f"make study CONFIG={config_file}" if config_file else "make study"
    return {
        "study": [make, f"snakemake --cores all{given}"],
        "cell": [f"snakemake --cores all{given} {results}/summarise/{cell}.csv"],
        "replication": [replicate_command(cell, rep, [config_file] if config_file else [])],
    }


def protocol_markdown(
    config: dict,
    cells: Sequence[Cell],
    estimators: Sequence[Estimator],
    summary: pd.DataFrame,
    replication: pd.DataFrame,
    provenance: dict,
    *,
    seed_fit: dict | None = None,
    config_file: str | None = None,
    example_cell: str | None = None,
) -> str:
    """The protocol as Markdown (module docstring).

    Parameters
    ----------
    config : the checked study config (``Study.config``).
    cells : the study's cells (``Study.cells``), in config order.
    estimators : the registry entries of the study's estimators (``Study.estimators``).
    summary : ``summary.csv`` (for the replications used and the failures per estimator).
    replication : ``replication.csv`` (the justification of the replication count).
    provenance : ``provenance.json`` (packages, commit, config hash).
    seed_fit : the seed example's ``fit.json``, or None.
    config_file : the study's file as given (None: config/config.yaml, the default study).
    example_cell : the cell of the reproduce-one-cell commands (default: the seed example's
        design if it is a cell of the study, else the first cell).
    """
    tables = f"{str(config['results']).rstrip('/')}/tables"  # the study's own results directory
    out: list[str] = ["# Protocol of the study", ""]
    out.append(
        "Written by the workflow from the study's config, the estimator registry and the results "
        f"(`{tables}/`); no number in it is typed by hand. Structure: Morris, White & "
        'Crowther (2019), "Using simulation studies to evaluate statistical methods", '
        "Statistics in Medicine 38:2074-2102 (aims, data-generating mechanisms, estimands, "
        "methods, performance measures)."
    )
    config_line = (
        f"Config: `{config_file or 'config/config.yaml'}`, SHA-256 of its canonical JSON "
        f"`{provenance.get('config_sha256', 'n/a')}`."
    )
    out += ["", config_line, ""]

    out += ["## Aims", "", str(config.get("aims") or default_aims(cells, estimators)).strip(), ""]

    # data-generating mechanisms
    out += ["## Data-generating mechanisms", ""]
    normal = [c for c in cells if _normal_world(c)]
    out.append(
        f"{len(cells)} cells (the config's `grid`, each block a full factorial of its lists). A "
        "dataset of a cell has J groups of the given sizes (`a x k + b x l`: k groups of a, then l "
        "of b; a single number: every group of that size); the true means are m_j = mu + theta_j, "
        "and the observations y_ij = m_j + e_ij"
        + (
            ", with theta_j ~ N(0, tau^2) and e_ij ~ N(0, sigma^2) in every cell."
            if len(normal) == len(cells)
            else f", theta_j and e_ij drawn as each cell's {_world_text()} say (every "
            "distribution standardised to mean 0 and SD tau, or SD sigma_j):"
        )
    )
    known = [c for c in cells if c.known_se]
    if known:
        out += ["", _known_se_mechanism(known, cells)]
    out.append("")
    if len(normal) < len(cells):
        for comp in COMPONENTS.values():  # each component's settings and how they are drawn
            for value in dict.fromkeys(comp.value(c) for c in cells):
                which = [c for c in cells if comp.value(c) == value]
                scope = "every cell" if len(which) == len(cells) else f"{len(which)} of the {len(cells)} cells"
                out.append(f"- {comp.title} `{comp.label(*value)}` ({scope}): {comp.mechanism(*value)}.")
        out.append("")
    world = [
        (comp.title, lambda c, comp=comp: comp.label(*comp.value(c)))
        for comp in COMPONENTS.values()
        if len(normal) < len(cells)
    ]
    rows = [
        [f"`{c.name}`", c.block, str(c.J), _sizes_text(c), str(c.N), _sigma_text(c), _num(c.tau), _num(c.mu)]
        + [f(c) for _, f in world]
        for c in cells
    ]
    out += _md_table(
        ["cell", "block", "J", "group sizes", "N", "sigma", "tau", "mu"] + [h for h, _ in world],
        rows,
        [":---", ":---", "---:", ":---", "---:", "---:", "---:", "---:"] + [":---"] * len(world),
    )
    out.append("")

    out += ["## Estimands", "", ESTIMANDS, ""]

    # methods
    out += ["## Methods", ""]
    prior = config.get("hier_bayes_prior", {})
    out.append(
        f"Variance components by {config.get('method', 'REML')} (engine `{config.get('engine', 'exact')}`); "
        f"intervals at level {_num(config.get('level', math.nan))}; hierarchical-Bayes prior "
        f"{prior.get('family', 'n/a')} with scale {_num(prior.get('scale', math.nan))}. "
        "One line per estimator, from the estimator registry (`shrinkstudy.methods.registry`; a user's "
        "estimator from its file, named by its reference):"
    )
    out.append("")
    fails = {}
    if len(summary):
        all_rows = summary[summary["groups"].astype(str) == "all"]
        fails = all_rows.groupby("estimator")["failures"].sum().to_dict()
    for e in estimators:
        line = f"- `{e.name}` ({e.label}): {e.description}"
        if e.reference:
            line += f". Reference: {e.reference}"
        if e.applies == "balanced":
            line += ". Applies to balanced cells only"
        line += f". Failed fits: {int(fails.get(e.name, 0))}."
        out.append(line)
    out.append("")

    # performance measures
    out += ["## Performance measures", ""]
    out.append(
        "Per replication i the loss is averaged over the groups of a class G (e_ij = est_ij - "
        "m_ij; s_i = mean over G of e_ij^2, ebar_i = mean over G of e_ij, c_i = fraction of G's "
        "intervals containing m_ij), then summarised across the R replications that did not "
        "fail; x stands for the per-replication values. Morris, White & Crowther (2019), table 6; "
        "`docs/formulas.md` section 5; computed by `shrinkstudy.evaluate.measures`."
    )
    out.append("")
    out += _md_table(
        ["measure", "estimate", "Monte Carlo SE", "function"],
        [[f"`{m}`", est, se.replace("``", "`"), f"`{fn}`"] for m, est, se, fn in MEASURE_FORMULAS],
        [":---", ":---", ":---", ":---"],
    )
    out.append("")

    # replications
    chunk = int(config["chunk_size"])
    out += ["## Replications", ""]
    precision = config.get("precision")
    if precision:
        targets = "; ".join(
            f"MCSE of {t['measure']} of `{t['estimator']}` at most {float(t['mcse']):g}" for t in precision["targets"]
        )
        out.append(
            f"Planned per cell from target precisions (the config's `precision`): a pilot of "
            f"{int(precision['pilot']):,} replications, then as many as the targets need ({targets}: "
            f"R = R_pilot (MCSE_pilot / target)^2 per target, the largest, in whole chunks of "
            f"{chunk:,}), at most {int(precision['max']):,}."
        )
        if len(replication) and "planned" in replication:
            per_cell = replication.drop_duplicates("cell")
            capped = per_cell[per_cell["capped"].astype(str).str.lower() == "true"]["cell"].tolist()
            out.append(
                f"Replications run per cell: {int(per_cell['run'].min()):,} to {int(per_cell['run'].max()):,}; "
                + (f"{len(capped)} cell(s) held at the cap: " + ", ".join(f"`{c}`" for c in capped) + "."
                   if capped else "no cell reached the cap.")
                + f" Per cell, the target that set the count and the MCSE reached: `{tables}/replication.md`."
            )
    else:
        reps = int(config["replications"])
        out.append(
            f"{reps:,} replications per cell (a fixed count, the config's `replications`), in jobs of "
            f"{chunk:,} (`chunk_size`, which changes no number)."
        )
    if len(summary):
        used = summary[summary["groups"].astype(str) == "all"]["reps"]
        out.append(
            f"Replications used per cell and estimator (after failures): {int(used.min()):,} to {int(used.max()):,}."
        )
    rel = replication["rel_mcse"].astype(float) if len(replication) else None
    if rel is not None and rel.notna().any():
        w = replication.loc[rel.idxmax()]
        out.append(
            f"Justification: the largest Monte Carlo SE relative to its estimate, over the MSE and "
            f"relative MSE of every estimator and group class of every cell, is "
            f"{100 * float(w['rel_mcse']):.2f}% ({w['measure']} of {w['estimator']}, groups "
            f"{w['groups']}, cell `{w['cell']}`); the median over cells of each cell's largest is "
            f"{100 * float(rel.median()):.2f}% (`{tables}/replication.csv`)."
        )
    out.append("")

    # seeds
    out += ["## Seeds", ""]
    seeding = SEEDING  # its example cell one of the study's
    if cells and SEEDING_EXAMPLE not in {c.name for c in cells}:
        seeding = SEEDING.replace(SEEDING_EXAMPLE, cells[0].name)
    out.append(f"Base seed {config['base_seed']} (the config's `base_seed`). {seeding}")
    out.append("")
    out.append("The draws of this study's cells, in that order within a replication:")
    out.append("")
    for comp in (COMPONENTS["effects"], COMPONENTS["errors"]):  # the components drawn, in draw order
        kind, title = comp.kind, comp.title
        for value in dict.fromkeys(comp.value(c) for c in cells):
            which = [c for c in cells if comp.value(c) == value]
            scope = "every cell" if len(which) == len(cells) else f"{len(which)} of the {len(cells)} cells"
            if kind == "effects" and not any(c.tau > 0 for c in which):
                out.append(f"- effects `{comp.label(*value)}` ({scope}): tau = 0, no effect drawn.")
                continue
            draw = comp.mechanism(*value)
            if kind == "effects":
                draw = f"the J effects, {draw}" + (
                    " (none drawn in the cells with tau = 0)" if any(c.tau == 0 for c in which) else ""
                )
            else:
                ratios = sorted({float(c.sigma_ratio) for c in which})
                sd = "sigma_j = sigma" if ratios == [1.0] else "sigma_j as the cell's SD ratio sets it"
                draw = f"then the N errors, {draw} ({sd})"
            out.append(f"- {title} `{comp.label(*value)}` ({scope}): {draw}.")
    out.append("")
    if seed_fit is not None:
        choice = seed_fit.get("seed_choice") or {"rule": "seed", "seed": seed_fit["seed"]}
        text = (
            f"The seed example (figures 1 and 2, cell `{seed_fit['cell']}`) is replication 0 of seed "
            f"{seed_fit['seed']}"
        )
        if choice["rule"] == "closest_fit":
            t = choice["target"]
            text += (
                f": of the {choice['candidates']:,} seeds {choice['first']} to "
                f"{choice['first'] + choice['candidates'] - 1}, the one whose {seed_fit['method']} fit is "
                f"closest to the answer's reported fit (tau {_num(t['tau'])}, sigma {_num(t['sigma'])}, "
                f"mu {_num(t['mu'])}) in the distance of `shrinkstudy.report.seed_example.fit_distance` "
                f"(distance {choice['distance']:.4g})"
            )
        else:
            text += " (the config's `seed_example.seed`)"
        text += (
            f". Its fit: tau {seed_fit['tau']:.4g}, sigma {seed_fit['sigma']:.4g}, mu {seed_fit['mu']:.4g}."
        )
        out += [text, ""]

    # software
    out += ["## Software", ""]
    git = provenance.get("git", {}) or {}
    commit = git.get("commit") or "unknown (not a git checkout)"
    dirty = " (with uncommitted changes)" if git.get("dirty") else ""
    out.append(f"Project commit `{commit}`{dirty}.")
    out.append("")
    packages = provenance.get("packages", {}) or {}
    out += _md_table(
        ["package", "version"],
        [[k, str(packages[k]) if packages[k] is not None else "not installed"] for k in sorted(packages)],
        [":---", ":---"],
    )
    out.append("")

    # reproduce
    names = [c.name for c in cells]
    cell = example_cell
    if cell is None:
        seed_cells = [c.name for c in cells if seed_fit is not None and c.name == seed_fit.get("cell")]
        cell = seed_cells[0] if seed_cells else (names[0] if names else "CELL")
    cmds = reproduce_commands(config_file, str(config["results"]).rstrip("/"), cell)
    out += ["## Reproducing", ""]
    out.append(
        "The whole study (from the project directory; the same command resumes a run that was stopped):"
    )
    out += ["", "```sh", *cmds["study"], "```", ""]
    out.append(f"One cell's summary (here `{cell}`; any cell name of the table above):")
    out += ["", "```sh", *cmds["cell"], "```", ""]
    out.append("One replication (its dataset as CSV and every estimator fitted to it, the stored numbers):")
    out += ["", "```sh", *cmds["replication"], "```", ""]
    return "\n".join(out)
