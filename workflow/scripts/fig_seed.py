"""A figure of the seed example (the answer's figures 1 and 2), its entry of
``shrinkstudy.report.figures.catalog.SEED_FIGURES`` found by the rule's name: the seed example's files it
names as inputs (the data and estimates tables, the fit's JSON), in that order, are the arguments of
its drawing function."""

import io
import json

import pandas as pd

from shrinkstudy.report import figures
from shrinkstudy.report.figures.catalog import SEED_FIGURES
from shrinkstudy.store.smkio import logged, read_checked

#: How each of the seed example's files is read.
READ = {
    "data": lambda raw: pd.read_csv(io.BytesIO(raw)),
    "estimates": lambda raw: pd.read_csv(io.BytesIO(raw)),
    "fit": json.loads,
}


def main(smk):
    (fig,) = [f for f in SEED_FIGURES if f.rule == smk.rule]
    # the seed example's files as written (checksums), else one line naming the file
    args = [READ[key](read_checked(smk.input[key])) for key in fig.inputs]
    draw = getattr(figures, fig.draw.partition(":")[2])
    figures.save_figure(draw(*args), smk.output.png, smk.output.pdf)


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
