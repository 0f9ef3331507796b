"""Figure: the seed answer's figure 1 (sample points, true, raw, shrunken means and BLUPs)."""

import json

import pandas as pd

from shrinkstudy.figures import plot_seed_shrinkage, save_figure
from shrinkstudy.smkio import logged


def main(smk):
    data = pd.read_csv(smk.input.data)
    estimates = pd.read_csv(smk.input.estimates)
    with open(smk.input.fit) as fh:
        fit_info = json.load(fh)
    save_figure(plot_seed_shrinkage(data, estimates, fit_info), smk.output.png, smk.output.pdf)


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
