"""Reading the user's data file, whatever its format: CSV (typed by Arrow, else by the text
reader, which names the line of a problem) and Parquet; the columns the commands ask for,
checked (missing, infinite or non-numeric values, a single group ...)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .args import InputError

if TYPE_CHECKING:  # pandas is imported only where a file needs it (the text reader): start-up
    import pandas as pd


_MISSING_TOKENS = {"", "na", "nan", "n/a", "null", "none", "-nan", "#n/a"}


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

    from ..store.smkio import numpy_column

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
