"""What the names of cells and worlds are written with: the canonical text of a number, and the
error of a study that cannot be run (a value that has no such text among them)."""

from __future__ import annotations

import math

__all__ = ["ConfigError", "fmt_number"]


class ConfigError(ValueError):
    """A study configuration that cannot be run; the message names the key and the value."""


def fmt_number(x) -> str:
    """Canonical text for a number: ``1``, ``1.0`` and ``np.float64(1)`` all give ``"1"``.

    Non-integers use the shortest repr that round-trips (``2.5``, ``0.3``); a negative sign is
    written ``m`` so the text is safe in file names (``-1.5`` -> ``m1.5``).
    """
    v = float(x)
    if not math.isfinite(v):
        raise ConfigError(f"not a finite number: {x!r}")
    if v == 0:
        v = 0.0  # drop the sign of -0.0
    text = str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return text.replace("-", "m")
