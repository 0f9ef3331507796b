"""Plain helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import pandas as pd

from shrinkstudy.simulate import chunk_columns


def chunk_frames(cell, reps, base_seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The simulate job's two tables for replications ``reps`` of ``cell`` (``chunk_columns``,
    the columns it writes), as DataFrames: data (rep, group, y) and truth (rep, group, n, mean)."""
    data, truth = chunk_columns(cell, reps, base_seed)
    return pd.DataFrame(data), pd.DataFrame(truth)
