"""Replications from target Monte Carlo SEs: the plan of one cell from its pilot.

A study's ``precision`` block (``config.Study.precision``) names targets such as "the MCSE of
the relative MSE of blup at most 0.005". Every cell first runs ``pilot`` replications; the
workflow's ``plan`` checkpoint then calls ``plan_from_pilot`` on the pilot's per-replication
losses and writes the cell's plan (``results/plan/{cell}.json``); the cell's summary reads the
chunks the plan asks for.

From the pilot MCSE to replications
-----------------------------------
The MCSE of every measure a target may name (``config.PRECISION_MEASURES``) is the one the
summary reports (``measures.summary_rows`` on the pilot, so the same formula by construction)
and falls as 1/sqrt(R) (Morris, White & Crowther 2019, table 6): MCSE^2 = V / R with V a
per-replication variance,

============ =================================================================================
measure      V (per replication), estimated on the pilot's R_p replications that did not fail
============ =================================================================================
mse          var_i(s_i), s_i the group-averaged squared error (``mcse_mse``)
bias         var_i(ebar_i) (``mcse_mean``)
rel_mse      var_i(z_i), z_i = (x_i - r y_i) / ybar on the losses paired with raw (delta
             method, ``mcse_ratio``)
spread       var_i(z_i) / (4 spread^2), z_i the same on the paired variances (``spread_ratio``)
coverage     var_i(c_i), c_i the replication's fraction of intervals covering (``mcse_mean``)
width        var_i(w_i) (``mcse_mean``)
empse        MCSE^2 = empSE^2 / (2 (R - 1)) instead (``mcse_empse``)
============ =================================================================================

so V = R_p MCSE_p^2 and the target t needs R = V / t^2 replications that do not fail (for
empse, R = 1 + (R_p - 1) (MCSE_p / t)^2). Failed replications are dropped from a summary, so
the replications to run are R / (share of the pilot's that did not fail): in all,
R_run = pilot (MCSE_p / t)^2 for every measure but empse.

Coverage when the pilot saw no variation (every interval of every pilot dataset covered, or
none: MCSE_p = 0, p = 1 or 0): the variance of a fraction in [0, 1] with mean p is at most
p (1 - p), which is 0 at p = 0 or 1 and would end the cell at its pilot. Then V = q (1 - q)
with q = 3 / R_p, the "rule of three" 95% upper bound on a rate never seen in R_p trials: a
conservative count rather than none.

The plan: R_needed = the largest R_run over the targets that apply in the cell (a measure the
cell's summary leaves empty, e.g. coverage of an estimator without intervals, or James-Stein in
an unbalanced cell, does not apply), rounded up to whole chunks of ``chunk_size``, at least the
pilot, at most ``max`` (``capped`` when it needed more); ``reason`` names the target that set
the count. Chunks are the fixed run's (``config.chunk_ranges``), so a cell planned at R has
byte for byte the files and summary of a fixed-``replications`` run of R.
"""

from __future__ import annotations

import json
import math

from .design import Cell
from .measures import summary_rows

__all__ = [
    "PLAN_VERSION",
    "needed_replications",
    "plan_cell",
    "plan_from_pilot",
    "plan_json",
    "read_plan",
]

#: Written into each plan; a plan of another version is an error to read.
PLAN_VERSION = 1
#: Relative slack of the rounding up to whole chunks (a needed 600.0000000001 is 600).
_ROUNDING_SLACK = 1e-9


def needed_replications(
    measure: str, pilot_mcse: float, reps_used: int, reps_run: int, target: float
) -> float:
    """Replications to run (failed ones included) for ``measure``'s MCSE to reach ``target``.

    Parameters
    ----------
    measure : one of ``config.PRECISION_MEASURES``.
    pilot_mcse : the measure's MCSE on the pilot (the summary's).
    reps_used : the pilot replications the summary used (that did not fail), R_p.
    reps_run : the pilot replications run.
    target : the MCSE wanted (> 0).

    Returns
    -------
    float: ``R_p (MCSE_p / t)^2`` (empse: ``1 + (R_p - 1) (MCSE_p / t)^2``), times
    ``reps_run / reps_used``; for coverage with MCSE_p = 0, ``q (1 - q) / t^2`` (q = 3 / R_p)
    times the same. NaN when the measure does not apply (MCSE_p NaN, or no replication used).
    See the module docstring.
    """
    if not (target > 0 and math.isfinite(target)):
        raise ValueError(f"target must be finite and positive, not {target!r}")
    if reps_used < 2 or pilot_mcse is None or not math.isfinite(pilot_mcse):
        return math.nan
    ratio = (pilot_mcse / target) ** 2
    if measure == "empse":
        used = 1.0 + (reps_used - 1.0) * ratio
    elif measure == "coverage" and pilot_mcse == 0:
        q = min(3.0 / reps_used, 0.5)
        used = q * (1.0 - q) / target**2
    else:
        used = reps_used * ratio
    return used * (reps_run / reps_used)


def _round_up(needed: float, chunk: int) -> int:
    return chunk * math.ceil(needed / chunk * (1.0 - _ROUNDING_SLACK)) if needed > 0 else 0


def plan_cell(rows: list[dict], precision: dict, chunk_size: int) -> dict:
    """The plan of one cell from the summary rows of its pilot (``measures.summary_rows``).

    Parameters
    ----------
    rows : the pilot's summary rows (each target reads its estimator's ``"all"`` row).
    precision : the ``precision`` block: ``pilot``, ``max`` and ``targets`` (each a mapping
        of ``estimator``, ``measure`` and ``mcse``).
    chunk_size : replications per chunk.

    Returns
    -------
    dict (plain, JSON-ready): ``version``, ``cell``, ``pilot``, ``max``, ``chunk_size``,
    ``replications`` (the planned count), ``needed`` (the largest unrounded count, null when no
    target applies), ``capped``, ``reason`` (the target that set the count, or null), and
    ``targets``: per target its ``estimator``, ``measure``, ``mcse`` (the target),
    ``pilot_estimate``, ``pilot_mcse``, ``pilot_reps`` (used), ``pilot_run`` and ``needed``
    (null where it does not apply).
    """
    pilot, cap = int(precision["pilot"]), int(precision["max"])
    by_est = {r["estimator"]: r for r in rows if r["groups"] == "all"}
    if not rows:
        raise ValueError("the pilot has no summary rows")
    cell = rows[0]["cell"]
    out_targets = []
    best, reason = None, None
    for t in precision["targets"]:
        est, measure, target = str(t["estimator"]), str(t["measure"]), float(t["mcse"])
        row = by_est.get(est)
        entry = {"estimator": est, "measure": measure, "mcse": target}
        if row is None:
            entry.update(pilot_estimate=None, pilot_mcse=None, pilot_reps=0, pilot_run=0, needed=None)
        else:
            used, run = int(row["reps"]), int(row["reps"]) + int(row["failures"])
            est_value, mcse = float(row[measure]), float(row[f"{measure}_mcse"])
            need = needed_replications(measure, mcse, used, run, target)
            entry.update(
                pilot_estimate=_finite_or_none(est_value),
                pilot_mcse=_finite_or_none(mcse),
                pilot_reps=used,
                pilot_run=run,
                needed=_finite_or_none(need),
            )
            if math.isfinite(need) and (best is None or need > best):
                best, reason = need, {"estimator": est, "measure": measure, "mcse": target}
        out_targets.append(entry)
    rounded = _round_up(best, chunk_size) if best is not None else 0
    planned = min(max(rounded, pilot), cap)
    return {
        "version": PLAN_VERSION,
        "cell": cell,
        "pilot": pilot,
        "max": cap,
        "chunk_size": int(chunk_size),
        "replications": planned,
        "needed": best,
        "capped": rounded > cap,
        "reason": reason,
        "targets": out_targets,
    }


def _finite_or_none(x: float):
    return float(x) if x is not None and math.isfinite(x) else None


def plan_from_pilot(
    losses, varcomp, cell: Cell, precision: dict, chunk_size: int, level: float = 0.95
) -> dict:
    """``plan_cell`` of the pilot's per-replication losses and variance components (the fit
    files of the pilot's chunks), summarised by ``measures.summary_rows`` as the cell's
    summary is."""
    return plan_cell(summary_rows(losses, varcomp, cell, level), precision, chunk_size)


def plan_json(plan: dict) -> str:
    """The plan as JSON text (sorted keys, floats in full: the same plan, the same bytes)."""
    return json.dumps(plan, indent=2, sort_keys=True) + "\n"


def read_plan(path) -> dict:
    """A plan written by ``plan_json``; ValueError for another version."""
    with open(path, encoding="utf-8") as fh:
        plan = json.load(fh)
    if plan.get("version") != PLAN_VERSION:
        raise ValueError(f"{path}: a plan of version {plan.get('version')!r}, not {PLAN_VERSION}")
    return plan
