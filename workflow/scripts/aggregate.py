"""Stack the cells' summaries into the study's tables, with their provenance."""

from pathlib import Path

import pandas as pd

from shrinkstudy.provenance import provenance
from shrinkstudy.smkio import logged
from shrinkstudy.tables import write_tables


def main(smk):
    summary = pd.concat([pd.read_csv(p) for p in smk.input.summaries], ignore_index=True)
    # the commit of the project that holds the workflow, wherever the run's directory is
    project = Path(smk.scriptdir).resolve().parents[1]
    prov = provenance(smk.params.config, repo=project)
    paths = write_tables(summary, Path(smk.output.summary).parent, prov)
    print(f"{summary['cell'].nunique()} cells; wrote {len(paths)} tables")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
