"""Style shared by every figure: sizes, rc settings, per-estimator styles, legends, saving.

* ``SINGLE`` and ``DOUBLE``: column widths of a two-column journal page (3.5 and 7 in);
  ``RC``: the matplotlib rc settings every figure is drawn and saved under (7-8 pt text);
* ``ESTIMATOR_STYLE``: one colour, marker and line per estimator, from the estimator registry
  (``shrinkstudy.methods.registry``: the Okabe-Ito colour-blind safe palette, the same in every figure;
  the oracle a grey dashed line); ``estimator_order`` the registry's order;
* ``MCSE_Z``: half-width of error bars and bands, in Monte Carlo standard errors;
* ``SEED_COLOURS``: the seed answer's own colours (its figures 1 and 2);
* ``save_figure``: PNG, PDF or SVG with fixed metadata (no creation date).

The helpers with a leading underscore (``_styled``, ``_style``, ``_legend``, ``_placeholder``)
are shared by the figure modules of this package and are not part of its interface.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ...methods import registry

__all__ = [
    "RC",
    "MCSE_Z",
    "SINGLE",
    "DOUBLE",
    "ESTIMATOR_STYLE",
    "SEED_COLOURS",
    "save_figure",
    "estimator_order",
]

#: Column widths of a two-column journal page, inches.
SINGLE, DOUBLE = 3.5, 7.0
#: Half-width of error bars and bands, in Monte Carlo standard errors (a 95% interval).
MCSE_Z = 1.96

#: Style of every figure (applied with ``matplotlib.rc_context``, so it holds wherever the
#: figures are drawn; ``matplotlibrc`` at the repository top only selects the Agg backend).
RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "legend.handlelength": 1.8,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "lines.linewidth": 1.0,
    "lines.markersize": 3.5,
    "errorbar.capsize": 0,
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.hashsalt": "shrinkstudy",
}


#: One style per estimator, the same in every study figure (from the registry).
ESTIMATOR_STYLE = {e.name: e.style.kwargs(e.label) for e in registry.BUILTIN}


#: The seed answer's colours (its figures 1 and 2).
SEED_COLOURS = {
    "sample": "#b3b3b3",
    "true": "#d7191c",
    "raw": "#2166ac",
    "varmatch": "#7b3294",
    "blup": "#000000",
    "bayesglm": "#000000",
}


def save_figure(fig: Figure, *paths, dpi: float | None = None) -> list[Path]:
    """Save ``fig`` to every path (format from the suffix), with no timestamp in the file.

    ``dpi`` sets the resolution of raster formats (default ``RC["savefig.dpi"]``, 300).
    """
    out = []
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # its font-subsetting chatter
    with mpl.rc_context(RC):
        for path in paths:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fmt = path.suffix.lstrip(".").lower()
            metadata = {"CreationDate": None} if fmt == "pdf" else None
            if fmt == "svg":
                metadata = {"Date": None}
            fig.savefig(path, format=fmt, metadata=metadata, dpi=dpi or RC["savefig.dpi"])
            out.append(path)
    return out


def _styled(func):
    """Draw under the study's rc settings."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(RC):
            return func(*args, **kwargs)

    return wrapper


def estimator_order(names) -> list[str]:
    """Estimators in the study's order (the registry's), unknown names last."""
    return registry.order(names)


def _style(name: str) -> dict:
    """``Axes.plot`` keywords of an estimator (colour, marker, line, label) from the registry."""
    return registry.style(name).kwargs(registry.label(name))


def _legend(fig: Figure, estimators, extra=(), ncol=None, markers=True):
    """One legend above the panels: a handle per estimator (in its style), then ``extra``."""
    handles = []
    for e in estimators:
        s = _style(e)
        handles.append(
            Line2D(
                [],
                [],
                color=s["color"],
                marker=(s["marker"] or None) if markers else None,
                linestyle=s["linestyle"],
                mfc=s.get("mfc", s["color"]),
                label=s["label"],
            )
        )
    handles.extend(extra)
    fig.legend(
        handles=handles,
        loc="outside upper center",
        ncol=ncol or min(len(handles), 5),
        columnspacing=1.2,
    )


def _supylabel(fig: Figure, text: str, height: float | None = None):
    """The figure's shared y label, broken into lines at spaces where one line would be taller
    than ``height`` inches (default: 85% of the figure's height), so that no part of it falls
    outside the figure (one row of panels leaves a short figure)."""
    import textwrap

    from matplotlib.textpath import TextPath

    size = RC["axes.labelsize"]
    room = 72.0 * (height if height is not None else 0.85 * fig.get_figheight())  # points

    def length(line):
        return TextPath((0, 0), line, size=size).get_extents().width

    lines = [text]
    width = len(text)
    while width > 8 and max(map(length, lines)) > room:
        width = int(width * 0.8)
        lines = textwrap.wrap(text, width) or [text]
    return fig.supylabel("\n".join(lines), fontsize=size)


def _placeholder(text: str, width: float = SINGLE) -> Figure:
    """A figure that says why there is nothing to draw (the workflow still gets its file)."""
    fig = Figure(figsize=(width, 1.2), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    return fig
