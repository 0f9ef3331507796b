"""Performance measures of one cell with Monte Carlo SEs, from its per-replication losses."""

from shrinkstudy.design import Cell
from shrinkstudy.measures import summarise_cell
from shrinkstudy.smkio import logged, read_parquets


def main(smk):
    spec = smk.params.cell
    cell = Cell(
        sizes=tuple(spec["sizes"]), sigma=spec["sigma"], tau=spec["tau"], mu=spec["mu"], block=smk.params.block
    )
    losses = read_parquets(smk.input.losses)
    varcomp = read_parquets(smk.input.varcomp)
    summary = summarise_cell(losses, varcomp, cell, level=smk.params.level)
    summary.to_csv(smk.output.summary, index=False, float_format="%.10g")
    print(f"{cell.name}: {losses['rep'].nunique()} replications summarised")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
