"""The summary table as the figures read it (``results/tables/summary.csv``)."""

from __future__ import annotations

import pandas as pd

__all__ = ["read_summary"]


def read_summary(path) -> pd.DataFrame:
    """Read ``summary.csv`` with the text columns kept as text (a design '5' stays '5')."""
    df = pd.read_csv(
        path, dtype={"cell": str, "block": str, "design": str, "estimator": str, "groups": str}
    )
    return _normalise(df)


def _normalise(summary: pd.DataFrame) -> pd.DataFrame:
    df = summary.copy()
    if df["balanced"].dtype != bool:
        df["balanced"] = df["balanced"].astype(str).str.lower().isin(["true", "1", "yes"])
    df["design"] = df["design"].astype(str)
    df["groups"] = df["groups"].astype(str)
    return df
