"""Fit every estimator on the datasets of one chunk; store per-replication losses and fits."""

from pathlib import Path

import numpy as np

from shrinkstudy.design import Cell
from shrinkstudy.runner import fit_chunk, truth_means
from shrinkstudy.smkio import logged, read_columns, write_columns


def main(smk):
    spec = smk.params.cell
    cell = Cell.from_spec(spec)
    reps = np.arange(int(smk.wildcards.start), int(smk.wildcards.stop))
    data = read_columns(smk.input.data)
    means = truth_means(read_columns(smk.input.truth), cell, reps)
    project = Path(smk.scriptdir).resolve().parents[1]  # user estimators' files are relative to it
    out = fit_chunk(cell, reps, data, means, smk.params.settings, project)
    write_columns(out.losses, smk.output.losses)
    write_columns(out.varcomp, smk.output.varcomp)
    failed = {k: int(v.sum()) for k, v in out.fit.failed.items() if v.any()}
    print(f"{cell.name}: {len(reps)} datasets fitted; failures: {failed or 'none'}")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
