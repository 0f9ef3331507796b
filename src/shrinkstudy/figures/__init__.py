"""Figures of the study and of the seed answer's illustration.

Two kinds of functions:

* ``*_data(summary, ...)``: the rows of the summary table (``results/tables/summary.csv``, one
  row per cell, estimator and set of groups) that a figure plots, with exactly the numbers it
  plots. Tests hold these against the table.
* ``plot_*``: draw one figure and return a ``matplotlib.figure.Figure``. They build figures
  without ``pyplot`` (no GUI backend, no global figure registry), so they run headless anywhere;
  ``save_figure`` writes PNG and PDF with fixed metadata (no creation date), so the same inputs
  give the same files.

Conventions shared by every study figure:

* one colour and marker per estimator (``ESTIMATOR_STYLE``), from the Okabe-Ito colour-blind
  safe palette, the same in every figure; the oracle (the floor no estimator beats on average)
  is a grey dashed line;
* error bars and bands are +-1.96 Monte Carlo standard errors (``MCSE_Z``);
* sizes for a journal page: ``SINGLE`` (3.5 in) and ``DOUBLE`` (7 in) column widths, 7-8 pt text.

The seed answer's two figures keep its own colours: true means red, raw means blue crosshairs,
shrunken (variance-matched) means purple, lme4 BLUPs and ``arm::bayesglm`` estimates black.

Modules (every public name is re-exported here: ``figures.plot_boundary``, ...):

* ``style``: sizes, rc settings, per-estimator styles (from ``shrinkstudy.registry``), the seed's
  colours, legends, ``save_figure``;
* ``summary``: ``read_summary``;
* ``facets``: helpers shared by several figures (rows, scenario labels, log axes, the small
  multiples by n);
* one module per study figure, each with its ``*_data`` and ``plot_*``: ``relmse_by_n``,
  ``nested_loop``, ``group_size_mse``, ``spread``, ``boundary``, ``coverage``, and the worlds
  where the normal model is wrong: ``worlds_relmse``, ``worlds_w1``, ``worlds_coverage`` (their
  shared helpers in ``worlds_facets``);
* ``seed``: the seed answer's two figures and ``seed_figure1`` (``shrinkstudy fit --plot``);
* ``html``: the report's table pages.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Every public name is loaded from its module on first use (PEP 562), so that a job that needs
# only the HTML pages or ``read_summary`` does not import matplotlib (half a second). The imports
# below are what the names are (and what the workflow's import scan follows: a figure module's
# change reruns the jobs that use the package).
if TYPE_CHECKING:
    from .boundary import boundary_data, boundary_probability, plot_boundary
    from .coverage import coverage_data, plot_coverage
    from .group_size_mse import group_size_mse_data, plot_group_size_mse
    from .html import REPORT_COLUMNS, summary_html, text_html
    from .nested_loop import nested_loop_data, plot_nested_loop
    from .relmse_by_n import plot_relmse_by_n, relmse_by_n_data
    from .seed import plot_fit, plot_seed_blup_bayesglm, plot_seed_shrinkage, seed_figure1
    from .spread import plot_spread, spread_data
    from .style import DOUBLE, ESTIMATOR_STYLE, MCSE_Z, RC, SEED_COLOURS, SINGLE, estimator_order, save_figure
    from .summary import read_summary
    from .worlds_coverage import plot_worlds_coverage, worlds_coverage_data
    from .worlds_relmse import plot_worlds_relmse, worlds_relmse_data
    from .worlds_w1 import plot_worlds_w1, worlds_w1_data

_MODULE_OF = {
    "boundary_data": "boundary",
    "boundary_probability": "boundary",
    "plot_boundary": "boundary",
    "coverage_data": "coverage",
    "plot_coverage": "coverage",
    "group_size_mse_data": "group_size_mse",
    "plot_group_size_mse": "group_size_mse",
    "REPORT_COLUMNS": "html",
    "summary_html": "html",
    "text_html": "html",
    "nested_loop_data": "nested_loop",
    "plot_nested_loop": "nested_loop",
    "plot_relmse_by_n": "relmse_by_n",
    "relmse_by_n_data": "relmse_by_n",
    "plot_fit": "seed",
    "plot_seed_blup_bayesglm": "seed",
    "plot_seed_shrinkage": "seed",
    "seed_figure1": "seed",
    "plot_spread": "spread",
    "spread_data": "spread",
    "DOUBLE": "style",
    "ESTIMATOR_STYLE": "style",
    "MCSE_Z": "style",
    "RC": "style",
    "SEED_COLOURS": "style",
    "SINGLE": "style",
    "estimator_order": "style",
    "save_figure": "style",
    "read_summary": "summary",
    "plot_worlds_coverage": "worlds_coverage",
    "worlds_coverage_data": "worlds_coverage",
    "plot_worlds_relmse": "worlds_relmse",
    "worlds_relmse_data": "worlds_relmse",
    "plot_worlds_w1": "worlds_w1",
    "worlds_w1_data": "worlds_w1",
}


def __getattr__(name):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_MODULE_OF))


__all__ = [
    "RC",
    "MCSE_Z",
    "SINGLE",
    "DOUBLE",
    "ESTIMATOR_STYLE",
    "SEED_COLOURS",
    "read_summary",
    "save_figure",
    "estimator_order",
    "boundary_probability",
    "relmse_by_n_data",
    "nested_loop_data",
    "group_size_mse_data",
    "spread_data",
    "boundary_data",
    "coverage_data",
    "worlds_relmse_data",
    "worlds_w1_data",
    "worlds_coverage_data",
    "plot_seed_shrinkage",
    "plot_seed_blup_bayesglm",
    "plot_relmse_by_n",
    "plot_nested_loop",
    "plot_group_size_mse",
    "plot_spread",
    "plot_boundary",
    "plot_coverage",
    "plot_worlds_relmse",
    "plot_worlds_w1",
    "plot_worlds_coverage",
    "plot_fit",
    "seed_figure1",
    "summary_html",
    "text_html",
    "REPORT_COLUMNS",
]
