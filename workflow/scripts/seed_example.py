"""The seed answer's illustration: one dataset of its design and every estimator on it."""

import json

from shrinkstudy.design.cells import Cell
from shrinkstudy.methods.hierbayes import HierPrior
from shrinkstudy.report.seed_example import choose_seed, seed_example
from shrinkstudy.store.smkio import logged, write_sealed


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
    # each with its checksum record, checked by the figure, findings and protocol jobs
    write_sealed(smk.output.data, data.to_csv(index=False, float_format="%.10g", lineterminator="\n"))
    write_sealed(smk.output.estimates, estimates.to_csv(index=False, float_format="%.10g", lineterminator="\n"))
    write_sealed(smk.output.fit, json.dumps(fit_info, indent=2) + "\n")
    tau2, sigma2 = fit_info["tau2"], fit_info["sigma2"]
    print(f"{cell.name}, seed {choice['seed']} ({choice['rule']}): tau^2 = {tau2:.4g}, sigma^2 = {sigma2:.4g}")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
