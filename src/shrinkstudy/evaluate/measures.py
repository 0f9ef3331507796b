"""Performance measures of the estimators, each with its Monte Carlo standard error.

Definitions follow Morris, White & Crowther (2019), "Using simulation studies to evaluate
statistical methods", Statistics in Medicine 38:2074-2102, table 6 (the formulas of rsimsum),
adapted to a vector-valued estimand (docs/formulas.md section 5).

Vector-valued estimands
-----------------------
Each replication i (one dataset) estimates J group means m_ij at once. The replication is the
unit: its losses are first averaged over the groups of a class (all groups, or the groups of
one size in an unbalanced cell; see ``losses``), giving one number per replication, and the
measures are then means (and standard deviations) of these numbers across the R replications.
The groups of one dataset share mu^ and tau^ and are correlated; averaging within the dataset
first keeps the replications independent, so the MCSE formulas of table 6 apply unchanged.

With e_ij = est_ij - m_ij, a class G of groups, ebar_i = mean_{j in G} e_ij and
s_i = mean_{j in G} e_ij^2, over the R replications that did not fail, each measure is one entry
of ``MEASURES``: its name and label, its estimate and Monte Carlo SE as formulas, which
estimators and rows have it, which way is better, the per-replication losses it reads and the
statistic that computes them (``losses.loss_columns`` calls it in the fit jobs), the function
that summarises them (by default: their mean, with the entry's MCSE function), and how a
precision target on it turns into replications (``precision``). The summary's columns, the
protocol's measures table, the precision targets the config accepts and the figures' labels
are read from it.

Because the true means are random, bias and empSE are those of the group-averaged error ebar_i:
shrinkage is conditionally biased toward mu for each group, but that bias averages out over
groups and datasets; per-group accuracy is what MSE measures. Coverage's MCSE uses the
per-replication fractions c_i, not the binomial formula over all R x |G| intervals, because
intervals of one dataset are correlated.

Exact aggregation: every measure is computed from the per-replication rows sorted by ``rep``,
so a study stored in several chunks gives bit-identical summaries to the same replications in
one chunk.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..methods import registry
from ..design.cells import Cell, group_classes
from .ensemble import spearman, wasserstein1
from ..methods.reml import NOT_IDENTIFIED
from ..design.simulate import factorize_sorted

if TYPE_CHECKING:  # pandas is imported only where a DataFrame is built (the jobs skip it)
    import pandas as pd

__all__ = [
    "LOSS_COLUMNS",
    "MEASURES",
    "MEASURES_BY_NAME",
    "Measure",
    "PRECISION_MEASURES",
    "Replications",
    "PARAM_COLUMNS",
    "SUMMARY_COLUMNS",
    "SUMMARY_COLUMN_TYPES",
    "mcse_empse",
    "mcse_mean",
    "mcse_mse",
    "mcse_proportion",
    "mcse_ratio",
    "spread_ratio",
    "boundary_probability",
    "p_boundary_balanced",
    "summarise_cell",
    "summary_rows",
    "theory_risks",
    "oracle_bayes_risk",
    "oracle_group_risks",
]

# ----------------------------------------------------------------------------------------------
# Monte Carlo standard errors (pure functions)


def mcse_mean(x) -> float:
    """Monte Carlo SE of the mean of per-replication values.

    Parameters
    ----------
    x : (R,) array_like
        One value per replication (a group-averaged error, a coverage fraction, a width ...).

    Returns
    -------
    float
        ``sd(x, ddof=1) / sqrt(R)``; NaN when R < 2.

    Notes
    -----
    Morris, White & Crowther (2019), table 6, MCSE of bias:
    ``sqrt(sum_i (x_i - xbar)^2 / (R (R - 1)))``. Used here for bias, spread, coverage (of
    per-replication fractions) and interval width.
    """
    x = np.asarray(x, dtype=float)
    R = x.size
    if R < 2:
        return math.nan
    return float(np.std(x, ddof=1) / math.sqrt(R))


def mcse_mse(sq_err) -> float:
    """Monte Carlo SE of the mean squared error.

    Parameters
    ----------
    sq_err : (R,) array_like
        Per-replication squared errors (here: averaged over the groups of a class).

    Returns
    -------
    float
        ``sqrt(sum_i (s_i - MSE)^2 / (R (R - 1)))`` with ``MSE = mean(s_i)``; NaN when R < 2.

    Notes
    -----
    Morris, White & Crowther (2019), table 6, MCSE of MSE.
    """
    s = np.asarray(sq_err, dtype=float)
    R = s.size
    if R < 2:
        return math.nan
    dev = s - s.mean()
    return float(math.sqrt(np.dot(dev, dev) / (R * (R - 1.0))))


def mcse_empse(empse: float, R: int) -> float:
    """Monte Carlo SE of the empirical standard error.

    Parameters
    ----------
    empse : float
        ``sd(x_i, ddof=1)`` over R replications.
    R : int
        Number of replications.

    Returns
    -------
    float
        ``empse / sqrt(2 (R - 1))``; NaN when R < 2.

    Notes
    -----
    Morris, White & Crowther (2019), table 6, MCSE of EmpSE (exact for normal x_i; heavier
    tails make it optimistic).
    """
    if R < 2:
        return math.nan
    return float(empse / math.sqrt(2.0 * (R - 1.0)))


def mcse_ratio(x, y) -> float:
    """Monte Carlo SE of ``mean(x) / mean(y)`` for paired per-replication values (delta method).

    Parameters
    ----------
    x, y : (R,) array_like
        Paired per-replication losses on the same datasets (e.g. squared errors of an
        estimator and of ``raw``).

    Returns
    -------
    float
        With ``r = xbar / ybar`` and ``z_i = (x_i - r y_i) / ybar``:
        ``sqrt(sum_i (z_i - zbar)^2 / (R (R - 1)))``, i.e. the first-order (delta-method)
        SE ``sqrt((var x - 2 r cov(x, y) + r^2 var y) / R) / ybar``. Exactly 0 when x is y.
        NaN when R < 2 or ybar = 0.

    Notes
    -----
    Morris, White & Crowther (2019), table 6, gives this delta-method form, with the
    correlation between the paired quantities, for the relative precision of two methods
    (a ratio of empSE^2); the same argument applied to the paired MSE losses gives the MCSE
    of relative MSE. Pairing matters: the losses of two estimators on one dataset are highly
    correlated and the ratio is far more precise than either MSE.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"x and y must be paired: shapes {x.shape} and {y.shape}")
    R = x.size
    if R < 2:
        return math.nan
    ybar = y.mean()
    if ybar == 0 or not np.isfinite(ybar):
        return math.nan
    r = x.mean() / ybar
    z = (x - r * y) / ybar
    dev = z - z.mean()
    return float(math.sqrt(np.dot(dev, dev) / (R * (R - 1.0))))


def spread_ratio(var_est, var_true) -> tuple[float, float]:
    """Spread ratio ``sqrt(sum_i var_j(est) / sum_i var_j(m))`` and its Monte Carlo SE.

    The ratio of the root-mean-square spreads of the estimates and of the true means, the seed's
    "right variance" claim (varmatch aims at 1, the BLUP's is about sqrt(B) < 1). A ratio of
    means, not a mean of per-replication ratios: with few groups the true means of a dataset can
    lie close together and a per-dataset ratio explodes. MCSE: delta method on the paired
    variances (``mcse_ratio``), divided by ``2 * spread`` for the square root.
    """
    x = np.asarray(var_est, dtype=float)
    y = np.asarray(var_true, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size == 0 or y.sum() <= 0:
        return math.nan, math.nan
    ratio = float(x.sum() / y.sum())
    spread = math.sqrt(ratio)
    se = mcse_ratio(x, y)
    return spread, (se / (2 * spread) if spread > 0 else 0.0)


def mcse_proportion(p: float, R: int) -> float:
    """Monte Carlo SE of a proportion of independent 0/1 outcomes.

    Parameters
    ----------
    p : float
        Estimated proportion (coverage of one interval per replication, share of boundary fits).
    R : int
        Number of replications.

    Returns
    -------
    float
        ``sqrt(p (1 - p) / R)``; NaN when R < 1.

    Notes
    -----
    Morris, White & Crowther (2019), table 6, MCSE of coverage. For a class of several groups
    per replication the outcomes are not independent; ``summarise_cell`` then uses
    ``mcse_mean`` of the per-replication coverage fractions.
    """
    if R < 1 or not np.isfinite(p):
        return math.nan
    return float(math.sqrt(p * (1.0 - p) / R))


# ----------------------------------------------------------------------------------------------
# Per-replication statistics: the losses a measure reads, computed in the fit jobs
# (``losses.loss_columns``) from one estimator's replications on one class of groups


class Replications(NamedTuple):
    """One estimator's replications on the groups of one class, as a statistic reads them: one
    row per replication, one column per group of the class. The arrays are C-contiguous, so a
    row's mean is summed in the same order whatever the number of rows (a replication's losses
    are the same bits in a chunk of 1,000 and alone)."""

    err: np.ndarray  # est - m, NaN in the rows of failed fits
    est: np.ndarray  # the estimates as the estimator returned them
    means: np.ndarray  # the true means m
    failed: np.ndarray  # (R,) bool
    lo: np.ndarray | None  # the interval's bounds; None for an estimator without an interval
    hi: np.ndarray | None


def _var_rows(x: np.ndarray) -> np.ndarray:
    """Row-wise sample variance (ddof = 1), computed about the row's first value so that a row
    of identical values gives exactly 0 (complete pooling has spread 0, not 1e-34)."""
    if x.shape[1] < 2:
        return np.full(x.shape[0], np.nan)
    return np.var(x - x[:, :1], axis=1, ddof=1)


def squared_error(r: Replications) -> np.ndarray:
    """s_i = mean over the class's groups of (est_ij - m_ij)^2."""
    return (r.err * r.err).mean(axis=1)


def absolute_error(r: Replications) -> np.ndarray:
    """a_i = mean over the class's groups of |est_ij - m_ij|."""
    return np.abs(r.err).mean(axis=1)


def error(r: Replications) -> np.ndarray:
    """ebar_i = mean over the class's groups of est_ij - m_ij."""
    return r.err.mean(axis=1)


def variances(r: Replications) -> tuple[np.ndarray, np.ndarray]:
    """var_j(est_ij) and var_j(m_ij) (ddof = 1): the spread of the estimates and of the true means."""
    return _var_rows(np.where(r.failed[:, None], np.nan, r.est)), np.where(r.failed, np.nan, _var_rows(r.means))


def covered(r: Replications) -> np.ndarray:
    """c_i = fraction of the class's intervals [lo_ij, hi_ij] containing m_ij; NaN without an
    interval or where a bound is not finite."""
    if r.lo is None:
        return np.full(r.failed.size, np.nan)
    inside = ((r.lo <= r.means) & (r.means <= r.hi)).astype(float)
    finite = np.isfinite(r.lo) & np.isfinite(r.hi)
    return np.where(finite & ~r.failed[:, None], inside, np.nan).mean(axis=1)


def interval_width(r: Replications) -> np.ndarray:
    """Mean over the class's groups of hi_ij - lo_ij; NaN without an interval."""
    if r.lo is None:
        return np.full(r.failed.size, np.nan)
    return np.where(r.failed[:, None], np.nan, r.hi - r.lo).mean(axis=1)


def w1_distance(r: Replications) -> np.ndarray:
    """Wasserstein-1 distance between the empirical distributions of the estimates and of the
    true means, mean_j |sorted(est)_j - sorted(m)_j| (histogram accuracy)."""
    return np.where(r.failed, np.nan, wasserstein1(r.est, r.means))


def spearman_rho(r: Replications) -> np.ndarray:
    """Spearman correlation of the estimates with the true means (average ranks for ties; 0 when
    the estimates are all equal: they rank nothing; NaN when the true means are all equal)."""
    rho = np.where(r.failed, np.nan, spearman(r.est, r.means))
    spread_est = np.fmax.reduce(r.est, axis=1) - np.fmin.reduce(r.est, axis=1)
    spread_true = np.fmax.reduce(r.means, axis=1) - np.fmin.reduce(r.means, axis=1)
    return np.where(np.isnan(rho) & ~r.failed & (spread_est == 0) & (spread_true > 0), 0.0, rho)


# ----------------------------------------------------------------------------------------------
# Summarising a measure's losses: (measure, an estimator's losses on one class, RowContext)
# -> (estimate, MCSE), over the replications that did not fail


class RowContext(NamedTuple):
    """What a summary row's measures read besides the estimator's own losses."""

    estimator: str
    raw: dict | None  # raw's losses on the same class (measures relative to raw), None without raw
    boundary: np.ndarray  # the cell's identified variance-component fits: tau^2^ = 0 (bool)


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else math.nan


def mean_of_loss(m: Measure, losses: dict, row: RowContext) -> tuple[float, float]:
    """The mean of the measure's loss and its MCSE by the measure's ``function``."""
    x = losses[m.losses[0]]
    return _mean(x), m.function(x)


def mean_of_finite_loss(m: Measure, losses: dict, row: RowContext) -> tuple[float, float]:
    """``mean_of_loss``, NaN unless every replication has the loss (a measure undefined in some
    replications is not averaged over the rest)."""
    x = losses[m.losses[0]]
    if x.size == 0 or not np.isfinite(x).all():
        return math.nan, math.nan
    return float(x.mean()), m.function(x)


def empirical_se(m: Measure, losses: dict, row: RowContext) -> tuple[float, float]:
    """sd_i(ebar_i) and its MCSE ``function(empse, R)``."""
    e = losses[m.losses[0]]
    R = int(e.size)
    empse = float(np.std(e, ddof=1)) if R >= 2 else math.nan
    return empse, m.function(empse, R)


def relative_to_raw(m: Measure, losses: dict, row: RowContext) -> tuple[float, float]:
    """mean(x) / mean(y) on the replications where neither the estimator (x) nor raw (y) failed,
    MCSE ``function(x, y)``; exactly 1 with MCSE 0 for raw itself; NaN without raw."""
    if row.raw is None:
        return math.nan, math.nan
    loss = m.losses[0]
    if row.estimator == "raw":
        x = y = losses[loss]
    else:
        _, ia, ib = np.intersect1d(losses["rep"], row.raw["rep"], assume_unique=True, return_indices=True)
        x, y = losses[loss][ia], row.raw[loss][ib]
    if not x.size:
        return math.nan, math.nan
    ybar = y.mean()
    return (float(x.mean() / ybar) if ybar != 0 else math.nan), m.function(x, y)


def ratio_of_losses(m: Measure, losses: dict, row: RowContext) -> tuple[float, float]:
    """``function`` of the measure's two losses (estimate and MCSE at once)."""
    return m.function(*(losses[c] for c in m.losses))


def fit_share(m: Measure, losses: dict, row: RowContext) -> tuple[float, float]:
    """The share of the cell's identified fits with tau^2^ = 0, MCSE ``function(p, R)`` (the
    same on every row of the cell)."""
    share = _mean(row.boundary.astype(float))
    return share, m.function(share, int(row.boundary.size))


# ----------------------------------------------------------------------------------------------
# The measures


class Measure(NamedTuple):
    """One performance measure, declared once: the summary's columns ``name`` and
    ``name_mcse``, the per-replication losses, the protocol's measures table, the precision
    targets and the figures read it.

    name : the summary column (its MCSE in ``<name>_mcse``).
    label : short text for axes and tables.
    estimate : its formula, for the protocol (per replication i, over the groups of a class G).
    mcse : the formula of its Monte Carlo SE, quoted from the docstring of ``function``.
    function : the function of this module that computes the MCSE (``summarise`` calls it).
    better : which way is better: "lower", "higher", "nearer 0", "nearer 1", "nearer the
        level", or "" (no direction: a property of the fit or of the intervals' cost).
    estimators : which estimators have it: "all", "intervals" (those whose interval losses are
        finite in some replication), or "fit" (a property of the variance-component fit, the
        same for every estimator).
    groups : the rows that have it: "every" group class, or "all" (the "all" rows only).
    losses : the per-replication loss columns it reads (``LOSS_COLUMNS``); a measure whose
        columns a loss table lacks is NaN in its summary.
    statistic : computes ``losses`` from ``Replications`` (an array, or a tuple in the order of
        ``losses``); None where an earlier entry's statistic computes them.
    summarise : (measure, an estimator's losses on one class, ``RowContext``) -> (estimate,
        MCSE); by default ``mean_of_loss``.
    precision : how a precision target on its MCSE turns into replications
        (``precision.needed_replications``): "mean" (MCSE^2 = V / R), "empse" (empSE / sqrt(2
        (R - 1))), "fraction" ("mean" for a mean of fractions in [0, 1]: a pilot without
        variation uses the rule of three), or "" (not a target).
    axis : the figures' axis label (default ``label``).
    """

    name: str
    label: str
    estimate: str
    mcse: str
    function: Callable
    better: str
    estimators: str = "all"
    groups: str = "every"
    losses: tuple[str, ...] = ()
    statistic: Callable | None = None
    summarise: Callable = mean_of_loss
    precision: str = "mean"
    axis: str = ""

    @property
    def axis_label(self) -> str:
        return self.axis or self.label

    def has(self, estimator) -> bool:
        """Whether ``estimator`` (a registry entry) has the measure: an estimator without an
        interval has no measure of the ``intervals``."""
        return self.estimators != "intervals" or estimator.has_interval


_MEAN_SE = "sd(x, ddof=1) / sqrt(R)"

#: Every performance measure of the summary, in its column order (``SUMMARY_COLUMNS``).
MEASURES: tuple[Measure, ...] = (
    Measure("mse", "MSE", "mean_i s_i", "sqrt(sum_i (s_i - MSE)^2 / (R (R - 1)))", mcse_mse, "lower",
            losses=("sq_err",), statistic=squared_error),
    Measure("mae", "mean absolute error", "mean_i a_i, a_i = mean_{j in G} abs(e_ij)", _MEAN_SE, mcse_mean, "lower",
            losses=("abs_err",), statistic=absolute_error),
    Measure("bias", "bias", "mean_i ebar_i", _MEAN_SE, mcse_mean, "nearer 0",
            losses=("err",), statistic=error),
    Measure("empse", "empirical SE", "sd_i(ebar_i)", "empse / sqrt(2 (R - 1))", mcse_empse, "lower",
            losses=("err",), summarise=empirical_se, precision="empse"),
    Measure("rel_mse", "MSE / MSE(raw)", "mean_i s_i(a) / mean_i s_i(raw), on the same datasets",
            "sqrt((var x - 2 r cov(x, y) + r^2 var y) / R) / ybar", mcse_ratio, "lower",
            losses=("sq_err",), summarise=relative_to_raw),
    Measure("spread", "spread ratio", "sqrt(sum_i var_j(est) / sum_i var_j(m)), all groups",
            "delta method on the paired variances (``mcse_ratio``), divided by ``2 * spread``",
            spread_ratio, "nearer 1", groups="all", losses=("var_est", "var_true"), statistic=variances,
            summarise=ratio_of_losses, axis="spread ratio: SD(estimates) / SD(true means)"),
    Measure("w1", "W1 (histogram accuracy)", "mean_i W1_i, W1_i = mean_j abs(sorted(est)_j - sorted(m)_j), all groups",
            _MEAN_SE, mcse_mean, "lower", groups="all", losses=("w1",), statistic=w1_distance,
            summarise=mean_of_finite_loss, axis="W1(estimates, true means): lower is a truer histogram"),
    Measure("spearman", "Spearman correlation",
            "mean_i rho_i, rho_i the Spearman correlation of est_ij with m_ij, all groups",
            _MEAN_SE, mcse_mean, "higher", groups="all", losses=("spearman",), statistic=spearman_rho,
            summarise=mean_of_finite_loss),
    Measure("coverage", "coverage", "mean_i c_i", _MEAN_SE, mcse_mean, "nearer the level",
            estimators="intervals", losses=("covered",), statistic=covered, precision="fraction"),
    Measure("width", "interval width", "mean_i (mean interval width)", _MEAN_SE, mcse_mean, "",
            estimators="intervals", losses=("width",), statistic=interval_width),
    Measure("boundary_share", "share of fits with tau^2^ = 0", "share of fits with tau^2^ = 0",
            "sqrt(p (1 - p) / R)", mcse_proportion, "", estimators="fit", summarise=fit_share, precision="",
            axis="share of fits with τ² estimate = 0"),
)
#: The measures by name.
MEASURES_BY_NAME: dict[str, Measure] = {m.name: m for m in MEASURES}
#: Measures a ``precision`` target may name: those whose Monte Carlo SE falls as 1/sqrt(R)
#: (``shrinkstudy.evaluate.precision`` turns each into replications; the config's schema lists them).
PRECISION_MEASURES = tuple(m.name for m in MEASURES if m.precision)
#: The per-replication loss columns the measures read, in the order of ``MEASURES``.
LOSS_COLUMNS = tuple(dict.fromkeys(c for m in MEASURES for c in m.losses))

#: The cell's descriptive columns (``Cell.params()``), first in every summary row.
PARAM_COLUMNS = (
    "cell", "block", "J", "design", "balanced", "n", "N", "sigma", "tau", "mu",
    "effects", "effects_param", "errors", "errors_df", "sigma_ratio",
)
#: Every column of ``summarise_cell``'s output, in order.
SUMMARY_COLUMNS = PARAM_COLUMNS + (
    "estimator",
    "groups",
    "reps",
    "failures",
    # every measure and its MCSE, in the order of MEASURES
    *(column for m in MEASURES for column in (m.name, f"{m.name}_mcse")),
    "raw_risk",
    "oracle_risk",
    "oracle_linear_risk",
    "p_boundary_theory",
    "level",
)


# ----------------------------------------------------------------------------------------------
# Theory


def theory_risks(cell: Cell, idx=None) -> tuple[float, float]:
    """Raw and oracle (Bayes) risk, averaged over the groups ``idx`` (default: all).

    raw risk = mean_j sigma_j^2 / n_j; oracle risk = mean_j B_j sigma_j^2 / n_j with
    B_j = tau^2 / (tau^2 + sigma_j^2 / n_j) at the true tau and sigma_j (a known-SE cell: s_j^2
    in place of sigma_j^2 / n_j) (docs/formulas.md section
    2): the risk of the linear oracle, which depends on the effects' and errors' distributions
    through their variances only (so it holds in every world).
    """
    n = np.asarray(cell.sizes, dtype=float)
    if cell.sigma_ratio == 1 and not cell.known_se:
        v = float(cell.sigma) ** 2 / n
    else:
        v = cell.sampling_variances()
    if idx is not None:
        v = v[np.asarray(idx)]
    t2 = float(cell.tau) ** 2
    B = t2 / (t2 + v)
    return float(v.mean()), float((B * v).mean())


def oracle_bayes_risk(cell: Cell, idx=None, group_risks=None) -> float:
    """The Bayes risk of ``oracle`` (the Bayes rule with the true prior and parameters), averaged
    over the groups ``idx`` (default: all).

    Normal effects and errors: the linear oracle's, ``theory_risks``. Other effects with normal
    errors: per group the integral ``ebayes.bayes_risk_normal_errors`` (1-D quadrature, exact to
    about 1e-10; ``oracle_group_risks``, or ``group_risks`` when given: the same numbers computed
    once per cell by its fit jobs). t errors: NaN; the oracle conditions on all n_j observations
    and its risk is an n_j-dimensional integral with no closed form (the tests check its Monte
    Carlo MSE against the mean posterior variance instead).
    """
    if cell.errors != "normal":
        return math.nan
    if cell.effects == "normal":
        return theory_risks(cell, idx)[1]
    risks = oracle_group_risks(cell) if group_risks is None else np.asarray(group_risks, dtype=float)
    if risks.shape != (cell.J,):
        raise ValueError(f"{cell.name}: {risks.size} oracle group risks for {cell.J} groups")
    return float((risks if idx is None else risks[np.asarray(idx)]).mean())


def oracle_group_risks(cell: Cell) -> np.ndarray | None:
    """Each group's Bayes risk under the oracle where it takes a quadrature (effects other than
    normal, normal errors; ``ebayes.bayes_risk_normal_errors`` once per distinct sampling
    variance), else None (a closed form, or NaN under t errors: ``oracle_bayes_risk``).

    The fit jobs store it with their losses (``smkio.write_columns``'s ``extra``) so that the
    summaries do not repeat the quadrature for every cell on every aggregation."""
    if cell.errors != "normal" or cell.effects == "normal":
        return None
    return _oracle_group_risks(cell)


@functools.lru_cache(maxsize=256)
def _oracle_group_risks(cell: Cell) -> np.ndarray:
    from ..methods.ebayes import bayes_risk_normal_errors

    prior = cell.effects_prior()
    v = cell.sampling_variances()
    known = {s2: bayes_risk_normal_errors(prior, s2) for s2 in np.unique(v)}
    return np.array([known[s2] for s2 in v])


def p_boundary_balanced(cell: Cell) -> float:
    """P(tau^2^ = 0) of the REML fit in a balanced cell: P(F_{J-1, N-J} < 1 / (1 + n tau^2/sigma^2)).

    In a balanced design the REML estimate is 0 exactly when MSB <= MSW, and
    MSB / MSW ~ (1 + n tau^2 / sigma^2) F_{J-1, N-J}. NaN for unbalanced cells or N = J.
    """
    if not cell.balanced or cell.N <= cell.J or not cell.normal_world:  # the F law needs normality
        return math.nan
    return float(boundary_probability(cell.J, cell.n, float(cell.sigma), float(cell.tau)))


def boundary_probability(J, n, sigma, tau) -> np.ndarray:
    """Probability of a boundary fit (tau^2^ = 0) in a balanced design, REML or ANOVA.

    tau^2^ = 0 exactly when MSB <= MSW, and MSB / MSW ~ (1 + n tau^2 / sigma^2) F_{J-1, J(n-1)},
    so ``P = P(F_{J-1, J(n-1)} < 1 / (1 + n tau^2 / sigma^2))`` (docs/formulas.md section 2),
    by ``scipy.special.fdtr``. Vectorised; ``n`` may be fractional (the boundary figure draws it
    as a curve in n).
    """
    from scipy import special

    J, n = np.asarray(J, dtype=float), np.asarray(n, dtype=float)
    ratio = (np.asarray(tau, dtype=float) / np.asarray(sigma, dtype=float)) ** 2
    return special.fdtr(J - 1.0, J * (n - 1.0), 1.0 / (1.0 + n * ratio))


# ----------------------------------------------------------------------------------------------
# Summaries


def _check_unique(reps: np.ndarray, what: str) -> None:
    """``reps`` sorted; raise if a replication appears twice (overlapping chunks)."""
    if reps.size > 1 and np.any(reps[1:] == reps[:-1]):
        dup = np.unique(reps[1:][reps[1:] == reps[:-1]])[:5].tolist()
        raise ValueError(f"{what}: replication(s) {dup} appear more than once (overlapping chunks?)")


def summarise_cell(losses, varcomp, cell: Cell, level: float = 0.95) -> pd.DataFrame:
    """Every performance measure, with its MCSE, per estimator and group class of one cell.

    Parameters
    ----------
    losses : DataFrame or mapping of column arrays
        Per-replication losses (``losses.replication_losses`` or ``losses.loss_columns``),
        possibly the concatenation of several chunks in any order. A (rep, estimator, groups)
        row may appear once only.
    varcomp : DataFrame or mapping of column arrays
        Per-replication variance components (``losses.varcomp_table``), for the boundary share;
        one row per replication, the same replications as ``losses`` (else ValueError).
    cell : Cell
        The cell, for its descriptive columns and the theoretical references.
    level : float
        Nominal level of the intervals, recorded in the ``level`` column.

    Returns
    -------
    DataFrame with columns ``SUMMARY_COLUMNS``, one row per (estimator, groups), estimators in
    registry order and groups ``"all"`` first, then by group size:

    * cell, block, J, design, balanced, n (nullable Int64: NA when unbalanced), N, sigma, tau, mu:
      ``cell.params()``;
    * reps: replications used (not failed); failures: failed replications;
    * each measure of ``MEASURES`` and its ``*_mcse``, as its entry says: NaN on the rows it
      does not apply to (a measure of the "all" rows on class rows, an interval measure
      without intervals); rel_mse is exactly 1 with MCSE 0 for ``raw`` itself and NaN without
      raw; boundary_share is the same on every row of the cell;
    * raw_risk: ``theory_risks`` over the class's groups; oracle_risk: the Bayes risk of
      ``oracle`` (``oracle_bayes_risk``: NaN under t errors, where it has no closed form);
      oracle_linear_risk: the linear oracle's risk (``theory_risks``); p_boundary_theory:
      ``p_boundary_balanced`` (NaN for unbalanced cells);
    * level: the nominal interval level.
    """
    return _summary_frame(summary_rows(losses, varcomp, cell, level))


def summary_rows(losses, varcomp, cell: Cell, level: float = 0.95, oracle_risks=None) -> list[dict]:
    """The rows of ``summarise_cell`` as dicts (numpy only: no DataFrame is built).

    ``oracle_risks``: the cell's ``oracle_group_risks`` as stored by its fit jobs (None: computed
    here where needed)."""
    missing = [c for c in ("rep", "estimator", "groups", "failed") if c not in losses]
    if missing:
        raise ValueError(f"losses: missing column(s) {missing}")
    classes = group_classes(cell)

    # boundary share from the variance components (rows sorted by rep)
    vc_rep = np.asarray(varcomp["rep"], dtype=np.int64)
    vc_order = np.argsort(vc_rep, kind="stable")
    _check_unique(vc_rep[vc_order], "varcomp")
    ok = np.asarray(varcomp["status"])[vc_order] != NOT_IDENTIFIED
    boundary = np.asarray(varcomp["boundary"], dtype=bool)[vc_order][ok]
    p_theory = p_boundary_balanced(cell)

    # sort once by (estimator, groups, rep): each block's rows are then in replication order,
    # whatever the order and chunking of the input
    e_codes, e_names = factorize_sorted(np.asarray(losses["estimator"], dtype=object))
    g_codes, g_names = factorize_sorted(np.asarray(losses["groups"], dtype=object))
    unknown = [g for g in g_names if g not in classes]
    if unknown:
        raise ValueError(f"losses: unknown group class(es) {unknown} for cell {cell.name}")
    rep_all = np.asarray(losses["rep"], dtype=np.int64)
    if not np.array_equal(np.unique(rep_all), vc_rep[vc_order]):
        raise ValueError(
            f"{cell.name}: the losses and the variance components cover different replications "
            "(a chunk missing from one of them?)"
        )
    order = np.lexsort((rep_all, g_codes, e_codes))
    key = e_codes[order].astype(np.int64) * len(g_names) + g_codes[order]
    cols = {c: np.asarray(losses[c], dtype=float)[order] for c in LOSS_COLUMNS if c in losses}
    cols["rep"] = rep_all[order]
    cols["failed"] = np.asarray(losses["failed"], dtype=bool)[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else np.array([], int)
    stops = np.r_[starts[1:], key.size]
    blocks = {}
    for a, z in zip(starts, stops):
        est, grp = e_names[e_codes[order[a]]], g_names[g_codes[order[a]]]
        _check_unique(cols["rep"][a:z], f"losses of {est}/{grp}")
        good = ~cols["failed"][a:z]
        blocks[(est, grp)] = {
            "failures": int((~good).sum()),
            **{c: v[a:z][good] for c, v in cols.items() if c != "failed"},
        }

    params = cell.params()
    rows = []
    for est in registry.order({e for e, _ in blocks}):
        for grp, idx in classes.items():
            blk = blocks.get((est, grp))
            if blk is None:
                continue
            context = RowContext(est, blocks.get(("raw", grp)), boundary)
            values = {}
            for m in MEASURES:
                value = se = math.nan
                if (
                    (m.groups == "every" or grp == "all")
                    and all(c in blk for c in m.losses)
                    and (m.estimators != "intervals" or bool(np.isfinite(blk[m.losses[0]]).any()))
                ):
                    value, se = m.summarise(m, blk, context)
                values[m.name], values[f"{m.name}_mcse"] = value, se
            raw_risk, linear_risk = theory_risks(cell, idx)
            rows.append(
                {
                    **params,
                    "estimator": est,
                    "groups": grp,
                    "reps": int(blk["rep"].size),
                    "failures": blk["failures"],
                    **values,
                    "raw_risk": raw_risk,
                    "oracle_risk": oracle_bayes_risk(cell, idx, oracle_risks),
                    "oracle_linear_risk": linear_risk,
                    "p_boundary_theory": p_theory,
                    "level": float(level),
                }
            )
    return rows


#: The type of the summary columns that are not floats (the DataFrame, the CSV and reading it
#: back all follow it).
SUMMARY_COLUMN_TYPES = {
    **dict.fromkeys(("cell", "block", "design", "estimator", "groups", "effects", "errors"), "str"),
    "balanced": "bool",
    "n": "nullable int",  # NA for unbalanced cells
    **dict.fromkeys(("J", "N", "reps", "failures"), "int"),
}


def _summary_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows to a DataFrame with fixed dtypes, so summaries concatenate and compare exactly."""
    import pandas as pd

    make = {
        "str": lambda v: pd.array(v, dtype="str"),
        "bool": lambda v: np.array(v, dtype=bool),
        "nullable int": lambda v: pd.array(v, dtype="Int64"),
        "int": lambda v: np.array(v, dtype=np.int64),
        "float": lambda v: np.array(v, dtype=np.float64),
    }
    return pd.DataFrame(
        {c: make[SUMMARY_COLUMN_TYPES.get(c, "float")]([r[c] for r in rows]) for c in SUMMARY_COLUMNS}
    )


#: Columns of the failures of a cell (``failure_rows``) and of ``tables/failures.csv``.
FAILURE_COLUMNS = ("cell", "rep", "estimator", "message")


def failure_rows(losses, cell: Cell) -> list[tuple]:
    """One ``(cell, rep, estimator, message)`` per failed replication and estimator, in
    registry order of the estimators, then by replication."""
    failed = np.asarray(losses["failed"], dtype=bool) & (np.asarray(losses["groups"]) == "all")
    idx = np.flatnonzero(failed)
    if idx.size == 0:
        return []
    est = np.asarray(losses["estimator"], dtype=object)[idx]
    reps = np.asarray(losses["rep"], dtype=np.int64)[idx]
    msg = np.asarray(losses["message"], dtype=object)[idx] if "message" in losses else np.full(idx.size, "")
    rank = {e: k for k, e in enumerate(registry.order(set(est)))}
    order = sorted(range(idx.size), key=lambda i: (rank[est[i]], reps[i]))
    return [(cell.name, int(reps[i]), str(est[i]), str(msg[i])) for i in order]
