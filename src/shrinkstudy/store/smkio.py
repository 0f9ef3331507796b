"""Small helpers for the workflow's scripts: logging to the rule's log file, Parquet I/O, and
text files with a checksum record (``write_sealed``, ``read_checked``)."""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from pathlib import Path

__all__ = [
    "logged",
    "job",
    "write_columns",
    "write_text",
    "read_columns",
    "read_parquets",
    "read_extras",
    "numpy_column",
    "arrow_array",
    "file_identity",
    "chunk_identities",
    "DamagedFile",
    "OneLineError",
    "checksum_path",
    "write_sealed",
    "read_checked",
]


class OneLineError(Exception):
    """An error that a script tells in one line on the terminal, its traceback in the log alone
    (a damaged file; a user's effects distribution that drew bad values)."""


@contextlib.contextmanager
def logged(path):
    """Send stdout, stderr and the ``logging`` records of a script to the rule's log file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        logging.basicConfig(stream=fh, level=logging.INFO, format="%(levelname)s %(message)s", force=True)
        try:
            yield
        except BaseException as exc:
            import traceback

            traceback.print_exc(file=fh)
            fh.flush()
            if isinstance(exc, OneLineError):  # one line; the traceback is in the log
                sys.__stderr__.write(f"error: {exc}\n")
                sys.__stderr__.flush()
                raise SystemExit(1) from None
            sys.__stderr__.write(f"failed: see {path}\n")
            raise


def job(func):
    """A workflow job: ``job(func)(log, ...)`` runs ``func(...)`` with its output sent to the rule's
    log file ``log`` (``logged``); a script calls it once, with plain values from Snakemake."""

    @functools.wraps(func)
    def run(log, *args, **kwargs):
        with logged(log):
            return func(*args, **kwargs)

    return run


# Parquet through Arrow buffers. pyarrow's own numpy conversions (``pa.array(ndarray)``,
# ``Array.to_numpy``) import pandas, about 0.5 s of every short job; building the arrays from
# their buffers gives the same files without it. Columns: integers, floats, booleans, strings;
# no missing values.


def arrow_array(values, *, missing: bool = False):
    """A 1-D numpy column as an Arrow array (integers, floats, booleans or strings), built from
    its buffers (``pyarrow.array`` would import pandas). With ``missing``, NaN in a float column
    and None in a text column are Arrow's missing values (nulls); without, None is refused."""
    import numpy as np
    import pyarrow as pa

    a = np.asarray(values)
    if a.ndim != 1:
        raise ValueError(f"columns must be 1-D, not of shape {a.shape}")
    n = len(a)
    absent = None
    if missing and a.dtype.kind == "f":
        absent = np.isnan(a)
    elif missing and a.dtype.kind == "O":
        absent = np.fromiter((v is None for v in a), dtype=bool, count=n)
    if absent is not None and absent.any():
        nulls = int(absent.sum())
        validity = pa.py_buffer(np.packbits(~absent, bitorder="little"))
        a = np.where(absent, "", a) if a.dtype.kind == "O" else a
    else:
        nulls, validity = 0, None
    if a.dtype.kind in "iuf":
        data = np.ascontiguousarray(a, a.dtype.newbyteorder("<"))
        return pa.Array.from_buffers(pa.from_numpy_dtype(a.dtype), n, [validity, pa.py_buffer(data)], nulls)
    if a.dtype.kind == "b":
        bits = np.packbits(a, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(bits)])
    if a.dtype.kind in "OUT":
        if a.dtype.kind == "O":
            bad = [v for v in a if not isinstance(v, str)]
            if bad:
                raise TypeError(f"an object column must hold strings only, not {bad[0]!r}")
        encoded = [str(v).encode() for v in a]
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=n)
        large = int(lengths.sum()) >= 2**31  # beyond int32 offsets: Arrow's large_string
        offsets = np.zeros(n + 1, dtype="<i8" if large else "<i4")
        np.cumsum(lengths, out=offsets[1:])
        buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
        return pa.Array.from_buffers(pa.large_string() if large else pa.string(), n, buffers, nulls)
    raise TypeError(f"cannot store a column of dtype {a.dtype} (integers, floats, booleans or strings)")


def _numpy_dtype(kind):
    """The numpy dtype of an Arrow type this module reads (TypeError for any other)."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return np.dtype(kind.to_pandas_dtype()).newbyteorder("<")  # Arrow's buffers: little-endian
    if pa.types.is_boolean(kind):
        return np.dtype(bool)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return np.dtype(object)
    raise TypeError(f"cannot read a column of type {kind}")


def numpy_column(column):
    """An Arrow (chunked) column without nulls as one read-only numpy array, read from its
    buffers (pyarrow's own ``to_numpy`` imports pandas, half a second of a job's start-up)."""
    import numpy as np

    dtype = _numpy_dtype(column.type)
    parts = []
    for chunk in column.chunks:
        if chunk.null_count:
            raise ValueError("columns with missing values are not supported")
        n, offset = len(chunk), chunk.offset
        if dtype.kind in "iuf":  # a view of the Arrow buffer
            part = np.frombuffer(chunk.buffers()[1], dtype=dtype, count=n, offset=offset * dtype.itemsize)
        elif dtype.kind == "b":
            packed = np.frombuffer(chunk.buffers()[1], dtype=np.uint8)
            part = np.unpackbits(packed, bitorder="little", count=offset + n)[offset:].astype(bool)
        else:
            coded = chunk.dictionary_encode()  # few distinct values: build each str once
            values = np.array(coded.dictionary.to_pylist(), dtype=object)
            ind = coded.indices  # int32, read from its buffer (to_numpy would import pandas)
            part = values[np.frombuffer(ind.buffers()[1], dtype="<i4", count=len(ind), offset=ind.offset * 4)]
        parts.append(part)
    out = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.empty(0, dtype)
    out.flags.writeable = False
    return out


# Every intermediate file proves it is the one written for the job that reads it: Parquet page
# checksums (CRC-32 of every data page, verified on read) and, in the file's key-value metadata
# under "shrinkstudy", what it is (kind, cell, replications [start, stop)), its row count, its
# columns' names and types and a SHA-256 of their values. The digest covers what the page
# checksums do not (page headers, the footer: a flipped byte there can change values and still
# decode); the identity catches a valid file of another cell or chunk copied over this one.

META_KEY = b"shrinkstudy"


class DamagedFile(ValueError, OneLineError):
    """An input file that is damaged, truncated or not the one written for this job (one line)."""

    def __init__(self, path, reason):
        reason = " ".join(str(reason).split())  # one line
        super().__init__(f"{path}: {reason}; delete it and run the same command again")
        self.path = str(path)
        self.reason = reason


def _digest(columns: dict, strings: dict | None = None) -> str:
    """SHA-256 of the columns' names, types and values (as stored: little-endian, UTF-8).

    A text column is digested as its values' byte lengths (int64) followed by their UTF-8 bytes;
    ``strings`` may give that ``(lengths, bytes)`` for some columns directly (``_arrow_strings``:
    read from Arrow's buffers, without a Python loop over the values)."""
    import hashlib

    import numpy as np

    strings = strings or {}
    h = hashlib.sha256()
    for name, values in columns.items():
        a = np.asarray(values)
        if a.dtype.kind in "iuf":
            a = np.ascontiguousarray(a, a.dtype.newbyteorder("<"))
            kind, data = a.dtype.str, a.tobytes()
        elif a.dtype.kind == "b":
            kind, data = "bool", np.packbits(a, bitorder="little").tobytes()
        else:
            kind = "str"
            if name in strings:
                lengths, text = strings[name]
            else:
                encoded = [str(v).encode() for v in a]
                lengths, text = np.array([len(e) for e in encoded], dtype="<i8"), b"".join(encoded)
            data = lengths.astype("<i8").tobytes() + text
        for part in (name.encode(), kind.encode(), len(a).to_bytes(8, "little"), data):
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
    return h.hexdigest()


def _arrow_strings(column):
    """A text column's value lengths (int64) and UTF-8 bytes, from its Arrow buffers."""
    import numpy as np
    import pyarrow as pa

    offset_type = np.int64 if pa.types.is_large_string(column.type) else np.int32
    lengths, text = [], []
    for chunk in column.chunks:
        buffers = chunk.buffers()
        offsets = np.frombuffer(buffers[1], dtype=np.dtype(offset_type).newbyteorder("<"),
                                count=len(chunk) + 1, offset=chunk.offset * np.dtype(offset_type).itemsize)
        lengths.append(np.diff(offsets).astype(np.int64))
        data = buffers[2]
        text.append(b"" if data is None else data.to_pybytes()[offsets[0] : offsets[-1]])
    return (np.concatenate(lengths) if lengths else np.empty(0, np.int64)), b"".join(text)


def file_identity(kind: str, cell: str, start: int, stop: int) -> dict:
    """What an intermediate file is: its kind, its cell and its replications [start, stop)."""
    return {"kind": str(kind), "cell": str(cell), "reps": [int(start), int(stop)]}


def chunk_identities(kind: str, cell: str, paths) -> list[dict]:
    """``file_identity`` of each chunk file of a cell, its replications read from its name
    (``reps<start>-<stop>.<...>``, as the rules name them)."""
    import re

    out = []
    for path in paths:
        m = re.match(r"reps(\d+)-(\d+)\.", Path(path).name)
        if m is None:
            raise ValueError(f"{path}: not a chunk file name (reps<start>-<stop>.*)")
        out.append(file_identity(kind, cell, int(m.group(1)), int(m.group(2))))
    return out


def write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8, as given) atomically: an interrupted job leaves no output."""
    _write_atomic(Path(path), text.encode("utf-8"))


# The other files a rule writes for a later rule (the tables, the seed example) keep their bytes
# as they are (CSV, Markdown, JSON) and get a record of their SHA-256 beside them:
# <folder>/.checksums/<name>.sha256, one line in sha256sum's format ("<hex>  <name>"; so
# `cd <folder> && sha256sum -c .checksums/<name>.sha256` checks it too). The record is written
# after the file, both atomically, and is a declared output of the rule (workflow/rules/
# common.smk, ``sealed``): a missing record reruns the rule. Every job that reads such a file
# reads it through ``read_checked``: the bytes written, or DamagedFile.

CHECKSUM_DIR = ".checksums"


def checksum_path(path) -> Path:
    """The checksum record of ``path``: ``<folder>/.checksums/<name>.sha256``."""
    p = Path(path)
    return p.parent / CHECKSUM_DIR / f"{p.name}.sha256"


def _record(name: str, data: bytes) -> bytes:
    import hashlib

    return f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_sealed(path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, written as given: no newline translation) atomically, then
    the record of its SHA-256 (``checksum_path``), atomically; ``read_checked`` reads it back."""
    p = Path(path)
    if "\n" in p.name or "\\" in p.name:
        raise ValueError(f"{p.name!r}: a file name with a newline or backslash cannot be recorded")
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    _write_atomic(p, raw)
    _write_atomic(checksum_path(p), _record(p.name, raw))
    return p


def read_checked(path) -> bytes:
    """The bytes of a file written by ``write_sealed``, exactly as written; else ``DamagedFile``
    (one line naming ``path``): the file or its record missing, the record damaged, or the
    file's SHA-256 not the recorded one (a changed, cut-short or emptied file)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise DamagedFile(path, "missing") from None
    except OSError as exc:
        raise DamagedFile(path, f"unreadable ({type(exc).__name__}: {exc.strerror or exc})") from None
    record = checksum_path(p)
    try:
        stored = record.read_bytes()
    except FileNotFoundError:
        raise DamagedFile(path, f"its checksum record {record} is missing") from None
    except OSError as exc:
        raise DamagedFile(path, f"its checksum record {record} is unreadable ({exc.strerror or exc})") from None
    import re

    m = re.fullmatch(rb"([0-9a-f]{64})  ([^\n]+)\n", stored)
    if m is None or m.group(2) != p.name.encode():
        raise DamagedFile(path, f"its checksum record {record} is damaged")
    if _record(p.name, data) != stored:
        if not data:
            raise DamagedFile(path, "empty file (0 bytes), not the one written (checksum mismatch)")
        raise DamagedFile(path, "its bytes differ from those written (checksum mismatch)")
    return data


def write_columns(columns: dict, path, identity: dict | None = None, extra: dict | None = None) -> None:
    """Write numpy columns to Parquet (zstd, page checksums); atomic, so an interrupted job
    leaves no output. ``identity`` (``file_identity``) is stored with the row count, the
    columns' types and their SHA-256 in the file's metadata, and checked by ``read_columns``.
    ``extra``: a JSON-able record about the whole file (e.g. the cell's theory), stored with its
    own SHA-256 and read back by ``read_extras``."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    table = pa.table({name: arrow_array(values) for name, values in columns.items()})
    meta = {
        **(identity or {}),
        "rows": table.num_rows,
        "columns": {name: str(table.schema.field(name).type) for name in table.column_names},
        "sha256": _digest(columns),
    }
    if extra is not None:
        meta["extra"] = extra
        meta["extra_sha256"] = _extra_digest(extra)
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta, sort_keys=True).encode()})
    pq.write_table(table, tmp, compression="zstd", write_page_checksum=True)
    tmp.replace(path)


def _read_table(path):
    """The Parquet file's table (page checksums verified) and its metadata, or DamagedFile."""
    import json

    import pyarrow.parquet as pq

    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise DamagedFile(path, "missing") from None
    if size == 0:
        raise DamagedFile(path, "empty file (0 bytes)")
    try:
        pf = pq.ParquetFile(p, page_checksum_verification=True)
        table = pf.read()
    except Exception as exc:  # pyarrow: ArrowInvalid, OSError, ... on a damaged file
        raise DamagedFile(path, f"not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    try:
        meta = json.loads(raw) if raw is not None else None
    except ValueError:
        raise DamagedFile(path, "its metadata are damaged") from None
    if meta is not None and not isinstance(meta, dict):
        raise DamagedFile(path, "its metadata are damaged")
    return table, meta


def read_columns(path, expect: dict | None = None) -> dict:
    """A Parquet file as a dict of read-only numpy columns (numbers are views of Arrow's buffers).

    With ``expect`` (``file_identity``), the file must be the one written for it: its metadata
    name the same kind, cell and replications, and its row count, column types and values match
    the metadata's record of them. A damaged, truncated, empty or foreign file raises
    ``DamagedFile`` (one line naming the file). Without ``expect``, files written by
    ``write_columns`` are still checked against their own record."""
    table, meta = _read_table(path)
    if meta is None:
        if expect is not None:
            kind = expect.get("kind", "shrinkstudy")
            raise DamagedFile(path, f"not a {kind} file of this workflow (no metadata)")
    elif expect is not None:
        for key, want in expect.items():
            if meta.get(key) != want:
                raise DamagedFile(path, f"is the {key} {meta.get(key)!r} file, expected {want!r}")
    try:
        columns = {name: numpy_column(table.column(name)) for name in table.column_names}
    except (TypeError, ValueError) as exc:
        raise DamagedFile(path, exc) from None
    if meta is not None:
        types = {name: str(table.schema.field(name).type) for name in table.column_names}
        if meta.get("rows") != table.num_rows or meta.get("columns") != types:
            raise DamagedFile(path, "its rows or columns differ from those written")
        strings = {name: _arrow_strings(table.column(name)) for name in table.column_names
                   if columns[name].dtype == object}
        if meta.get("sha256") != _digest(columns, strings):
            raise DamagedFile(path, "its values differ from those written (checksum mismatch)")
    return columns


def _extra_digest(extra) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(extra, sort_keys=True).encode()).hexdigest()


def read_extras(paths) -> list:
    """The ``extra`` record of each Parquet file (``write_columns``), None where it has none;
    from the files' footers alone. A record that differs from its SHA-256 raises DamagedFile.
    (The files' columns and identities are checked by ``read_columns``.)"""
    import json

    import pyarrow.parquet as pq

    out = []
    for path in paths:
        try:
            raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
            meta = json.loads(raw) if raw is not None else {}
        except Exception as exc:  # pyarrow or json on a damaged footer
            raise DamagedFile(path, f"its metadata are unreadable ({type(exc).__name__})") from None
        if not isinstance(meta, dict) or "extra" not in meta:
            out.append(None)
            continue
        if meta.get("extra_sha256") != _extra_digest(meta["extra"]):
            raise DamagedFile(path, "its metadata differ from those written (checksum mismatch)")
        out.append(meta["extra"])
    return out


def read_parquets(paths, expect=None) -> dict:
    """Several Parquet files with the same columns, concatenated in the given order.

    ``expect``: one ``file_identity`` per path (or None), checked as by ``read_columns``."""
    import numpy as np

    expect = list(expect) if expect is not None else [None] * len(paths)
    if len(expect) != len(paths):
        raise ValueError(f"{len(expect)} expected identities for {len(paths)} files")
    tables = [read_columns(p, e) for p, e in zip(paths, expect)]
    if not tables:
        return {}
    names = list(tables[0])
    for p, t in zip(paths, tables):
        if list(t) != names:
            raise ValueError(f"{p}: columns {list(t)} differ from {names} of {paths[0]}")
    return {name: np.concatenate([t[name] for t in tables]) for name in names}

