"""The captions of the study's figures in the report, written from the study itself.

``figure_captions(study)`` gives one caption (reStructuredText) per figure of the summary
(``workflow/rules/figures.smk`` passes them to the report's captions as a param): each names the
cells it draws and the estimators drawn, and every cell or estimator of the study it leaves out,
with the reason (another figure draws it, it is the reference line, it has no interval ...). Which
cells and estimators a figure draws is decided as the figures decide it, from the config alone
(the cells' worlds and designs, the registry entries of the study's estimators, each figure's
entry in ``figures.catalog``: its cells and its estimators function, which its ``*_data`` calls
too, and the entry of its measure in ``measures.MEASURES``: which estimators have it, its label,
which way is better), so the captions exist before any result does. No estimator, block or cell
the study does not have is named.

Plain Python: no pandas, no matplotlib (the workflow imports this module when it starts).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..methods import registry
from ..design import worlds
from .figures import catalog
from .figures.catalog import WORLDS_COVERAGE_ESTIMATORS

if TYPE_CHECKING:
    from ..config import Study
    from ..design.cells import Cell
    from ..methods.registry import Estimator

__all__ = [
    "FIGURES",
    "WORLDS_COVERAGE_ESTIMATORS",
    "design_phrase",
    "figure_captions",
    "drawn_estimators",
    "drawn_cells",
]

#: The study's figures of the summary, in the report's order (each declared once in
#: ``figures.catalog``: its cells, estimators, caption writer, options and outputs).
FIGURES = tuple(f.name for f in catalog.SUMMARY_FIGURES)

#: The figures of the balanced cells of the normal world, and of the cells outside it.
BALANCED_FIGURES = tuple(f.name for f in catalog.SUMMARY_FIGURES if f.cells == "balanced")
WORLDS_FIGURES = tuple(f.name for f in catalog.SUMMARY_FIGURES if f.cells == "worlds")


def _normal(cell: Cell) -> bool:
    """A cell of the world the mixed model assumes (as ``tables.normal_world``)."""
    return worlds.is_normal_world(cell)


def _match(cell: Cell) -> tuple:
    """What a cell outside the normal world shares with its reference normal-world cell."""
    return (cell.J, cell.design, float(cell.sigma), float(cell.tau), float(cell.mu))


def drawn_cells(name: str, cells: Sequence[Cell]) -> list[Cell]:
    """The cells figure ``name`` draws (as its ``*_data`` selects the summary's rows): those of its
    entry's ``cells`` set."""
    which = catalog.figure(name).cells
    cells = [c for c in cells if not c.known_se]  # no group size or sigma to draw them by
    if which == "balanced":
        return [c for c in cells if c.balanced and _normal(c)]
    if which == "unbalanced":
        return [c for c in cells if not c.balanced and _normal(c)]
    if which == "worlds":
        keys = {_match(c) for c in cells if not _normal(c)}
        return [c for c in cells if not _normal(c) or _match(c) in keys]
    raise KeyError(name)


def _present(estimators: Sequence[Estimator], cells: Sequence[Cell]) -> list[str]:
    """The estimators with rows in ``cells``: those that apply to one of them."""
    balanced = any(c.balanced for c in cells)
    return [e.name for e in estimators if e.applies != "balanced" or balanced]


def _having(fig: catalog.Figure, estimators: Sequence[Estimator]) -> set[str]:
    """The estimators that have figure ``fig``'s measure (its entry in ``measures.MEASURES``)."""
    return {e.name for e in estimators if fig.measure is None or fig.measure_entry.has(e)}


def drawn_estimators(name: str, estimators: Sequence[Estimator], cells: Sequence[Cell]) -> list[str]:
    """The estimators figure ``name`` draws in ``cells`` (its ``drawn_cells``), in table order: its
    catalog entry's (``Figure.drawn_estimators``, which its ``*_data`` calls too, with the defaults
    of the workflow) of those that have its measure."""
    if not cells:
        return []
    fig = catalog.figure(name)
    return fig.drawn_estimators(_present(estimators, cells), _having(fig, estimators))


# --- words ------------------------------------------------------------------------------------


def _num(x) -> str:
    return f"{float(x):g}"


def _list(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _est(names: Iterable[str], labels: dict) -> str:
    """Estimators as ``label (``name``)``, or ``name`` alone where the label is the name."""
    out = []
    for n in names:
        label = labels.get(n, n)
        out.append(f"``{n}``" if label == n else f"{label} (``{n}``)")
    return _list(out)


def design_phrase(sizes: Sequence[int]) -> str:
    """The groups of a design in words, numbered 1..J in order (as the seed example's figures
    number them): ``(100, 100, 2)`` is "3 groups, groups 1-2 with 100 observations and group 3
    with 2"; a balanced design is "12 groups of 5 observations"."""
    sizes = [int(n) for n in sizes]
    if len(set(sizes)) == 1:
        return f"{len(sizes)} groups of {sizes[0]} observation{'s' if sizes[0] != 1 else ''}"
    parts, first = [], 1
    for n, run in itertools.groupby(sizes):  # as design.cells.sizes_label groups them
        last = first + len(list(run)) - 1
        parts.append(f"groups {first}-{last} with {n}" if last > first else f"group {first} with {n}")
        first = last + 1
    parts[0] += " observations" if sizes[0] != 1 else " observation"
    return f"{len(sizes)} groups, " + _list(parts)


def _or(items: Sequence[str]) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else "".join(items)


def _cells(k: int) -> str:
    return f"{k} cell" if k == 1 else f"{k} cells"


def _values(cells: Sequence[Cell], attr: str) -> list[str]:
    return [_num(v) for v in sorted({float(getattr(c, attr)) for c in cells})]


def _rows(cells: Sequence[Cell]) -> str:
    """What the rows of the small multiples by n are (``facets._scenario_labels``: the ones of
    sigma, tau and mu that vary, else sigma), and the values of the others."""
    names = {"sigma": "the within-group SD sigma", "tau": "tau", "mu": "mu"}
    vary = [p for p in ("sigma", "tau", "mu") if len(_values(cells, p)) > 1] or ["sigma"]
    fixed = [f"{p} = {_list(_values(cells, p))}" for p in ("sigma", "tau", "mu") if p not in vary]
    text = "rows " + _list([f"{names[p]} ({', '.join(_values(cells, p))})" for p in vary])
    return text + (f"; {', '.join(fixed)}" if fixed else "")


def _columns_J(cells: Sequence[Cell]) -> str:
    return f"columns J ({', '.join(str(J) for J in sorted({c.J for c in cells}))})"


def _reps(config: dict) -> str:
    reps = config.get("replications")
    if reps is None:
        return "the planned number of simulated datasets per cell (the precision targets)"
    return f"{int(reps):,} simulated datasets per cell"


def _elsewhere(name: str, cells: Sequence[Cell]) -> list[str]:
    """Sentences naming the study's cells figure ``name`` leaves out and where they are drawn."""
    drawn = set(id(c) for c in drawn_cells(name, cells))
    left = [c for c in cells if id(c) not in drawn and not c.known_se]  # those: ``known_se_text``
    if not left:
        return []
    out = []
    outside = [c for c in left if not _normal(c)]
    unbalanced = [c for c in left if _normal(c) and not c.balanced]
    balanced = [c for c in left if _normal(c) and c.balanced]
    if outside:
        out.append(
            f"the {_cells(len(outside))} outside the normal world ({_or([c.title for c in worlds.COMPONENTS.values()])} "
            "other than the model's) are in the worlds figures (worlds_relmse, worlds_w1, worlds_coverage)"
        )
    if name in WORLDS_FIGURES:
        if balanced:
            out.append(
                f"the {_cells(len(balanced))} of the normal world with no cell outside it of the same J, "
                "group sizes, sigma, tau and mu are in the figures of the balanced cells (relmse_by_n, "
                "nested_loop, spread, boundary, coverage)"
            )
        if unbalanced:
            out.append(
                f"the {_cells(len(unbalanced))} of the normal world with unequal group sizes and no cell "
                "outside it of the same design are in group_size_mse"
            )
    else:
        if balanced:
            out.append(
                f"the {_cells(len(balanced))} of the normal world with equal group sizes are in the figures "
                "of the balanced cells (relmse_by_n, nested_loop, spread, boundary, coverage)"
            )
        if unbalanced:
            designs = ", ".join(dict.fromkeys(c.design for c in unbalanced))
            out.append(
                f"the {_cells(len(unbalanced))} of the normal world with unequal group sizes ({designs}) "
                "are in group_size_mse"
            )
    return out


def _not_drawn(name: str, drawn: Sequence[str], estimators: Sequence[Estimator], cells: Sequence[Cell],
               labels: dict) -> list[str]:
    """Sentences naming the study's estimators figure ``name`` leaves out, with the reason."""
    drawn = set(drawn)
    position = {n: i for i, n in enumerate(registry.order(e.name for e in estimators))}
    left = sorted((e for e in estimators if e.name not in drawn), key=lambda e: position[e.name])
    if not left or name == "boundary":
        return []
    present = set(_present(estimators, cells))
    fig = catalog.figure(name)
    having = _having(fig, estimators)
    measure = fig.measure
    reasons: dict[str, list[str]] = {}

    def why(e: Estimator) -> str:
        if e.name not in present:
            return "applies to balanced cells only"
        if e.name == "raw" and measure == "rel_mse":
            return "the reference line at 1"
        if e.name == "pooled" and name in ("spread", "worlds_relmse"):
            return "spread 0" if name == "spread" else "far above the others: in the tables"
        if e.name not in having:
            lacks = fig.measure_entry
            return "no interval" if lacks.estimators == "intervals" else f"no {lacks.label}"
        if name == "worlds_coverage":
            return "intervals drawn in the balanced cells' coverage figure and the tables"
        if e.interval_of is not None:
            return f"the point of ``{e.interval_of}``, drawn in the coverage figures"
        return "drawn in the worlds figures and the tables"

    for e in left:
        reasons.setdefault(why(e), []).append(e.name)
    return [f"{_est(names, labels)} ({reason})" for reason, names in reasons.items()]


def _tail(name: str, drawn: Sequence[str], estimators, cells, labels) -> str:
    """The caption's last sentences: what it leaves out."""
    text = ""
    left = _not_drawn(name, drawn, estimators, drawn_cells(name, cells), labels)
    if left:
        text += " Not drawn: " + "; ".join(left) + "."
    other = _elsewhere(name, cells)
    if other:
        text += " Of the study's cells, " + "; ".join(other) + "."
    return text


def _empty(what: str, name: str, cells) -> str:
    text = f"This study has no {what}, so this figure is empty."
    other = _elsewhere(name, cells)
    if other:
        text += " Of the study's cells, " + "; ".join(other) + "."
    return text


# --- the captions -----------------------------------------------------------------------------


def _measure(name: str):
    """The entry of the measure figure ``name`` plots (``measures.MEASURES``)."""
    return catalog.figure(name).measure_entry


def _beats(name: str) -> str:
    """Which side of its reference line an estimator beats it on (its measure's ``better``)."""
    return {"lower": "Below", "higher": "Above"}[_measure(name).better]



def _relmse_by_n(config, cells, drawn, labels) -> str:
    text = (
        "Relative MSE (MSE of the estimator / MSE of the raw means, per group, averaged over the J "
        f"groups and over {_reps(config)}) against the group size n, in the {_cells(len(cells))} of "
        f"the normal world with equal group sizes: {_columns_J(cells)}, {_rows(cells)}. {_beats('relmse_by_n')} "
        f"the line at 1 an estimator beats the raw means. Drawn: {_est(drawn, labels)}."
    )
    if "oracle" in drawn:
        text += (" The oracle (grey dashed: the posterior mean with the true mu, tau and sigma) is the "
                 "floor no estimator reaches on average.")
    text += (" Bars: +-1.96 Monte Carlo SE (delta method on the per-dataset paired losses). Log scale"
             + ("; pooled (complete pooling), whose relative MSE grows without bound in n, leaves the top "
                "of a panel." if "pooled" in drawn else ".")
             + " Points at the same n are spread sideways so their bars do not overlap.")
    return text


def _nested_loop(config, cells, drawn, labels) -> str:
    loop = ["J", "n", "sigma"] + [p for p in ("tau", "mu") if len(_values(cells, p)) > 1]
    text = (
        "Nested loop plot (Rucker & Schwarzer 2014) of relative MSE (MSE / MSE of the raw means, over "
        f"{_reps(config)}) in the {_cells(len(cells))} of the normal world with equal group sizes. The "
        f"cells run along the x axis ordered by {', then '.join(loop)} (the step lines below give each "
        "cell's parameters); for each estimator a bold level per cell, joined by a light line, with a "
        f"+-1.96 Monte Carlo SE band. Log scale, raw = 1. Drawn: {_est(drawn, labels)}."
    )
    if "pooled" in drawn:
        text += " pooled leaves the top of the panel where it is far worse than raw."
    if "oracle" in drawn:
        text += (" The oracle (grey dashed) is the floor; the gap between it and an estimator is the price "
                 "of estimating mu, tau and sigma.")
    return text


def _group_size_mse(config, cells, drawn, labels) -> str:
    designs = ", ".join(dict.fromkeys(c.design for c in cells))
    text = (
        f"{_measure('group_size_mse').label} per group, by group-size class, in the {_cells(len(cells))} of the normal world with "
        f"unequal group sizes (design {designs}), one column per cell, one row per size class, each row "
        f"on its own scale. Bars: MSE of each estimator over {_reps(config)}, with +-1.96 Monte Carlo "
        f"SE and the value above. Drawn: {_est(drawn, labels)}."
    )
    if "varmatch" in drawn:
        text += (" varmatch (the seed answer's rescaling to the right spread) pays for its spread in MSE, "
                 "most in the small groups.")
    return text


def _spread(config, cells, drawn, labels) -> str:
    text = (
        f"{_measure('spread').label.capitalize()}: the root-mean-square spread of an estimator's J estimates over the datasets, "
        "divided by that of the J true means, sqrt(sum var_j(estimates) / sum var_j(true means)), in the "
        f"{_cells(len(cells))} of the normal world with equal group sizes ({_columns_J(cells)}, "
        f"{_rows(cells)}; +-1.96 Monte Carlo SE; log scale). The line at 1 is the right spread. Drawn: "
        f"{_est(drawn, labels)}."
    )
    if "raw" in drawn:
        text += " Raw means are too spread out (by about sqrt(1 + sigma^2 / (n tau^2)))."
    if "blup" in drawn:
        text += " The BLUP is under-dispersed (about sqrt(B), B = tau^2 / (tau^2 + sigma^2 / n))."
    if "varmatch" in drawn:
        text += " varmatch is built to be near 1, where tau is well estimated."
    return text


def _boundary(config, cells, drawn, labels) -> str:
    return (
        "Share of datasets whose fit puts tau-hat^2 at exactly 0 (lme4's \"boundary (singular) fit\"), "
        f"against n, one colour per number of groups J ({', '.join(str(J) for J in sorted({c.J for c in cells}))}), "
        f"one panel per scenario ({_rows(cells)[len('rows '):]}), in the {_cells(len(cells))} of the "
        f"normal world with equal group sizes ({_reps(config)}; bars +-1.96 Monte Carlo SE). Curves: "
        "the exact probability, P(F with J - 1 and J(n - 1) degrees of freedom < 1 / (1 + n tau^2 / "
        "sigma^2)), since tau-hat^2 = 0 exactly when the between-group mean square is at most the "
        "within-group one. The share is a property of the variance-component fit, not of an estimator: "
        "at such a fit every shrinkage estimator returns the grand mean for every group."
    )


def _coverage(config, cells, drawn, labels) -> str:
    level = _num(config["level"])
    text = (
        f"{_measure('coverage').label.capitalize()} of the {level} intervals for the group means in the "
        f"{_cells(len(cells))} of the normal "
        f"world with equal group sizes ({_columns_J(cells)}, {_rows(cells)}; +-1.96 Monte Carlo SE). "
        f"Drawn: {_est(drawn, labels)}. The horizontal line is the nominal level."
    )
    notes = {
        "raw": "raw: the t interval",
        "blup": "BLUP: the plug-in empirical Bayes interval (g1 + g2)",
        "blup_pr": "the Prasad-Rao interval (g1 + g2 + 2 g3)",
        "hier_bayes": "hierarchical Bayes: the central posterior interval",
        "oracle": "the oracle: the exact posterior interval with the true parameters",
    }
    said = [notes[e] for e in drawn if e in notes]
    if said:
        text += " " + "; ".join(said) + "."
    return text


def _worlds_intro(cells) -> str:
    outside = [c for c in cells if not _normal(c)]
    return (
        f"the {_cells(len(outside))} where the normal model is wrong and the "
        f"{_cells(len(cells) - len(outside))} of the normal world with the same J, group sizes, sigma, "
        "tau and mu (the \"normal\" position of each panel), by the distribution of the group effects (x; "
        "all standardised to mean 0 and SD tau): columns J, rows the errors and the ratio of the largest "
        "to the smallest within-group SD"
    )


def _oracles(drawn) -> str:
    said = []
    if "oracle" in drawn:
        said.append(" The dashed grey segment is the oracle (the Bayes rule under the true effects "
                    "distribution: the floor of the MSE), with its shaded MCSE band.")
    if "oracle_linear" in drawn:
        said.append(" The dotted grey segment is the linear oracle (the normal-theory Bayes rule with the "
                    "true parameters: the best linear rule), with its shaded MCSE band.")
    return "".join(said)


def _worlds_relmse(config, cells, drawn, labels) -> str:
    return (
        "Relative MSE (MSE / MSE of the raw means, paired on the same datasets; log scale; +-1.96 Monte "
        f"Carlo SE) in {_worlds_intro(cells)}. One marker per estimator; the line at 1 is the raw means. "
        f"Drawn: {_est(drawn, labels)}." + _oracles(drawn)
    )


def _worlds_w1(config, cells, drawn, labels) -> str:
    text = (
        "Histogram accuracy: the Wasserstein-1 distance between the J estimates and the J true means of a "
        "dataset (the mean absolute difference of their sorted values), averaged over the replications "
        f"(+-1.96 Monte Carlo SE; {_measure('worlds_w1').better} is a truer histogram of the group means), in {_worlds_intro(cells)}. "
        f"Drawn: {_est(drawn, labels)}." + _oracles(drawn)
    )
    if {"oracle", "oracle_linear"} & set(drawn):
        text += " The oracles minimise MSE, not W1."
    return text


def _worlds_coverage(config, cells, drawn, labels) -> str:
    level = _num(config["level"])
    text = (
        f"{_measure('worlds_coverage').label.capitalize()} of the {level} intervals for the group means in "
        f"{_worlds_intro(cells)} (+-1.96 Monte "
        f"Carlo SE; over all groups and replications). Drawn: {_est(drawn, labels)}."
    )
    if "oracle" in drawn:
        text += " The oracle (dashed segment) has an interval in the normal cells only."
    return text + " The horizontal line is the nominal level."


def figure_captions(study: Study) -> dict[str, str]:
    """The caption of each figure of ``FIGURES`` for ``study`` (a ``config.Study``)."""
    cells = list(study.cells)
    estimators = list(study.estimators)
    labels = {e.name: e.label for e in estimators}
    out = {}
    known = known_se_text(cells)
    for fig in catalog.SUMMARY_FIGURES:
        name = fig.name
        drawn_c = drawn_cells(name, cells)
        if not drawn_c:
            out[name] = _empty(catalog.CELL_SETS[fig.cells], name, cells) + known
            continue
        drawn = drawn_estimators(name, estimators, drawn_c)
        text = fig.caption_writer()(study.config, drawn_c, drawn, labels)
        out[name] = text + _tail(name, drawn, estimators, cells, labels) + known
    return out


def known_se_text(cells: Sequence[Cell]) -> str:
    """What every summary figure's caption says of a study's known-SE cells ('' without): they
    are not drawn (the figures are by group size n and within-group SD sigma, which they lack)."""
    known = [c for c in cells if c.known_se]
    if not known:
        return ""
    return (
        f" The study's {_cells(len(known))} of known standard errors (one estimate per group, "
        "y_j ~ N(m_j, s_j^2) with s_j given) are not drawn: the figures are by group size n and "
        "within-group SD sigma, which they do not have; their rows are in summary.csv and the tables."
    )
