"""The seed example's job: its seed, its dataset, every estimator's estimates and its fit."""

from __future__ import annotations

import json

from ..design.cells import Cell
from ..methods.hierbayes import HierPrior
from ..report.seed_example import choose_seed, seed_example
from ..store.smkio import job, write_sealed

__all__ = ["seed_example_job"]


def _csv(frame) -> str:
    return frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")


@job
def seed_example_job(spec: dict, choice: dict, settings: dict, data_out, estimates_out, fit_out) -> None:
    """The seed example of the cell ``spec``, its seed chosen by the config's ``choice``, fitted
    with the study's ``settings``; each file with its checksum record (checked by the figure,
    findings and protocol jobs)."""
    cell = Cell.from_spec(spec)
    chosen = choose_seed(cell, choice, method=settings["method"])
    data, estimates, fit_info = seed_example(
        cell,
        chosen["seed"],
        method=settings["method"],
        level=settings["level"],
        prior=HierPrior(**settings["prior"]),
    )
    fit_info["seed_choice"] = chosen
    write_sealed(data_out, _csv(data))
    write_sealed(estimates_out, _csv(estimates))
    write_sealed(fit_out, json.dumps(fit_info, indent=2) + "\n")
    tau2, sigma2 = fit_info["tau2"], fit_info["sigma2"]
    print(f"{cell.name}, seed {chosen['seed']} ({chosen['rule']}): tau^2 = {tau2:.4g}, sigma^2 = {sigma2:.4g}")
