"""Stack the cells' summaries into the study's tables, with their provenance and failures."""

from pathlib import Path

import pandas as pd

from shrinkstudy.precision import read_plan
from shrinkstudy.provenance import provenance
from shrinkstudy.smkio import logged
from shrinkstudy.tables import read_failures_csv, read_summary_csv, write_failures, write_tables


def main(smk):
    # each file must be its cell's (summarise/<cell>.csv, <cell>.failures.csv), whole
    summary = pd.concat([read_summary_csv(p, Path(p).stem) for p in smk.input.summaries], ignore_index=True)
    failures = pd.concat(
        [read_failures_csv(p, Path(p).name.removesuffix(".failures.csv")) for p in smk.input.failures],
        ignore_index=True,
    )
    outdir = Path(smk.output.summary).parent
    # the commit of the project that holds the workflow, wherever the run's directory is
    project = Path(smk.scriptdir).resolve().parents[1]
    prov = provenance(smk.params.config, repo=project)
    head = smk.params.headline
    plans = [read_plan(p) for p in smk.input.plans] or None  # None: fixed replications
    paths = write_tables(
        summary, outdir, prov, headline_sigma=head["sigma"], seed_design=head["design"], plans=plans
    )
    paths += write_failures(failures, outdir, smk.params.configfiles)
    print(f"{summary['cell'].nunique()} cells, {len(failures)} failed fits; wrote {len(paths)} tables")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
