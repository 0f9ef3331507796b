"""Load and check a study configuration before any job runs.

``load_study(config)`` fills the schema's defaults, checks types and ranges against
``workflow/schemas/config.schema.yaml`` and the meaning of the values (design labels, J < 2,
duplicated cells, replications a multiple of chunk_size, raw among the estimators), and
raises ``ConfigError`` with one line that names the key and the value.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import registry
from .design import Cell, ConfigError, cells_from_config, parse_sizes
from .plugins import PluginError, estimator_entries

__all__ = ["SCHEMA_PATH", "PROJECT", "Study", "load_study", "load_config_file", "chunk_ranges", "fit_settings"]

#: The project directory (user estimators' files are relative to it) and the config schema.
PROJECT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = PROJECT / "workflow" / "schemas" / "config.schema.yaml"


@dataclass(frozen=True)
class Study:
    config: dict
    cells: tuple[Cell, ...]
    seed_cell: Cell
    estimators: tuple[registry.Estimator, ...] = ()

    @property
    def user_files(self) -> list[str]:
        """Files of the user's estimators (inputs of the fit jobs)."""
        return sorted({e.source for e in self.estimators if e.source})

    @property
    def chunks(self) -> list[tuple[int, int]]:
        return chunk_ranges(self.config["replications"], self.config["chunk_size"])

    def cell(self, name: str) -> Cell:
        for c in self.cells:
            if c.name == name:
                return c
        raise KeyError(name)


def chunk_ranges(replications: int, chunk_size: int) -> list[tuple[int, int]]:
    """Half-open replication ranges [start, stop) of the chunks."""
    return [(s, min(s + chunk_size, replications)) for s in range(0, replications, chunk_size)]


def fit_settings(config: dict) -> dict:
    """The settings of a fit job, from a checked config (plain Python, Snakemake params)."""
    return {
        "estimators": list(config["estimators"]),
        "method": config["method"],
        "engine": config["engine"],
        "level": float(config["level"]),
        "prior": {k: config["hier_bayes_prior"][k] for k in sorted(config["hier_bayes_prior"])},
    }


def _schema(path: Path | None = None) -> dict:
    """The schema, with the registry's built-in estimator names as the enum and the default."""
    with open(path or SCHEMA_PATH) as fh:
        schema = yaml.safe_load(fh)
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
    return out


def _where(error) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "config"


def load_study(config: dict, schema_path: Path | None = None, root: Path | str = PROJECT) -> Study:
    """Check ``config`` and expand its grid; raise ConfigError (one line) on the first problem.

    User estimators' files are relative to ``root`` (the project); each is imported and its
    signature checked here, before any job."""
    import jsonschema

    if not isinstance(config, dict):
        raise ConfigError("config: expected a mapping of keys to values")
    schema = _schema(schema_path)
    config = _fill_defaults(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        value = err.instance
        text = err.message
        if err.validator == "additionalProperties":
            raise ConfigError(f"{_where(err)}: {text}")
        raise ConfigError(f"{_where(err)}: {value!r} is not valid ({text})")
    results = Path(config["results"])
    if results.is_absolute() or ".." in results.parts or not results.parts or "\\" in config["results"]:
        raise ConfigError(
            f"results: {config['results']!r} must be a directory below the project "
            "(a relative path without '..')"
        )
    reps, chunk = config["replications"], config["chunk_size"]
    if reps % chunk:
        raise ConfigError(
            f"replications: {reps} is not a multiple of chunk_size {chunk} "
            "(so that raising it only adds chunks)"
        )
    if "raw" not in config["estimators"]:
        raise ConfigError(f"estimators: {config['estimators']!r} must include 'raw' (relative MSE is against it)")
    try:
        estimators = estimator_entries(config["estimators"], root)
    except PluginError as exc:
        raise ConfigError(str(exc)) from None
    cells = cells_from_config(config["grid"])
    ex = config["seed_example"]
    sizes = parse_sizes(ex["sizes"], ex.get("J"), key="seed_example.sizes")
    seed_cell = Cell(sizes=sizes, sigma=float(ex["sigma"]), tau=float(ex["tau"]), mu=float(ex["mu"]))
    return Study(config=config, cells=tuple(cells), seed_cell=seed_cell, estimators=estimators)


def load_config_file(path) -> Study:
    """``load_study`` of a YAML file; a missing or unreadable file is a ConfigError too."""
    path = Path(path)
    try:
        with open(path) as fh:
            config = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    return load_study(config or {})
