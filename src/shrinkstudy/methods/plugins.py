"""Your own estimator: the contract, and how it joins the study.

An estimator is a Python function in a module (``mypkg.shrink:limited_translation``) or in a
file relative to the project (``examples/limited_translation.py:estimate``), named in the
config's ``estimators:`` list or on the command line (``shrinkstudy fit data.csv --estimator
examples/limited_translation.py:estimate``). Copy this signature::

    import numpy as np
    from shrinkstudy.plugins import SuffStats, VarComp

    def estimate(stats: SuffStats, varcomp: VarComp) -> np.ndarray:
        '''One line that says what it is (shown in tables and the protocol).'''
        B = varcomp.tau2[:, None] / (varcomp.tau2[:, None] + varcomp.sigma2[:, None] / stats.n)
        mu = varcomp.mu[:, None]
        return mu + B * (stats.ybar - mu)

**Arguments**, passed by name; take the ones you need, ``stats`` first:

``stats`` (``simulate.SuffStats``)
    R datasets of up to J groups: ``stats.n`` (R, J) group sizes (0 marks a group the dataset
    does not have), ``stats.ybar`` (R, J) group means, ``stats.ssw`` (R,) the within-group sum
    of squares; ``stats.N``, ``stats.J``, ``stats.present``, ``stats.grand_mean()``.
``varcomp`` (``reml.VarComp``)
    the study's fitted variance components, (R,) arrays ``mu``, ``tau2``, ``sigma2``, ``gamma``,
    ``boundary`` (tau2 == 0), ``status`` and ``ok``.
``truth`` (``estimators.Truth``)
    the true ``mu``, ``tau`` and ``sigma`` of the cell (not given by ``shrinkstudy fit``: an
    estimator that takes it is skipped there).
``data`` (``plugins.Observations``)
    the raw observations, for an estimator that needs more than the sufficient statistics (a
    median, a robust fit): ``data.y`` (R, M) with NaN padding and ``data.group`` (R, M), the
    group's column in ``stats`` (-1 on padding).
``level`` (float)
    take it to give an interval: then return ``(estimate, lower, upper)``, three (R, J) arrays,
    at this level.

**Returns** an (R, J) float array, row r the estimates of dataset r's group means, NaN where
``stats.n`` is 0 (anything there is ignored).

**Failures** are data, not crashes: an exception (``sys.exit`` and ``KeyboardInterrupt``
included), a wrong shape, a complex or masked array, NaN/inf for a group the dataset has, or an
interval whose lower bound is above its upper bound is recorded per replication with its
message (``summary.csv``'s ``failures``, the failures table), and the study goes on. When a call
on R datasets raises, each dataset is tried alone, so only the replications that fail are lost.

**Inputs are read-only**: the function is given copies of the statistics, the variance
components and the observations whose arrays cannot be written (``flags.writeable`` False), so
that nothing it does changes what the other estimators, the tables or ``shrinkstudy fit`` see;
writing to one (``stats.ybar[...] = 0``, ``varcomp.tau2 += 1``) raises, and is recorded as its
failure. Take a copy (``stats.ybar.copy()``) to work in place.

**Time limit**: all of a function's calls on one chunk of datasets (the per-dataset retries
included) may take ``TIME_LIMIT`` seconds of wall-clock time (the config's
``estimator_time_limit``, ``shrinkstudy fit --time-limit``); then it is stopped and the chunk's
datasets it had not finished count as its failures. The limit is kept with a timer signal,
so it stops Python code (a loop, ``time.sleep``) but not one long call into compiled code, which
is stopped when it returns; it applies where the estimators run on a process's main thread (the
study's fit jobs, ``shrinkstudy fit`` and ``replicate``). Importing the function's file or module
has the same limit, so that code which waits or loops at import is one line naming it (the
config check's, before any job) rather than a study that never starts.

**Files**: a study's ``file.py:function`` must lie in the project (a path that leaves it, by
``..``, an absolute path or a link, is refused); ``tables/provenance.json`` records the SHA-256
of each estimator's file, and its ``git.dirty`` is true where one is not committed.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path

import numpy as np

from ..usercode import TIME_LIMIT, TimeLimitExceeded, UserCalls, UserInterrupt, exception_line
from .registry import NEEDS, Estimator, get, names, style

__all__ = [
    "Estimate",
    "Observations",
    "PluginError",
    "TimeLimitExceeded",
    "UserInterrupt",
    "UserCalls",
    "ARGUMENTS",
    "TIME_LIMIT",
    "observations_from_long",
    "project_importable",
    "load_function",
    "function_file",
    "user_estimator",
    "estimator_entries",
    "needs_of",
    "check_estimate",
    "read_only",
    "exception_line",
]

#: Argument names an estimator may take, besides ``stats``.
ARGUMENTS = ("varcomp", "truth", "data", "level")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FUNCTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: What a user's code may raise besides ``Exception`` that is its failure, not the program's end.
USER_EXITS = (SystemExit, KeyboardInterrupt)


class PluginError(ValueError):
    """A user's estimator that cannot be used; the message is one line naming the entry."""


def read_only(obj):
    """A copy of ``obj`` that a user's function cannot change: an array's copy with
    ``flags.writeable`` False; a dataclass's (``SuffStats``, ``VarComp``, ``Observations``,
    ``Truth`` and its prior) with its attributes so copied (a ``SuffStats``'s cached ``N``, ``J``
    and ``present`` too), made without running its ``__init__`` (whose normalisation would make
    new, writeable arrays); anything else as it is."""
    if isinstance(obj, np.ndarray):
        out = np.array(obj, copy=True)
        out.setflags(write=False)
        return out
    if is_dataclass(obj) and not isinstance(obj, type) and hasattr(obj, "__dict__"):
        out = object.__new__(type(obj))
        out.__dict__.update({k: read_only(v) for k, v in vars(obj).items()})
        return out
    return obj


@dataclass
class Estimate:
    """What an estimator returns: (R, J) estimates, optionally an interval and other outputs."""

    point: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Observations:
    """Raw observations of R datasets: y (R, M), NaN-padded; group (R, M) the group's column
    in the sufficient statistics, -1 on padding."""

    y: np.ndarray
    group: np.ndarray

    def rows(self, idx) -> Observations:
        return Observations(self.y[idx], self.group[idx])


def observations_from_long(dataset, group, y) -> Observations:
    """Observations of long-format data, rows and columns in the order of
    ``simulate.suffstats_from_long`` (datasets and groups by sorted label)."""
    import pandas as pd

    y = np.asarray(y, dtype=float)
    d_codes, _ = pd.factorize(pd.Series(dataset), sort=True)
    g_codes, _ = pd.factorize(pd.Series(group), sort=True)
    pairs = pd.DataFrame({"d": d_codes, "g": g_codes})
    col = pairs.groupby("d")["g"].rank(method="dense").to_numpy(dtype=np.int64) - 1
    pos = pairs.groupby("d").cumcount().to_numpy()
    R = int(d_codes.max()) + 1 if len(d_codes) else 0
    M = int(pos.max()) + 1 if len(pos) else 0
    obs_y = np.full((R, M), np.nan)
    obs_g = np.full((R, M), -1, dtype=np.int64)
    obs_y[d_codes, pos] = y
    obs_g[d_codes, pos] = col
    return Observations(obs_y, obs_g)


def project_importable(project: Path | str) -> None:
    """Make the project's own modules importable ('module:function' of an effects distribution or
    an estimator): here, and through PYTHONPATH in every process this one starts (the jobs)."""
    project = str(project)
    if project not in sys.path:
        sys.path.insert(1, project)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if project not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([project, *paths])


def _is_file(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _root_name(root) -> str:
    return "the current directory" if str(root) in ("", ".") else "the project"


def load_function(
    spec: str,
    root: Path | str = ".",
    *,
    where: str = "estimator",
    inside_root: bool = False,
    time_limit: float | None = TIME_LIMIT,
):
    """The function of ``spec``: ``"package.module:function"`` or ``"path/file.py:function"``
    (relative to ``root``: the project for a study, the current directory on the command line;
    with ``inside_root`` a file that is not below ``root`` once resolved is refused).
    Raises PluginError naming ``where`` and the problem, also where importing the code raises
    ``SystemExit`` or ``KeyboardInterrupt``, or takes longer than ``time_limit`` seconds (None:
    no limit; as ``UserCalls``, on the main thread)."""
    try:
        with UserCalls(time_limit, name=f"{where}: importing {spec}").guard():
            return _load_function(spec, root, where=where, inside_root=inside_root)
    except TimeLimitExceeded:
        raise PluginError(
            f"{where}: importing {str(spec).rpartition(':')[0]} took longer than its time limit of "
            f"{time_limit:g} s (estimator_time_limit): does its code wait or loop when imported?"
        ) from None


def _load_function(spec: str, root: Path | str, *, where: str, inside_root: bool):
    """``load_function`` without the time limit."""
    target, sep, attr = str(spec).rpartition(":")
    if not sep or not target or not _FUNCTION.match(attr):
        raise PluginError(
            f"{where}: {spec!r} is neither a built-in estimator ({', '.join(names())}) nor "
            "'module:function' or 'file.py:function'"
        )
    if _is_file(target):
        path = Path(root) / target
        if not path.is_file():
            raise PluginError(f"{where}: no such file {target!r} (relative to {_root_name(root)})")
        if inside_root and not path.resolve().is_relative_to(Path(root).resolve()):
            raise PluginError(
                f"{where}: {target!r} is outside the project ({Path(root).resolve()}); put the file in "
                "the project, where its commit and hash are recorded"
            )
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        stem = re.sub(r"\W", "_", path.stem)
        modname = f"shrinkstudy_user_{stem}_{key}"
        module = sys.modules.get(modname)
        if module is None:
            loader_spec = importlib.util.spec_from_file_location(modname, path)
            module = importlib.util.module_from_spec(loader_spec)
            try:
                loader_spec.loader.exec_module(module)
            except (Exception, *USER_EXITS) as exc:
                raise PluginError(f"{where}: {target} cannot be imported ({exception_line(exc)})") from None
            sys.modules[modname] = module
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise PluginError(f"{where}: no module {exc.name!r} (importing {target!r})") from None
        except (Exception, *USER_EXITS) as exc:
            why = exception_line(exc)
            raise PluginError(f"{where}: module {target!r} cannot be imported ({why})") from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise PluginError(f"{where}: {target} has no function {attr!r}")
    if not callable(fn):
        raise PluginError(f"{where}: {target}:{attr} is not a function")
    return fn


def function_file(spec: str, root: Path | str = ".") -> Path | None:
    """The file that holds the function of ``spec`` (for the workflow's rerun triggers)."""
    target = str(spec).rpartition(":")[0]
    if _is_file(target):
        return (Path(root) / target).resolve()
    found = importlib.util.find_spec(target)
    return Path(found.origin).resolve() if found and found.origin else None


def needs_of(fn, *, where: str = "estimator") -> tuple[str, ...]:
    """The inputs a user's function takes (its parameter names after ``stats``), checked."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise PluginError(f"{where}: cannot read the signature of {fn!r}") from None
    if not params or params[0].name != "stats" or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise PluginError(
            f"{where}: the function must take the sufficient statistics first, as "
            "'def f(stats, varcomp=..., ...)'; see shrinkstudy.plugins"
        )
    needs = []
    for p in params[1:]:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise PluginError(f"{where}: *args and **kwargs are not part of the contract; name the arguments")
        if p.name not in ARGUMENTS:
            raise PluginError(
                f"{where}: unknown argument {p.name!r}; an estimator takes stats and any of "
                f"{', '.join(ARGUMENTS)}"
            )
        needs.append(p.name)
    assert set(needs) <= set(NEEDS)
    return tuple(needs)


def user_estimator(
    entry,
    root: Path | str = ".",
    *,
    where: str = "estimator",
    position: int = 0,
    inside_root: bool = False,
    time_limit: float | None = TIME_LIMIT,
) -> Estimator:
    """The registry entry of a user's estimator.

    ``entry`` is a spec string (``"module:function"``, ``"file.py:function"``) or a mapping
    with ``function`` (the spec) and optionally ``name`` and ``label``. The name defaults to the
    function's name, or the file's (module's) when the function is called ``estimate``.
    ``inside_root``: a file must lie below ``root`` (a study's, see ``estimator_entries``).
    ``time_limit``: of importing it (``load_function``).
    """
    if isinstance(entry, str):
        entry = {"function": entry}
    spec = entry["function"]
    fn = load_function(spec, root, where=where, inside_root=inside_root, time_limit=time_limit)
    target, _, attr = str(spec).rpartition(":")
    default = attr if attr != "estimate" else Path(target).stem.rpartition(".")[2]
    name = entry.get("name") or default
    if not _NAME.match(name):
        raise PluginError(
            f"{where}: estimator name {name!r} must be lower-case letters, digits and '_' "
            "(give one with name:)"
        )
    if name in names():
        raise PluginError(f"{where}: name {name!r} is that of a built-in estimator; give another with name:")
    needs = needs_of(fn, where=where)
    doc = inspect.getdoc(fn) or ""
    source = function_file(spec, root)
    return Estimator(
        name=name,
        label=str(entry.get("label") or name),
        description=doc.strip().splitlines()[0] if doc.strip() else f"user estimator {spec}",
        point=fn,
        needs=needs,
        style=style(name, position),
        reference=str(spec),
        builtin=False,
        source=str(source) if source else None,
    )


def estimator_entries(
    entries, root: Path | str = ".", time_limit: float | None = TIME_LIMIT
) -> tuple[Estimator, ...]:
    """Registry entries of a study's ``estimators`` list (built-in names and user functions, as
    in the config); a user function that cannot be used, whose file is not in the project
    ``root`` or whose import takes longer than ``time_limit`` seconds raises PluginError naming
    its entry (``estimators.K``)."""
    out = []
    for k, entry in enumerate(entries):
        if isinstance(entry, str) and entry in names():
            out.append(get(entry))
        else:
            where = f"estimators.{k}"
            out.append(
                user_estimator(entry, root, where=where, position=len(out), inside_root=True, time_limit=time_limit)
            )
    seen: dict[str, int] = {}
    for k, e in enumerate(out):
        if e.name in seen:
            raise PluginError(f"estimators.{k}: a second estimator called {e.name!r} (also estimators.{seen[e.name]})")
        seen[e.name] = k
    return tuple(out)


def _numbers(a, what: str) -> np.ndarray:
    """``a`` as a float array; PluginError for what is not real numbers (numpy would drop the
    imaginary part of a complex array, or the mask of a masked one, without a word)."""
    if isinstance(a, np.ma.MaskedArray):
        raise PluginError(f"returned an {what} that is a masked array; return NaN where there is no value")
    try:
        a = np.asarray(a)
    except (TypeError, ValueError):
        raise PluginError(f"returned an {what} that is not an array of numbers") from None
    if a.dtype.kind == "c":
        raise PluginError(f"returned an {what} of complex numbers ({a.dtype})")
    if a.dtype.kind not in "biuf" and a.dtype != object:
        raise PluginError(f"returned an {what} that is not an array of numbers ({a.dtype})")
    try:
        return a.astype(float)
    except (TypeError, ValueError):
        raise PluginError(f"returned an {what} that is not an array of numbers") from None


def check_estimate(result, shape: tuple[int, int], present: np.ndarray, *, interval: bool) -> tuple:
    """``(point, lower, upper, extra, why)`` of a user's result on R datasets.

    ``why`` (R,) says why a replication fails ("" where it does not): NaN or inf for a present
    group, or an interval whose lower bound is above its upper bound. A wrong type (not real
    numbers: complex, masked) or shape raises PluginError (every replication then fails with
    its message).
    """
    lower = upper = None
    extra = {}
    if isinstance(result, Estimate):
        point, lower, upper, extra = result.point, result.lower, result.upper, result.extra
    elif interval:
        if not (isinstance(result, tuple) and len(result) == 3):
            raise PluginError("takes level, so must return (estimate, lower, upper)")
        point, lower, upper = result
    else:
        point = result
    arrays = [("estimate", point)] + ([("interval lower bound", lower), ("interval upper bound", upper)] if interval else [])
    out = []
    for what, a in arrays:
        a = _numbers(a, what)
        if a.shape != shape:
            raise PluginError(f"returned an {what} of shape {a.shape}, expected (R, J) = {shape}")
        out.append(np.where(present, a, np.nan))
    why = np.full(shape[0], "", dtype=object)
    if interval:
        crossed = np.any(out[1] > out[2], axis=1)
        why[crossed] = "returned an interval whose lower bound is above its upper bound"
    finite = np.all(np.isfinite(np.stack(out)) | ~present, axis=(0, 2))
    why[~finite] = "returned NaN or inf for a group the dataset has"
    point, lower, upper = (out + [None, None])[:3] if not interval else out
    return point, lower, upper, extra, why
