"""The study's figures redrawn only when what they plot has changed.

Drawing a figure costs seconds (most of it writing the 300 dpi PNG and the PDF); after a change
that adds one cell, most figures plot the same rows as before. ``draw_summary_figure`` keys each
figure by

* its name and keyword options (the coverage figure's ``level``),
* its data: ``<name>_data(summary)``, the rows of the summary table it plots with exactly the
  numbers it plots (each ``plot_<name>`` draws those rows and its options, nothing else),
* the code that draws it: every module of the library, and the versions of matplotlib and
  numpy,

and keeps the PNG and PDF of the last key of each figure in a cache folder, with their SHA-256.
The same key gives the cached files, copied, verified against their digests (a damaged cache
entry is redrawn, never used); any other key draws the figure anew. Since the files of a key are
what drawing it gives (``save_figure`` writes no date), a figure is byte for byte the same
whether drawn or copied.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import pandas as pd

__all__ = ["CACHE_DIR", "code_digest", "draw_summary_figure", "figure_key"]

log = logging.getLogger(__name__)

#: The cache's folder, inside the folder of the figures it holds.
CACHE_DIR = ".cache"


@functools.lru_cache(maxsize=None)
def code_digest() -> str:
    """SHA-256 of the drawing code: every module of the library (a superset of what draws the
    figures: the registry's styles, the measures' theory, ...) and the matplotlib and numpy
    versions."""
    import matplotlib
    import numpy as np

    package_dir = Path(__file__).resolve().parents[2]
    h = hashlib.sha256(f"matplotlib {matplotlib.__version__} numpy {np.__version__}".encode())
    for path in sorted(package_dir.rglob("*.py")):
        h.update(f"\0{path.relative_to(package_dir).as_posix()}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def figure_key(name: str, summary: pd.DataFrame, options: dict | None = None) -> str:
    """The key of figure ``name`` drawn from ``summary`` with keyword ``options``."""
    from .. import figures

    data = getattr(figures, f"{name}_data")(summary)
    h = hashlib.sha256(code_digest().encode())
    h.update(json.dumps({"figure": name, "options": options or {}}, sort_keys=True).encode())
    h.update(data.to_csv(index=False, lineterminator="\n").encode())  # floats as repr: every bit
    return h.hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def draw_summary_figure(name: str, summary: pd.DataFrame, paths, options: dict | None = None,
                        cache: Path | str | None = None) -> bool:
    """Write figure ``name`` (``figures.plot_<name>(summary, **options)``) to ``paths`` (PNG,
    PDF, ...): copied from ``cache`` when it holds the figure's key with intact files, else
    drawn and then stored there (replacing the figure's older entry). ``cache`` None: always
    drawn. Returns True when the figure was drawn."""
    from .. import figures

    options = dict(options or {})
    paths = [Path(p) for p in paths]
    if cache is not None:
        cache = Path(cache)
        key = figure_key(name, summary, options)
        entry = cache / f"{name}.json"
        try:
            stored = json.loads(entry.read_text())
        except (OSError, ValueError):
            stored = {}
        files = {p.suffix: cache / f"{name}{p.suffix}" for p in paths}
        if stored.get("key") == key and all(
            f.is_file() and stored.get("sha256", {}).get(s) == _sha256(f) for s, f in files.items()
        ):
            for p in paths:
                p.parent.mkdir(parents=True, exist_ok=True)
                _copy_atomic(files[p.suffix], p)
            return False
        if stored.get("key") == key:
            log.warning("figure cache entry %s is damaged: drawing %s anew", entry, name)
    fig = getattr(figures, f"plot_{name}")(summary, **options)
    figures.save_figure(fig, *paths)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for p in paths:
            _copy_atomic(p, files[p.suffix])
        record = {"figure": name, "key": key, "sha256": {s: _sha256(f) for s, f in files.items()}}
        tmp = entry.with_name(f".{entry.name}.tmp")
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, entry)
    return True
