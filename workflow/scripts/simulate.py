"""Simulate replications [start, stop) of one cell: datasets and true group means (Parquet)."""

import numpy as np

from shrinkstudy.design.cells import Cell
from shrinkstudy.design.simulate import chunk_columns
from shrinkstudy.store.smkio import file_identity, logged, write_columns


def main(smk):
    spec = smk.params.cell
    cell = Cell.from_spec(spec)
    reps = np.arange(int(smk.wildcards.start), int(smk.wildcards.stop))
    data, truth = chunk_columns(cell, reps, smk.params.base_seed)
    start, stop = int(smk.wildcards.start), int(smk.wildcards.stop)
    write_columns(data, smk.output.data, file_identity("data", smk.wildcards.cell, start, stop))
    write_columns(truth, smk.output.truth, file_identity("truth", smk.wildcards.cell, start, stop))
    print(f"{cell.name}: replications {reps[0]}-{reps[-1]}, {len(data['y'])} observations")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
