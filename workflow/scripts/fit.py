"""Fit every estimator on the datasets of one chunk; store per-replication losses and fits."""

from pathlib import Path

import numpy as np

from shrinkstudy.design.cells import Cell
from shrinkstudy.study.fit import fit_chunk, truth_means
from shrinkstudy.store.smkio import file_identity, logged, read_columns, write_columns


def main(smk):
    spec = smk.params.cell
    cell = Cell.from_spec(spec)
    start, stop = int(smk.wildcards.start), int(smk.wildcards.stop)
    reps = np.arange(start, stop)
    # each input must be the file written for this cell and chunk, undamaged
    name = smk.wildcards.cell
    data = read_columns(smk.input.data, file_identity("data", name, start, stop))
    means = truth_means(read_columns(smk.input.truth, file_identity("truth", name, start, stop)), cell, reps)
    project = Path(smk.scriptdir).resolve().parents[1]  # user estimators' files are relative to it
    out = fit_chunk(cell, reps, data, means, smk.params.settings, project)
    write_columns(out.losses, smk.output.losses, file_identity("losses", name, start, stop), extra=out.theory)
    write_columns(out.varcomp, smk.output.varcomp, file_identity("varcomp", name, start, stop))
    failed = {k: int(v.sum()) for k, v in out.fit.failed.items() if v.any()}
    print(f"{cell.name}: {len(reps)} datasets fitted; failures: {failed or 'none'}")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
