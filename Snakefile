# shrinkstudy: simulation study of shrinkage estimators of group means.
#
#   simulate (cell x replication chunk) -> fit -> aggregate (the summaries of all cells, the
#   tables) -> figures, findings, protocol; one cell's summary on demand (summarise)
#
# With a precision block in the config, each cell's pilot chunks are fitted first, then the
# plan checkpoint (cell) sets how many chunks the cell needs for its Monte Carlo SE targets.
#
# The study is config/config.yaml, or the file given with --configfile alone (read in
# workflow/rules/common.smk, checked against workflow/schemas/config.schema.yaml before any job
# runs). Run: snakemake --cores all   (or: make study)

from snakemake.utils import min_version

min_version("9.0")


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/plan.smk"
include: "workflow/rules/summarise.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
        # the fits of every chunk, which the tables are computed from: a fit file that is missing
        # (one the message of a damaged file said to delete, or the outputs of a fit that stopped
        # on a damaged input) is made again by the same command, and the tables from it, although
        # the tables of an earlier run are there (Snakemake reruns a job for its missing outputs
        # only when a target or a job that runs needs them)
        study_chunks(FIT_LOSSES),
        study_chunks(FIT_VARCOMP),
    default_target: True
