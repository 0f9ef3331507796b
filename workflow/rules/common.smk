# Helpers of the rules: the checked study, paths and parameters. No rules here.
import sys
from pathlib import Path

# The library: importable here from src/, and in the scripts through the link
# workflow/scripts/shrinkstudy (a script's folder is on its sys.path), installed or not.
SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(SRC))
# Software of every rule (for --software-deployment-method conda)
ENV = "../envs/shrinkstudy.yaml"

from snakemake.utils import validate

from shrinkstudy.config import load_study
from shrinkstudy.design import ConfigError
from shrinkstudy.provenance import library_closure

# The config against workflow/schemas/config.schema.yaml, and the checks a schema cannot state
# (a duplicated cell, an unknown design label ...), before any job: one line naming the key.
try:
    STUDY = load_study(dict(config))
except ConfigError as exc:
    sys.stderr.write(f"config error: {exc}\n")
    sys.exit(1)
config.update(STUDY.config)
# The same schema through Snakemake's own validator (it passes whenever load_study did).
validate(config, "../schemas/config.schema.yaml")

RESULTS = STUDY.config["results"].rstrip("/")  # every output below this directory


def res(path):
    """``path`` (a pattern, wildcards and all) inside the study's results directory."""
    return f"{RESULTS}/{path}"


CELLS = [cell.name for cell in STUDY.cells]
CHUNKS = STUDY.chunks

wildcard_constraints:
    cell=r"J\d+_n[0-9x+]+_sigma[0-9.em]+_tau[0-9.em]+_mu[0-9.em]+(?:_(?:eff|err)-[A-Za-z0-9_.]+|_sr[0-9.em]+)*",
    start=r"\d+",
    stop=r"\d+",


def lib(*modules):
    """Library modules a rule's script uses, with every library module they import in turn.

    Snakemake does not watch imported code: declared as inputs, a changed module reruns the
    jobs that use it, directly or through another module."""
    return [str(SRC / "shrinkstudy" / f"{m}.py") for m in library_closure(modules)]


def cell_spec(wildcards):
    """``Cell.spec()``: plain Python, tracked as params (a change reruns the cell's jobs)."""
    return STUDY.cell(wildcards.cell).spec()


def cell_block(wildcards):
    return STUDY.cell(wildcards.cell).block


def cell_chunks(path):
    """The per-chunk files of one cell, for the cell's summary."""

    def files(wildcards):
        return [path.format(cell=wildcards.cell, start=a, stop=b) for a, b in CHUNKS]

    return files


def fit_settings():
    c = STUDY.config
    return {
        "estimators": list(c["estimators"]),
        "method": c["method"],
        "engine": c["engine"],
        "level": float(c["level"]),
        "prior": {k: c["hier_bayes_prior"][k] for k in sorted(c["hier_bayes_prior"])},
    }


def maybe_temp(path):
    return path if STUDY.config["keep_datasets"] else temp(path)


def all_targets():
    return [rules.aggregate.output.summary] + FIGURE_TARGETS
