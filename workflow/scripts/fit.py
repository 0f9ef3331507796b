"""Fit every estimator on the datasets of one chunk; store per-replication losses and fits."""

import numpy as np

from shrinkstudy.design import Cell
from shrinkstudy.estimators import Truth, fit_estimators
from shrinkstudy.hierbayes import HierPrior
from shrinkstudy.losses import loss_columns, varcomp_columns
from shrinkstudy.simulate import suffstats_from_array, suffstats_from_long
from shrinkstudy.smkio import file_identity, logged, read_columns, write_columns


def chunk_stats(data: dict, cell: Cell, reps: np.ndarray):
    """Sufficient statistics, by reshaping when the file holds whole datasets in order."""
    expected_rows = len(reps) * cell.N
    group = np.repeat(np.arange(cell.J), cell.sizes)
    if (
        len(data["y"]) == expected_rows
        and np.array_equal(data["rep"], np.repeat(reps, cell.N))
        and np.array_equal(data["group"], np.tile(group, len(reps)))
    ):
        return suffstats_from_array(data["y"].reshape(len(reps), cell.N), cell.sizes)
    stats, labels, _ = suffstats_from_long(data["rep"], data["group"], data["y"])
    if not np.array_equal(labels, reps):
        raise ValueError(f"{cell.name}: dataset file holds replications {labels[:3]}..., expected {reps[:3]}...")
    return stats


def main(smk):
    spec = smk.params.cell
    settings = smk.params.settings
    cell = Cell(sizes=tuple(spec["sizes"]), sigma=spec["sigma"], tau=spec["tau"], mu=spec["mu"])
    start, stop = int(smk.wildcards.start), int(smk.wildcards.stop)
    reps = np.arange(start, stop)
    # each input must be the file written for this cell and chunk, undamaged
    data = read_columns(smk.input.data, file_identity("data", smk.wildcards.cell, start, stop))
    truth = read_columns(smk.input.truth, file_identity("truth", smk.wildcards.cell, start, stop))
    order = np.lexsort((truth["group"], truth["rep"]))
    means = truth["mean"][order].reshape(len(reps), cell.J)
    stats = chunk_stats(data, cell, reps)

    varcomp, extra = None, None
    if settings["engine"] == "statsmodels":
        import pandas as pd

        from shrinkstudy.engines import statsmodels_varcomp

        varcomp, extra = statsmodels_varcomp(pd.DataFrame(data), reml=settings["method"] == "REML")
        if not np.array_equal(extra["rep"].to_numpy(), reps):
            raise ValueError(f"{cell.name}: statsmodels fits do not cover replications {reps[0]}-{reps[-1]}")
    fit = fit_estimators(
        stats,
        settings["estimators"],
        truth=Truth(cell.mu, cell.tau, cell.sigma),
        method=settings["method"],
        level=settings["level"],
        prior=HierPrior(**settings["prior"]),
        varcomp=varcomp,
    )
    vc = varcomp_columns(fit, reps)
    if extra is not None:  # MixedLM's convergence flag, warning count and error, per replication
        vc.update({c: extra[c].to_numpy() for c in extra.columns if c != "rep"})
    losses = loss_columns(fit, means, reps, cell)
    write_columns(losses, smk.output.losses, file_identity("losses", smk.wildcards.cell, start, stop))
    write_columns(vc, smk.output.varcomp, file_identity("varcomp", smk.wildcards.cell, start, stop))
    failed = {k: int(v.sum()) for k, v in fit.failed.items() if v.any()}
    print(f"{cell.name}: {len(reps)} datasets fitted; failures: {failed or 'none'}")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
