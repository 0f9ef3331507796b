"""The study's figures, each declared once (``FIGURES``).

An entry names the figure's data function (the rows of the summary it plots) and drawing
function, the cells it draws, which of the study's estimators it draws, the measure it plots
(``measures.MEASURES``: its axis label, which estimators have it), its caption writer
(``shrinkstudy.report.captions``), the config keys it takes as keyword options, its report category
and its output files. Read by

* the rules (``workflow/rules/figures.smk``): the summary figures' outputs and options of the one
  ``summary_figures`` rule, one rule per seed-example figure, each PNG's report caption
  (``workflow/report/<name>.rst``) and category;
* the figures package (``shrinkstudy.report.figures``: its ``*_data`` and ``plot_*`` names; each
  ``*_data`` selects its entry's cells and estimators, each ``plot_*`` labels its axis from it);
* the captions (``shrinkstudy.report.captions``: the cells and estimators drawn, the caption text, what a
  study without the figure's cells is told).

Plain Python (no pandas, no matplotlib): the workflow imports it when it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from ...methods import registry

__all__ = [
    "Figure",
    "FIGURES",
    "SUMMARY_FIGURES",
    "SEED_FIGURES",
    "CELL_SETS",
    "WORLDS_COVERAGE_ESTIMATORS",
    "figure",
    "figure_outputs",
]

#: The intervals the worlds' coverage figure draws by default (an oracle only where it has one:
#: the Bayes rule under the true effects distribution has intervals in the normal world only).
WORLDS_COVERAGE_ESTIMATORS = ("blup", "blup_pr", "hier_bayes", "oracle_linear", "oracle")

#: The sets of cells a summary figure draws (``captions.drawn_cells`` selects them from the
#: study's cells as the figure's ``*_data`` selects the summary's rows), with what a study that
#: has none of them lacks (its caption then says so). Long-form cells only: a known-SE cell has
#: no group size n or within-group SD sigma to draw it by (``captions.known_se_text`` says so).
CELL_SETS = {
    "balanced": "cell of the normal world with equal group sizes",
    "unbalanced": "cell of the normal world with unequal group sizes",
    "worlds": "cell outside the normal world",
}


def _every(*left: str) -> Callable:
    """The estimators function drawing every estimator present but ``left``, or those asked for."""

    def choose(present: Sequence[str], asked: Sequence[str] | None = None) -> list[str]:
        if asked:
            return registry.figure_estimators(present, asked)
        return [e for e in registry.order(present) if e not in left]

    return choose


def _drawn_by_default(exclude: Sequence[str] = (), *, never: Sequence[str] = (), intervals: bool = False,
                     default: Sequence[str] | None = None) -> Callable:
    """The estimators function of ``registry.figure_estimators`` (with its ``exclude``,
    ``intervals`` and ``default``), less those it ``never`` draws."""

    def choose(present: Sequence[str], asked: Sequence[str] | None = None) -> list[str]:
        chosen = registry.figure_estimators(present, asked, exclude, intervals=intervals, default=default)
        return [e for e in chosen if e not in never]

    return choose


@dataclass(frozen=True)
class Figure:
    """One figure of the study.

    Attributes
    ----------
    name : its name: the files ``<name>.png`` and ``<name>.pdf`` in the figures folder, the
        report's caption ``workflow/report/<name>.rst``.
    category : its category in the report.
    draw : its drawing function, ``"shrinkstudy.report.figures.<module>:plot_<name>"``.
    data : its data function (the summary rows it plots), ``"...:<name>_data"``; None for the
        seed example's figures, drawn from the seed example's files.
    cells : the cells it draws, a key of ``CELL_SETS`` (None: the seed example's dataset); its
        ``*_data`` selects the summary's rows of these cells, the captions the study's cells.
    estimators : ``estimators(present, asked=None)``: the estimators it draws in table order, of
        those ``present`` in its cells: those ``asked`` for (a drawing function's ``estimators``
        keyword), else its default set. Its ``*_data`` and its caption both call it
        (``drawn_estimators``).
    caption : its caption writer, ``"shrinkstudy.report.captions:<function>"`` (None: a fixed caption
        file for the seed example's figures).
    options : config keys passed to ``plot_<name>`` as keyword options (the coverage level).
    inputs : the seed example's outputs it reads, in the order of its drawing function's
        arguments (seed figures: ``workflow/scripts/fig_seed.py`` draws each).
    measure : the measure it plots, a name of ``measures.MEASURES``: its axis label, and which
        estimators have it (an estimator without it is not drawn).
    axis : its y axis label where it is not the measure's ``axis_label``.
    """

    name: str
    category: str
    draw: str
    data: str | None = None
    cells: str | None = None
    estimators: Callable[..., list[str]] | None = None
    caption: str | None = None
    options: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    measure: str | None = None
    axis: str = ""

    @property
    def summary(self) -> bool:
        """Drawn from the summary table (by the one ``summary_figures`` job)."""
        return self.data is not None

    @property
    def rule(self) -> str:
        """The rule of a seed-example figure."""
        return f"fig_{self.name}"

    @property
    def measure_entry(self):
        """The entry of its measure (``measures.MEASURES``)."""
        from ...evaluate.measures import MEASURES_BY_NAME

        return MEASURES_BY_NAME[self.measure]

    @property
    def ylabel(self) -> str:
        """Its y axis label: ``axis``, else its measure's."""
        return self.axis or self.measure_entry.axis_label

    def outputs(self, folder: str) -> dict[str, str]:
        """Its files: ``{"png": <folder>/<name>.png, "pdf": <folder>/<name>.pdf}``."""
        return {ext: f"{folder}/{self.name}.{ext}" for ext in ("png", "pdf")}

    def option_values(self, config: dict) -> dict:
        """Its keyword options from the study's config."""
        return {key: float(config[key]) for key in self.options}

    def drawn_estimators(self, present: Sequence[str], having: Collection[str] | None = None,
                         asked: Sequence[str] | None = None) -> list[str]:
        """The estimators it draws, in table order: its ``estimators`` of those ``present`` in its
        cells (``asked``: those asked for), those ``having`` its measure only (None: every one)."""
        if self.estimators is None:
            return []
        chosen = self.estimators(present, asked)
        return chosen if having is None else [e for e in chosen if e in having]

    def caption_writer(self) -> Callable:
        """The function writing its caption (``caption(config, cells, drawn, labels)``)."""
        import importlib

        module, _, func = self.caption.partition(":")
        return getattr(importlib.import_module(module), func)


FIGURES: tuple[Figure, ...] = (
    Figure(
        "seed_shrinkage", "1. Seed example", "shrinkstudy.report.figures.seed:plot_seed_shrinkage",
        inputs=("data", "estimates", "fit"),
    ),
    Figure(
        "seed_blup_bayesglm", "1. Seed example", "shrinkstudy.report.figures.seed:plot_seed_blup_bayesglm",
        inputs=("estimates", "fit"),
    ),
    Figure(
        "relmse_by_n", "2. Accuracy", "shrinkstudy.report.figures.relmse_by_n:plot_relmse_by_n",
        "shrinkstudy.report.figures.relmse_by_n:relmse_by_n_data", "balanced",
        _drawn_by_default(never=("raw",)),  # raw is the reference line at 1
        "shrinkstudy.report.captions:_relmse_by_n",
        measure="rel_mse",
    ),
    Figure(
        "nested_loop", "2. Accuracy", "shrinkstudy.report.figures.nested_loop:plot_nested_loop",
        "shrinkstudy.report.figures.nested_loop:nested_loop_data", "balanced",
        _drawn_by_default(never=("raw",)),
        "shrinkstudy.report.captions:_nested_loop",
        measure="rel_mse",
    ),
    Figure(
        "group_size_mse", "2. Accuracy", "shrinkstudy.report.figures.group_size_mse:plot_group_size_mse",
        "shrinkstudy.report.figures.group_size_mse:group_size_mse_data", "unbalanced",
        _drawn_by_default(),
        "shrinkstudy.report.captions:_group_size_mse",
        measure="mse",
    ),
    Figure(
        "spread", "3. Spread, boundary fits, coverage", "shrinkstudy.report.figures.spread:plot_spread",
        "shrinkstudy.report.figures.spread:spread_data", "balanced",
        _drawn_by_default(exclude=("pooled",)),  # pooled's spread is 0
        "shrinkstudy.report.captions:_spread",
        measure="spread",
    ),
    Figure(
        "boundary", "3. Spread, boundary fits, coverage", "shrinkstudy.report.figures.boundary:plot_boundary",
        "shrinkstudy.report.figures.boundary:boundary_data", "balanced",
        None,  # a property of the variance-component fit, not of an estimator
        "shrinkstudy.report.captions:_boundary",
        measure="boundary_share",
    ),
    Figure(
        "coverage", "3. Spread, boundary fits, coverage", "shrinkstudy.report.figures.coverage:plot_coverage",
        "shrinkstudy.report.figures.coverage:coverage_data", "balanced",
        _drawn_by_default(intervals=True),
        "shrinkstudy.report.captions:_coverage",
        options=("level",),
        measure="coverage",
    ),
    Figure(
        "worlds_relmse", "5. When the model is wrong", "shrinkstudy.report.figures.worlds_relmse:plot_worlds_relmse",
        "shrinkstudy.report.figures.worlds_relmse:worlds_relmse_data", "worlds",
        _every("raw", "pooled"),  # raw is the line at 1, pooled far above the others
        "shrinkstudy.report.captions:_worlds_relmse",
        measure="rel_mse",
        axis="relative MSE (MSE / MSE of the raw means)",
    ),
    Figure(
        "worlds_w1", "5. When the model is wrong", "shrinkstudy.report.figures.worlds_w1:plot_worlds_w1",
        "shrinkstudy.report.figures.worlds_w1:worlds_w1_data", "worlds",
        _every(),
        "shrinkstudy.report.captions:_worlds_w1",
        measure="w1",
    ),
    Figure(
        "worlds_coverage", "5. When the model is wrong",
        "shrinkstudy.report.figures.worlds_coverage:plot_worlds_coverage",
        "shrinkstudy.report.figures.worlds_coverage:worlds_coverage_data", "worlds",
        _drawn_by_default(default=WORLDS_COVERAGE_ESTIMATORS),
        "shrinkstudy.report.captions:_worlds_coverage",
        options=("level",),
        measure="coverage",
    ),
)

#: The figures drawn from the summary table, in the report's order, and the seed example's.
SUMMARY_FIGURES: tuple[Figure, ...] = tuple(f for f in FIGURES if f.summary)
SEED_FIGURES: tuple[Figure, ...] = tuple(f for f in FIGURES if not f.summary)

_BY_NAME = {f.name: f for f in FIGURES}


def figure(name: str) -> Figure:
    """The entry of figure ``name``."""
    return _BY_NAME[name]


def figure_outputs(folder: str, *, seed_example: bool = True) -> list[str]:
    """Every figure file of a study (the seed example's only when it has one), in order."""
    return [
        path
        for f in FIGURES
        if f.summary or seed_example
        for path in f.outputs(folder).values()
    ]
