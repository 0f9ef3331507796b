"""The summary table's rows as the figures read them: ``tables.read_summary`` (the one reader of
``summary.csv``) gives them, ``_normalise`` holds a frame built in memory to the same types."""

from __future__ import annotations

import pandas as pd

__all__: list[str] = []


def _normalise(summary: pd.DataFrame) -> pd.DataFrame:
    df = summary.copy()
    if df["balanced"].dtype != bool:
        df["balanced"] = df["balanced"].astype(str).str.lower().isin(["true", "1", "yes"])
    df["design"] = df["design"].astype(str)
    df["groups"] = df["groups"].astype(str)
    return df
