"""Figure: the seed answer's figure 1 (sample points, true, raw, shrunken means and BLUPs)."""

import io
import json

import pandas as pd

from shrinkstudy.figures import plot_seed_shrinkage, save_figure
from shrinkstudy.smkio import logged, read_checked


def main(smk):
    # the seed example's files as written (checksums), else one line naming the file
    data = pd.read_csv(io.BytesIO(read_checked(smk.input.data)))
    estimates = pd.read_csv(io.BytesIO(read_checked(smk.input.estimates)))
    fit_info = json.loads(read_checked(smk.input.fit))
    save_figure(plot_seed_shrinkage(data, estimates, fit_info), smk.output.png, smk.output.pdf)


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
