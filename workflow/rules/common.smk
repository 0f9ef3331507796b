# Helpers of the rules: the checked study, paths and parameters. No rules here.
import sys
from pathlib import Path

# The library is this project's src/, whatever environment is active: first on sys.path here and
# first on PYTHONPATH for every job (a job's script folder, with its link workflow/scripts/shrinkstudy,
# comes after the installed packages, so an environment installed from another copy of the project
# would otherwise run that copy's code). Refused with one line if shrinkstudy was already
# imported from elsewhere.
SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(SRC))
import shrinkstudy

if Path(shrinkstudy.__file__).resolve().parent != (SRC / "shrinkstudy").resolve():
    sys.stderr.write(
        f"error: shrinkstudy is imported from {Path(shrinkstudy.__file__).parent}, not from this "
        f"project's {SRC / 'shrinkstudy'}\n"
    )
    sys.exit(1)
from shrinkstudy.plugins import project_importable

project_importable(SRC)  # first on the jobs' PYTHONPATH
# A user's own modules in the project ('module:function' for effects, estimators) import here and,
# through PYTHONPATH, in every job.
PROJECT = Path(workflow.basedir)
project_importable(PROJECT)
# Software of every rule (for --software-deployment-method conda)
ENV = "../envs/shrinkstudy.yaml"

from snakemake.exceptions import IncompleteCheckpointException

from shrinkstudy.report.captions import design_phrase, figure_captions
from shrinkstudy.report.figures.catalog import SEED_FIGURES, SUMMARY_FIGURES as CATALOG_SUMMARY_FIGURES
from shrinkstudy.config import chunk_ranges, fit_settings, load_study, study_config
from shrinkstudy.design.cells import ConfigError
from shrinkstudy.evaluate.precision import plan_block, read_plan
from shrinkstudy.store.smkio import DamagedFile, checksum_path
from shrinkstudy.report.provenance import library_closure, module_file, script_modules
from shrinkstudy.plugins import function_file
from shrinkstudy.store.runlock import clear_stale_lock

# The study is config/config.yaml when no --configfile is given, else the given file(s) alone
# (no default grid block is merged in); --config key=value replaces a top-level key. The files are
# read again here, strictly (a duplicate key is an error, 1e-3 is a number). Then the config
# against workflow/schemas/config.schema.yaml, once (its defaults filled in, the grid blocks'
# too), and the checks a schema cannot state (a duplicated cell, an unknown design label, the
# caps on a study's size ...), before any job: one line naming the file and line, or the key.
try:
    STUDY = load_study(
        study_config(workflow.config_settings.configfiles, workflow.config_settings.config),
        cwd=Path.cwd(),
        root=Path(workflow.basedir),  # user estimators' files are relative to the project
    )
except ConfigError as exc:
    sys.stderr.write(f"config error: {exc}\n")
    sys.exit(1)
config.clear()
config.update(STUDY.config)

# A lock left by a run that was killed (kill -9, or Ctrl-C while Snakemake cleaned up) is removed
# when no live Snakemake process of this machine runs in this directory, so that the same command
# resumes the run (the workflow profile adds --rerun-incomplete).
if workflow.is_main_process:
    clear_stale_lock(Path.cwd())



def config_file_label(configfiles):
    """The study's file as a command line names it (relative to the project when inside it; None
    for the default study), for the protocol's reproduce commands."""
    if not configfiles:
        return None
    path = Path(configfiles[-1]).resolve()
    try:
        return path.relative_to(Path(workflow.basedir).resolve()).as_posix()
    except ValueError:
        return str(path)


CONFIG_FILE = config_file_label(workflow.config_settings.configfiles)
# The study's files as read (the default study's when none is given): hashed in provenance.json,
# and an input of the aggregate job, so that any edit of them (a comment too) rewrites that record.
STUDY_FILES = [str(f) for f in workflow.config_settings.configfiles] or [str(PROJECT / "config" / "config.yaml")]
RESULTS = STUDY.config["results"].rstrip("/")  # every output below this directory


def res(path):
    """``path`` (a pattern, wildcards and all) inside the study's results directory."""
    return f"{RESULTS}/{path}"


CELLS = [cell.name for cell in STUDY.cells]
# Every cell's chunks with fixed replications; the pilot's with a precision block, whose plan
# checkpoint (workflow/rules/plan.smk) adds the chunks each cell needs.
CHUNKS = STUDY.chunks
PRECISION = STUDY.precision  # None: fixed replications

wildcard_constraints:
    # long form J12_n100x6+2x6_sigma5_... (a long design label hashed: J30_n.1a2b3c4d_sigma...),
    # known standard errors J18_se0.0659x18_... or J8_se.1a2b3c4d_...
    cell=r"J\d+_(?:n(?:[0-9x+]+|\.[0-9a-f]{8})_sigma[0-9.em]+|se(?:[0-9.em]+x\d+|\.[0-9a-f]{8}))_tau[0-9.em]+_mu[0-9.em]+(?:_(?:eff|err)-[A-Za-z0-9_.]+|_sr[0-9.em]+)*",
    start=r"\d+",
    stop=r"\d+",


SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"


LIBRARY = SRC / "shrinkstudy"


def code(script):
    """The files of the library modules ``script`` imports, with every library module they
    import in turn (a subpackage's modules and its ``__init__.py`` included).

    Snakemake does not watch imported code: declared as inputs (``code=code("fit.py")``), a
    changed module reruns the jobs that use it, directly or through another module."""
    modules = library_closure(script_modules(SCRIPTS / script, package_dir=LIBRARY), LIBRARY)
    return [str(module_file(m, LIBRARY)) for m in modules]


def cell_spec(wildcards):
    """``Cell.spec()``: plain Python, tracked as params (a change reruns the cell's jobs)."""
    return STUDY.cell(wildcards.cell).spec()


def effects_files(wildcards):
    """The file of a cell's own effects distribution ('module:function'): an input of its
    simulate and fit jobs, so that editing it reruns them."""
    effects = STUDY.cell(wildcards.cell).effects
    if ":" not in effects:
        return []
    path = function_file(effects, PROJECT)
    return [str(path)] if path else []


def cell_block(wildcards):
    return STUDY.cell(wildcards.cell).block


def pilot_chunks(path):
    """The per-chunk files every cell runs (with a precision block, its pilot's), for the plan."""

    def files(wildcards):
        return [path.format(cell=wildcards.cell, start=a, stop=b) for a, b in CHUNKS]

    return files


def seed_choice(spec):
    """The seed example's choice of seed, as plain Python (tracked as params): ``seed`` and
    ``choose``, and for closest_fit its target and number of candidates."""
    out = {"seed": int(spec["seed"]), "choose": str(spec["choose"])}
    if out["choose"] == "closest_fit":
        out["target"] = {k: float(spec["target"][k]) for k in ("tau", "sigma", "mu")}
        out["candidates"] = int(spec["candidates"])
    return out


def chunks_of(cell):
    """The chunks of a cell: the fixed run's, or with a precision block the ones its plan asks
    for (raises Snakemake's IncompleteCheckpointException until the cell's plan exists). A plan
    that is damaged, hand-edited or not the cell's for this block stops the run before any job,
    with one line naming it (delete it: the plan job writes it again)."""
    if PRECISION is None:
        return CHUNKS
    path = checkpoints.plan.get(cell=cell).output.plan
    try:
        plan = read_plan(path, cell=cell, block=precision_settings())
    except DamagedFile as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
    return chunk_ranges(plan["replications"], STUDY.config["chunk_size"])


def cell_chunks(path):
    """The per-chunk files of one cell (the cell's own summary, on demand)."""

    def files(wildcards):
        return [path.format(cell=wildcards.cell, start=a, stop=b) for a, b in chunks_of(wildcards.cell)]

    return files


def study_chunks(path):
    """The per-chunk files of every cell, for the study's summary. With a precision block, every
    cell whose plan exists is listed; the first missing plan is then asked for (the plans are
    also the summary's inputs, so they all run at once, not one after the other)."""

    def files(wildcards):
        out, missing = [], None
        for cell in CELLS:
            try:
                out += [path.format(cell=cell, start=a, stop=b) for a, b in chunks_of(cell)]
            except IncompleteCheckpointException as exc:  # the cell's plan is still to run
                missing = missing or exc
        if missing is not None:
            raise missing
        return out

    return files


def precision_settings():
    """The precision block as plan params (plain Python, keys in a fixed order)."""
    return plan_block(STUDY.config)


def plan_files():
    """The plans of every cell, for the replication table (none with fixed replications)."""
    return expand(rules.plan.output.plan, cell=CELLS) if PRECISION is not None else []


def sealed(**outputs):
    """A rule's outputs, each with its checksum record (``smkio.write_sealed`` writes both;
    ``<folder>/.checksums/<name>.sha256``), named ``<name>_sha256``. The jobs that read these
    files check them (``smkio.read_checked``); a record is an output, so a deleted one reruns the
    rule, as a deleted file does."""
    records = {f"{name}_sha256": str(checksum_path(path)) for name, path in outputs.items()}
    return {**outputs, **records}


def maybe_temp(path):
    return path if STUDY.config["keep_datasets"] else temp(path)


def all_targets():
    """Every declared output but the per-cell intermediates: each table, the seed example (when
    the config has one), each figure and report page, the findings and the protocol (a deleted one
    is rebuilt)."""
    return list(rules.aggregate.output) + SEED_TARGETS + FIGURE_TARGETS + REPORT_TARGETS


def figure_outputs(specs, folder):
    """Each figure's PNG (in the report, with its caption and category) and PDF in ``folder``,
    named <figure>_png and <figure>_pdf."""
    out = {}
    for fig, spec in specs.items():
        out[f"{fig}_png"] = report(
            f"{folder}/{fig}.png",
            caption=f"../report/{fig}.rst",
            category=spec["category"],
        )
        out[f"{fig}_pdf"] = f"{folder}/{fig}.pdf"
    return out
