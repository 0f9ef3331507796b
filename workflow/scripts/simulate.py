"""Simulate replications [start, stop) of one cell: datasets and true group means (Parquet)."""

import numpy as np

from shrinkstudy.design import Cell
from shrinkstudy.simulate import simulate_chunk
from shrinkstudy.smkio import logged, write_parquet


def main(smk):
    spec = smk.params.cell
    cell = Cell(sizes=tuple(spec["sizes"]), sigma=spec["sigma"], tau=spec["tau"], mu=spec["mu"])
    reps = np.arange(int(smk.wildcards.start), int(smk.wildcards.stop))
    data, truth = simulate_chunk(cell, reps, smk.params.base_seed)
    write_parquet(data, smk.output.data)
    write_parquet(truth, smk.output.truth)
    print(f"{cell.name}: replications {reps[0]}-{reps[-1]}, {len(data)} observations")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
