"""From a chunk of simulated datasets to per-replication losses: what a fit job does
(``fit_job``), and what ``shrinkstudy replicate`` does for a single replication (the same
function, so the two agree to the bit: every estimator's numbers for a replication depend on that
replication alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import fit_settings
from ..design.cells import Cell
from ..design.simulate import chunk_columns, chunk_stats, truth_means
from ..evaluate.losses import loss_columns, varcomp_columns
from ..evaluate.measures import oracle_group_risks
from ..methods.chunk import fit_cell_chunk
from ..methods.estimators import Fit
from ..store.smkio import file_identity, job, read_columns, write_columns

if TYPE_CHECKING:
    import pandas as pd

    from ..config import Study

__all__ = [
    "ChunkFit",
    "Replication",
    "fit_chunk",
    "cell_replications",
    "replicate",
    "fit_job",
]


@dataclass
class ChunkFit:
    """A chunk's fit and its tables (numpy columns of the losses and variance components), and
    the cell's theory stored with the losses (``theory``: the oracle's per-group risks where they
    take a quadrature, ``measures.oracle_group_risks``; else None), with the chunk's sufficient
    statistics and true group means they were computed from (``replicate``'s table shows them)."""

    fit: Fit
    losses: dict
    varcomp: dict
    theory: dict | None = None
    stats: object = None  # the chunk's sufficient statistics (``simulate.SuffStats``)
    means: np.ndarray | None = None  # (R, J) true group means


def fit_chunk(cell: Cell, reps, data: dict, truth: dict, settings: dict, root: Path | str) -> ChunkFit:
    """Fit the study's estimators (``settings``, see ``fit_settings``; user estimators' files
    relative to ``root``) on the datasets ``data`` (columns rep, group, y) of replications
    ``reps`` of ``cell``, with the truth columns ``truth`` (rep, group, mean); the losses and
    variance components."""
    reps = np.asarray(reps, dtype=np.int64)
    stats = chunk_stats(data, cell, reps)
    means = truth_means(truth, cell, reps)
    fit, extra = fit_cell_chunk(cell, reps, data, stats, settings, root)
    vc = varcomp_columns(fit, reps)
    if extra is not None:  # MixedLM's convergence flag, warning count and error, per replication
        vc.update({c: extra[c].to_numpy() for c in extra.columns if c != "rep"})
    risks = oracle_group_risks(cell)  # once per chunk here, not at every aggregation
    theory = None if risks is None else {"oracle_group_risks": [float(r) for r in risks]}
    return ChunkFit(fit, loss_columns(fit, means, reps, cell), vc, theory, stats, means)


@dataclass
class Replication:
    """One replication of a study, regenerated and refitted (``replicate``)."""

    cell: Cell
    rep: int
    data: pd.DataFrame  # rep, group, y
    estimates: pd.DataFrame  # group, n, true_mean, ybar, one column per estimator (+ interval bounds)
    losses: pd.DataFrame  # the loss table's rows of this replication
    varcomp: pd.DataFrame  # its variance components


def cell_replications(study: Study, cell_name: str, workdir: Path | str) -> tuple[int, str]:
    """The replications the study ran of a cell, and where that count comes from: the fixed
    ``replications``, or with a ``precision`` block the cell's plan in the study's results
    below ``workdir`` (the directory the study ran in), checked as the workflow checks it
    (``precision.read_plan``: a damaged plan raises ``smkio.DamagedFile``). KeyError when the
    plan is not there (the study has not planned the cell yet)."""
    if study.precision is None:
        return int(study.config["replications"]), "the study's replications"
    from ..evaluate.precision import plan_block, read_plan

    path = Path(workdir) / study.config["results"] / "plan" / f"{cell_name}.json"
    if not path.is_file():
        raise KeyError(
            f"{path}: no plan of cell {cell_name} (a precision study plans each cell's replications "
            "after its pilot: run the study first, here, where its results are)"
        )
    plan = read_plan(path, cell=cell_name, block=plan_block(study.config))
    return int(plan["replications"]), f"its plan {path}"


def replicate(
    study: Study, cell_name: str, rep: int, root: Path | str, workdir: Path | str = "."
) -> Replication:
    """Regenerate replication ``rep`` of cell ``cell_name`` of ``study`` and fit every estimator,
    exactly as the study's simulate and fit jobs did. ``rep`` must be one the study ran
    (``cell_replications``; with a precision block, from the cell's plan below ``workdir``)."""
    import pandas as pd

    try:
        cell = study.cell(cell_name)
    except KeyError:
        raise KeyError(f"no cell {cell_name!r} in this study (e.g. {study.cells[0].name})") from None
    reps_total, source = cell_replications(study, cell.name, workdir)
    if not 0 <= rep < reps_total:
        raise IndexError(f"replication {rep} is not one of the study's 0 to {reps_total - 1} ({source})")
    reps = np.array([rep], dtype=np.int64)
    data, truth = chunk_columns(cell, reps, study.config["base_seed"])
    out = fit_chunk(cell, reps, data, truth, fit_settings(study.config), root)
    fit = out.fit
    est = pd.DataFrame(
        {
            "group": np.arange(cell.J),
            "n": np.asarray(cell.sizes, dtype=np.int64),
            "true_mean": out.means[0],
            "ybar": out.stats.ybar[0],
        }
    )
    for name, e in fit.estimates.items():
        est[name] = e[0]
    for name, (lo, hi) in fit.intervals.items():
        est[f"{name}_lower"] = lo[0]
        est[f"{name}_upper"] = hi[0]
    return Replication(
        cell=cell,
        rep=int(rep),
        data=pd.DataFrame(data),
        estimates=est,
        losses=pd.DataFrame(out.losses),
        varcomp=pd.DataFrame(out.varcomp),
    )


@job
def fit_job(
    spec: dict, name: str, start: int, stop: int, data_in, truth_in, settings: dict, root,
    losses_out, varcomp_out,
) -> None:
    """Fit every estimator (``settings``; user estimators' files relative to the project
    ``root``) on the datasets of one chunk of the cell ``spec`` (named ``name``); store the
    per-replication losses and variance components. Each input must be the file written for this
    cell and chunk, undamaged."""
    cell = Cell.from_spec(spec)
    reps = np.arange(start, stop)
    data = read_columns(data_in, file_identity("data", name, start, stop))
    truth = read_columns(truth_in, file_identity("truth", name, start, stop))
    out = fit_chunk(cell, reps, data, truth, settings, root)
    write_columns(out.losses, losses_out, file_identity("losses", name, start, stop), extra=out.theory)
    write_columns(out.varcomp, varcomp_out, file_identity("varcomp", name, start, stop))
    failed = {k: int(v.sum()) for k, v in out.fit.failed.items() if v.any()}
    print(f"{cell.name}: {len(reps)} datasets fitted; failures: {failed or 'none'}")
