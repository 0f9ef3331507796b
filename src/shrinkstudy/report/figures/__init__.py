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

* ``style``: sizes, rc settings, per-estimator styles (from ``shrinkstudy.methods.registry``), the seed's
  colours, legends, ``save_figure``;
* ``summary``: the summary's rows held to the tables' types (``tables.read_summary`` reads them);
* ``facets``: helpers shared by several figures (rows, scenario labels, log axes, the small
  multiples by n);
* one module per study figure, each with its ``*_data`` and ``plot_*``: ``relmse_by_n``,
  ``nested_loop``, ``group_size_mse``, ``spread``, ``boundary``, ``coverage``, and the worlds
  where the normal model is wrong: ``worlds_relmse``, ``worlds_w1``, ``worlds_coverage`` (their
  shared helpers in ``worlds_facets``);
* ``seed``: the seed answer's two figures and ``seed_figure1`` (``shrinkstudy fit --plot``);
* ``html``: the report's table pages;
* ``catalog``: every figure declared once (its data and drawing functions, cells, estimators,
  caption, options and outputs), which the rules and the captions read too.
"""

from __future__ import annotations

import importlib

from . import catalog

# Every public name, as "module:name", loaded from its module on first use (PEP 562), so that a
# job that needs only the HTML pages does not import matplotlib (half a
# second). The workflow's import scan follows these references (as it follows the estimator
# registry's): a figure module's change reruns the jobs that use the package.
_PUBLIC = (
    "shrinkstudy.report.figures.style:RC",
    "shrinkstudy.report.figures.style:MCSE_Z",
    "shrinkstudy.report.figures.style:SINGLE",
    "shrinkstudy.report.figures.style:DOUBLE",
    "shrinkstudy.report.figures.style:ESTIMATOR_STYLE",
    "shrinkstudy.report.figures.style:SEED_COLOURS",
    "shrinkstudy.report.figures.style:save_figure",
    "shrinkstudy.report.figures.style:estimator_order",
    "shrinkstudy.report.figures.boundary:boundary_probability",
    "shrinkstudy.report.figures.seed:plot_fit",
    "shrinkstudy.report.figures.seed:seed_figure1",
    "shrinkstudy.report.figures.html:summary_html",
    "shrinkstudy.report.figures.html:text_html",
    "shrinkstudy.report.figures.html:REPORT_COLUMNS",
) + tuple(  # each figure's data and drawing functions, as its catalog entry names them
    ref for fig in catalog.FIGURES for ref in (fig.data, fig.draw) if ref is not None
)
_MODULE_OF = {ref.partition(":")[2]: ref.partition(":")[0] for ref in _PUBLIC}  # name -> module

__all__ = list(_MODULE_OF)


def __getattr__(name):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_MODULE_OF))
