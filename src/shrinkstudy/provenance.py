"""Provenance of a study's results: config, its hash, package versions, commit, platform, seeding.

``provenance(config)`` returns a JSON-ready dict that is written beside every table
(``provenance.json``). It holds no timestamps: for a given config, code and environment it is
the same on every run, and only what must change (the commit, whether the tree is dirty)
changes.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = [
    "PACKAGES",
    "SEEDING",
    "canonical_json",
    "config_sha256",
    "git_state",
    "library_closure",
    "script_modules",
    "package_versions",
    "provenance",
]

#: Distributions whose versions are recorded.
PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "statsmodels", "matplotlib", "snakemake", "shrinkstudy")

#: How the random streams are derived (``design.rep_seed_sequence``).
SEEDING = (
    "One numpy.random.SeedSequence per replication: "
    "SeedSequence(base_seed, spawn_key=(cell_key, rep)), driving a PCG64 generator; "
    "cell_key = the first 8 bytes (big-endian) of the SHA-256 of the cell name "
    "(e.g. 'J12_n100x6+2x6_sigma5_tau1_mu0'), rep = the replication index within the cell. "
    "Within a replication the true group effects theta_j ~ N(0, tau^2) are drawn first (when "
    "tau > 0), then the N errors e_ij ~ N(0, sigma^2) in group order. No global seeding and no "
    "order-dependent counter: adding, removing or reordering cells, changing the chunk size or "
    "the number of cores changes no dataset."
)


def _plain(value):
    """Convert numpy scalars/arrays, tuples and paths to plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def canonical_json(obj) -> str:
    """Canonical JSON text: sorted keys, no whitespace, ASCII, numpy values made plain."""
    return json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def config_sha256(config: dict) -> str:
    """SHA-256 (hex) of the config's canonical JSON."""
    return hashlib.sha256(canonical_json(config).encode("ascii")).hexdigest()


def package_versions() -> dict:
    """Installed versions of ``PACKAGES`` (None where absent), plus ``python``."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def _git(args, cwd) -> str | None:
    try:
        res = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def git_state(repo=None) -> dict:
    """The commit checked out in ``repo`` (default: the current directory) and whether tracked
    files differ from it. ``{"commit": None, "dirty": None}`` where git or the repository is
    unavailable."""
    cwd = Path(repo) if repo is not None else Path.cwd()
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def provenance(config: dict, repo=None) -> dict:
    """Everything needed to say where a table came from.

    Parameters
    ----------
    config : dict
        The study config as used (after defaults are filled in).
    repo : path, optional
        Working tree whose commit is recorded (default: the current directory).

    Returns
    -------
    dict with keys ``config`` (plain-JSON copy), ``config_sha256`` (SHA-256 of its canonical
    JSON, see ``canonical_json``), ``packages`` (``package_versions()``), ``git``
    (``git_state()``: commit and dirty, None without git), ``platform`` (system, release,
    machine, python implementation, byte order) and ``seeding`` (the
    text ``SEEDING``).
    """
    cfg = _plain(config)
    return {
        "config": cfg,
        "config_sha256": config_sha256(cfg),
        "packages": package_versions(),
        "git": git_state(repo),
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "python_implementation": platform.python_implementation(),
            "byteorder": sys.byteorder,
        },
        "seeding": SEEDING,
    }


def _imported_names(tree: ast.AST, package: str):
    """Top-level names of ``package`` that a module's code imports (modules or attributes)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from .x.y import z / from . import x
                module = node.module
            elif node.level == 0 and node.module and node.module.split(".")[0] == package:
                module = node.module.partition(".")[2]  # from package.x import y / from package import x
            else:
                continue
            if module:
                yield module.split(".")[0]
            else:
                yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.Import):  # import package.x
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package and len(parts) > 1:
                    yield parts[1]
        elif (
            isinstance(node, ast.Call)  # importlib.import_module("package.x")
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            parts = node.args[0].value.split(".")
            if parts[0] == package and len(parts) > 1:
                yield parts[1]
        elif (  # a function named "package.x:attr" (the estimator registry's references)
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(package + ".")
            and ":" in node.value
        ):
            module = node.value.partition(":")[0].split(".")
            if len(module) > 1 and module[1].isidentifier():
                yield module[1]


def script_modules(script: Path | str, package: str = "shrinkstudy") -> list[str]:
    """Library modules a workflow script imports itself (its rule adds what they import)."""
    path = Path(script)
    return sorted(set(_imported_names(ast.parse(path.read_text(), filename=str(path)), package)))


def library_closure(modules, package_dir: Path | None = None) -> list[str]:
    """The given library modules, ``__init__`` and every package module they import, transitively.

    Followed, anywhere in a module (function bodies included): relative imports
    (``from .reml import ...``, ``from . import tdist``), absolute imports of the package
    (``import shrinkstudy.x``, ``from shrinkstudy import x``) and
    ``importlib.import_module("shrinkstudy.x")`` with a literal name, and functions named as
    ``"shrinkstudy.x:function"`` (the estimator registry); a name that is not a
    module of the package (``from . import __version__``) is skipped, and imports under
    ``if TYPE_CHECKING:`` count too (a harmless excess). Sorted module names. The workflow
    declares these files as rule inputs, so a change to a module reruns the jobs whose results
    it can change, however indirectly it is used.
    """
    package_dir = Path(package_dir or Path(__file__).parent)
    package = package_dir.name
    missing = [m for m in modules if not (package_dir / f"{m}.py").is_file()]
    if missing:
        raise FileNotFoundError(f"no library module {missing[0]!r} in {package_dir}")
    seen: set[str] = set()
    todo = list(modules) + ["__init__"]
    while todo:
        name = todo.pop()
        path = package_dir / f"{name}.py"
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        todo.extend(_imported_names(ast.parse(path.read_text(), filename=str(path)), package))
    return sorted(seen)
