"""The plan job: a cell's replications from its pilot chunks and the precision targets."""

from __future__ import annotations

from ..design.cells import Cell
from ..evaluate.precision import plan_from_pilot, plan_json
from ..store.smkio import chunk_identities, job, read_parquets, write_text

__all__ = ["plan_job"]


@job
def plan_job(spec: dict, block, name: str, losses_in, varcomp_in, precision: dict, level: float, plan_out) -> None:
    """The plan of the cell ``spec`` (named ``name``) from its pilot chunks' losses and variance
    components (each chunk's files those written for this cell and chunk, undamaged), written to
    ``plan_out``."""
    cell = Cell.from_spec(spec, block=block)
    losses = read_parquets(losses_in, chunk_identities("losses", name, losses_in))
    varcomp = read_parquets(varcomp_in, chunk_identities("varcomp", name, varcomp_in))
    plan = plan_from_pilot(losses, varcomp, cell, precision, precision["chunk_size"], level=level)
    write_text(plan_out, plan_json(plan))
    why = plan["reason"]
    print(
        f"{cell.name}: pilot {plan['pilot']}, planned {plan['replications']}"
        + (f" (capped at {plan['max']})" if plan["capped"] else "")
        + (
            f", set by {why['measure']} of {why['estimator']} (MCSE {why['mcse']:g})"
            if why
            else ", no target applies"
        )
    )
