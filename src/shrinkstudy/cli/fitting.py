"""Fitting the user's data and writing the answers: the long form (every estimator, on threads from
a thousand datasets) and the summary form (known standard errors), estimates.csv and fit.json
written under temporary names and renamed once all are written."""

from __future__ import annotations

import importlib
import json
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .args import InputError
from .read import (
    _codes,
    _column,
    _data_file,
    _dataset_labels,
    _dataset_name,
    _distinct_columns,
    _Irregular,
    _labels,
    _numbers,
    _numbers_or_none,
    _one_group,
    _read_csv,
    _read_parquet_text,
    _read_typed,
    _values,
)
from .rescale import _dataset_scales, _meta_scales, _refuse_overflow, _unscale_fit


_STATUS_NAMES = {0: "ok", 1: "zero_within", 2: "constant", 3: "not_identified"}


def _user_estimators(args):
    """Registry entries of the --estimator options (paths relative to the current directory)."""
    from ..methods.plugins import TIME_LIMIT, PluginError, user_estimator

    entries = []
    for k, spec in enumerate(args.estimator):
        try:
            entries.append(
                user_estimator(
                    spec, ".", where=f"--estimator {spec}", position=k, time_limit=args.time_limit or TIME_LIMIT
                )
            )
        except PluginError as exc:
            raise InputError(str(exc)) from None
        if "truth" in entries[-1].needs:
            raise InputError(f"--estimator {spec}: takes truth, which your own data do not have")
    names = [e.name for e in entries]
    if len(set(names)) < len(names):
        raise InputError(f"--estimator: two estimators are called {max(names, key=names.count)!r}")
    return entries


def _estimator_files(entries) -> dict:
    """SHA-256 of the file of each user's estimator (``--estimator``), by its path as the command
    line named it (relative to the current directory; a module's file by its absolute path), so
    that fit.json says which code made the numbers; empty without user estimators."""
    from ..methods.plugins import function_file
    from ..report.provenance import file_hashes

    files = [function_file(e.reference, ".") for e in entries if not e.builtin]
    return file_hashes([f for f in files if f is not None])


def _versions() -> dict:
    from importlib.metadata import version

    import scipy

    from .. import __version__

    return {
        "shrinkstudy": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": sys.modules["pandas"].__version__ if "pandas" in sys.modules else version("pandas"),
    }


def _estimate_columns(fit, names, index) -> dict:
    """Output columns: each estimator's estimates, then the bounds of those with intervals."""
    out = {name: fit.estimates[name][index] for name in names}
    for name in (e for e in names if e in fit.intervals):
        lo, hi = fit.intervals[name]
        out[f"{name}_lower"] = lo[index]
        out[f"{name}_upper"] = hi[index]
    return out


def _failures(fit, names) -> tuple[list, list]:
    """Per dataset, the estimators that failed on it, and ``{"failure_messages": {name: why}}``
    where one did (else {})."""
    R = fit.varcomp.mu.shape[0]
    failed, why = [[] for _ in range(R)], [{} for _ in range(R)]
    for name in names:
        messages = fit.messages.get(name)
        for r in np.flatnonzero(fit.failed[name]).tolist():
            failed[r].append(name)
            if messages is not None:
                why[r][name] = messages[r]
    return failed, [{"failure_messages": w} if w else {} for w in why]


def _npmle_records(fit, R: int) -> list[dict]:
    """Per dataset, whether the NPMLE's certificate was met and its gap bound (absent: {})."""
    if "npmle_converged" not in fit.extra:
        return [{} for _ in range(R)]
    ok, gap = fit.extra["npmle_converged"].astype(bool).tolist(), _numbers_or_none(fit.extra["npmle_gap"])
    return [{"npmle_converged": c, "npmle_gap": g} for c, g in zip(ok, gap, strict=True)]


def _sizes_differ(stats, r: int) -> str:
    n = stats.n[r][stats.present[r]]
    if n.min() != n.max():
        return f"group sizes differ ({int(n.min())} to {int(n.max())}); it needs equal ones"
    return "every group has one observation, so sigma^2 cannot be estimated"


def _ses_differ(se) -> str:
    se = se[np.isfinite(se)]
    return f"standard errors differ ({se.min():.6g} to {se.max():.6g}); it needs equal ones"


def _not_applicable(fit, names, why) -> list[dict]:
    """Per dataset, ``{"not_applicable": {name: why(r)}}`` for the estimators that do not apply
    to dataset r (no estimate, not a failure), else {}."""
    from ..methods.registry import BUILTIN

    partial = {e.name for e in BUILTIN if e.applies == "balanced"}
    absent: dict[int, list] = {}
    for name in (n for n in names if n in partial):
        rows = ~fit.failed[name] & np.isnan(fit.estimates[name]).all(axis=1)
        for r in np.flatnonzero(rows).tolist():
            absent.setdefault(r, []).append(name)
    out = [{} for _ in range(fit.varcomp.mu.shape[0])]
    for r, those in absent.items():
        text = why(r)
        out[r] = {"not_applicable": {name: text for name in those}}
    return out


def _varcomp_records(vc, sigma2: bool) -> list[dict]:
    """Each dataset's variance-component fit, for fit.json (``sigma2`` False: null, the known-SE
    form has none)."""
    mu, tau2, crit = (_numbers_or_none(a) for a in (vc.mu, vc.tau2, vc.crit))
    s2 = _numbers_or_none(vc.sigma2) if sigma2 else [None] * len(mu)
    status = [_STATUS_NAMES.get(s, str(s)) for s in vc.status.astype(int).tolist()]
    return [
        {"mu": m, "tau2": t, "sigma2": s, "criterion": c, "boundary": b, "status": st, "method": vc.method}
        for m, t, s, c, b, st in zip(mu, tau2, s2, crit, vc.boundary.astype(bool).tolist(), status, strict=True)
    ]


def _first_rows(d_codes, g_codes, d, g, G: int) -> np.ndarray:
    """The row of the file where each (dataset, group) pair ``(d[i], g[i])`` first appears (the
    codes of ``_codes``; ``G`` groups in all)."""
    key = d_codes.astype(np.int64) * G + g_codes
    want = np.asarray(d, dtype=np.int64) * G + np.asarray(g, dtype=np.int64)
    R = int(d_codes.max()) + 1 if d_codes.size else 0
    if R * G <= 1 << 25:  # a table of every possible pair (at most 256 MB of int64)
        first = np.zeros(R * G, dtype=np.int64)
        first[key[::-1]] = np.arange(key.size - 1, -1, -1)  # assigned last to first: the first row stays
        return first[want]
    uniq, at = np.unique(key, return_index=True)
    return at[np.searchsorted(uniq, want)]


def _fit_long(args, df, line, path):
    from ..methods import workers
    from ..methods.hierbayes import HierPrior
    from ..methods.plugins import TIME_LIMIT, observations_from_long
    from ..methods.registry import BUILTIN

    family = args.prior or "half_cauchy"
    if family == "uniform":
        raise InputError(
            "--prior uniform (flat on tau) is for summary data (--se); the long form takes "
            "half_cauchy or uniform_shrinkage"
        )
    prior = HierPrior(family=family, scale=args.prior_scale or 1.0)
    data = long_data(args, df, line, path)
    d_codes, g_codes, y, d_labels, g_labels = data.d_codes, data.g_codes, data.y, data.d_labels, data.g_labels
    scale, names_of, stats, groups = data.scale, data.names, data.stats, data.groups
    users = _user_estimators(args)
    entries = [e for e in BUILTIN if "truth" not in e.needs] + users
    names = [e.name for e in entries]
    data = observations_from_long(d_codes, g_codes, y) if any("data" in e.needs for e in users) else None
    jobs = args.jobs or workers.usable_cores()
    limit = args.time_limit or TIME_LIMIT
    fit = workers.fit(
        stats, entries, jobs, method=args.method, level=args.level, prior=prior, data=data, time_limit=limit
    )
    scaled_back = _unscale_fit(fit, scale, stats.N - (1.0 if args.method == "REML" else 0.0))
    fit = _refuse_overflow(fit, scaled_back, names_of, {e.name for e in users}, path)
    # rows: datasets in order of first appearance, and each dataset's groups in the order they
    # first appear in it
    r_idx, j_idx = np.nonzero(stats.present)
    group_of = np.zeros(stats.present.shape, dtype=np.int64)  # (dataset, column) -> group code
    for r, codes in enumerate(groups):
        group_of[r, : len(codes)] = codes
    g_idx = group_of[r_idx, j_idx]
    order = np.argsort(_first_rows(d_codes, g_codes, r_idx, g_idx, len(g_labels)), kind="stable")
    r_idx, j_idx, g_idx = r_idx[order], j_idx[order], g_idx[order]
    out = {
        "dataset": d_labels[r_idx],
        "group": g_labels[g_idx],
        "n": stats.n[r_idx, j_idx].astype(np.int64),
        "ybar": stats.ybar[r_idx, j_idx] * scale[r_idx],
    }
    out.update(_estimate_columns(fit, names, (r_idx, j_idx)))
    # per dataset, as columns of plain Python values (one conversion per column, not per value)
    J, N = stats.J.astype(np.int64).tolist(), stats.N.astype(np.int64).tolist()
    tau, sigma, hb_tau2, s2_glm = (
        _numbers_or_none(fit.extra[k]) for k in ("tau", "sigma", "hier_bayes_tau2", "bayesglm_s2")
    )
    failed, why_failed = _failures(fit, names)
    not_applicable = _not_applicable(fit, names, lambda r: _sizes_differ(stats, r))
    npmle = _npmle_records(fit, len(d_labels))
    records = [
        {
            "dataset": str(lab),
            "J": J[r],
            "N": N[r],
            **vc_r,
            "tau": tau[r],
            "sigma": sigma[r],
            "engine": "shrinkstudy.methods.reml.fit_varcomp (exact optimum)",
            "hier_bayes_tau2_mean": hb_tau2[r],
            "bayesglm_s2": s2_glm[r],
            **npmle[r],
            "failed": failed[r],
            **why_failed[r],
            **not_applicable[r],
        }
        for r, (lab, vc_r) in enumerate(zip(d_labels, _varcomp_records(fit.varcomp, sigma2=True), strict=True))
    ]
    settings = {
        "form": "long",
        "estimators": {e.name: e.reference if not e.builtin else "built-in" for e in entries},
        **({"estimator_files": _estimator_files(entries)} if any(not e.builtin for e in entries) else {}),
        "columns": {"group": args.group, "value": args.value, "dataset": args.dataset},
        "prior": {
            "family": prior.family,
            "scale": prior.scale,
            "on": "tau / sigma"
            if family == "half_cauchy"
            else "B0 = 1 / (1 + n0 tau^2 / sigma^2), n0 = harmonic mean group size",
        },
    }
    return out, records, settings


@dataclass(frozen=True)
class SummaryData:
    """A summary-form file (``--se``) read and checked: each row's group and dataset labels,
    estimate and standard error, dataset codes and column (its rank among its dataset's rows),
    the (R, J) estimates ``Y`` and standard errors ``S`` (NaN where a dataset has no such
    group), each dataset's group count and ``scale`` (a power of two to divide by) and how
    messages name each dataset."""

    group: object
    ds: object
    y: np.ndarray
    se: np.ndarray
    d_codes: np.ndarray
    d_labels: np.ndarray
    col: np.ndarray
    Y: np.ndarray
    S: np.ndarray
    counts: np.ndarray
    scale: np.ndarray
    names: list


def summary_data(args, df, line, path, common: bool = False) -> SummaryData:
    """The summary form's reading and checks (``fit --se``'s and ``advise --se``'s): one line
    naming the file, line and column for bad input (``InputError``); ``common``: one scale for
    the whole file (``_meta_scales``)."""
    group = _labels(_column(df, path, args.group, "--group"), path, line, "group")
    y = _numbers(_column(df, path, args.value, "--value"), path, line)
    se_col = _column(df, path, args.se, "--se")
    se = _numbers(se_col, path, line)
    bad = ~(se > 0)
    if bad.any():
        if line is None:
            raise _Irregular
        i = int(np.argmax(bad))
        raise InputError(
            f"{path}, line {line[i]}, column {args.se!r}: a standard error must be positive, "
            f"got {se_col.iloc[i]!r}"
        )
    ds = _dataset_labels(args, df, line, path)
    d_codes, d_labels = _codes(ds)
    g_codes, _ = _codes(group)
    dup = np.ones(d_codes.size, dtype=bool)  # a (dataset, group) pair seen on an earlier row
    dup[np.unique(d_codes * (int(g_codes.max()) + 1) + g_codes, return_index=True)[1]] = False
    if dup.any():
        if line is None:
            raise _Irregular
        i = int(np.argmax(dup))
        raise InputError(
            f"{path}, line {line[i]}, column {args.group!r}: group {group[i]!r} appears twice"
            + (f" in dataset {ds[i]!r}" if args.dataset else "")
            + "; the summary form (--se) takes one row per group"
        )
    R = len(d_labels)
    by = np.argsort(d_codes, kind="stable")  # each row's rank among its dataset's rows
    col = np.empty_like(d_codes)
    col[by] = np.arange(by.size) - np.searchsorted(d_codes[by], d_codes[by])
    J = int(col.max()) + 1
    Y = np.full((R, J), np.nan)
    S = np.full((R, J), np.nan)
    Y[d_codes, col] = y
    S[d_codes, col] = se
    counts = np.bincount(d_codes, minlength=R)
    for r, lab in enumerate(d_labels):
        if counts[r] < 2:
            only = str(_values(group)[np.flatnonzero(d_codes == r)[0]])
            raise _one_group(path, lab, only, args)
    scale = _meta_scales(Y, S, d_labels, path, args, common=common)
    names_of = [_dataset_name(lab, bool(args.dataset)) for lab in d_labels]
    return SummaryData(group, ds, y, se, d_codes, d_labels, col, Y, S, counts, scale, names_of)


def _fit_summary(args, df, line, path):
    from ..methods.knownse import META_ESTIMATORS, MetaPrior, fit_meta

    family = args.prior or "uniform"
    if family == "half_cauchy" and args.prior_scale is None:
        raise InputError(
            "--prior half_cauchy with --se needs --prior-scale (tau ~ half-Cauchy(0, scale), in the "
            "units of the estimates)"
        )
    prior = MetaPrior(family=family, scale=args.prior_scale)
    data = summary_data(args, df, line, path, common=family == "half_cauchy")
    group, ds, y, se, d_codes, d_labels = data.group, data.ds, data.y, data.se, data.d_codes, data.d_labels
    col, Y, S, counts, scale, names_of = data.col, data.Y, data.S, data.counts, data.scale, data.names
    if family == "half_cauchy":  # its scale is in the units of the estimates
        prior = MetaPrior(family=family, scale=args.prior_scale / scale[0])
    Ys, Ss = Y / scale[:, None], S / scale[:, None]
    fit = fit_meta(Ys, Ss, META_ESTIMATORS, method=args.method, level=args.level, prior=prior)
    scaled_back = _unscale_fit(fit, scale, counts - (1.0 if args.method == "REML" else 0.0))
    fit = _refuse_overflow(fit, scaled_back, names_of, (), path)
    prior = MetaPrior(family=family, scale=args.prior_scale)
    out = {
        "dataset": _values(ds),
        "group": _values(group),
        "se": se,
        "ybar": y,
    }
    out.update(_estimate_columns(fit, META_ESTIMATORS, (d_codes, col)))
    order = np.lexsort((col, d_codes))
    table = {name: np.asarray(values)[order] for name, values in out.items()}
    tau, hb_tau, hb_tau2, js = (
        _numbers_or_none(fit.extra[k])
        for k in ("tau", "hier_bayes_tau_mean", "hier_bayes_tau2_mean", "james_stein_factor")
    )
    failed, _ = _failures(fit, META_ESTIMATORS)
    not_applicable = _not_applicable(fit, META_ESTIMATORS, lambda r: _ses_differ(S[r]))
    records = [
        {
            "dataset": str(lab),
            "J": int(counts[r]),
            **vc_r,
            "tau": tau[r],
            "engine": "shrinkstudy.methods.knownse.fit_meta (known standard errors, exact optimum)",
            "hier_bayes_tau_mean": hb_tau[r],
            "hier_bayes_tau2_mean": hb_tau2[r],
            "james_stein_factor": js[r],
            "failed": failed[r],
            **not_applicable[r],
        }
        for r, (lab, vc_r) in enumerate(zip(d_labels, _varcomp_records(fit.varcomp, sigma2=False), strict=True))
    ]
    settings = {
        "form": "summary",
        "columns": {"group": args.group, "value": args.value, "se": args.se, "dataset": args.dataset},
        "prior": {"family": prior.family, "scale": prior.scale, "on": "tau"},
    }
    return table, records, settings


def _seed_figure1():
    """The --plot hook: shrinkstudy.report.figures.seed_figure1, imported lazily."""
    try:
        figures = importlib.import_module("shrinkstudy.report.figures")
    except ModuleNotFoundError as exc:
        if exc.name in ("shrinkstudy.report.figures",):
            raise InputError(
                "--plot needs the module shrinkstudy.report.figures, which this installation does not have"
            ) from None
        raise InputError(f"--plot: shrinkstudy.report.figures cannot be imported: {exc}") from None
    fn = getattr(figures, "seed_figure1", None)
    if not callable(fn):
        raise InputError(
            "--plot needs shrinkstudy.report.figures.seed_figure1, which this installation does not have"
        )
    return fn


def _write_csv(table, path: Path) -> None:
    """``table`` (column name -> values, or a DataFrame) as CSV by Arrow's writer (ten times
    pandas' speed on a large table), as pandas' ``to_csv`` writes it: numbers in the shortest
    form that reads back as the same double (a float column of whole numbers "15.0"), missing
    values empty, text quoted only when some value needs it; a table Arrow cannot take
    (mixed-type labels) by pandas."""
    import csv
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    from ..store.smkio import arrow_array

    names, arrays = [], []
    try:
        for name, values in table.items():
            names.append(str(name))
            x = np.asarray(values)
            if x.dtype.kind == "f" and np.isfinite(x).any() and np.all(x[np.isfinite(x)] % 1 == 0):
                # a float column of whole numbers keeps its ".0" (read back as floats, not integers)
                x = np.array([repr(float(v)) if np.isfinite(v) else None for v in x], dtype=object)
            arrays.append(arrow_array(x, missing=True))  # NaN (and None) missing
        arrow = pa.Table.from_arrays(arrays, names=names)
    except (pa.ArrowException, TypeError, ValueError):
        import pandas as pd

        pd.DataFrame({k: np.asarray(v) for k, v in table.items()}).to_csv(path, index=False)
        return
    import pyarrow.compute as pc

    # text quoted only where a value holds a comma, a quote or a line break (as pandas writes it)
    special = any(
        pc.any(pc.match_substring_regex(arrow.column(k), r'[,"\n\r]')).as_py()
        for k, f in enumerate(arrow.schema)
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    )
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(names)
    with open(path, "wb") as fh:
        fh.write(header.getvalue().encode())
        quoting = "needed" if special else "none"
        pacsv.write_csv(arrow, fh, pacsv.WriteOptions(include_header=False, quoting_style=quoting))


def _read_and_fit(args, path: Path, fit=None):
    """(estimates table, fit.json records, settings) of the file (or what ``fit(args, df, line,
    path)`` makes of it, e.g. ``long_data``): read typed and fast where it is regular, else by the
    text reader, which names the line of a problem."""
    fit = fit or (_fit_summary if args.se else _fit_long)
    _distinct_columns(args, path)
    _data_file(path)
    typed = _read_typed(path, args)
    if typed is not None:
        try:
            return fit(args, typed, None, path)
        except _Irregular:
            pass
    df, line = _read_parquet_text(path) if path.suffix.lower() == ".parquet" else _read_csv(path)
    return fit(args, df, line, path)


def _fit_json(meta: dict) -> str:
    """fit.json: the settings indented, then one line per dataset (json's fast encoder; a file
    of thousands of datasets stays quick to write and easy to read or grep)."""
    head = {k: v for k, v in meta.items() if k != "datasets"}
    text = json.dumps(head, indent=2, allow_nan=False)
    rows = ",\n".join("    " + json.dumps(r, allow_nan=False) for r in meta["datasets"])
    return text[:-2] + f',\n  "datasets": [\n{rows}\n  ]\n}}\n'


def _check_not_input(out: Path, path: Path, names) -> None:
    """Refuse an output directory where an output file would overwrite the input."""
    for name in names:
        target = out / name
        try:
            same = target.exists() and target.samefile(path)
        except OSError:
            same = False
        if same:
            raise InputError(
                f"{path}: --out {out} would overwrite this input with {name}; choose another directory"
            )


def _check_out(out: Path) -> None:
    """Refuse, before any work and creating nothing, an output directory that cannot be created
    or written in: a read-only file system or directory, a path under a file."""
    import os
    import tempfile

    existing = out
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{out}: cannot create the output directory ({existing} is not a directory)")
    what = "write in" if existing == out else "create"
    try:  # the test that counts: the system's answer to creating a file there
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".shrinkstudy-", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{out}: cannot {what} the output directory ({exc.strerror or exc})") from None


def _write_outputs(out: Path, writers: dict) -> list[Path]:
    """Create ``out`` and write its files (name -> function that writes one to the path it is
    given): each to a temporary name beside it, renamed once all are written. A failure (the
    disk full, the directory made read-only meanwhile) is one line and leaves none of them."""
    import os

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the output directory ({exc.strerror or exc})") from None
    done = {}
    try:
        for name, write in writers.items():
            done[name] = out / f".{name}.{os.getpid()}.tmp"
            write(done[name])
        for name, tmp in done.items():
            tmp.replace(out / name)
    except OSError as exc:
        for tmp in done.values():
            tmp.unlink(missing_ok=True)
        raise InputError(f"{out}: cannot write {name} ({exc.strerror or exc})") from None
    return [out / name for name in writers]


@dataclass(frozen=True)
class LongData:
    """A long-form file read and checked: each row's dataset and group codes, the values
    (divided by each dataset's ``scale``, a power of two), the labels, the sufficient statistics
    of every dataset and, per dataset, its groups' codes in order of first appearance."""

    d_codes: np.ndarray
    g_codes: np.ndarray
    y: np.ndarray
    d_labels: np.ndarray
    g_labels: np.ndarray
    scale: np.ndarray
    names: list
    stats: object  # simulate.SuffStats
    groups: list


def long_data(args, df, line, path) -> LongData:
    """The long form's reading and checks (``fit``'s and ``advise``'s): one line naming the
    file, line and column for bad input (``InputError``)."""
    from ..design.simulate import suffstats_from_long

    group = _labels(_column(df, path, args.group, "--group"), path, line, "group")
    y = _numbers(_column(df, path, args.value, "--value"), path, line)
    ds = _dataset_labels(args, df, line, path)
    d_codes, d_labels = _codes(ds)
    g_codes, g_labels = _codes(group)
    lo, hi = np.full(len(d_labels), np.inf), np.full(len(d_labels), -np.inf)
    np.minimum.at(lo, d_codes, y)
    np.maximum.at(hi, d_codes, y)
    size = 0.5 * hi - 0.5 * lo  # half the range (no overflow) or, if 0, the value
    size = np.where(size > 0, size, np.abs(lo))
    names_of = [_dataset_name(lab, bool(args.dataset)) for lab in d_labels]
    scale = _dataset_scales(size, size, names_of, path, "the values")
    if np.any(scale != 1.0):
        y = y / scale[d_codes]  # exact: powers of two
    stats, _, groups = suffstats_from_long(d_codes, g_codes, y)
    for r, lab in enumerate(d_labels):
        J = int(stats.J[r])  # (J and N are computed once per SuffStats)
        if J < 2:
            only = g_labels[groups[r][0]]
            raise _one_group(path, lab, only, args)
        if stats.N[r] <= J:
            raise InputError(
                f"{path}: every group of {_dataset_name(lab, bool(args.dataset))} has a single observation, "
                "so tau^2 and sigma^2 cannot be told apart; for one estimate per group give its "
                "standard error with --se"
            )
    return LongData(d_codes, g_codes, y, d_labels, g_labels, scale, names_of, stats, groups)
