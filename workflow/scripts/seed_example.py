"""The seed answer's illustration: one dataset of its design and every estimator on it."""

import json
from pathlib import Path

from shrinkstudy.design import Cell
from shrinkstudy.hierbayes import HierPrior
from shrinkstudy.seed_example import choose_seed, seed_example
from shrinkstudy.smkio import logged


def main(smk):
    spec, settings = smk.params.cell, smk.params.settings
    cell = Cell.from_spec(spec)
    choice = choose_seed(cell, smk.params.choice, method=settings["method"])
    data, estimates, fit_info = seed_example(
        cell,
        choice["seed"],
        method=settings["method"],
        level=settings["level"],
        prior=HierPrior(**settings["prior"]),
    )
    fit_info["seed_choice"] = choice
    Path(smk.output.data).parent.mkdir(parents=True, exist_ok=True)
    data.to_csv(smk.output.data, index=False, float_format="%.10g")
    estimates.to_csv(smk.output.estimates, index=False, float_format="%.10g")
    with open(smk.output.fit, "w") as fh:
        json.dump(fit_info, fh, indent=2)
        fh.write("\n")
    tau2, sigma2 = fit_info["tau2"], fit_info["sigma2"]
    print(f"{cell.name}, seed {choice['seed']} ({choice['rule']}): tau^2 = {tau2:.4g}, sigma^2 = {sigma2:.4g}")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
