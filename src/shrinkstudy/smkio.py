"""Small helpers for the workflow's scripts: logging to the rule's log file, Parquet I/O."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

__all__ = ["logged", "write_columns", "read_columns", "read_parquets"]


@contextlib.contextmanager
def logged(path):
    """Send stdout, stderr and the ``logging`` records of a script to the rule's log file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        logging.basicConfig(stream=fh, level=logging.INFO, format="%(levelname)s %(message)s", force=True)
        try:
            yield
        except BaseException:
            import traceback

            traceback.print_exc(file=fh)
            fh.flush()
            sys.__stderr__.write(f"failed: see {path}\n")
            raise


# Parquet through Arrow buffers. pyarrow's own numpy conversions (``pa.array(ndarray)``,
# ``Array.to_numpy``) import pandas, about 0.5 s of every short job; building the arrays from
# their buffers gives the same files without it. Columns: integers, floats, booleans, strings;
# no missing values.


def _arrow_array(values):
    """A 1-D numpy column as an Arrow array (integers, floats, booleans or strings)."""
    import numpy as np
    import pyarrow as pa

    a = np.asarray(values)
    if a.ndim != 1:
        raise ValueError(f"columns must be 1-D, not of shape {a.shape}")
    n = len(a)
    if a.dtype.kind in "iuf":
        data = np.ascontiguousarray(a, a.dtype.newbyteorder("<"))
        return pa.Array.from_buffers(pa.from_numpy_dtype(a.dtype), n, [None, pa.py_buffer(data)])
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
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
        return pa.Array.from_buffers(pa.large_string() if large else pa.string(), n, buffers)
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


def _numpy_column(column):
    """An Arrow (chunked) column without nulls as one read-only numpy array."""
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
            part = np.array(chunk.to_pylist(), dtype=object)
        parts.append(part)
    out = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.empty(0, dtype)
    out.flags.writeable = False
    return out


def write_columns(columns: dict, path) -> None:
    """Write numpy columns to Parquet (zstd); atomic, so an interrupted job leaves no output."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    table = pa.table({name: _arrow_array(values) for name, values in columns.items()})
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


def read_columns(path) -> dict:
    """A Parquet file as a dict of read-only numpy columns (numbers are views of Arrow's buffers)."""
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path).read()
    return {name: _numpy_column(table.column(name)) for name in table.column_names}


def read_parquets(paths) -> dict:
    """Several Parquet files with the same columns, concatenated in the given order."""
    import numpy as np

    tables = [read_columns(p) for p in paths]
    if not tables:
        return {}
    names = list(tables[0])
    for p, t in zip(paths, tables):
        if list(t) != names:
            raise ValueError(f"{p}: columns {list(t)} differ from {names} of {paths[0]}")
    return {name: np.concatenate([t[name] for t in tables]) for name in names}
