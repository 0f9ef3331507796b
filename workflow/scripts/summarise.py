"""Performance measures of one cell with Monte Carlo SEs, from its per-replication losses;
and the cell's failed replications with their messages."""

from pathlib import Path

from shrinkstudy.design import Cell
from shrinkstudy.measures import failure_csv, failure_rows, summary_csv, summary_rows
from shrinkstudy.smkio import chunk_identities, logged, read_parquets


def main(smk):
    spec = smk.params.cell
    cell = Cell.from_spec(spec, block=smk.params.block)
    # each chunk's files must be those written for this cell and chunk, undamaged
    name = smk.wildcards.cell
    losses = read_parquets(smk.input.losses, chunk_identities("losses", name, smk.input.losses))
    varcomp = read_parquets(smk.input.varcomp, chunk_identities("varcomp", name, smk.input.varcomp))
    rows = summary_rows(losses, varcomp, cell, level=smk.params.level)
    failures = failure_rows(losses, cell)
    Path(smk.output.summary).write_text(summary_csv(rows))
    Path(smk.output.failures).write_text(failure_csv(failures))
    print(f"{cell.name}: {len(varcomp['rep'])} replications summarised, {len(failures)} failures")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
