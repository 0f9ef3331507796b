"""One cell's performance measures with Monte Carlo SEs, and its failed replications with their
messages (on demand: the study's summary is written by aggregate.py for all cells)."""

from shrinkstudy.design.cells import Cell
from shrinkstudy.store.smkio import logged
from shrinkstudy.report.tables import summarise_study, write_csv


def main(smk):
    cell = Cell.from_spec(smk.params.cell, block=smk.params.block)
    summary, failures = summarise_study([cell], smk.input.losses, smk.input.varcomp, level=smk.params.level)
    write_csv(summary, smk.output.summary)
    write_csv(failures, smk.output.failures)
    print(f"{cell.name}: {int(summary['reps'].max())} replications summarised, {len(failures)} failures")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
