"""Provenance of a study's results: config, its hash, the hashes of the study's own files
(estimators, config), package versions, commit, platform, seeding.

``provenance(config)`` returns a JSON-ready dict that is written beside every table
(``provenance.json``). It holds no timestamps: for a given config, code and environment it is
the same on every run, and only what must change (the commit, whether the tree is dirty)
changes.
"""

from __future__ import annotations

import ast
import functools
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
    "plain_json",
    "config_sha256",
    "git_state",
    "file_hashes",
    "library_closure",
    "module_file",
    "script_modules",
    "package_versions",
    "plain_json",
    "provenance",
]

#: Distributions whose versions are recorded.
PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "statsmodels", "matplotlib", "snakemake", "shrinkstudy")

#: How the random streams are derived (``design.rep_seed_sequence``).
#: the cell whose name ``SEEDING`` gives as an example (the protocol names a cell of its study)
SEEDING_EXAMPLE = "J12_n100x6+2x6_sigma5_tau1_mu0"
SEEDING = (
    "One numpy.random.SeedSequence per replication: "
    "SeedSequence(base_seed, spawn_key=(cell_key, rep)), driving a PCG64 generator; "
    "cell_key = the first 8 bytes (big-endian) of the SHA-256 of the cell name "
    f"(e.g. '{SEEDING_EXAMPLE}'), rep = the replication index within the cell. "
    "Within a replication the J true group effects theta_j are drawn first, from the cell's "
    "effects distribution (when tau > 0), then the N errors e_ij, from its errors distribution at "
    "each group's SD sigma_j, in group order. No global seeding and no "
    "order-dependent counter: adding, removing or reordering cells, changing the chunk size or "
    "the number of cores changes no dataset."
)


def plain_json(value):
    """Convert numpy scalars/arrays, tuples and paths to plain JSON values."""
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain_json(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return plain_json(value.item())
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def canonical_json(obj) -> str:
    """Canonical JSON text: sorted keys, no whitespace, ASCII, numpy values made plain."""
    return json.dumps(plain_json(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


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


def git_state(repo=None, files=()) -> dict:
    """The commit checked out in ``repo`` (default: the current directory) and whether it
    describes the code: ``dirty`` is true where tracked files differ from it, or where one of
    ``files`` (a study's own estimators, its config file) is not tracked by it (untracked,
    ignored or outside the repository), so that the commit alone would not give them back.
    ``{"commit": None, "dirty": None}`` where git or the repository is unavailable."""
    cwd = Path(repo) if repo is not None else Path.cwd()
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    dirty = None if status is None else bool(status)
    if dirty is False and files:
        dirty = not _all_tracked(files, cwd)
    return {"commit": commit, "dirty": dirty}


def _all_tracked(files, cwd: Path) -> bool | None:
    """Whether every one of ``files`` is tracked by the repository of ``cwd`` (None: unknown)."""
    top = _git(["rev-parse", "--show-toplevel"], cwd)
    if top is None:
        return None
    top = Path(top).resolve()
    paths = [Path(f).resolve() for f in files]
    if not all(p.is_relative_to(top) for p in paths):
        return False
    wanted = {p.relative_to(top).as_posix() for p in paths}
    listed = _git(["ls-files", "--full-name", "--", *sorted(wanted)], top)
    return None if listed is None else wanted <= set(listed.splitlines())


def file_hashes(files, repo=None) -> dict:
    """SHA-256 of each file, by its path relative to ``repo`` (default: the current directory)
    where it lies there, else its absolute path; sorted by path."""
    base = (Path(repo) if repo is not None else Path.cwd()).resolve()
    out = {}
    for f in files:
        path = Path(f).resolve()
        name = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.as_posix()
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        out[name] = digest.hexdigest()
    return dict(sorted(out.items()))


def provenance(config: dict, repo=None, *, estimator_files=(), config_files=()) -> dict:
    """Everything needed to say where a table came from.

    Parameters
    ----------
    config : dict
        The study config as used (after defaults are filled in).
    repo : path, optional
        Working tree whose commit is recorded (default: the current directory).
    estimator_files, config_files : paths
        The files of the study's own estimators and its config file(s): hashed, and checked to
        be committed (``git_state``).

    Returns
    -------
    dict with keys ``config`` (plain-JSON copy), ``config_sha256`` (SHA-256 of its canonical
    JSON, see ``canonical_json``), ``files`` (``{"estimators": ..., "config": ...}``, the
    SHA-256 of each file, see ``file_hashes``), ``packages`` (``package_versions()``), ``git``
    (``git_state()``: commit and dirty, None without git), ``platform`` (system, release,
    machine, python implementation, byte order) and ``seeding`` (the text ``SEEDING``).
    """
    cfg = plain_json(config)
    return {
        "config": cfg,
        "config_sha256": config_sha256(cfg),
        "files": {
            "estimators": file_hashes(estimator_files, repo),
            "config": file_hashes(config_files, repo),
        },
        "packages": package_versions(),
        "git": git_state(repo, [*estimator_files, *config_files]),
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "python_implementation": platform.python_implementation(),
            "byteorder": sys.byteorder,
        },
        "seeding": SEEDING,
    }


def module_file(name: str, package_dir: Path | str | None = None) -> Path | None:
    """The file of the library module ``name``, or None where the package has no such module.

    ``name`` is dotted, relative to the package: ``"registry"`` is ``registry.py``,
    ``"figures"`` a subpackage's ``figures/__init__.py`` (or a module ``figures.py``),
    ``"figures.style"`` is ``figures/style.py``, and ``"__init__"`` the package's own
    ``__init__.py``. A subpackage wins over a module of the same name, as in Python's import.
    """
    package_dir = Path(package_dir or Path(__file__).parents[1])
    if name == "__init__":
        path = package_dir / "__init__.py"
        return path if path.is_file() else None
    parts = name.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    init = package_dir.joinpath(*parts, "__init__.py")
    if init.is_file():
        return init
    path = package_dir.joinpath(*parts[:-1], parts[-1] + ".py")
    return path if path.is_file() else None


def _is_package(name: str, package_dir: Path) -> bool:
    """Whether ``name`` (dotted, see ``module_file``) is the package itself or a subpackage."""
    return name == "__init__" or (module_file(name, package_dir) or Path()).name == "__init__.py"


def _imported_names(tree: ast.AST, package: str, package_dir: Path, current: str = "__init__"):
    """Dotted names (relative to ``package``) of the library modules that the code of module
    ``current`` imports. A name that may be a module or an attribute (``from .x import y``,
    ``from . import y``) is given only where the module exists; one that must be a module
    (``from .x import y``'s ``x``, ``import package.x``) always, so that a missing one is noticed."""
    # the package that relative imports start from: the module's own if it is a package
    if _is_package(current, package_dir):
        base = [] if current == "__init__" else current.split(".")
    else:
        base = current.split(".")[:-1]

    def maybe(name):
        return [name] if module_file(name, package_dir) is not None else []

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level > 0:  # from .x.y import z / from . import x / from ..x import y
                if node.level - 1 > len(base):
                    continue  # above the package
                parts = base[: len(base) - (node.level - 1)]
                parts += node.module.split(".") if node.module else []
            elif node.module and node.module.split(".")[0] == package:
                parts = node.module.split(".")[1:]  # from package.x import y / from package import x
            else:
                continue
            module = ".".join(parts)
            if module:
                yield module
            for alias in node.names:  # a submodule, or an attribute of the module
                if alias.name != "*":
                    yield from maybe(f"{module}.{alias.name}" if module else alias.name)
        elif isinstance(node, ast.Import):  # import package.x.y
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package and len(parts) > 1:
                    yield ".".join(parts[1:])
        elif (
            isinstance(node, ast.Call)  # importlib.import_module("package.x")
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            parts = node.args[0].value.split(".")
            if parts[0] == package and len(parts) > 1:
                yield ".".join(parts[1:])
        elif (  # a function named "package.x:attr" (the estimator registry's references)
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(package + ".")
            and ":" in node.value
        ):
            parts = node.value.partition(":")[0].split(".")[1:]
            if parts and all(part.isidentifier() for part in parts):
                yield ".".join(parts)


def script_modules(
    script: Path | str, package: str = "shrinkstudy", package_dir: Path | str | None = None
) -> list[str]:
    """Library modules a workflow script imports itself (its rule adds what they import).

    Dotted names relative to the package (``"figures"``, ``"figures.style"``, see
    ``module_file``); ``package_dir`` is the package's folder (default: this package's).
    """
    path = Path(script)
    package_dir = Path(package_dir or Path(__file__).parents[1])
    tree = ast.parse(path.read_text(), filename=str(path))
    return sorted(set(_imported_names(tree, package, package_dir, current="__main__")))


def library_closure(modules, package_dir: Path | None = None) -> list[str]:
    """The given library modules, ``__init__`` and every package module they import, transitively.

    Modules are named as dotted names relative to the package (``"registry"``,
    ``"figures"`` for a subpackage's ``__init__.py``, ``"figures.style"``; ``"__init__"`` for
    the package's own ``__init__.py``); ``module_file`` gives each one's file. A module of a
    subpackage brings the subpackage's ``__init__`` (Python runs it first).

    Followed, anywhere in a module (function bodies included): relative imports at any depth
    (``from .reml import ...``, ``from . import tdist``, in a subpackage ``from .style import
    ...`` and ``from ..registry import ...``), absolute imports of the package
    (``import shrinkstudy.x``, ``from shrinkstudy import x``, ``from shrinkstudy.sub import y``
    where ``y`` is a module), ``importlib.import_module("shrinkstudy.x")`` with a literal name,
    and functions named as ``"shrinkstudy.x:function"`` (the estimator registry); a name that is
    not a module of the package (``from . import __version__``) is skipped, and imports under
    ``if TYPE_CHECKING:`` count too (a harmless excess). Sorted module names. The workflow
    declares their files as rule inputs, so a change to a module reruns the jobs whose results
    it can change, however indirectly it is used.
    """
    package_dir = Path(package_dir or Path(__file__).parents[1])
    package = package_dir.name
    missing = [m for m in modules if module_file(m, package_dir) is None]
    if missing:
        raise FileNotFoundError(f"no library module {missing[0]!r} in {package_dir}")
    seen: set[str] = set()
    todo = list(modules) + ["__init__"]
    while todo:
        name = todo.pop()
        path = module_file(name, package_dir)
        if name in seen or path is None:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:k]) for k in range(1, len(parts)))  # its parent packages
        stat = path.stat()
        todo.extend(_module_imports(str(path), stat.st_mtime_ns, stat.st_size, package, str(package_dir), name))
    return sorted(seen)


@functools.lru_cache(maxsize=None)
def _module_imports(path: str, mtime_ns: int, size: int, package: str, package_dir: str, name: str):
    """``_imported_names`` of one module file, parsed once per version of the file (the workflow
    asks for the closure of every rule's script: the modules they share are parsed once)."""
    tree = ast.parse(Path(path).read_text(), filename=path)
    return tuple(_imported_names(tree, package, Path(package_dir), name))
