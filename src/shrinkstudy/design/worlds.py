"""Worlds beyond the normal one: distributions of the group effects and of the errors, group SDs.

Every distribution here is *standardised*: a draw at scale ``s`` has mean 0 and SD ``s``
(docs/formulas.md section 7). The effects theta_j are drawn at scale tau, the errors e_ij at scale sigma_j.

Effects distributions (``EFFECTS``), each with one parameter and its default:

* ``normal``: N(0, tau^2) (today's world; drawn with exactly today's random numbers).
* ``t`` (``df``, default 3, must exceed 2): tau sqrt((df - 2) / df) T_df.
* ``skewed`` (``skew``, default 2, non-zero): a standardised gamma, tau (G - k) / sqrt(k) with
  G ~ Gamma(k, 1), k = 4 / skew^2, whose skewness is 2 / sqrt(k) = skew (a negative skew
  mirrors it). skew = 2 is a standardised exponential; skew = 1 a standardised chi-square(8).
* ``bimodal`` (``sep``, default 0.9, in [0, 1]): the equal mixture of N(+-sep tau, (1 - sep^2)
  tau^2); bimodal when sep > 1/sqrt(2), two point masses at +-tau when sep = 1.
* ``sparse`` (``p``, default 0.2, in (0, 1]): 0 with probability 1 - p, else N(0, tau^2 / p).
* ``discrete`` (``pmf``, no default): a given discrete distribution (``Pmf``: atoms a_k with
  weights w_k, such as an NPMLE fitted to a dataset), standardised by its weighted mean m and SD s:
  theta_j = tau (a_k - m) / s with probability w_k.

Errors distributions (``ERRORS``): ``normal`` and ``t`` (``df``, default 5, must exceed 2),
rescaled to SD sigma_j in the same way.

A user's own effects distribution is named ``"module:function"``: ``function(rng, shape, tau)``
returns an array of that shape with mean 0 and SD tau (``user_effects`` loads and checks it).

Heteroscedastic worlds (``group_sigmas``): with ratio r >= 1, the within-group SDs are J values
evenly spaced on the log scale from sigma / sqrt(r) to sigma * sqrt(r) (geometric mean sigma),
in increasing order of the group index: group 1 gets the smallest SD, group J the largest. In the
seed's design (6 groups of 100 first, then 6 groups of 2) the large groups are the quiet ones
and the small groups the noisy ones.

What the oracle needs: ``Distribution.prior(scale, value)`` is the distribution of theta, either
a ``GaussMixture`` (normal, bimodal, sparse, point masses, a user's distribution as 20,000 equal
atoms drawn with a fixed seed) or a ``QuantilePrior`` (t, skewed: cdf, survival function and
their inverses, for quadrature in the probability scale).

Only numpy is imported at module level (the simulate jobs import this module); scipy.special
is imported by the priors that need it.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..store.smkio import OneLineError
from ..usercode import TIME_LIMIT, TimeLimitExceeded, UserCalls
from .names import fmt_number

__all__ = [
    "Distribution",
    "GaussMixture",
    "Pmf",
    "PMF_WEIGHT_TOLERANCE",
    "QuantilePrior",
    "EFFECTS",
    "ERRORS",
    "effects_distribution",
    "user_effects",
    "EffectsError",
    "is_user_name",
    "group_sigmas",
    "world_label",
    "world_mechanism",
    "Component",
    "COMPONENTS",
    "world_keys",
    "schema_properties",
    "is_normal_world",
]


# ----------------------------------------------------------------------------------------------
# priors: what the Bayes rule under the true effect distribution needs


@dataclass(frozen=True)
class GaussMixture:
    """sum_k weights_k N(means_k, variances_k); a variance of 0 is a point mass."""

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray


@dataclass(frozen=True)
class QuantilePrior:
    """A continuous distribution by its cdf, survival function and their inverses (vectorised).

    ``ppf(u)`` is the quantile of lower-tail probability u, ``isf(v)`` that of upper-tail
    probability v; both are needed so that either tail keeps full relative precision.
    ``logpdf`` is the log density (for the oracle under t errors, which integrates over theta)
    and ``support`` the interval outside which the density is 0.
    """

    cdf: Callable[[np.ndarray], np.ndarray]
    sf: Callable[[np.ndarray], np.ndarray]
    ppf: Callable[[np.ndarray], np.ndarray]
    isf: Callable[[np.ndarray], np.ndarray]
    logpdf: Callable[[np.ndarray], np.ndarray] | None = None
    support: tuple[float, float] = (-math.inf, math.inf)


def _point_mass() -> GaussMixture:
    return GaussMixture(np.array([1.0]), np.array([0.0]), np.array([0.0]))


# ----------------------------------------------------------------------------------------------
# the distributions


@dataclass(frozen=True)
class Distribution:
    """A standardised distribution (mean 0, SD 1) with at most one parameter.

    Attributes
    ----------
    name : registry name (``"t"``).
    param : name of its parameter (``"df"``), or None.
    default : the parameter's default value, or None.
    check : ``check(value)`` returns an error message for an invalid value, else None.
    formula : its data-generating formula for the protocol (``{p}``: the parameter's value;
        ``{x}``, ``{s}``: the variable and its scale, as its component writes them).
    about : a few words on it for the config schema's list of names (may be empty).
    bounds : the JSON-schema bounds of its parameter (the config schema's items).
    param_text : the config schema's description of its parameter's key.
    parse : for a parameter that is not a number (``discrete``'s ``Pmf``): ``parse(value)``
        returns its canonical, hashable value or raises ValueError (one line); None for a number.
    items : the config schema's items of such a parameter's key (instead of a number's).
    """

    name: str
    param: str | None
    default: float | None
    _draw: Callable
    _prior: Callable | None
    check: Callable[[float], str | None] = lambda v: None
    formula: str = ""
    about: str = ""
    bounds: dict | None = None
    param_text: str = ""
    parse: Callable | None = None
    items: dict | None = None

    def draw(self, rng: np.random.Generator, shape, scale, value: float | None = None) -> np.ndarray:
        """Draws of shape ``shape`` at scale ``scale`` (scalar or broadcasting against ``shape``)."""
        return self._draw(rng, shape, scale, self.default if value is None else value)

    def prior(self, scale: float, value: float | None = None):
        """The distribution at scale ``scale`` as a GaussMixture or QuantilePrior (for the oracle)."""
        if scale == 0:
            return _point_mass()
        if value is None:
            value = self.default
        if value is not None and self.parse is None:
            value = float(value)
        return self._prior(float(scale), value)

    @property
    def short(self) -> str:
        """Prefix of the parameter's value in cell names: ``t`` (t3), ``skew`` (skew2) ..."""
        return {"skewed": "skew"}.get(self.name, self.name)


def _draw_normal(rng, shape, scale, _):
    # exactly today's call: rng.normal(0.0, scale, shape) (same random numbers, same bits)
    return rng.normal(0.0, scale, shape)


def _t_factor(df: float) -> float:
    return math.sqrt((df - 2.0) / df)


def _draw_t(rng, shape, scale, df):
    return rng.standard_t(df, shape) * (np.asarray(scale) * _t_factor(df))


def _prior_t(scale, df):
    from scipy import special

    c = scale * _t_factor(df)
    return QuantilePrior(
        cdf=lambda x: special.stdtr(df, x / c),
        sf=lambda x: special.stdtr(df, -x / c),
        ppf=lambda u: c * special.stdtrit(df, u),
        isf=lambda v: -c * special.stdtrit(df, v),
        logpdf=lambda x: _t_logpdf(df, np.asarray(x, dtype=float) / c) - math.log(c),
    )


def _t_logpdf(df, z):
    """log density of the standard t with ``df`` degrees of freedom."""
    from scipy import special

    const = special.gammaln((df + 1) / 2) - special.gammaln(df / 2) - 0.5 * math.log(df * math.pi)
    return const - 0.5 * (df + 1) * np.log1p(z * z / df)


def _draw_skewed(rng, shape, scale, skew):
    k = 4.0 / skew**2
    z = (rng.standard_gamma(k, shape) - k) / math.sqrt(k)
    return (z if skew > 0 else -z) * np.asarray(scale)


def _prior_skewed(scale, skew):
    """theta = sign * c (G - k), c = scale / sqrt(k); mirrored for a negative skew."""
    from scipy import special

    k = 4.0 / skew**2
    c = scale / math.sqrt(k)
    # G's cdf/sf at g = k + x / c
    lower = dict(
        cdf=lambda x: special.gammainc(k, np.maximum(k + x / c, 0.0)),
        sf=lambda x: special.gammaincc(k, np.maximum(k + x / c, 0.0)),
        ppf=lambda u: c * (special.gammaincinv(k, u) - k),
        isf=lambda v: c * (special.gammainccinv(k, v) - k),
    )

    def logpdf(x):  # G's log density at g = k + x / c, over c; -inf below the support
        g = k + np.asarray(x, dtype=float) / c
        with np.errstate(divide="ignore", invalid="ignore"):
            out = special.xlogy(k - 1.0, g) - g - special.gammaln(k) - math.log(c)
        return np.where(g > 0, out, -np.inf)

    if skew > 0:
        return QuantilePrior(**lower, logpdf=logpdf, support=(-c * k, math.inf))
    # mirrored: X = -Y, P(X <= x) = P(Y >= -x)
    return QuantilePrior(
        cdf=lambda x: lower["sf"](-x),
        sf=lambda x: lower["cdf"](-x),
        ppf=lambda u: -lower["isf"](u),
        isf=lambda v: -lower["ppf"](v),
        logpdf=lambda x: logpdf(-np.asarray(x, dtype=float)),
        support=(-math.inf, c * k),
    )


def _draw_bimodal(rng, shape, scale, sep):
    side = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    z = sep * side + math.sqrt(1.0 - sep * sep) * rng.standard_normal(shape)
    return z * np.asarray(scale)


def _prior_bimodal(scale, sep):
    v = (1.0 - sep * sep) * scale * scale
    return GaussMixture(np.array([0.5, 0.5]), np.array([-sep * scale, sep * scale]), np.array([v, v]))


def _draw_sparse(rng, shape, scale, p):
    on = rng.random(shape) < p
    z = rng.standard_normal(shape) / math.sqrt(p)
    return np.where(on, z, 0.0) * np.asarray(scale)


def _prior_sparse(scale, p):
    return GaussMixture(np.array([1.0 - p, p]), np.zeros(2), np.array([0.0, scale * scale / p]))


def _prior_normal(scale, _):
    return GaussMixture(np.array([1.0]), np.array([0.0]), np.array([scale * scale]))


# ----------------------------------------------------------------------------------------------
# a given discrete distribution (the ``discrete`` effects)

#: How far the weights of a ``Pmf`` may sum from 1 (they are then divided by their sum): loose
#: enough for weights rounded for print, tight enough to catch a weight left out.
PMF_WEIGHT_TOLERANCE = 1e-3
_PMF_DIGITS = 12  # significant digits of the standardised atoms and weights in the name's hash
_PMF_LISTED = 12  # the protocol lists the atoms of a distribution with at most this many


def _real_list(value, what: str) -> tuple[float, ...]:
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{what} must be a list of numbers, got {value!r}")
    out = []
    for x in value:
        if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
            raise ValueError(f"{what} must be a list of numbers, got {x!r} in it")
        if not math.isfinite(float(x)):
            raise ValueError(f"{what} must be finite, got {x!r} in it")
        out.append(float(x))
    return tuple(out)


@dataclass(frozen=True)
class Pmf:
    """A discrete distribution: ``atoms`` a_k with ``weights`` w_k, as given (checked by ``of``).

    What is drawn is its standardised form (``standardised``): the atoms of positive weight,
    sorted, equal ones merged, the weights divided by their sum, then the atoms shifted by the
    weighted mean m and divided by the weighted SD s, so that it has mean 0 and SD 1. Two
    distributions with the same standardised form (one a shift or rescaling of the other) are
    the same world and have the same ``token``.
    """

    atoms: tuple[float, ...]
    weights: tuple[float, ...]

    @classmethod
    def of(cls, value) -> Pmf:
        """The checked Pmf of ``{"atoms": [...], "weights": [...]}`` (a config's or a spec's), an
        ``(atoms, weights)`` pair or a Pmf. Raises ValueError (one line) when the lists are not
        finite numbers, differ in length or have fewer than 2 entries, when a weight is negative,
        when the weights do not sum to 1 within ``PMF_WEIGHT_TOLERANCE``, or when the distribution
        is degenerate (fewer than two distinct atoms of positive weight: its SD is 0)."""
        if isinstance(value, Pmf):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {"atoms", "weights"}
            if unknown:
                raise ValueError(f"unknown key(s) {sorted(unknown)} (a discrete distribution has atoms and weights)")
            if "atoms" not in value or "weights" not in value:
                raise ValueError(f"a discrete distribution needs atoms and weights, got {value!r}")
            atoms, weights = value["atoms"], value["weights"]
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            atoms, weights = value
        else:
            raise ValueError(f"a discrete distribution is written {{atoms: [...], weights: [...]}}, got {value!r}")
        a, w = _real_list(atoms, "atoms"), _real_list(weights, "weights")
        if len(a) != len(w):
            raise ValueError(f"{len(a)} atoms but {len(w)} weights (one weight per atom)")
        if len(a) < 2:
            raise ValueError(f"a discrete distribution needs at least 2 atoms, got {len(a)}")
        if min(w) < 0:
            raise ValueError(f"weights must be non-negative, got {min(w)!r}")
        total = math.fsum(w)
        if abs(total - 1.0) > PMF_WEIGHT_TOLERANCE:
            raise ValueError(f"weights sum to {total:.6g}, not 1 (within {PMF_WEIGHT_TOLERANCE:g})")
        pmf = cls(a, w)
        z, _ = pmf.standardised()
        if z.size < 2:
            raise ValueError("degenerate discrete distribution (one distinct atom of positive weight): its SD is 0")
        return pmf

    def standardised(self) -> tuple[np.ndarray, np.ndarray]:
        """``(z, p)``: the distinct atoms of positive weight, sorted and standardised to mean 0
        and SD 1, and their probabilities (summing to 1). ``z`` is empty for a degenerate one."""
        a = np.asarray(self.atoms, dtype=float)
        w = np.asarray(self.weights, dtype=float)
        keep = w > 0
        values, inverse = np.unique(a[keep], return_inverse=True)
        p = np.bincount(inverse, weights=w[keep], minlength=values.size)
        p = p / p.sum()
        mean = float(np.dot(p, values))
        sd = math.sqrt(float(np.dot(p, (values - mean) ** 2)))
        span = float(np.max(np.abs(values))) if values.size else 0.0
        if values.size < 2 or not sd > 1e-12 * max(span, 1e-300):
            return np.empty(0), np.empty(0)
        return (values - mean) / sd, p

    @property
    def token(self) -> str:
        """Eight hex digits of a SHA-256 of the standardised atoms and probabilities (rounded to
        12 significant digits): the cell name's token, the same for the same world."""
        import hashlib

        z, p = self.standardised()
        text = ";".join(f"{float(x):.{_PMF_DIGITS - 1}e}:{float(q):.{_PMF_DIGITS - 1}e}"
                        for x, q in zip(z + 0.0, p))
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def spec(self) -> dict:
        """Plain Python, as a config writes it: ``{"atoms": [...], "weights": [...]}``."""
        return {"atoms": list(self.atoms), "weights": list(self.weights)}

    def describe(self, variable: str, scale: str) -> str:
        """The data-generating formula for the protocol."""
        z, p = self.standardised()
        text = (
            f"{variable} = {scale} z_k with probability p_k, a given discrete distribution of {z.size} atoms "
            f"(`{self.token}`) standardised to mean 0 and SD 1 (z_k = (a_k - m) / s, m and s its weighted "
            "mean and SD), drawn by one uniform per group"
        )
        if z.size <= _PMF_LISTED:
            pairs = ", ".join(f"{x:.4g} ({q:.4g})" for x, q in zip(z + 0.0, p))
            return f"{text}; z_k (p_k): {pairs}"
        return f"{text}; z_k from {z[0]:.4g} to {z[-1]:.4g} (the cell's spec lists them)"


def _draw_discrete(rng, shape, scale, pmf: Pmf):
    z, p = pmf.standardised()
    cdf = np.cumsum(p)
    cdf[-1] = 1.0  # u < 1 always: every draw lands on an atom of positive weight
    k = np.searchsorted(cdf, rng.random(shape), side="right")
    return z[np.minimum(k, z.size - 1)] * np.asarray(scale)


def _prior_discrete(scale, pmf: Pmf):
    z, p = pmf.standardised()
    return GaussMixture(p, scale * z, np.zeros(z.size))


def _parse_pmf(value) -> Pmf:
    if value is None:
        raise ValueError("discrete effects need their distribution: effects_pmf [{atoms: [...], weights: [...]}]")
    return Pmf.of(value)


_PMF_ITEMS = {
    "type": "object",
    "required": ["atoms", "weights"],
    "additionalProperties": False,
    "properties": {
        "atoms": {"type": "array", "minItems": 2, "items": {"type": "number"}},
        "weights": {"type": "array", "minItems": 2, "items": {"type": "number", "minimum": 0}},
    },
}


def _check_df(v):
    return None if v > 2 else "degrees of freedom must exceed 2 (the SD must exist)"


_DF_BOUNDS = {"exclusiveMinimum": 2, "maximum": 1.0e6}
_T_FORMULA = "{x} = {s} sqrt((df - 2) / df) T_df, T_df a Student t draw with df = {p}"

EFFECTS: dict[str, Distribution] = {
    "normal": Distribution("normal", None, None, _draw_normal, _prior_normal, formula="theta_j ~ N(0, tau^2)"),
    "t": Distribution(
        "t", "df", 3.0, _draw_t, _prior_t, _check_df, formula=_T_FORMULA, bounds=_DF_BOUNDS,
        param_text="Degrees of freedom of t effects (above 2, so that their SD is tau).",
    ),
    "skewed": Distribution(
        "skewed", "skew", 2.0, _draw_skewed, _prior_skewed, lambda v: None if v != 0 else "skew must be non-zero",
        formula="theta_j = tau (G - k) / sqrt(k), G ~ Gamma(k, 1), k = 4 / skew^2 with skew = {p} (a standardised gamma)",
        about="a standardised gamma",
        bounds={"minimum": -100, "maximum": 100, "not": {"const": 0}},
        param_text="Skewness of skewed effects (non-zero, -100 to 100).",
    ),
    "bimodal": Distribution(
        "bimodal", "sep", 0.9, _draw_bimodal, _prior_bimodal, lambda v: None if 0 <= v <= 1 else "sep must be in [0, 1]",
        formula="theta_j ~ 1/2 N(-sep tau, (1 - sep^2) tau^2) + 1/2 N(+sep tau, (1 - sep^2) tau^2), sep = {p}",
        about="two normals at +-sep tau",
        bounds={"minimum": 0, "maximum": 1},
        param_text="Bimodal effects, the modes at +-sep tau, each of SD sqrt(1 - sep^2) tau (0 to 1).",
    ),
    "sparse": Distribution(
        "sparse", "p", 0.2, _draw_sparse, _prior_sparse, lambda v: None if 0 < v <= 1 else "p must be in (0, 1]",
        formula="theta_j = 0 with probability 1 - p, else N(0, tau^2 / p), p = {p}",
        about="0 with probability 1 - p",
        bounds={"exclusiveMinimum": 0, "maximum": 1},
        param_text="Sparse effects, the probability that an effect is not 0 (above 0, at most 1).",
    ),
    "discrete": Distribution(
        "discrete", "pmf", None, _draw_discrete, _prior_discrete,
        formula="theta_j = tau (a_k - m) / s with probability w_k (a given discrete distribution, standardised)",
        about="a given distribution",
        param_text=(
            "Discrete effects, each distribution {atoms: [a_1, ...], weights: [w_1, ...]} (at least 2 atoms, "
            "non-negative weights summing to 1 within 0.001), standardised by its weighted mean and SD."
        ),
        parse=_parse_pmf,
        items=_PMF_ITEMS,
    ),
}

ERRORS: dict[str, Distribution] = {
    "normal": Distribution("normal", None, None, _draw_normal, _prior_normal, formula="e_ij ~ N(0, sigma_j^2)"),
    "t": Distribution(
        "t", "df", 5.0, _draw_t, _prior_t, _check_df, formula=_T_FORMULA, bounds=_DF_BOUNDS,
        param_text="Degrees of freedom of t errors (above 2).",
    ),
}


# ----------------------------------------------------------------------------------------------
# a user's own effects distribution


def is_user_name(name: str) -> bool:
    """True for ``"module:function"`` (a user's distribution), False for registry names."""
    return ":" in str(name)


_USER_ATOMS = 20_000
#: Seconds a user's effects distribution may take to import, and for each call (``usercode``).
EFFECTS_TIME_LIMIT = TIME_LIMIT
_USER_SEED = 20_240_522


class EffectsError(ValueError, OneLineError):
    """A user's effects distribution that cannot be imported, that fails, or whose draws are not
    finite real numbers of the shape asked for: one line naming it (and the problem)."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _module_origin(module_name: str) -> str:
    """`` from <file>`` of a module where it can be found, else nothing."""
    try:
        spec = importlib.util.find_spec(module_name)
    except (Exception, SystemExit):
        return ""
    return f" from {spec.origin}" if spec is not None and spec.origin else ""


def _user_draws(func, name: str, rng, shape, scale) -> np.ndarray:
    """``func(rng, shape, scale)`` as a float array, checked: any exception of the function, or
    a result that is not finite real numbers of ``shape``, is an EffectsError naming ``name``."""
    want = (int(shape),) if np.ndim(shape) == 0 else tuple(int(k) for k in shape)
    try:
        with UserCalls(EFFECTS_TIME_LIMIT, name=f"effects: {name}").guard():
            out = np.asarray(func(rng, shape, float(scale)))
    except TimeLimitExceeded:
        raise EffectsError(
            f"effects: {name} took longer than its time limit of {EFFECTS_TIME_LIMIT:g} s at tau = {float(scale):g}"
        ) from None
    except (Exception, SystemExit) as exc:  # the user's code: any failure is one line
        raise EffectsError(f"effects: {name} failed at tau = {float(scale):g} ({_one_line(exc)})") from None
    if out.dtype.kind not in "iuf":
        raise EffectsError(
            f"effects: {name} returned values of type {out.dtype} at tau = {float(scale):g}, not real numbers"
        )
    if out.shape != want:
        raise EffectsError(f"effects: {name} returned shape {out.shape} for shape {want} at tau = {float(scale):g}")
    out = out.astype(float)
    if not np.all(np.isfinite(out)):
        bad = int(np.size(out) - np.isfinite(out).sum())
        raise EffectsError(
            f"effects: {name} returned {bad} non-finite value(s) of {out.size} at tau = {float(scale):g}"
        )
    return out


def user_effects(name: str, *, check: bool = True, taus=()) -> Distribution:
    """The user's effects distribution ``"module:function"`` as a Distribution.

    ``function(rng, shape, tau)`` must return a real array of ``shape`` with mean 0 and SD tau.
    Every draw is checked (``_user_draws``): an exception of the function, text or other
    non-numbers, a wrong shape or a non-finite value is an EffectsError (a ValueError) of one
    line naming it, in a simulate job as before any job. An exception while importing its module
    (a syntax error, SystemExit ... as well as ImportError) is one too, naming the module's file.

    With ``check``, it is called on test samples before any job, at tau = 1 and at each positive
    tau of ``taus`` (those of the cells that use it): shape, finiteness and the first two
    moments (200,000 draws: |mean| <= 0.05 tau and |SD / tau - 1| <= 0.1). Its oracle prior is
    20,000 equally weighted atoms drawn with a fixed seed (an approximation of the Bayes rule,
    documented as such).
    """
    module_name, _, func_name = str(name).partition(":")
    if not module_name or not func_name:
        raise EffectsError(f"effects: {name!r} must be written 'module:function'")
    try:
        with UserCalls(EFFECTS_TIME_LIMIT, name=f"effects: importing {module_name}").guard():
            module = importlib.import_module(module_name)
    except TimeLimitExceeded:
        raise EffectsError(
            f"effects: importing module {module_name!r}{_module_origin(module_name)} took longer than its "
            f"time limit of {EFFECTS_TIME_LIMIT:g} s: does its code wait or loop when imported?"
        ) from None
    except (Exception, SystemExit) as exc:  # the user's code: any failure is one line
        raise EffectsError(
            f"effects: cannot import module {module_name!r}{_module_origin(module_name)} ({_one_line(exc)})"
        ) from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise EffectsError(f"effects: {module_name!r} has no function {func_name!r}")

    def draw(rng, shape, scale, _):
        return _user_draws(func, str(name), rng, shape, scale)

    def prior(scale, _):
        atoms = draw(np.random.default_rng(_USER_SEED), (_USER_ATOMS,), scale, None)
        return GaussMixture(np.full(atoms.size, 1.0 / atoms.size), atoms, np.zeros(atoms.size))

    dist = Distribution(str(name), None, None, draw, prior)
    if check:
        for tau in sorted({1.0, *(float(t) for t in taus if t > 0)}):
            rng = np.random.default_rng(1)
            draw(rng, (3, 4), tau, None)
            big = draw(rng, (200_000,), tau, None)
            m, s = float(big.mean()), float(big.std())
            if abs(m) > 0.05 * tau or abs(s / tau - 1.0) > 0.1:
                raise EffectsError(
                    f"effects: {name} at tau = {tau:g} has mean {m:.3g} and SD {s:.3g}; it must have mean 0, SD tau"
                )
    return dist


def effects_distribution(name: str) -> Distribution:
    """The registry entry (or the user's distribution) named ``name``."""
    if is_user_name(name):
        return user_effects(name, check=False)
    try:
        return EFFECTS[name]
    except KeyError:
        raise ValueError(f"unknown effects distribution {name!r} (known: {', '.join(EFFECTS)}, or 'module:function')") from None


# ----------------------------------------------------------------------------------------------
# heteroscedastic worlds


def group_sigmas(sigma: float, ratio: float, J: int) -> np.ndarray:
    """Within-group SDs: sigma * ratio^(j / (J - 1) - 1/2), j = 0..J-1 (increasing in j).

    The J values are evenly spaced on the log scale between sigma / sqrt(ratio) and
    sigma * sqrt(ratio) (so their geometric mean is sigma and the largest is ``ratio`` times the
    smallest); ratio 1 gives sigma for every group.
    """
    if ratio < 1:
        raise ValueError(f"sigma_ratio must be at least 1, got {ratio}")
    if ratio == 1 or J == 1:
        return np.full(J, float(sigma))
    return float(sigma) * float(ratio) ** (np.arange(J) / (J - 1) - 0.5)


# ----------------------------------------------------------------------------------------------
# the components of a cell's world, each declared once


_USER_PATTERN = "[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*"


def _value(x) -> str:
    return f"{float(x):g}"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _schema_number(x):
    """A default as the schema writes it: 3 rather than 3.0."""
    return int(x) if float(x).is_integer() else float(x)


@dataclass(frozen=True)
class Component:
    """One component of a cell's world beyond the normal model, declared once: what the grid's
    keys, the config schema, the cell's fields and name, the tables' columns and the protocol's
    data-generating mechanism of it all read (``COMPONENTS``).

    Attributes
    ----------
    kind : its grid key, its field of ``design.Cell`` and its column of the summary
        (``"effects"``, ``"errors"``, ``"sigma_ratio"``).
    title : its name in tables and in the protocol (``"SD ratio"``).
    param : the Cell field of a distribution's parameter (``"effects_param"``), or None.
    tag : the prefix of its token in a cell's name (``"_eff-"``: ``..._eff-t3``).
    registry : its distributions by name (``EFFECTS``), or None for a number (the SD ratio).
    normal : the model's value (``"normal"``, ``1.0``): a cell's name has no token for it.
    text : the config schema's description of its key.
    variable, scale : what it draws and at which scale, as its distributions' formulas write them.
    user : whether a user's ``"module:function"`` is a valid name.
    """

    kind: str
    title: str
    param: str | None
    tag: str
    registry: dict[str, Distribution] | None
    normal: str | float
    text: str
    variable: str = ""
    scale: str = ""
    user: bool = False

    # --- a cell's value of it ---------------------------------------------------------------
    @property
    def fields(self) -> tuple[str, ...]:
        """Its fields of ``design.Cell`` (and keys of ``Cell.spec``), in order."""
        return (self.kind,) if self.param is None else (self.kind, self.param)

    def defaults(self) -> dict:
        """Its fields' values in the normal world (a parameter None: the distribution's default)."""
        return {self.kind: self.normal, **({self.param: None} if self.param else {})}

    def value(self, cell) -> tuple:
        """``(name, parameter)`` of a cell (an object with its fields: a Cell or a summary row)."""
        get = cell.get if isinstance(cell, dict) else lambda k, d=None: getattr(cell, k, d)
        if self.registry is None:
            return (float(get(self.kind)), None)
        param = get(self.param)
        if isinstance(param, Pmf):
            return (str(get(self.kind)), param)
        return (str(get(self.kind)), None if _missing(param) else float(param))

    def columns(self, cell) -> dict:
        """Its fields as the summary's columns: numbers or None (a ``Pmf`` is None there: the
        cell's name carries its token, its spec the atoms and weights)."""
        return {f: (None if isinstance(getattr(cell, f), Pmf) else getattr(cell, f)) for f in self.fields}

    def is_normal(self, cell) -> bool:
        name = self.value(cell)[0]
        return name == self.normal

    def distribution(self, name: str) -> Distribution:
        if self.user and is_user_name(name):
            return Distribution(str(name), None, None, None, None)
        return self.registry[name]

    def spec(self, cell) -> dict:
        """Its keys of ``Cell.spec``: none in the normal world, else the name and any parameter."""
        if self.is_normal(cell):
            return {}
        name, param = self.value(cell)
        if isinstance(param, Pmf):
            param = param.spec()
        return {self.kind: name,
                **({self.param: param} if self.param and param is not None else {})}

    # --- the cell's name -------------------------------------------------------------------
    def token(self, cell) -> str:
        """Its piece of the cell's name: ``_eff-t3``, ``_eff-mymodule.draw``, ``_err-t5``,
        ``_sr4``; ``""`` in the normal world."""
        if self.is_normal(cell):
            return ""
        name, param = self.value(cell)
        if self.registry is None:
            return f"{self.tag}{fmt_number(name)}"
        if self.user and is_user_name(name):
            return self.tag + name.replace(":", ".")
        dist = self.registry[name]
        if isinstance(param, Pmf):
            return f"{self.tag}{dist.short}.{param.token}"
        return f"{self.tag}{dist.short}" + (fmt_number(param) if param is not None else "")

    # --- tables and protocol ----------------------------------------------------------------
    def label(self, name, value=None) -> str:
        """Short text for tables: ``t (3)``, ``normal``, ``4`` (an SD ratio)."""
        if self.registry is None:
            return _value(name)
        if isinstance(value, Pmf):
            return f"{name} ({value.token})"
        if _missing(value):
            return str(name)
        return f"{name} ({_value(value)})"

    def mechanism(self, name, value=None) -> str:
        """The data-generating formula for the protocol."""
        if self.registry is None:
            r = float(name)
            if r == 1:
                return "sigma_j = sigma for every group"
            return (
                f"sigma_j = sigma r^((j - 1) / (J - 1) - 1/2), r = {_value(r)}: evenly spaced on the log scale from "
                "sigma / sqrt(r) (group 1) to sigma sqrt(r) (group J), geometric mean sigma"
            )
        if self.user and is_user_name(str(name)):
            return f"{self.variable} drawn by the user's `{name}` at scale {self.scale} (mean 0, SD {self.scale})"
        dist = self.registry[str(name)]
        if isinstance(value, Pmf):
            return value.describe(self.variable, self.scale)
        p = dist.default if _missing(value) else value
        return dist.formula.format(p=_value(p) if p is not None else "", x=self.variable, s=self.scale)

    # --- the config's grid ------------------------------------------------------------------
    def param_key(self, dist: Distribution) -> str | None:
        """The grid key of a distribution's parameter (``effects_df``), or None."""
        return None if dist.param is None else f"{self.kind}_{dist.param}"

    def grid_keys(self) -> dict:
        """Its keys of a grid block with their defaults: the name key, then each parameter's."""
        out = {self.kind: self.normal}
        for dist in (self.registry or {}).values():
            if dist.param is not None:
                out[self.param_key(dist)] = dist.default
        return out

    def variant_count(self, spec: dict) -> int:
        """How many settings of it a grid block's lists give (before any check)."""
        names = spec.get(self.kind, [self.normal])
        names = names if isinstance(names, list) else [names]
        if self.registry is None:
            return len(names)
        total = 0
        for name in names:
            dist = self.registry.get(name) if isinstance(name, str) else None
            key = self.param_key(dist) if dist is not None else None
            values = spec.get(key, [None]) if key else [None]
            total += len(values) if isinstance(values, list) else 1
        return total

    def schema(self) -> dict:
        """Its properties of a grid block in the config schema (``workflow/schemas/config.schema.yaml``,
        which a test holds against this)."""
        out: dict = {}
        if self.registry is None:
            out[self.kind] = {
                "type": "array", "minItems": 1,
                "items": {"type": "number", "minimum": 1, "maximum": 1.0e4},
                "default": [_schema_number(self.normal)],
                "description": self.text,
            }
            return out
        names = list(self.registry)
        if self.user:
            items = {"type": "string", "pattern": f"^({'|'.join(names)}|{_USER_PATTERN})$"}
        else:
            items = {"type": "string", "enum": names}
        listed = [
            n + (f" ({', '.join(x for x in (d.about, self.param_key(d)) if x)})" if d.about or d.param else "")
            for n, d in self.registry.items()
        ]
        own = ", or your own 'module:function' (a function of a numpy Generator, the shape and tau)" if self.user else ""
        out[self.kind] = {
            "type": "array", "minItems": 1, "items": items, "default": [self.normal],
            "description": f"{self.text}: {', '.join(listed[:-1])}{',' if self.user else ' or'} {listed[-1]}{own}.",
        }
        for dist in self.registry.values():
            if dist.param is not None:
                out[self.param_key(dist)] = {
                    "type": "array", "minItems": 1,
                    "items": dist.items if dist.items is not None else {"type": "number", **dist.bounds},
                    **({"default": [_schema_number(dist.default)]} if dist.default is not None else {}),
                    "description": dist.param_text,
                }
        return out


#: The components of a cell's world, in the order of a cell's name, its spec and the tables' columns.
COMPONENTS: dict[str, Component] = {
    "effects": Component(
        "effects", "effects", "effects_param", "_eff-", EFFECTS, "normal",
        "Distributions of the group effects theta_j, each with mean 0 and SD tau",
        variable="theta_j", scale="tau", user=True,
    ),
    "errors": Component(
        "errors", "errors", "errors_df", "_err-", ERRORS, "normal",
        "Distributions of the errors, each with SD sigma_j",
        variable="e_ij", scale="sigma_j",
    ),
    "sigma_ratio": Component(
        "sigma_ratio", "SD ratio", None, "_sr", None, 1.0,
        "Heteroscedastic within-group SDs: the largest over the smallest, the group SDs evenly "
        "spaced on the log scale from sigma / sqrt(r) to sigma * sqrt(r), increasing with the "
        "group's position in the design (1: one sigma for every group).",
    ),
}


def world_keys() -> dict:
    """Every grid key of the world with its default (``effects``, ``effects_df``, ...)."""
    return {k: v for comp in COMPONENTS.values() for k, v in comp.grid_keys().items()}


def schema_properties() -> dict:
    """The grid block's world properties of the config schema, from ``COMPONENTS``."""
    return {k: v for comp in COMPONENTS.values() for k, v in comp.schema().items()}


def is_normal_world(cell) -> bool:
    """The world the mixed model assumes: every component at its normal value."""
    return all(comp.is_normal(cell) for comp in COMPONENTS.values())


def world_label(kind: str, name, value=None) -> str:
    """Short text of a world component for tables: ``t (3)``, ``normal``, ``4`` (an SD ratio)."""
    return COMPONENTS[kind].label(name, value)


def world_mechanism(kind: str, name, value=None) -> str:
    """The data-generating formula of a world component, for the protocol: ``kind`` is
    ``"effects"``, ``"errors"`` or ``"sigma_ratio"`` (``name`` the ratio then)."""
    return COMPONENTS[kind].mechanism(name, value)
