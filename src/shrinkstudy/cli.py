"""Command line: fit the estimators to your own data.

Usage::

    shrinkstudy fit DATA.csv --out DIR [--group COL] [--value COL] [--dataset COL]
                    [--se COL] [--method REML|ML] [--level 0.95]
                    [--prior half_cauchy|uniform_shrinkage|uniform] [--prior-scale X] [--plot] [--jobs N]

(also ``python -m shrinkstudy fit ...``). ``shrinkstudy advise`` (which estimator for your data)
is ``shrinkstudy.advise``, registered here; ``shrinkstudy replicate`` reruns one replication.

Two input forms:

* long (default): one row per observation, a group column (``--group``, default ``group``) and
  a value column (``--value``, default ``y``). ``--dataset COL`` fits every dataset of the file
  at once (vectorised, the same numbers as fitting each one alone).
* summary (``--se COL``): one row per group, the group's estimate (``--value``) and its known
  standard error; fitted with ``shrinkstudy.engines.fit_meta`` (Rubin's eight schools).

Writes ``DIR/estimates.csv`` (one row per dataset and group: dataset, group, n or se, ybar,
every estimator's estimate and ``<name>_lower`` / ``<name>_upper`` for the interval
estimators; every number in the shortest form that reads back as the same double, a missing
one empty) and ``DIR/fit.json`` (settings, package versions and, per dataset, mu, tau2,
sigma2, tau, sigma, the REML/ML criterion, boundary, method and engine). Without ``--dataset``
the dataset is named after the file.

Any finite data fit, whatever their units: a dataset whose spread (summary form: standard
errors and spread of the estimates) lies outside 2^-100 .. 2^100 is divided by a power of two
(exactly; at most by 2^1023) before the fit, and its answers are scaled back; tau2 and sigma2
are null where they leave the float range (data beyond about 1e+-154). Data within that range
are fitted as given. Standard errors too far apart for double precision (e.g. 1e-300 beside 10),
and data whose estimates, interval bounds, mu, tau or sigma would exceed the largest double
(values near +-1.8e308), are refused; a user's estimator whose answers would is counted as
failing on that dataset.

Bad input (a missing, unreadable or empty file, a directory, a file without data rows, a
missing column, a column name twice in the header or among a Parquet file's columns, a row with
more fields than the header, text in a numeric column, a missing or infinite value, a single
group, an ``--out`` it cannot write in or where an output would overwrite the input ...) gives
one line on stderr naming the file, line and column, and exit status 2, and writes nothing.

DATA must be a regular file: read typed by Arrow, without pandas (``_read_typed``), and where
that meets something irregular, again by the text reader, which names the line of a problem.
From ``2 * workers.MIN_ROWS`` datasets the long form is fitted on ``--jobs`` threads (default:
one per usable core; ``workers``), with the same bytes written. The outputs are written under
temporary names and renamed once all are written: a failed write leaves none of them.

``--plot`` calls ``shrinkstudy.figures.seed_figure1(estimates=<the estimates.csv DataFrame>,
fit=<the fit.json dict>, out=DIR/"figure1.png")`` after the fit; without that function the
command stops with exit status 2 before fitting.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is imported only where a file needs it (the text reader): start-up
    import pandas as pd

__all__ = ["main", "InputError", "LongData", "SummaryData", "long_data", "summary_data"]

_MISSING_TOKENS = {"", "na", "nan", "n/a", "null", "none", "-nan", "#n/a"}
_STATUS_NAMES = {0: "ok", 1: "zero_within", 2: "constant", 3: "not_identified"}


class InputError(Exception):
    """Input the command cannot use; the message is one line naming file, line and column."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return v


def _jobs(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return v


def _level(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (0 < v < 1):
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1, e.g. 0.95")
    return v


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="shrinkstudy",
        description="Shrinkage estimators of group means in the one-way random-effects model.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    fit = sub.add_parser(
        "fit",
        help="fit every estimator to a CSV file of your own data",
        description=(
            "Fit every estimator that applies (below; the summary form, --se, has those marked "
            "'known SE') to DATA and write DIR/estimates.csv and DIR/fit.json."
        ),
        epilog=_estimators_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("data", metavar="DATA.csv", help="CSV file with a header row")
    fit.add_argument("--out", required=True, metavar="DIR", help="output directory (created if needed)")
    fit.add_argument("--group", default="group", metavar="COL", help="group column (default: group)")
    fit.add_argument(
        "--value",
        default="y",
        metavar="COL",
        help="observation (or, with --se, estimate) column (default: y)",
    )
    fit.add_argument(
        "--dataset", metavar="COL", help="dataset column: fit every dataset of the file, each on its own"
    )
    fit.add_argument(
        "--se",
        metavar="COL",
        help="summary form: one row per group, COL holds the known standard error of the estimate",
    )
    fit.add_argument(
        "--method", choices=("REML", "ML"), default="REML", help="variance components (default: REML)"
    )
    fit.add_argument("--level", type=_level, default=0.95, help="interval level (default: 0.95)")
    fit.add_argument(
        "--prior",
        choices=("half_cauchy", "uniform_shrinkage", "uniform"),
        help=(
            "hier_bayes prior. Long form: half_cauchy (default; tau/sigma ~ half-Cauchy(0, scale)) or "
            "uniform_shrinkage. Summary form: uniform (default; flat on tau, BDA3), half_cauchy "
            "(tau ~ half-Cauchy(0, scale), scale in units of the estimates, needs --prior-scale) or "
            "uniform_shrinkage"
        ),
    )
    fit.add_argument(
        "--prior-scale", type=_positive_float, metavar="X", help="half-Cauchy scale (long form default: 1)"
    )
    fit.add_argument(
        "--estimator",
        action="append",
        default=[],
        metavar="SPEC",
        help=(
            "also fit your own estimator, 'file.py:function' or 'module:function' (repeatable; "
            "the contract: python -c 'help(\"shrinkstudy.plugins\")')"
        ),
    )
    fit.add_argument(
        "--time-limit",
        type=_positive_float,
        metavar="SECONDS",
        help=(
            "stop each of your own estimators after this many seconds on the file's datasets; the "
            "datasets it has not finished are its failures (default: 600)"
        ),
    )
    fit.add_argument(
        "--plot", action="store_true", help="also draw DIR/figure1.png (needs shrinkstudy.figures)"
    )
    fit.add_argument(
        "--jobs",
        type=_jobs,
        metavar="N",
        help=(
            "threads that share the datasets of a long-form file, from a thousand datasets "
            "(default: one per usable core). The results do not depend on it"
        ),
    )
    fit.set_defaults(func=_cmd_fit)

    rep = sub.add_parser(
        "replicate",
        help="regenerate one replication of a study and fit every estimator to it",
        description=(
            "Regenerate replication REP of cell CELL of a study (its dataset, written as CSV), fit "
            "every estimator of the study to it and print the estimates and losses: the numbers "
            "the study stored for it."
        ),
    )
    rep.add_argument("cell", metavar="CELL", help="cell name, e.g. J12_n100x6+2x6_sigma5_tau1_mu0")
    rep.add_argument("rep", metavar="REP", type=int, help="replication index (0-based)")
    rep.add_argument(
        "--config",
        action="append",
        metavar="FILE",
        help="the study's config file, as given to snakemake --configfile (repeatable; default: the "
        "project's config/config.yaml)",
    )
    rep.add_argument(
        "--out", default="replicate", metavar="DIR", help="where the dataset and tables go (default: replicate/)"
    )
    rep.set_defaults(func=_cmd_replicate)
    from . import advise

    advise.add_parser(sub)
    return parser




def _estimators_help() -> str:
    """The registry's estimators, one line each, for ``fit --help``."""
    from .registry import BUILTIN

    lines = ["estimators:"]
    for e in BUILTIN:
        if "truth" in e.needs:
            continue
        forms = ["long"] + (["known SE"] if e.known_se is not None else [])
        lines.append(f"  {e.name:<12} {e.description} [{', '.join(forms)}]")
    return "\n".join(lines)


def _user_estimators(args):
    """Registry entries of the --estimator options (paths relative to the current directory)."""
    from .plugins import PluginError, user_estimator

    entries = []
    for k, spec in enumerate(args.estimator):
        try:
            entries.append(user_estimator(spec, ".", where=f"--estimator {spec}", position=k))
        except PluginError as exc:
            raise InputError(str(exc)) from None
        if "truth" in entries[-1].needs:
            raise InputError(f"--estimator {spec}: takes truth, which your own data do not have")
    names = [e.name for e in entries]
    if len(set(names)) < len(names):
        raise InputError(f"--estimator: two estimators are called {max(names, key=names.count)!r}")
    return entries


# ---------------------------------------------------------------------------------------------
# reading and checking the input
# ---------------------------------------------------------------------------------------------


def _read_header(path: Path) -> tuple[list[str], int | None]:
    """The header's names (stripped) and the field count of the first data row (None without one).

    A header with a name twice (``y,y``, or ``y, y`` once stripped) is refused: pandas would
    rename one copy and the command would silently use the other."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = csv.reader(fh)
            header = next(rows, None)
            first = next((r for r in rows if any(f.strip() for f in r)), None)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text (UTF-8) CSV file") from None
    except csv.Error as exc:
        raise InputError(f"{path}: cannot be read as CSV: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if header is None:
        raise InputError(f"{path}: the file is empty")
    names = [h.strip() for h in header]
    _unique_names(names, f"{path}, line 1", "in the header")
    return names, (len(first) if first is not None else None)


def _unique_names(names, where: str, among: str) -> None:
    """Refuse a column name that appears twice (pandas and Arrow would rename one copy or
    refuse the table, and the command would silently use the other or fail)."""
    seen = set()
    for name in names:
        if name in seen:
            raise InputError(f"{where}: column {name!r} appears twice {among}; names must differ")
        seen.add(name)


def _data_file(path: Path) -> None:
    """Refuse a DATA that does not exist or is not a file (a directory, a device)."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: a directory, not a data file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")


def _read_csv(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """All cells as stripped text, blank lines dropped; returns the frame and each row's line number."""
    import warnings

    import pandas as pd

    names, first_fields = _read_header(path)
    if first_fields is not None and first_fields > len(names):
        # pandas would take the first column for the row labels and shift every column by one
        raise InputError(
            f"{path}: the first data row has {first_fields} fields, the header {len(names)}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # a field dropped is an error
            df = pd.read_csv(
                path, dtype=str, keep_default_na=False, na_values=[], skip_blank_lines=False, index_col=False
            )
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text (UTF-8) CSV file") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError) as exc:
        first = " ".join(str(exc).split())
        raise InputError(f"{path}: cannot be read as CSV: {first}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    df = df.apply(lambda col: col.str.strip())
    line = df.index.to_numpy() + 2  # the header is line 1
    keep = ~(df == "").all(axis=1).to_numpy()
    df, line = df[keep].reset_index(drop=True), line[keep]
    if df.empty:
        raise InputError(f"{path}: no data rows below the header")
    return df, line


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


def _checked_parquet(path: Path, table):
    """A Parquet file's table, refused (one line) where a column name appears twice (once
    stripped) or it has no rows."""
    _unique_names([str(c).strip() for c in table.column_names], str(path), "among its columns")
    if table.num_rows == 0:
        raise InputError(f"{path}: no rows (columns: {', '.join(repr(c) for c in table.column_names)})")
    return table


def _read_parquet_text(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """A Parquet file as the text reader's frame (every cell as stripped text; "line" k is row k)."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path, page_checksum_verification=True) as parquet:
        df = _checked_parquet(path, parquet.read()).to_pandas()
    df.columns = [str(c).strip() for c in df.columns]
    df = df.apply(lambda col: col.astype(str).str.strip().where(col.notna(), ""))
    return df, np.arange(1, len(df) + 1)


class _Irregular(Exception):
    """The typed fast reading met something only the text reader explains (line numbers)."""


@dataclass(frozen=True)
class _Coded:
    """A label column read typed: each row's code (order of first appearance) and the labels."""

    codes: np.ndarray
    labels: np.ndarray

    def __getitem__(self, i):
        return self.labels[self.codes[i]]

    def __len__(self) -> int:
        return self.codes.size


@dataclass(frozen=True)
class _Typed:
    """The typed reader's columns (name -> float or integer array, or ``_Coded`` labels), read
    like the text reader's DataFrame: ``columns``, ``table[name]`` and ``len(table)``."""

    columns: dict
    rows: int

    def __getitem__(self, name):
        return self.columns[name]

    def __len__(self) -> int:
        return self.rows


def _values(labels) -> np.ndarray:
    """Every row's label (text, or the typed reader's integers)."""
    return labels.labels[labels.codes] if isinstance(labels, _Coded) else np.asarray(labels)


def _is_text(kind) -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _read_typed(path: Path, args) -> _Typed | None:
    """The file read by Arrow with typed columns, when it is regular: a Parquet file, or a CSV
    file whose header names are unique after stripping, whose value (and SE) columns are finite
    numbers and whose label columns have no missing or padded entries. None otherwise: the text
    reader (``_read_csv``) then reads it again and names the line of the problem."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .smkio import numpy_column

    labels = [c for c in (args.group, args.dataset) if c]
    parquet = path.suffix.lower() == ".parquet"
    try:
        if parquet:
            import pyarrow.parquet as pq

            # page checksums verified where the file has them; ParquetFile, not read_table, whose
            # dataset layer would import pandas
            with pq.ParquetFile(path, page_checksum_verification=True) as parquet:
                table = parquet.read()
            table = _checked_parquet(path, table)
        else:
            from pyarrow import csv

            # labels stay text ('01' is not '1'), read straight into codes and the labels once each
            text_codes = pa.dictionary(pa.int32(), pa.string())
            options = csv.ConvertOptions(
                column_types={c: text_codes for c in labels},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            )
            # one dictionary for all the file's blocks: the labels in order of first appearance
            table = csv.read_csv(path, convert_options=options).unify_dictionaries()
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError):
        if parquet:
            raise InputError(f"{path}: not a readable Parquet file") from None
        return None
    names = list(table.column_names)
    if [str(c).strip() for c in names] != names or len(set(names)) < len(names) or table.num_rows == 0:
        return None
    wanted = {args.group, args.value, args.se, args.dataset} - {None}
    if not wanted <= set(names):
        return None  # the text reader names the missing column
    cols = {}
    for name in wanted:
        col = table.column(name)
        if col.null_count:
            return None
        numeric = name in (args.value, args.se)
        if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
            values = numpy_column(col)
            if numeric and not np.all(np.isfinite(values)):
                return None
            if not numeric and pa.types.is_floating(col.type) and not np.all(np.isfinite(values)):
                return None  # a NaN label: the text reader takes it as the text "nan"
            cols[name] = values.astype(float) if numeric else values
        elif _is_text(col.type) or pa.types.is_dictionary(col.type) and _is_text(col.type.value_type):
            if numeric:
                return None
            if pa.types.is_dictionary(col.type) and parquet:  # a stored dictionary (categories):
                col = col.cast(col.type.value_type)  # its order is not the file's, some may be unused
            # codes in order of first appearance, the labels once each (no per-row text objects)
            enc = (col if pa.types.is_dictionary(col.type) else col.dictionary_encode()).combine_chunks()
            labels_ = enc.dictionary  # checked once per distinct label, not per row
            if not pc.all(pc.equal(labels_, pc.utf8_trim_whitespace(labels_))).as_py():
                return None
            if pc.min(pc.utf8_length(labels_)).as_py() == 0:  # an empty label
                return None
            codes = numpy_column(pa.chunked_array([enc.indices])).astype(np.int64)
            cols[name] = _Coded(codes, np.asarray(labels_.to_pylist(), dtype=object))
        else:
            return None
    return _Typed(cols, table.num_rows)


def _column(df: pd.DataFrame | _Typed, path: Path, name: str, option: str):
    if name not in df.columns:
        have = ", ".join(repr(c) for c in df.columns)
        raise InputError(f"{path}: no column {name!r} (columns: {have}); name it with {option}")
    return df[name]


def _labels(col, path: Path, line: np.ndarray, what: str):
    if line is None:  # read typed and checked (_read_typed): _Coded text or an integer array
        return col
    bad = (col == "").to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{path}, line {line[i]}, column {col.name!r}: missing {what} label")
    return col.to_numpy()


def _numbers(col, path: Path, line: np.ndarray) -> np.ndarray:
    if line is None:  # read typed and checked (_read_typed)
        return np.asarray(col, dtype=float)
    import pandas as pd

    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        text = col.iloc[i]
        where = f"{path}, line {line[i]}, column {col.name!r}"
        if text.lower() in _MISSING_TOKENS:
            raise InputError(f"{where}: missing value")
        if np.isinf(values[i]):
            raise InputError(f"{where}: {text!r} is not a finite number")
        raise InputError(f"{where}: {text!r} is not a number")
    return values


def _codes(labels) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes in order of first appearance and the distinct labels (as text)."""
    if isinstance(labels, _Coded):  # from _read_typed: labels in order of appearance
        return labels.codes, labels.labels
    labels = np.asarray(labels)
    if labels.dtype.kind in "iuf":  # the typed reader's numbers (finite): no pandas needed
        uniq, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        return rank[inverse].astype(np.int64), np.asarray([str(u) for u in uniq[order]], dtype=object)
    import pandas as pd

    codes, uniques = pd.factorize(labels, sort=False)
    return codes, np.asarray([str(u) for u in uniques], dtype=object)


def _dataset_name(ds_label, have_dataset: bool) -> str:
    return f"dataset {ds_label!r}" if have_dataset else "the file"


# ---------------------------------------------------------------------------------------------
# fitting
# ---------------------------------------------------------------------------------------------


def _versions() -> dict:
    from importlib.metadata import version

    import scipy

    from . import __version__

    return {
        "shrinkstudy": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": sys.modules["pandas"].__version__ if "pandas" in sys.modules else version("pandas"),
    }


def _numbers_or_none(x) -> list:
    """Every entry as a float, None where it is not finite (JSON has no NaN or infinity)."""
    x = np.asarray(x, dtype=float)
    return [v if ok else None for v, ok in zip(x.tolist(), np.isfinite(x).tolist(), strict=True)]


def _dataset_labels(args, df, line, path) -> np.ndarray:
    """The --dataset column's labels, or the file's name for a file of one dataset."""
    if args.dataset:
        return _labels(_column(df, path, args.dataset, "--dataset"), path, line, "dataset")
    return np.full(len(df), path.stem, dtype=object)


def _one_group(path, label, only, args) -> InputError:
    return InputError(
        f"{path}: {_dataset_name(label, bool(args.dataset))} has only 1 group ({only!r} in column "
        f"{args.group!r}); the model needs at least 2"
    )


# ---------------------------------------------------------------------------------------------
# scale: the engines see numbers of order one, whatever the data's units
# ---------------------------------------------------------------------------------------------

#: A dataset whose magnitudes (the spread of its values; with --se also its standard errors)
#: lie within 2^-_SCALE_FREE .. 2^_SCALE_FREE is fitted as given (bit for bit the engine's
#: answer); otherwise it is divided by a power of two (exact) and the answers scaled back.
_SCALE_FREE = 100
#: Beyond 2^+-_SCALE_SPAN of each other (after scaling) the squares and their reciprocals that
#: the engines form would leave the float range: such a dataset is refused.
_SCALE_SPAN = 240


def _dataset_scales(lo, hi, names, path, what) -> np.ndarray:
    """A power of two per dataset that brings magnitudes lo..hi (0 where none) near 1; names:
    how the message calls each dataset."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    e_lo, e_hi = np.frexp(lo)[1], np.frexp(hi)[1]  # x in [2^(e-1), 2^e)
    k = np.where((lo > 0) & ((e_lo < -_SCALE_FREE) | (e_hi > _SCALE_FREE)), (e_lo + e_hi) // 2, 0)
    # magnitudes from 2^1023 (half the range of data near +-1e308) have e = 1024, and 2^1024 is
    # not a float (ldexp gives inf, and the data divided by it are all 0): 2^1023 at most
    k = np.minimum(k, np.finfo(float).maxexp - 1)
    wide = (lo > 0) & ((e_lo - k < -_SCALE_SPAN) | (e_hi - k > _SCALE_SPAN))
    if wide.any():
        r = int(np.argmax(wide))
        raise InputError(
            f"{path}: {what} of {names[r]} range from {lo[r]:.3g} to {hi[r]:.3g}, too far apart "
            f"to fit in double precision (at most about 1e{int(0.6 * _SCALE_SPAN)} between them)"
        )
    return np.ldexp(1.0, k.astype(np.int64))


def _meta_scales(Y, S, labels, path, args, common: bool) -> np.ndarray:
    """Scales of the summary form's datasets: from their standard errors and the spread of
    their estimates (rows of Y and S, NaN where a dataset has no such group); ``common``: one
    scale for the whole file (a half-Cauchy prior's scale is in the units of the estimates)."""
    with np.errstate(invalid="ignore"):
        half = 0.5 * np.nanmax(Y, axis=1) - 0.5 * np.nanmin(Y, axis=1)
    lo = np.nanmin(S, axis=1)
    hi = np.nanmax(S, axis=1)
    lo = np.where(half > 0, np.minimum(lo, half), lo)
    hi = np.where(half > 0, np.maximum(hi, half), hi)
    names = [_dataset_name(lab, bool(args.dataset)) for lab in labels]
    if common:
        lo, hi = np.full_like(lo, lo.min()), np.full_like(hi, hi.max())
        names = ["the file"] * len(names)
    what = "the standard errors and the spread of the estimates"
    return _dataset_scales(lo, hi, names, path, what)


def _rescaled(x, scale, power: int) -> np.ndarray:
    """``x * scale**power`` where that is a normal float (or 0 where x is), NaN where it leaves
    the float range (a variance of data beyond about 1e+-154)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        y = x
        for _ in range(power):
            y = y * scale
    lost = np.isinf(y) & np.isfinite(x) | (x != 0) & (np.abs(y) < np.finfo(float).tiny)
    return np.where(lost, np.nan, y)


def _unscale_fit(fit, scale, crit_df: np.ndarray):
    """The fit of data divided by ``scale`` (per dataset) in the data's own units.

    Means, estimates and intervals times the scale; variances times its square (NaN where that
    leaves the float range: ``extra["tau"]`` and ``extra["sigma"]``, the standard deviations,
    are always given); the criterion (-2 log likelihood) plus ``crit_df * log(scale^2)``."""
    import dataclasses

    vc = fit.varcomp
    tau, sigma = np.sqrt(vc.tau2), np.sqrt(vc.sigma2)
    if np.all(scale == 1.0):
        return dataclasses.replace(fit, extra={**fit.extra, "tau": tau, "sigma": sigma})
    s = scale[:, None]
    with np.errstate(over="ignore", invalid="ignore"):  # what leaves the range: _refuse_overflow
        varcomp = dataclasses.replace(
            vc,
            mu=vc.mu * scale,
            tau2=_rescaled(vc.tau2, scale, 2),
            sigma2=_rescaled(vc.sigma2, scale, 2),
            crit=vc.crit + crit_df * 2.0 * np.log(scale),
        )
        power = {"hier_bayes_tau_mean": 1, "hier_bayes_tau2_mean": 2, "hier_bayes_tau2": 2, "bayesglm_s2": 2}
        extra = {k: _rescaled(v, scale, power[k]) if k in power else v for k, v in fit.extra.items()}
        extra.update(tau=tau * scale, sigma=sigma * scale)
        estimates = {k: v * s for k, v in fit.estimates.items()}
        intervals = {k: (lo * s, hi * s) for k, (lo, hi) in fit.intervals.items()}
    return dataclasses.replace(fit, estimates=estimates, intervals=intervals, varcomp=varcomp, extra=extra)


def _refuse_overflow(engine, fit, names, users, path):
    """``fit`` (``_unscale_fit`` of the ``engine``'s answer), after checking that no answer left
    the float range when scaled back (e.g. an interval around data near 1e308, or their spread).

    A built-in estimate or interval bound, mu, tau or sigma beyond it is one line (InputError)
    naming the first such dataset (``names``: how the message calls each). ``users``: names of
    the user's estimators, whose answers beyond it are their failures on that dataset."""
    import dataclasses

    def lost(before, after):  # per dataset
        out = np.isfinite(np.asarray(before, dtype=float)) & ~np.isfinite(np.asarray(after, dtype=float))
        return out.reshape(out.shape[0], -1).any(axis=1)

    vc = engine.varcomp
    checks = [("mu", lost(vc.mu, fit.varcomp.mu)), ("tau", lost(np.sqrt(vc.tau2), fit.extra["tau"]))]
    checks.append(("sigma", lost(np.sqrt(vc.sigma2), fit.extra["sigma"])))
    failed, messages = dict(fit.failed), dict(fit.messages)
    estimates, intervals = dict(fit.estimates), dict(fit.intervals)
    for name in fit.estimates:
        bad = lost(engine.estimates[name], fit.estimates[name])
        if name in fit.intervals:
            bad |= lost(np.stack(engine.intervals[name], -1), np.stack(fit.intervals[name], -1))
        if name not in users:
            checks.append((f"the {name} estimates", bad))
        elif bad.any():
            failed[name] = failed[name] | bad
            messages[name] = np.where(bad, f"{name}: an answer beyond the float range", messages[name])
            estimates[name] = np.where(bad[:, None], np.nan, estimates[name])
            if name in intervals:
                intervals[name] = tuple(np.where(bad[:, None], np.nan, x) for x in intervals[name])
    for what, bad in checks:
        if bad.any():
            raise InputError(
                f"{path}: in {names[int(np.argmax(bad))]}, {what} would exceed the largest double "
                "(about 1.8e308); fit the values in smaller units"
            )
    return dataclasses.replace(
        fit, estimates=estimates, intervals=intervals, failed=failed, messages=messages
    )


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
    from .registry import BUILTIN

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
    from .simulate import suffstats_from_long

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


def _fit_long(args, df, line, path):
    from . import workers
    from .hierbayes import HierPrior
    from .plugins import TIME_LIMIT, observations_from_long
    from .registry import BUILTIN

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
            "engine": "shrinkstudy.reml.fit_varcomp (exact optimum)",
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
    from .knownse import META_ESTIMATORS, MetaPrior, fit_meta

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
            "engine": "shrinkstudy.knownse.fit_meta (known standard errors, exact optimum)",
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
    """The --plot hook: shrinkstudy.figures.seed_figure1, imported lazily."""
    try:
        figures = importlib.import_module("shrinkstudy.figures")
    except ModuleNotFoundError as exc:
        if exc.name in ("shrinkstudy.figures",):
            raise InputError(
                "--plot needs the module shrinkstudy.figures, which this installation does not have"
            ) from None
        raise InputError(f"--plot: shrinkstudy.figures cannot be imported: {exc}") from None
    fn = getattr(figures, "seed_figure1", None)
    if not callable(fn):
        raise InputError(
            "--plot needs shrinkstudy.figures.seed_figure1, which this installation does not have"
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

    from .smkio import arrow_array

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


def _distinct_columns(args, path: Path) -> None:
    """Refuse two options that name the same column (``--group y --value y``: every value its
    own group; ``--se y --value y``: each estimate its own standard error)."""
    roles = [("--group", args.group), ("--value", args.value), ("--se", args.se), ("--dataset", args.dataset)]
    roles = [(option, column) for option, column in roles if column is not None]
    for k, (option, column) in enumerate(roles):
        for other, col in roles[:k]:
            if col == column:
                raise InputError(
                    f"{path}: {other} and {option} both name column {column!r}; each needs its own"
                )


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


def _cmd_fit(args) -> int:
    path = Path(args.data)
    plot = _seed_figure1() if args.plot else None
    out = Path(args.out)
    _check_not_input(out, path, ("estimates.csv", "fit.json", "figure1.png"))
    _check_out(out)
    table, records, settings = _read_and_fit(args, path)
    meta = {
        "command": "shrinkstudy fit",
        "input": path.name,
        **settings,
        "method": args.method,
        "level": args.level,
        "versions": _versions(),
        "datasets": records,
    }
    written = _write_outputs(
        out,
        {
            "estimates.csv": lambda p: _write_csv(table, p),
            "fit.json": lambda p: p.write_text(_fit_json(meta)),
        },
    )
    if plot is not None:
        import pandas as pd

        fig = out / "figure1.png"
        plot(estimates=pd.DataFrame(table), fit=meta, out=fig)
        written.append(fig)
    n_ds = len(records)
    n_rows = len(next(iter(table.values())))
    print(
        f"fitted {n_ds} dataset{'s' if n_ds != 1 else ''} ({n_rows} groups); wrote "
        + ", ".join(str(p) for p in written)
    )
    return 0


def _cmd_replicate(args) -> int:
    import pandas as pd

    from .config import PROJECT, load_study, study_config
    from .design import ConfigError
    from .runner import replicate
    from .smkio import DamagedFile

    # the project: this directory when it holds the workflow, else the one of this installation
    root = Path.cwd() if (Path.cwd() / "Snakefile").is_file() else PROJECT
    try:
        study = load_study(study_config(args.config or ()), root=root)
    except ConfigError as exc:
        raise InputError(f"config: {exc}") from None
    out = Path(args.out)
    _check_out(out)
    try:
        res = replicate(study, args.cell, args.rep, root, workdir=Path.cwd())
    except (KeyError, IndexError) as exc:
        raise InputError(str(exc.args[0])) from None
    except DamagedFile as exc:  # a precision study's plan of the cell
        raise InputError(
            f"{exc.path}: {exc.reason}; delete it and run the study again (its plan job writes it anew)"
        ) from None
    stem = f"{res.cell.name}_rep{res.rep}"
    written = _write_outputs(
        out,
        {
            f"{stem}.csv": lambda p: res.data.to_csv(p, index=False),
            f"{stem}.estimates.csv": lambda p: res.estimates.to_csv(p, index=False, float_format="%.17g"),
            f"{stem}.losses.csv": lambda p: res.losses.to_csv(p, index=False, float_format="%.17g"),
        },
    )
    vc = res.varcomp.iloc[0]
    with pd.option_context("display.width", 160, "display.max_columns", 40, "display.precision", 6):
        print(f"cell {res.cell.name}, replication {res.rep} (seed {study.config['base_seed']})")
        print(
            f"variance components ({study.config['method']}): mu {vc['mu']:.6g}, tau2 {vc['tau2']:.6g}, "
            f"sigma2 {vc['sigma2']:.6g}, boundary {bool(vc['boundary'])}"
        )
        print("\nestimates of the group means:")
        print(res.estimates.to_string(index=False))
        print("\nlosses (mean over the groups):")
        print(res.losses.drop(columns="rep").to_string(index=False))
    print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


def main(argv=None) -> int:
    """Entry point of ``shrinkstudy`` and ``python -m shrinkstudy``; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2) and --help (0)
        return int(exc.code or 0)
    if args.command is None:
        print("shrinkstudy: error: choose a command: fit (see shrinkstudy --help)", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except InputError as exc:
        print(f"shrinkstudy: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
