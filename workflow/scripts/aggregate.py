"""The summaries of every cell from their fits, stacked into the study's tables, with their
provenance and failures."""

from pathlib import Path

from shrinkstudy.design.cells import Cell
from shrinkstudy.evaluate.precision import plan_block, read_plan
from shrinkstudy.report.provenance import provenance
from shrinkstudy.store.smkio import logged
from shrinkstudy.report.tables import summarise_study, write_failures, write_tables


def main(smk):
    cells = [Cell.from_spec(c["spec"], block=c["block"]) for c in smk.params.cells]
    # each chunk's files must be those written for its cell and chunk, undamaged
    summary, failures = summarise_study(cells, smk.input.losses, smk.input.varcomp, level=smk.params.level)
    outdir = Path(smk.output.summary).parent
    # the commit of the project that holds the workflow, wherever the run's directory is
    project = Path(smk.scriptdir).resolve().parents[1]
    prov = provenance(
        smk.params.config,
        repo=project,
        estimator_files=list(smk.input.user),
        config_files=smk.params.study_files,
    )
    head = smk.params.headline
    # each plan must be its cell's, written for the study's precision block, undamaged
    block = plan_block(smk.params.config)
    plans = [read_plan(p, cell=c.name, block=block) for p, c in zip(smk.input.plans, cells)] or None
    paths = write_tables(
        summary, outdir, prov, headline_sigma=head["sigma"], seed_design=head["design"], plans=plans
    )
    paths += write_failures(failures, outdir, smk.params.configfiles)
    print(f"{summary['cell'].nunique()} cells, {len(failures)} failed fits; wrote {len(paths)} tables")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
