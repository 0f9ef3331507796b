"""Small helpers for the workflow's scripts: logging to the rule's log file, Parquet I/O."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

__all__ = ["logged", "write_columns", "read_parquets"]


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


def write_columns(columns: dict, path) -> None:
    """Write numpy columns to Parquet with pyarrow alone (the simulate jobs skip pandas)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    pq.write_table(pa.table(columns), tmp, compression="zstd")
    tmp.replace(path)  # atomic: an interrupted job leaves no half-written output


def read_parquets(paths):
    """Concatenate Parquet files in the given order (a pandas DataFrame)."""
    import pandas as pd

    frames = [pd.read_parquet(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
