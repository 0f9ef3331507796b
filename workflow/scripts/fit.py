"""Fit every estimator on the datasets of one chunk; store per-replication losses and fits."""

import numpy as np
import pandas as pd

from shrinkstudy.design import Cell
from shrinkstudy.estimators import Truth, fit_estimators
from shrinkstudy.hierbayes import HierPrior
from shrinkstudy.losses import replication_losses, varcomp_table
from shrinkstudy.simulate import suffstats_from_array, suffstats_from_long
from shrinkstudy.smkio import logged, write_parquet


def chunk_stats(data: pd.DataFrame, cell: Cell, reps: np.ndarray):
    """Sufficient statistics, by reshaping when the file holds whole datasets in order."""
    expected_rows = len(reps) * cell.N
    group = np.repeat(np.arange(cell.J), cell.sizes)
    if (
        len(data) == expected_rows
        and np.array_equal(data["rep"].to_numpy(), np.repeat(reps, cell.N))
        and np.array_equal(data["group"].to_numpy(), np.tile(group, len(reps)))
    ):
        return suffstats_from_array(data["y"].to_numpy().reshape(len(reps), cell.N), cell.sizes)
    stats, labels, _ = suffstats_from_long(data["rep"], data["group"], data["y"])
    if not np.array_equal(labels, reps):
        raise ValueError(f"{cell.name}: dataset file holds replications {labels[:3]}..., expected {reps[:3]}...")
    return stats


def main(smk):
    spec = smk.params.cell
    settings = smk.params.settings
    cell = Cell(sizes=tuple(spec["sizes"]), sigma=spec["sigma"], tau=spec["tau"], mu=spec["mu"])
    reps = np.arange(int(smk.wildcards.start), int(smk.wildcards.stop))
    data = pd.read_parquet(smk.input.data)
    truth = pd.read_parquet(smk.input.truth).sort_values(["rep", "group"])
    means = truth["mean"].to_numpy().reshape(len(reps), cell.J)
    stats = chunk_stats(data, cell, reps)

    varcomp, extra = None, None
    if settings["engine"] == "statsmodels":
        from shrinkstudy.engines import statsmodels_varcomp

        varcomp, extra = statsmodels_varcomp(data, reml=settings["method"] == "REML")
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
    losses = replication_losses(fit, means, reps, cell)
    vc = varcomp_table(fit, reps)
    if extra is not None:
        vc = vc.merge(extra, on="rep", how="left")
    write_parquet(losses, smk.output.losses)
    write_parquet(vc, smk.output.varcomp)
    failed = {k: int(v.sum()) for k, v in fit.failed.items() if v.any()}
    print(f"{cell.name}: {len(reps)} datasets fitted; failures: {failed or 'none'}")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
