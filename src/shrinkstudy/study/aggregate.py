"""The summaries: one cell's on demand (``summarise_job``), and every cell's stacked into the
study's tables with their provenance and failures (``aggregate_job``)."""

from __future__ import annotations

from pathlib import Path

from ..design.cells import Cell
from ..evaluate.precision import plan_block, read_plan
from ..report.provenance import provenance
from ..report.tables import summarise_study, write_csv, write_failures, write_tables
from ..store.smkio import job

__all__ = ["summarise_job", "aggregate_job"]


@job
def summarise_job(spec: dict, block, losses_in, varcomp_in, level: float, summary_out, failures_out) -> None:
    """The summary and failures of the cell ``spec``, from its fits."""
    cell = Cell.from_spec(spec, block=block)
    summary, failures = summarise_study([cell], losses_in, varcomp_in, level=level)
    write_csv(summary, summary_out)
    write_csv(failures, failures_out)
    print(f"{cell.name}: {int(summary['reps'].max())} replications summarised, {len(failures)} failures")


@job
def aggregate_job(
    cells: list[dict], losses_in, varcomp_in, plans_in, user_in, level: float, config: dict, root,
    study_files, configfiles, headline: dict, summary_out,
) -> None:
    """The summaries of every cell (``cells``: each its spec and block) from their fits, stacked
    into the study's tables beside ``summary_out``, with their provenance (the commit of the
    project ``root`` that holds the workflow, wherever the run's directory is; the user's
    estimator files ``user_in``) and failures."""
    cells = [Cell.from_spec(c["spec"], block=c["block"]) for c in cells]
    # each chunk's files must be those written for its cell and chunk, undamaged
    summary, failures = summarise_study(cells, losses_in, varcomp_in, level=level)
    outdir = Path(summary_out).parent
    prov = provenance(config, repo=root, estimator_files=list(user_in), config_files=study_files)
    # each plan must be its cell's, written for the study's precision block, undamaged
    block = plan_block(config)
    plans = [read_plan(p, cell=c.name, block=block) for p, c in zip(plans_in, cells)] or None
    paths = write_tables(
        summary, outdir, prov, headline_sigma=headline["sigma"], seed_design=headline["design"], plans=plans
    )
    paths += write_failures(failures, outdir, configfiles)
    print(f"{summary['cell'].nunique()} cells, {len(failures)} failed fits; wrote {len(paths)} tables")
