"""Load and check a study configuration before any job runs.

``load_study(config)`` fills the schema's defaults, checks types and ranges against
``workflow/schemas/config.schema.yaml`` and the meaning of the values (design labels, J < 2,
duplicated cells, replications a multiple of chunk_size, raw among the estimators, the
``precision`` block's counts and targets), and raises ``ConfigError`` with one line that names
the key and the value.

Replications per cell: a fixed ``replications``, or a ``precision`` block (``Study.precision``):
every cell runs ``pilot`` replications, and the workflow's ``plan`` checkpoint
(``shrinkstudy.evaluate.precision``) sets each cell's count from Monte Carlo SE targets, in whole chunks
of ``chunk_size``, at most ``max``. The two are exclusive.

Every number is finite and within a stated bound (the schema's minimum/maximum, and the caps
below on the size of a study: observations per dataset and per job, datasets and jobs in all),
so that a study that passes runs within the memory of a 24 GB machine and its DAG is built in
under a minute. ``read_config_file`` reads a study file strictly: a missing, non-UTF-8, empty or
invalid file, a key given twice, or ``__use_yte__`` (Snakemake's YAML templating, which runs
Python), is one line naming the file (and the line); ``check_config_files`` does so for the
files of ``snakemake --configfile`` before Snakemake reads them (the workflow profile calls it).
``results`` holds word characters and . - + / only (braces would be Snakemake wildcards).

Which file is the study (``study_config``): with no config file given, config/config.yaml;
with one or more, those files alone (a later file's top-level key replaces an earlier one's
as a whole, so a ``grid`` is never a mix of two files); ``--config key=value`` replaces that
top-level key last.
"""

from __future__ import annotations

import copy
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from .methods import registry
from .design import worlds
from .design.cells import Cell, ConfigError, cells_from_config, parse_sizes, sizes_label
from .evaluate.measures import PRECISION_MEASURES
from .methods.plugins import TIME_LIMIT, PluginError, estimator_entries

__all__ = [
    "SCHEMA_PATH",
    "DEFAULT_CONFIG",
    "PROJECT_FOLDERS",
    "MAX_OBS_PER_DATASET",
    "MAX_OBS_PER_JOB",
    "MAX_DATASETS",
    "MAX_JOBS",
    "PRECISION_MEASURES",
    "Study",
    "load_study",
    "load_config_file",
    "read_config_file",
    "check_config_files",
    "study_config",
    "chunk_ranges",
    "fit_settings",
]

#: The project directory (user estimators' files are relative to it) and the config schema.
PROJECT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = PROJECT / "workflow" / "schemas" / "config.schema.yaml"
#: The key that turns on Snakemake's YAML templating (Python expressions) in a config file.
YTE_KEY = "__use_yte__"
#: The study run when no config file is given.
DEFAULT_CONFIG = PROJECT / "config" / "config.yaml"
#: Folders of the project that ``results`` may neither be nor lie in.
PROJECT_FOLDERS = (
    ".git", ".snakemake", ".venv", ".ci", "config", "docs", "profiles", "src", "tests", "workflow",
)

#: Characters that ``results`` may not hold: anything but word characters and . - + / (braces are
#: Snakemake's wildcards; spaces, quotes, globs and the like break its paths and shell commands).
_RESULTS_BAD = re.compile(r"[^\w.+/-]")

#: Caps on the size of a study (the schema's description states them too). One job holds
#: chunk_size datasets in memory (a fit job of 4.8 million observations peaked at 390 MB RSS):
#: these keep a job below about 1.5 GB, a machine of 24 GB running 16 of them at once, and the
#: DAG small enough to be built in under a minute (10,000 chunks: 41 s on 2 busy cores).
MAX_OBS_PER_DATASET = 1_000_000  # N = sum of the group sizes of a cell
MAX_OBS_PER_JOB = 20_000_000  # chunk_size x N
MAX_DATASETS = 100_000_000  # cells x replications
MAX_JOBS = 10_000  # cells x chunks (simulate jobs; as many fit jobs)
MAX_GROUPS = 100_000  # J of a cell



@dataclass(frozen=True)
class Study:
    config: dict
    cells: tuple[Cell, ...]
    seed_cell: Cell  # the seed answer's design (the seed example's when the study has one)
    estimators: tuple[registry.Estimator, ...] = ()

    @property
    def seed_example(self) -> dict | None:
        """The ``seed_example`` block, or None: a study runs the seed example (its dataset, its
        two figures, its lines in the protocol and the findings) only when its config has one."""
        return self.config.get("seed_example")

    @property
    def user_files(self) -> list[str]:
        """Files of the user's estimators (inputs of the fit jobs)."""
        return sorted({e.source for e in self.estimators if e.source})

    @property
    def precision(self) -> dict | None:
        """The ``precision`` block (pilot, max, targets), or None for fixed replications."""
        return self.config.get("precision")

    @property
    def chunks(self) -> list[tuple[int, int]]:
        """The chunks every cell runs: all of them with fixed ``replications``; the pilot's
        with a ``precision`` block (the plan of each cell adds the rest)."""
        reps = self.precision["pilot"] if self.precision else self.config["replications"]
        return chunk_ranges(reps, self.config["chunk_size"])

    def cell(self, name: str) -> Cell:
        for c in self.cells:
            if c.name == name:
                return c
        raise KeyError(name)


def chunk_ranges(replications: int, chunk_size: int) -> list[tuple[int, int]]:
    """Half-open replication ranges [start, stop) of the chunks."""
    return [(s, min(s + chunk_size, replications)) for s in range(0, replications, chunk_size)]


def fit_settings(config: dict) -> dict:
    """The settings of a fit job, from a checked config (plain Python, Snakemake params); the
    time limit of the user's estimators only where the study has some."""
    out = {
        "estimators": list(config["estimators"]),
        "method": config["method"],
        "engine": config["engine"],
        "level": float(config["level"]),
        "prior": {k: config["hier_bayes_prior"][k] for k in sorted(config["hier_bayes_prior"])},
    }
    if any(not (isinstance(e, str) and e in registry.names()) for e in config["estimators"]):
        out["time_limit"] = float(config.get("estimator_time_limit", TIME_LIMIT))
    return out


def _schema(path: Path | None = None) -> dict:
    """The schema, with the registry's built-in estimator names as the enum and the default, and
    the measures a precision target may name (``measures.PRECISION_MEASURES``) as theirs, and
    the grid block's world keys from ``worlds.COMPONENTS``."""
    with open(path or SCHEMA_PATH) as fh:
        schema = yaml.safe_load(fh)
    measure = schema.get("$defs", {}).get("precision_measure")
    if measure is not None:
        measure["enum"] = list(PRECISION_MEASURES)
    block = schema.get("properties", {}).get("grid", {}).get("additionalProperties", {}).get("properties")
    if block is not None:  # the world's keys from their components (the file holds the same)
        block.update(worlds.schema_properties())
    builtin = schema.get("$defs", {}).get("builtin_estimator")
    if builtin is not None:
        builtin["enum"] = list(registry.names())
        schema["properties"]["estimators"]["default"] = list(registry.names())
    return schema


def _fill_defaults(config: dict, schema: dict) -> dict:
    out = copy.deepcopy(config)
    for key, sub in schema.get("properties", {}).items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if isinstance(out.get(key), dict) and sub.get("type") == "object":
            out[key] = _fill_defaults(out[key], sub)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) and extra.get("type") == "object":  # the grid's blocks
        for key, value in out.items():
            if key not in schema.get("properties", {}) and isinstance(value, dict):
                out[key] = _fill_defaults(value, extra)
    return out


def _where(error) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "config"


def load_study(
    config: dict, schema_path: Path | None = None, *, cwd=None, root: Path | str = PROJECT
) -> Study:
    """Check ``config`` and expand its grid; raise ConfigError (one line) on the first problem.

    ``cwd``: the directory the study runs in; given, ``results`` is also checked against
    it (not an existing file, nor below one). User estimators' files are relative to ``root``
    (the project); each is imported and its signature checked here, before any job."""
    import jsonschema

    if not isinstance(config, dict):
        raise ConfigError("config: expected a mapping of keys to values")
    schema = _schema(schema_path)
    _check_finite(config, "")
    if "precision" in config and "replications" in config:
        raise ConfigError(
            "precision: a precision block sets the replications of each cell; remove "
            "'replications' (or the block, for a fixed count)"
        )
    config = _fill_defaults(config, schema)
    if "precision" in config:
        del config["replications"]  # the schema's default: not used, not recorded
    config = _integral(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        value = err.instance
        text = err.message
        if err.validator in ("additionalProperties", "required"):  # the block itself, defaults filled, says little
            raise ConfigError(f"{_where(err)}: {text}")
        raise ConfigError(f"{_where(err)}: {value!r} is not valid ({text})")
    results = Path(config["results"])
    if results.is_absolute() or ".." in results.parts or not results.parts or "\\" in config["results"]:
        raise ConfigError(
            f"results: {config['results']!r} must be a directory below the project "
            "(a relative path without '..')"
        )
    bad = sorted(set(_RESULTS_BAD.findall(config["results"])))
    if bad:
        raise ConfigError(
            f"results: {config['results']!r} has {' '.join(repr(c) for c in bad)}, which Snakemake "
            "reads as a wildcard or a pattern or which breaks its paths; use letters, digits and . _ - + / only"
        )
    if results.parts[0] in PROJECT_FOLDERS:
        raise ConfigError(
            f"results: {config['results']!r} is inside the project's own folder {results.parts[0]!r}; "
            "choose a directory of its own such as results/mine"
        )
    if cwd is not None:
        _check_results_dir(config["results"], Path(cwd))
    chunk = config["chunk_size"]
    if "precision" in config:
        _check_precision_counts(config["precision"], chunk)
    elif config["replications"] % chunk:
        raise ConfigError(
            f"replications: {config['replications']} is not a multiple of chunk_size {chunk} "
            "(so that raising it only adds chunks)"
        )
    if "raw" not in config["estimators"]:
        raise ConfigError(f"estimators: {config['estimators']!r} must include 'raw' (relative MSE is against it)")
    _check_size(config)
    try:
        estimators = estimator_entries(
            config["estimators"], root, config.get("estimator_time_limit", TIME_LIMIT)
        )
    except PluginError as exc:
        raise ConfigError(str(exc)) from None
    if "precision" in config:
        _check_precision_targets(config["precision"], estimators)
    cells = cells_from_config(config["grid"])
    for cell in cells:
        if not cell.known_se:  # a known-SE cell's groups are one estimate each, by design
            _check_fittable(cell.sizes, f"grid.{cell.block}.sizes")
    # the seed answer's design (the headline's and the findings' "seed's cell"): the seed
    # example's, or without one the schema's defaults of its keys (the answer's design)
    ex = config.get("seed_example")
    design = ex if ex is not None else _fill_defaults({}, schema["properties"]["seed_example"])
    sizes = parse_sizes(design["sizes"], design.get("J"), key="seed_example.sizes")
    _check_fittable(sizes, "seed_example.sizes")
    seed_cell = Cell(sizes=sizes, sigma=float(design["sigma"]), tau=float(design["tau"]), mu=float(design["mu"]))
    if ex is not None and ex["choose"] == "closest_fit":
        _check_seed_search(ex, seed_cell.N)
    return Study(config=config, cells=tuple(cells), seed_cell=seed_cell, estimators=estimators)


MAX_SEED = 2**64 - 1  # numpy's SeedSequence takes any non-negative integer; the schema's bound


def _check_seed_search(ex: dict, N: int) -> None:
    """closest_fit searches seeds seed .. seed + candidates - 1, candidates datasets of N
    observations: the last seed within the schema's bound, the observations within a job's."""
    last = ex["seed"] + ex["candidates"] - 1
    if last > MAX_SEED:
        raise ConfigError(
            f"seed_example.candidates: seeds {ex['seed']} to {last} go beyond the largest seed {MAX_SEED}"
        )
    if ex["candidates"] * N > MAX_OBS_PER_JOB:
        raise ConfigError(
            f"seed_example.candidates: {ex['candidates']} candidate datasets of {N} observations is "
            f"{ex['candidates'] * N:,} observations; at most {MAX_OBS_PER_JOB:,}"
        )
def _check_precision_counts(block: dict, chunk: int) -> None:
    """pilot and max: whole chunks (so that a cell's chunks are a fixed run's), pilot <= max."""
    for key in ("pilot", "max"):
        if block[key] % chunk:
            raise ConfigError(
                f"precision.{key}: {block[key]} is not a multiple of chunk_size {chunk} "
                "(a cell runs whole chunks, as a fixed run of that count)"
            )
    if block["pilot"] > block["max"]:
        raise ConfigError(f"precision.pilot: {block['pilot']} is more than precision.max {block['max']}")


def _check_precision_targets(block: dict, estimators) -> None:
    """Each target names an estimator of the study (and a measure: the schema's enum) whose
    measure can have a Monte Carlo SE: coverage and width need an interval, and the relative
    MSE of raw is 1 by definition."""
    names = [e.name for e in estimators]
    by_name = {e.name: e for e in estimators}
    seen = set()
    for k, target in enumerate(block["targets"]):
        if target["estimator"] not in names:
            raise ConfigError(
                f"precision.targets.{k}.estimator: {target['estimator']!r} is not one of the "
                f"study's estimators {names}"
            )
        est, measure = by_name[target["estimator"]], target["measure"]
        if measure in ("coverage", "width") and not est.has_interval:
            with_interval = [e.name for e in estimators if e.has_interval]
            raise ConfigError(
                f"precision.targets.{k}.measure: {measure} of {est.name} cannot apply ({est.name} gives no "
                f"interval; estimators of this study with one: {with_interval})"
            )
        if measure == "rel_mse" and est.name == "raw":
            raise ConfigError(
                f"precision.targets.{k}.measure: rel_mse of raw cannot apply (it is 1 by definition, "
                "with no Monte Carlo error)"
            )
        key = (target["estimator"], target["measure"])
        if key in seen:
            raise ConfigError(
                f"precision.targets.{k}: a second target for {key[1]} of {key[0]} (keep the tighter one)"
            )
        seen.add(key)


def _check_finite(value, where: str) -> None:
    """NaN and infinities (YAML's .nan, .inf) anywhere are an error naming the key."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where or 'config'}: {value!r} is not a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_finite(v, f"{where}.{i}")


def _integral(value, schema: dict):
    """A float with an integral value where the schema wants an integer (``200.0``, ``1e3``)
    is that integer; any other float there is left for the schema to reject."""
    types = schema.get("type")
    types = [types] if isinstance(types, str) else (types or [])
    if "integer" in types and "number" not in types:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            k: _integral(v, props.get(k, extra if isinstance(extra, dict) else {})) for k, v in value.items()
        }
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_integral(v, schema["items"]) for v in value]
    return value


_BALANCED = re.compile(r"^\s*(\d+)\s*$")
_TERMS = re.compile(r"^\s*\d+\s*x\s*\d+\s*(?:\+\s*\d+\s*x\s*\d+\s*)*$")


def _design_size(label, J) -> tuple[int, int] | None:
    """(groups, observations) of a design label without expanding it; None when the label is
    not one (parse_sizes then names the problem)."""
    if isinstance(label, bool) or not isinstance(label, (int, str)):
        return None
    text = str(label)
    m = _BALANCED.match(text)
    if m:
        return (int(J), int(J) * int(m.group(1))) if J is not None else None
    if _TERMS.match(text):
        pairs = [tuple(int(v) for v in t.split("x")) for t in text.replace(" ", "").split("+")]
        return sum(c for _, c in pairs), sum(n * c for n, c in pairs)
    return None


def _check_design(label, J, key: str, chunk: int) -> None:
    size = _design_size(label, J)
    if size is None:
        return
    groups, obs = size
    if groups > MAX_GROUPS:
        raise ConfigError(f"{key}: design {label!r} has {groups} groups; at most {MAX_GROUPS:,} are allowed")
    if obs > MAX_OBS_PER_DATASET:
        raise ConfigError(
            f"{key}: design {label!r} has {obs} observations per dataset; "
            f"at most {MAX_OBS_PER_DATASET:,} are allowed"
        )
    if chunk and chunk * obs > MAX_OBS_PER_JOB:
        raise ConfigError(
            f"{key}: design {label!r} ({obs} observations) times chunk_size {chunk} is {chunk * obs:,} "
            f"observations in one job; at most {MAX_OBS_PER_JOB:,} (lower chunk_size)"
        )


def _check_size(config: dict) -> None:
    """The caps on a study's size, from the grid's lists before any cell is built (with a
    precision block, for every cell at its ``max``)."""
    chunk = config["chunk_size"]
    reps = config["precision"]["max"] if "precision" in config else config["replications"]
    what = "precision.max" if "precision" in config else "replications"
    n_cells = 0
    for block, spec in config["grid"].items():
        if not isinstance(spec, dict):
            continue  # cells_from_config names it
        count = 1
        for factor in ("J", "sizes", "sigma", "ses", "tau", "mu"):
            values = spec.get(factor, [None])
            count *= len(values) if isinstance(values, list) else 1
        for comp in worlds.COMPONENTS.values():  # the world's settings (each distribution times its parameters)
            count *= comp.variant_count(spec)
        for J in spec.get("J", [None]) if isinstance(spec.get("J", [None]), list) else [None]:
            for label in spec.get("sizes", []):
                _check_design(label, J, f"grid.{block}.sizes", chunk)
        ses = spec.get("ses", [])
        for k, design in enumerate(ses if isinstance(ses, list) else []):
            # a known-SE design: one estimate per group (the schema caps the groups)
            if isinstance(design, list) and chunk * len(design) > MAX_OBS_PER_JOB:
                raise ConfigError(
                    f"grid.{block}.ses.{k}: {len(design)} groups times chunk_size {chunk} is "
                    f"{chunk * len(design):,} estimates in one job; at most {MAX_OBS_PER_JOB:,} (lower chunk_size)"
                )
        n_cells += count
    if n_cells * (reps // chunk) > MAX_JOBS:
        raise ConfigError(
            f"{what}: {n_cells} cells x {reps // chunk} chunks is {n_cells * (reps // chunk):,} jobs; "
            f"at most {MAX_JOBS:,} (raise chunk_size or split the study)"
        )
    if n_cells * reps > MAX_DATASETS:
        raise ConfigError(
            f"{what}: {n_cells} cells x {reps} replications is {n_cells * reps:,} datasets; "
            f"at most {MAX_DATASETS:,}"
        )
    ex = config.get("seed_example")
    if ex is not None:
        _check_design(ex.get("sizes"), ex.get("J"), "seed_example.sizes", 0)


def _check_fittable(sizes, key: str) -> None:
    """As ``shrinkstudy fit``: a design whose every group has one observation cannot be fitted."""
    if sum(sizes) <= len(sizes):
        raise ConfigError(
            f"{key}: design {sizes_label(sizes)!r} has a single observation in every group, so tau^2 "
            "and sigma^2 cannot be told apart (some group needs at least 2)"
        )


def _check_results_dir(results: str, workdir: Path) -> None:
    path = workdir
    for part in Path(results).parts:
        path = path / part
        if path.exists() and not path.is_dir():
            where = path.relative_to(workdir)
            raise ConfigError(f"results: {results!r}: {where} exists and is not a directory")


# --- reading a study file ----------------------------------------------------------------------


class _Duplicate(Exception):
    def __init__(self, key, line, first):
        super().__init__(key)
        self.key, self.line, self.first = key, line, first


class _StrictLoader(yaml.SafeLoader):
    """YAML 1.1 safe loading, except: a key twice in one mapping is an error, and 1e-3, 2E5
    (YAML 1.2 floats, without a dot) are numbers, not text."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # SafeLoader names it
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise _Duplicate(key, line, seen[key])
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def read_config_file(path) -> dict:
    """The mapping of a YAML (or JSON) study file; ConfigError (one line naming the file, and the
    line where known) for a missing, unreadable, non-UTF-8, empty or invalid file, a duplicate
    key, a top level that is not a mapping, or ``__use_yte__`` (Snakemake's templating)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None
    try:
        config = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except _Duplicate as dup:
        where = f"{path}:{dup.line}"
        raise ConfigError(f"{where}: key {dup.key!r} is given twice (also on line {dup.first})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{where}: not valid YAML ({problem})") from None
    if config is None:
        raise ConfigError(f"{path}: the file is empty; a study config needs at least a grid")
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values, not a {type(config).__name__}")
    if YTE_KEY in config:
        line = next((i for i, t in enumerate(text.splitlines(), 1) if t.lstrip("\"'").startswith(YTE_KEY)), None)
        raise ConfigError(
            f"{path}{f':{line}' if line else ''}: {YTE_KEY!r} asks Snakemake to run the file's Python "
            "expressions (YAML templating); a study file holds plain values only"
        )
    return config


def check_config_files(configfiles) -> None:
    """Read each of ``configfiles`` as ``read_config_file`` does, and on the first that cannot be
    read (missing, not UTF-8, not valid YAML, ``__use_yte__`` ...) exit with one line naming the
    file and the line.

    Snakemake reads ``--configfile`` before the Snakefile, evaluating a templated file's Python
    and stopping with a traceback or a message without file or line on a bad one; the workflow
    profile (profiles/default/config.yaml), which Snakemake reads before it, calls this first."""
    try:
        for path in configfiles:
            read_config_file(path)
    except ConfigError as exc:
        sys.stderr.write(f"config error: {exc}\n")
        raise SystemExit(1) from None


def study_config(configfiles=(), overrides=None) -> dict:
    """The study's raw config: config/config.yaml when ``configfiles`` is empty, else those files
    alone, a later file's top-level keys replacing an earlier one's; then ``overrides``
    (``--config key=value``), also by top-level key."""
    files = [Path(f) for f in configfiles] or [DEFAULT_CONFIG]
    config: dict = {}
    for f in files:
        config.update(read_config_file(f))
    config.update(dict(overrides or {}))
    return config


def load_config_file(path) -> Study:
    """``load_study`` of a study file (``read_config_file``)."""
    return load_study(read_config_file(path))


def main(argv=None) -> int:
    """``python -m shrinkstudy.config FILE ...``: check study files, one line per problem."""
    argv = sys.argv[1:] if argv is None else argv
    status = 0
    for f in argv or [str(DEFAULT_CONFIG)]:
        try:
            study = load_study(read_config_file(f), cwd=Path.cwd())
        except ConfigError as exc:
            sys.stderr.write(f"config error: {exc}\n")
            status = 1
        else:
            p = study.precision
            each = (
                f"{p['pilot']} to {p['max']} replications each (precision targets)"
                if p
                else f"{study.config['replications']} replications each"
            )
            print(f"{f}: {len(study.cells)} cells, {each}")
    return status


if __name__ == "__main__":
    sys.exit(main())
