"""The simulate job: replications [start, stop) of one cell, datasets and true group means."""

from __future__ import annotations

import numpy as np

from ..design.cells import Cell
from ..design.simulate import chunk_columns
from ..store.smkio import file_identity, job, write_columns

__all__ = ["simulate_job"]


@job
def simulate_job(spec: dict, name: str, start: int, stop: int, base_seed: int, data_out, truth_out) -> None:
    """Simulate replications [start, stop) of the cell ``spec`` (named ``name``) from
    ``base_seed``; its datasets to ``data_out``, its true group means to ``truth_out`` (Parquet,
    each with its file identity)."""
    cell = Cell.from_spec(spec)
    reps = np.arange(start, stop)
    data, truth = chunk_columns(cell, reps, base_seed)
    write_columns(data, data_out, file_identity("data", name, start, stop))
    write_columns(truth, truth_out, file_identity("truth", name, start, stop))
    print(f"{cell.name}: replications {reps[0]}-{reps[-1]}, {len(data['y'])} observations")
