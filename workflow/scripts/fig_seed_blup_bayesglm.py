"""Figure: the seed answer's figure 2 (BLUPs against arm::bayesglm, true means in red)."""

import json

import pandas as pd

from shrinkstudy.figures import plot_seed_blup_bayesglm, save_figure
from shrinkstudy.smkio import logged


def main(smk):
    estimates = pd.read_csv(smk.input.estimates)
    with open(smk.input.fit) as fh:
        fit_info = json.load(fh)
    save_figure(plot_seed_blup_bayesglm(estimates, fit_info), smk.output.png, smk.output.pdf)


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
