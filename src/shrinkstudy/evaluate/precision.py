"""Replications from target Monte Carlo SEs: the plan of one cell from its pilot.

A study's ``precision`` block (``config.Study.precision``) names targets such as "the MCSE of
the relative MSE of blup at most 0.005". Every cell first runs ``pilot`` replications; the
workflow's ``plan`` checkpoint then calls ``plan_from_pilot`` on the pilot's per-replication
losses and writes the cell's plan (``results/plan/{cell}.json``); the cell's summary reads the
chunks the plan asks for.

From the pilot MCSE to replications
-----------------------------------
The MCSE of every measure a target may name (``measures.PRECISION_MEASURES``) is the one the
summary reports (``measures.summary_rows`` on the pilot, so the same formula by construction)
and falls as 1/sqrt(R) (Morris, White & Crowther 2019, table 6). Each measure's entry
(``measures.MEASURES``, its ``precision``) says how:

* "mean": MCSE^2 = V / R with V a per-replication variance (e.g. of s_i for the MSE, of z_i = (x_i - r y_i) / ybar on
  the losses paired with raw for the relative MSE, the same on the paired variances divided by
  4 spread^2 for the spread ratio, of the per-replication values for a plain mean), so
  V = R_p MCSE_p^2 on the pilot's R_p replications that did not fail and the target t needs
  R = V / t^2 replications that do not fail;
* "empse": MCSE^2 = empSE^2 / (2 (R - 1)), so R = 1 + (R_p - 1) (MCSE_p / t)^2;
* "fraction" (coverage: a mean of per-replication fractions c_i in [0, 1]): as "mean", with the
  case below.

Failed replications are dropped from a summary, so the replications to run are R / (share of
the pilot's that did not fail): in all, R_run = pilot (MCSE_p / t)^2 for every "mean" measure.

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

A count beyond ``NEEDED_CEILING`` (a target far below what the pilot's MCSE allows, or beyond a
float's range) is recorded as ``NEEDED_CEILING``: far above any ``max`` (the schema's is 1e7),
so the cell is held at its ``max`` and flagged capped.

The plan file
-------------
``plan_json`` writes the plan with a SHA-256 of its content (``sha256``); ``read_plan`` checks
it, and with the cell and the precision block it was planned for, that the plan is theirs and
within the block's bounds: the pilot, max and chunk size of the block, whole chunks from the
pilot to max, the count that its ``needed`` gives, the block's targets. A plan that is damaged
(a flipped bit turns 20 replications into 30), hand-edited (20000 above a max of 200), of
another cell or block raises ``smkio.DamagedFile``: one line naming the file, which says to
delete it and run the same command again (the plan checkpoint then writes it anew).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from ..design.cells import Cell
from .measures import MEASURES_BY_NAME, summary_rows
from ..store.smkio import DamagedFile

__all__ = [
    "PLAN_VERSION",
    "NEEDED_CEILING",
    "check_plan",
    "needed_replications",
    "plan_block",
    "plan_cell",
    "plan_from_pilot",
    "plan_json",
    "read_plan",
]

#: Written into each plan; a plan of another version is an error to read.
PLAN_VERSION = 1
#: Relative slack of the rounding up to whole chunks (a needed 600.0000000001 is 600).
_ROUNDING_SLACK = 1e-9
#: The largest count a plan records (see the module docstring): beyond any ``max``.
NEEDED_CEILING = 1e15


def needed_replications(
    measure: str,
    pilot_mcse: float,
    reps_used: int,
    reps_run: int,
    target: float,
    cap: float = NEEDED_CEILING,
) -> float:
    """Replications to run (failed ones included) for ``measure``'s MCSE to reach ``target``.

    Parameters
    ----------
    measure : one of ``measures.PRECISION_MEASURES``.
    pilot_mcse : the measure's MCSE on the pilot (the summary's).
    reps_used : the pilot replications the summary used (that did not fail), R_p.
    reps_run : the pilot replications run.
    target : the MCSE wanted (> 0).
    cap : the largest count returned (a larger one, or one beyond a float's range, is ``cap``).

    Returns
    -------
    float: ``R_p (MCSE_p / t)^2`` (a measure whose ``precision`` is "empse": ``1 + (R_p - 1)
    (MCSE_p / t)^2``), times ``reps_run / reps_used``; for a "fraction" (coverage) with MCSE_p = 0, ``q (1 - q) / t^2`` (q = 3 / R_p)
    times the same; at most ``cap``. NaN when the measure does not apply (MCSE_p NaN, or no
    replication used). See the module docstring.
    """
    if not (target > 0 and math.isfinite(target)):
        raise ValueError(f"target must be finite and positive, not {target!r}")
    kind = MEASURES_BY_NAME[measure].precision if measure in MEASURES_BY_NAME else ""
    if not kind:
        raise ValueError(f"{measure!r} is not a measure a precision target may name")
    if reps_used < 2 or pilot_mcse is None or not math.isfinite(pilot_mcse):
        return math.nan
    r = pilot_mcse / target
    ratio = r * r  # inf beyond a float's range (r ** 2 would raise OverflowError)
    if kind == "empse":
        used = 1.0 + (reps_used - 1.0) * ratio
    elif kind == "fraction" and pilot_mcse == 0:
        q = min(3.0 / reps_used, 0.5)
        t2 = target * target
        used = q * (1.0 - q) / t2 if t2 > 0 else math.inf
    else:
        used = reps_used * ratio
    return min(used * (reps_run / reps_used), float(cap))


def plan_block(config: dict) -> dict | None:
    """The study's ``precision`` block as its plans are made from it (plain Python, keys in a
    fixed order: the plan job's params): ``pilot``, ``max``, the study's ``chunk_size`` and the
    ``targets`` (estimator, measure, mcse). None with fixed replications."""
    block = config.get("precision")
    if block is None:
        return None
    return {
        "pilot": int(block["pilot"]),
        "max": int(block["max"]),
        "chunk_size": int(config["chunk_size"]),
        "targets": [
            {"estimator": str(t["estimator"]), "measure": str(t["measure"]), "mcse": float(t["mcse"])}
            for t in block["targets"]
        ],
    }


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


def _digest(plan: dict) -> str:
    """SHA-256 of the plan's content (canonical JSON: sorted keys, no spaces, floats in full)."""
    body = {k: v for k, v in plan.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def plan_json(plan: dict) -> str:
    """The plan as JSON text with its SHA-256 (sorted keys, floats in full: the same plan, the
    same bytes)."""
    body = {k: v for k, v in plan.items() if k != "sha256"}
    return json.dumps({**body, "sha256": _digest(body)}, indent=2, sort_keys=True, allow_nan=False) + "\n"


def read_plan(path, cell: str | None = None, block: dict | None = None) -> dict:
    """A plan written by ``plan_json`` (without its ``sha256``), whole and unchanged.

    With ``cell`` (its name) and ``block`` (``pilot``, ``max``, ``chunk_size`` and ``targets``,
    as the plan job is given them), also ``check_plan``. A missing, empty, unreadable, damaged,
    hand-edited or foreign plan, or one of another version, raises ``smkio.DamagedFile`` (a
    ValueError): one line naming the file, which says to delete it and run the same command."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DamagedFile(path, "missing") from None
    if not raw:
        raise DamagedFile(path, "empty file (0 bytes)")
    try:
        plan = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise DamagedFile(path, f"not a readable plan ({type(exc).__name__}: {exc})") from None
    if not isinstance(plan, dict):
        raise DamagedFile(path, "not a readable plan (not a JSON object)")
    if plan.get("version") != PLAN_VERSION:
        raise DamagedFile(path, f"a plan of version {plan.get('version')!r}, not {PLAN_VERSION}")
    if "sha256" not in plan:
        raise DamagedFile(path, "not a plan of this workflow (no checksum)")
    try:
        same = plan["sha256"] == _digest(plan)
    except (TypeError, ValueError):  # e.g. NaN or Infinity put in by hand
        same = False
    if not same:
        raise DamagedFile(path, "its values differ from those written (checksum mismatch)")
    plan = {k: v for k, v in plan.items() if k != "sha256"}
    if cell is not None or block is not None:
        check_plan(plan, cell, block, path)
    return plan


def check_plan(plan: dict, cell: str | None, block: dict | None, path="plan") -> None:
    """The plan is ``cell``'s (its name), planned for ``block`` (``pilot``, ``max``,
    ``chunk_size``, ``targets``: the plan job's), and within its bounds: whole chunks from the
    pilot to max, the count its ``needed`` gives (``plan_cell``'s rounding), ``capped`` as that
    count says. Else ``smkio.DamagedFile`` naming ``path`` and the first value that is wrong."""

    def bad(reason):
        raise DamagedFile(path, reason)

    if cell is not None and plan.get("cell") != cell:
        bad(f"is the plan of cell {plan.get('cell')!r}, expected {cell!r}")
    counts = {k: plan.get(k) for k in ("pilot", "max", "chunk_size", "replications")}
    for key, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int):
            bad(f"{key} {value!r} is not a whole number")
    if block is not None:
        for key in ("pilot", "max", "chunk_size"):
            if counts[key] != int(block[key]):
                bad(f"was planned with {key} {counts[key]}, not the study's {int(block[key])}")
        want = [(str(t["estimator"]), str(t["measure"]), float(t["mcse"])) for t in block["targets"]]
        try:
            have = [(t["estimator"], t["measure"], t["mcse"]) for t in plan["targets"]]
        except (KeyError, TypeError):
            have = None
        if have != want:
            bad("was planned for other precision targets than the study's")
    reps, pilot, cap, chunk = counts["replications"], counts["pilot"], counts["max"], counts["chunk_size"]
    if not pilot <= reps <= cap:
        bad(f"plans {reps} replications, outside the block's pilot {pilot} to max {cap}")
    if chunk <= 0 or reps % chunk:
        bad(f"plans {reps} replications, not whole chunks of {chunk}")
    needed = plan.get("needed")
    is_count = isinstance(needed, (int, float)) and not isinstance(needed, bool)
    if needed is not None and not (is_count and math.isfinite(needed) and needed >= 0):
        bad(f"needed {needed!r} is not a count")
    rounded = _round_up(needed, chunk) if needed is not None else 0
    if reps != min(max(rounded, pilot), cap):
        bad(f"plans {reps} replications where its needed {needed!r} gives {min(max(rounded, pilot), cap)}")
    if plan.get("capped") is not (rounded > cap):
        bad(f"capped {plan.get('capped')!r} where its needed {needed!r} and max {cap} say {rounded > cap}")
