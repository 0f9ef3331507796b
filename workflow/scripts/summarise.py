"""Performance measures of one cell with Monte Carlo SEs, from its per-replication losses."""

from pathlib import Path

from shrinkstudy.design import Cell
from shrinkstudy.measures import summary_csv, summary_rows
from shrinkstudy.smkio import file_identity, logged, read_parquets


def main(smk):
    spec = smk.params.cell
    cell = Cell(
        sizes=tuple(spec["sizes"]), sigma=spec["sigma"], tau=spec["tau"], mu=spec["mu"], block=smk.params.block
    )
    # each chunk's files must be those written for this cell and chunk, undamaged
    name = smk.wildcards.cell
    chunks = smk.params.chunks
    losses = read_parquets(smk.input.losses, [file_identity("losses", name, a, b) for a, b in chunks])
    varcomp = read_parquets(smk.input.varcomp, [file_identity("varcomp", name, a, b) for a, b in chunks])
    rows = summary_rows(losses, varcomp, cell, level=smk.params.level)
    Path(smk.output.summary).write_text(summary_csv(rows))
    print(f"{cell.name}: {len(varcomp['rep'])} replications summarised")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
