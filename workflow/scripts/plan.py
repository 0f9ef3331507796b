"""The plan of one cell: the replications its Monte Carlo SE targets need, from its pilot."""

from shrinkstudy.design.cells import Cell
from shrinkstudy.evaluate.precision import plan_from_pilot, plan_json
from shrinkstudy.store.smkio import chunk_identities, logged, read_parquets, write_text


def main(smk):
    spec = smk.params.cell
    cell = Cell.from_spec(spec, block=smk.params.block)
    precision = smk.params.precision
    # each pilot chunk's files must be those written for this cell and chunk, undamaged
    name = smk.wildcards.cell
    losses = read_parquets(smk.input.losses, chunk_identities("losses", name, smk.input.losses))
    varcomp = read_parquets(smk.input.varcomp, chunk_identities("varcomp", name, smk.input.varcomp))
    plan = plan_from_pilot(losses, varcomp, cell, precision, precision["chunk_size"], level=smk.params.level)
    write_text(smk.output.plan, plan_json(plan))
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


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
