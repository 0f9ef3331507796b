"""The estimators of the study: one entry each, in table order.

Everything that needs to know about an estimator reads this registry: the config check (the
built-in names), the fit dispatch (``estimators.fit_estimators``), the known-standard-error
form (``knownse.fit_known_se``), the losses, measures and tables (their order), the figures
(labels and styles), the command line and the README's table of estimators.

An entry (``Estimator``) says what the estimator is (name, label, a one-line description and
its reference), how it is drawn (``Style``), how it is computed (``point`` and, where it has
one, ``interval``: functions of the sufficient statistics, see ``plugins`` for the calling
convention), what it needs besides the sufficient statistics (``needs``: the fitted variance
components, the truth, the hierarchical-Bayes prior, the raw observations), when it applies
(``applies``), and its form for data given as one estimate and a known standard error per
group (``known_se``), where it has one.

Functions are named as ``"module:function"`` and imported on first use, so that a light job
(the summaries, the tables) can read names, labels and order without importing the engine.
A user's own estimator is an entry built from the config (``plugins.user_estimator``).

Adding a built-in estimator is one entry below plus its tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = [
    "Style",
    "Estimator",
    "BUILTIN",
    "NEEDS",
    "names",
    "get",
    "order",
    "interval_names",
    "style",
    "label",
    "drawn_by_default",
    "figure_estimators",
    "shares_point",
    "markdown_table",
]

#: What an estimator may be given besides the sufficient statistics (``plugins`` documents each).
NEEDS = ("varcomp", "truth", "prior", "data", "level")

#: Okabe & Ito (2008) colours, with grey for the oracle reference.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#999999",
}
#: Colours of estimators without a style of their own (a user's), chosen by position.
FALLBACK_COLOURS = (OKABE_ITO["yellow"], "#666666", "#332288", "#117733", "#882255", "#44AA99")
FALLBACK_MARKERS = ("X", "h", "*", "p", "<", ">")


@dataclass(frozen=True)
class Style:
    """How an estimator is drawn in every study figure (matplotlib colour, marker, line)."""

    color: str
    marker: str = "o"
    linestyle: str = "-"
    hollow: bool = False  # open markers

    def kwargs(self, label: str) -> dict:
        """Keyword arguments of ``Axes.plot`` / ``errorbar`` for this style."""
        out = dict(color=self.color, marker=self.marker, linestyle=self.linestyle, label=label)
        if self.hollow:
            out["mfc"] = "none"
        return out


def _resolve(ref):
    """A function given as ``"package.module:function"`` (imported now) or as itself."""
    if callable(ref) or ref is None:
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Estimator:
    """One estimator of the group means.

    Attributes
    ----------
    name : identifier used in the config, the tables and the column names.
    label : short text for figure legends.
    description : one line for ``--help``, the README and the protocol.
    point : the estimate, ``point(stats, **inputs) -> (R, J) array`` or ``plugins.Estimate``;
        ``inputs`` are the ``needs`` (see ``plugins`` for the contract).
    interval : ``interval(stats, level, **inputs) -> (lower, upper)``, or None. An estimator
        whose ``point`` takes ``level`` returns its interval with the estimate instead.
    needs : what ``point`` and ``interval`` are given besides the statistics (``NEEDS``).
    applies : ``"all"`` or ``"balanced"`` (datasets with equal group sizes and N > J; in the
        known-SE form, equal standard errors). Where it does not apply the estimates are NaN
        and no failure is counted.
    style : ``Style`` of the figures.
    reference : where the estimator comes from.
    known_se : its form for one estimate and a known standard error per group
        (``knownse``), or None where it has none.
    builtin : False for a user's estimator.
    source : the file of a user's estimator (an input of the fit jobs), or None.
    core : drawn by default in the normal world's figures (the estimators built for other worlds
        are in every table and in the figures of those worlds).
    interval_of : the estimator whose point this one is, for an interval of its own: drawn by
        default in the coverage figures only (its point figures would repeat the other's).
    """

    name: str
    label: str
    description: str
    point: Callable | str
    interval: Callable | str | None = None
    needs: tuple[str, ...] = ()
    applies: str = "all"
    style: Style = field(default_factory=lambda: Style(OKABE_ITO["yellow"]))
    reference: str = ""
    known_se: Callable | str | None = None
    builtin: bool = True
    source: str | None = None
    core: bool = True  # drawn by default in the figures of the normal world
    interval_of: str | None = None  # another estimator's point, with an interval of its own

    def __post_init__(self):
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"estimator {self.name}: unknown needs {sorted(unknown)}; known: {NEEDS}")
        if self.applies not in ("all", "balanced"):
            raise ValueError(f"estimator {self.name}: applies must be 'all' or 'balanced'")

    @property
    def has_interval(self) -> bool:
        return self.interval is not None or "level" in self.needs

    @property
    def uses_varcomp(self) -> bool:
        """Fails wherever the variance components are not identified."""
        return "varcomp" in self.needs

    def point_function(self) -> Callable:
        return _resolve(self.point)

    def interval_function(self) -> Callable | None:
        return _resolve(self.interval)

    def known_se_function(self) -> Callable | None:
        return _resolve(self.known_se)


#: The built-in estimators, in the order of every table and legend.
BUILTIN: tuple[Estimator, ...] = (
    Estimator(
        name="raw",
        label="raw",
        description="the sample means (no pooling)",
        point="shrinkstudy.methods.estimators:raw",
        interval="shrinkstudy.methods.estimators:raw_interval",
        style=Style(OKABE_ITO["blue"], "o"),
        reference="t interval ybar_j +- t_{N-J} s / sqrt(n_j)",
        known_se="shrinkstudy.methods.knownse:raw",
    ),
    Estimator(
        name="pooled",
        label="pooled",
        description="the grand mean for every group (complete pooling)",
        point="shrinkstudy.methods.estimators:pooled",
        style=Style(OKABE_ITO["orange"], "v"),
        reference="complete pooling",
        known_se="shrinkstudy.methods.knownse:pooled",
    ),
    Estimator(
        name="blup",
        label="BLUP",
        description="the mixed-model BLUP, `mu^ + B^_j (ybar_j - mu^)`, `B_j = tau^2/(tau^2 + sigma^2/n_j)`, "
        "REML (lme4's `coef()`)",
        point="shrinkstudy.methods.estimators:blup",
        interval="shrinkstudy.methods.estimators:blup_interval",
        needs=("varcomp",),
        style=Style(OKABE_ITO["vermillion"], "s"),
        reference="Henderson (1975); plug-in interval (g1 + g2): Morris (1983), Prasad & Rao (1990)",
        known_se="shrinkstudy.methods.knownse:blup",
    ),
    Estimator(
        name="blup_pr",
        label="BLUP, Prasad–Rao interval",
        description="the BLUP with the Prasad-Rao interval `blup_j +- z sqrt(g1 + g2 + 2 g3)`: the plug-in "
        "interval's variance plus the second-order term of estimating tau^2 and sigma^2 (REML); its point "
        "is blup's",
        point="shrinkstudy.methods.estimators:blup",
        interval="shrinkstudy.methods.estimators:blup_pr_interval",
        needs=("varcomp",),
        style=Style(OKABE_ITO["vermillion"], "s", ":", hollow=True),
        reference="Prasad & Rao (1990); Datta & Lahiri (2000)",
        known_se="shrinkstudy.methods.knownse:blup_pr",
        core=False,
        interval_of="blup",
    ),
    Estimator(
        name="blup_ml",
        label="BLUP (ML)",
        description="the BLUP with ML variance components, whatever the study's `method`",
        point="shrinkstudy.methods.estimators:blup_ml",
        style=Style(OKABE_ITO["vermillion"], "s", "--", hollow=True),
        reference="Patterson & Thompson (1971); McCulloch & Neuhaus (2011)",
        core=False,
        known_se="shrinkstudy.methods.knownse:blup_ml",
    ),
    Estimator(
        name="varmatch",
        label="varmatch",
        description="the seed answer's rule: `mu^ + sqrt(B^_j) (ybar_j - mu^)`, so the estimates have the "
        "true means' spread",
        point="shrinkstudy.methods.estimators:varmatch",
        needs=("varcomp",),
        style=Style(OKABE_ITO["reddish_purple"], "D"),
        reference="Cross Validated answer 522387; population form of Louis (1984)",
        known_se="shrinkstudy.methods.knownse:varmatch",
    ),
    Estimator(
        name="constrained_bayes",
        label="constrained Bayes",
        description="constrained Bayes: the BLUPs spread so that the estimates' mean and variance equal the "
        "posterior expectation of the true means' (varmatch matches the fitted tau^2 instead)",
        point="shrinkstudy.methods.estimators:constrained_bayes",
        needs=("varcomp",),
        style=Style(OKABE_ITO["reddish_purple"], "d", "--", hollow=True),
        reference="Louis (1984); Ghosh (1992)",
        core=False,
        known_se="shrinkstudy.methods.knownse:constrained_bayes",
    ),
    Estimator(
        name="bayesglm",
        label="bayesglm",
        description="`arm::bayesglm(y ~ 0 + g, prior.mean = mu^, prior.scale = tau^, prior.df = Inf, "
        "scaled = FALSE)`",
        point="shrinkstudy.methods.estimators:bayesglm_estimate",
        needs=("varcomp",),
        style=Style(OKABE_ITO["black"], "o", ":", hollow=True),
        reference="Gelman, Jakulin, Pittau & Su (2008)",
    ),
    Estimator(
        name="hier_bayes",
        label="hier. Bayes",
        description="posterior mean with tau integrated out (1-D quadrature; prior in `hier_bayes_prior`)",
        point="shrinkstudy.methods.estimators:hier_bayes_estimate",
        needs=("prior", "level"),
        style=Style(OKABE_ITO["bluish_green"], "^"),
        reference="Gelman (2006); BDA3 section 5.4",
        known_se="shrinkstudy.methods.knownse:hier_bayes",
    ),
    Estimator(
        name="james_stein",
        label="James–Stein",
        description="positive-part James-Stein toward the grand mean (balanced cells only; known SEs: "
        "when they are all equal)",
        point="shrinkstudy.methods.estimators:james_stein",
        applies="balanced",
        known_se="shrinkstudy.methods.knownse:james_stein",
        style=Style(OKABE_ITO["sky_blue"], "P"),
        reference="Efron & Morris (1973)",
    ),
    Estimator(
        name="sure",
        label="SURE",
        description="SURE shrinkage toward a location: the shrinkage chosen by minimising Stein's unbiased "
        "risk estimate, heteroscedastic in sigma^2/n_j",
        point="shrinkstudy.methods.estimators:sure",
        style=Style(OKABE_ITO["yellow"], "X"),
        reference="Xie, Kou & Brown (2012)",
        core=False,
        known_se="shrinkstudy.methods.knownse:sure",
    ),
    Estimator(
        name="npmle",
        label="NPMLE",
        description="nonparametric empirical Bayes: posterior means under the Kiefer-Wolfowitz NPMLE of the "
        "distribution of the means (solved to a certified log-likelihood gap of 1e-7 per group)",
        point="shrinkstudy.methods.estimators:npmle",
        style=Style("#332288", "h"),
        reference="Kiefer & Wolfowitz (1956); Jiang & Zhang (2009); Koenker & Mizera (2014)",
        core=False,
        known_se="shrinkstudy.methods.knownse:npmle",
    ),
    Estimator(
        name="oracle_linear",
        label="linear oracle",
        description="the normal-theory Bayes rule with the true `mu`, `tau`, `sigma_j`: the best linear rule",
        point="shrinkstudy.methods.estimators:oracle",
        interval="shrinkstudy.methods.estimators:oracle_interval",
        needs=("truth",),
        style=Style(OKABE_ITO["grey"], "", ":"),
        reference="the Bayes rule of the normal model with known parameters",
        core=False,
        known_se="shrinkstudy.methods.knownse:oracle_linear",
    ),
    Estimator(
        name="oracle",
        label="oracle",
        description="the Bayes rule given all observations, with the true prior and parameters: the posterior "
        "mean E[theta_j | y_j1..y_jn] under the true distribution of the effects and errors and the true `mu`, "
        "`sigma_j` (given ybar_j under normal errors, where it is sufficient; under normal effects and errors "
        "the linear oracle)",
        point="shrinkstudy.methods.estimators:oracle_bayes",
        interval="shrinkstudy.methods.estimators:oracle_bayes_interval",
        needs=("truth", "data"),
        style=Style(OKABE_ITO["grey"], "", "--"),
        reference="the Bayes rule given all observations, with the true prior and parameters",
        known_se="shrinkstudy.methods.knownse:oracle",
    ),
)

_BY_NAME = {e.name: e for e in BUILTIN}


def names() -> tuple[str, ...]:
    """Names of the built-in estimators, in table order."""
    return tuple(_BY_NAME)


def get(name: str) -> Estimator:
    """The built-in estimator called ``name``."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown estimator {name!r}; built-in: {', '.join(_BY_NAME)}") from None


def order(estimator_names: Iterable[str]) -> list[str]:
    """Distinct names in table order: the built-ins in registry order, then the others sorted."""
    seen = list(dict.fromkeys(estimator_names))
    return [e for e in _BY_NAME if e in seen] + sorted(e for e in seen if e not in _BY_NAME)


def interval_names() -> tuple[str, ...]:
    """Built-in estimators with an interval, in table order."""
    return tuple(e.name for e in BUILTIN if e.has_interval)


def drawn_by_default(name: str, *, intervals: bool = False) -> bool:
    """Whether the normal world's figures draw an estimator unless asked for others; with
    ``intervals``, in a figure of the intervals (where another estimator's point with an
    interval of its own is drawn too)."""
    if name not in _BY_NAME:
        return True
    entry = _BY_NAME[name]
    return entry.core or (intervals and entry.interval_of is not None)


def figure_estimators(present: Iterable[str], asked: Iterable[str] | None = None, exclude=(), *,
                      intervals: bool = False, default: Iterable[str] | None = None) -> list[str]:
    """The estimators a figure draws, in table order, of those ``present`` in its rows: those
    ``asked`` for; by default every one but ``exclude`` when the study chose its estimators (it
    lacks a built-in), and when it has every built-in (the default list) those the registry draws
    by default (``drawn_by_default``), or the figure's own ``default`` set. The figures and their
    captions (``captions``) both ask here."""
    present = order(present)
    if asked is not None:
        return [e for e in order(asked) if e in present]
    if not set(names()) <= set(present):
        return [e for e in present if e not in exclude]
    if default is not None:
        return [e for e in order(default) if e in present]
    return [e for e in present if e not in exclude and drawn_by_default(e, intervals=intervals)]


def shares_point(name: str) -> bool:
    """Whether an estimator's point is another's (an interval of its own for it): tables of the
    point's measures alone, such as the headline, leave it out."""
    return name in _BY_NAME and _BY_NAME[name].interval_of is not None


def label(name: str) -> str:
    """Legend label of an estimator (a user's: its name)."""
    return _BY_NAME[name].label if name in _BY_NAME else name


def style(name: str, position: int | None = None) -> Style:
    """Figure style of an estimator; one without a style of its own gets one of the fallback
    colours and markers, by ``position`` (e.g. its index among such estimators) or by its name."""
    if name in _BY_NAME:
        return _BY_NAME[name].style
    k = position if position is not None else sum(map(ord, name))
    return Style(FALLBACK_COLOURS[k % len(FALLBACK_COLOURS)], FALLBACK_MARKERS[k % len(FALLBACK_MARKERS)])


def markdown_table(estimators: Iterable[Estimator] = BUILTIN) -> str:
    """The README's table of estimators: name and one-line description, in table order."""
    lines = ["| estimator | what it is |", "|---|---|"]
    lines += [f"| `{e.name}` | {e.description} |" for e in estimators]
    return "\n".join(lines) + "\n"
