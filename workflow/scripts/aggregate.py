"""Stack the cells' summaries into the study's tables, with their provenance."""

from pathlib import Path

import pandas as pd

from shrinkstudy.provenance import provenance
from shrinkstudy.smkio import logged
from shrinkstudy.tables import read_summary_csv, write_tables


def main(smk):
    # each file must be its cell's summary (summarise/<cell>.csv), whole
    frames = [read_summary_csv(p, Path(p).stem) for p in smk.input.summaries]
    summary = pd.concat(frames, ignore_index=True)
    paths = write_tables(summary, Path(smk.output.summary).parent, provenance(smk.params.config))
    print(f"{summary['cell'].nunique()} cells; wrote {len(paths)} tables")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
