"""The study grid: group-size designs, cells, their names and their random streams.

A *cell* is one setting of the simulation factors (number of groups J, the group sizes,
the within-group SD sigma, the between-group SD tau and the grand mean mu). Each cell has a
short, stable, readable name built from canonically formatted values, so that writing ``1``
or ``1.0`` in the config names the same cell, and a 64-bit key (a hash of that name) that
seeds its random streams.

Group-size designs are written as labels:

* ``"5"`` or ``5``: balanced, every group has 5 observations (needs J);
* ``"100x6+2x6"``: 6 groups of 100 followed by 6 groups of 2 (J is implied: 12).

Seeding (see ``rep_seed_sequence``): every replication has its own stream,
``SeedSequence(base_seed, spawn_key=(cell_key, rep))``. Adding, removing or reordering cells,
changing the chunk size or the number of cores changes no dataset.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ConfigError",
    "Cell",
    "fmt_number",
    "parse_sizes",
    "sizes_label",
    "cells_from_config",
    "rep_seed_sequence",
    "rep_generator",
]


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


_TERM = re.compile(r"^\s*(\d+)\s*(?:x\s*(\d+))?\s*$")


def parse_sizes(label, J: int | None = None, *, key: str = "sizes") -> tuple[int, ...]:
    """Group sizes of a design label.

    Parameters
    ----------
    label : int or str
        ``5`` / ``"5"`` (balanced, needs ``J``) or ``"100x6+2x6"`` (n x count terms).
    J : int, optional
        Number of groups. Required for a balanced label; must match an explicit one.
    key : str
        Config key named in error messages.

    Returns
    -------
    tuple of int, one size per group, in group order.
    """
    if isinstance(label, bool) or not isinstance(label, (int, str, np.integer)):
        raise ConfigError(f"{key}: design label {label!r} must be an integer or a text like '100x6+2x6'")
    text = str(label).strip()
    terms = text.split("+")
    sizes: list[int] = []
    explicit = False
    for term in terms:
        m = _TERM.match(term)
        if not m:
            raise ConfigError(
                f"{key}: unknown design label {label!r} (use a group size such as 5, "
                "or 'n x count' terms such as '100x6+2x6')"
            )
        n = int(m.group(1))
        count = m.group(2)
        if n < 1:
            raise ConfigError(f"{key}: group size must be at least 1 in design label {label!r}")
        if count is None:
            if len(terms) > 1:
                raise ConfigError(f"{key}: every term of {label!r} needs a count ('n x count')")
            if J is None:
                raise ConfigError(f"{key}: balanced design {label!r} needs J")
            sizes = [n] * int(J)
        else:
            explicit = True
            c = int(count)
            if c < 1:
                raise ConfigError(f"{key}: count must be at least 1 in design label {label!r}")
            sizes.extend([n] * c)
    if explicit and J is not None and int(J) != len(sizes):
        raise ConfigError(f"{key}: design {label!r} has {len(sizes)} groups but J = {J}")
    if len(sizes) < 2:
        raise ConfigError(f"J: a study cell needs at least 2 groups, got {len(sizes)} (design {label!r})")
    return tuple(sizes)


def sizes_label(sizes) -> str:
    """Canonical label of a tuple of group sizes: ``'5'`` when balanced, else ``'100x6+2x6'``."""
    sizes = tuple(int(s) for s in sizes)
    if len(set(sizes)) == 1:
        return str(sizes[0])
    runs = [(n, len(list(g))) for n, g in itertools.groupby(sizes)]
    return "+".join(f"{n}x{c}" for n, c in runs)


@dataclass(frozen=True)
class Cell:
    """One setting of the grid. ``sizes`` holds one group size per group."""

    sizes: tuple[int, ...]
    sigma: float
    tau: float
    mu: float = 0.0
    block: str = field(default="", compare=False)

    @property
    def J(self) -> int:
        return len(self.sizes)

    @property
    def N(self) -> int:
        return int(sum(self.sizes))

    @property
    def balanced(self) -> bool:
        return len(set(self.sizes)) == 1

    @property
    def design(self) -> str:
        return sizes_label(self.sizes)

    @property
    def n(self) -> int | None:
        """The common group size of a balanced cell, else None."""
        return self.sizes[0] if self.balanced else None

    @property
    def name(self) -> str:
        """Stable, readable name such as ``J12_n100x6+2x6_sigma5_tau1_mu0``."""
        return (
            f"J{self.J}_n{self.design}_sigma{fmt_number(self.sigma)}"
            f"_tau{fmt_number(self.tau)}_mu{fmt_number(self.mu)}"
        )

    @property
    def key(self) -> int:
        """64-bit integer from a SHA-256 of the name: stable across runs, machines and versions."""
        return int.from_bytes(hashlib.sha256(self.name.encode()).digest()[:8], "big")

    def size_classes(self) -> dict[str, np.ndarray]:
        """Group indices by group size, as ``{"n=2": array([6, ...]), ...}`` (unbalanced only)."""
        sizes = np.asarray(self.sizes)
        return {f"n={v}": np.flatnonzero(sizes == v) for v in sorted(set(self.sizes))}

    def params(self) -> dict:
        """Plain-Python description (for tables and Snakemake params)."""
        return {
            "cell": self.name,
            "block": self.block,
            "J": self.J,
            "design": self.design,
            "balanced": self.balanced,
            "n": self.n,
            "N": self.N,
            "sigma": float(self.sigma),
            "tau": float(self.tau),
            "mu": float(self.mu),
        }


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _positive(block: str, key: str, value, *, allow_zero: bool = False) -> float:
    where = f"grid.{block}.{key}"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{where}: {value!r} is not a number")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        need = "non-negative" if allow_zero else "positive"
        raise ConfigError(f"{where}: {value!r} must be a {need} finite number")
    return v


def cells_from_config(grid: dict) -> list[Cell]:
    """Expand the config's ``grid`` (named blocks, each a full factorial) into cells.

    Each block has ``sizes`` (design labels), ``sigma``, ``tau``, optionally ``J`` (needed by
    balanced labels) and ``mu`` (default 0). Raises ConfigError naming the key for a bad value
    or a cell that appears twice.
    """
    if not isinstance(grid, dict) or not grid:
        raise ConfigError("grid: needs at least one block of settings")
    cells: list[Cell] = []
    seen: dict[str, str] = {}
    for block, spec in grid.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"grid.{block}: must be a mapping of factor lists")
        unknown = set(spec) - {"J", "sizes", "sigma", "tau", "mu"}
        if unknown:
            raise ConfigError(f"grid.{block}: unknown key(s) {sorted(unknown)}")
        for req in ("sizes", "sigma", "tau"):
            if req not in spec:
                raise ConfigError(f"grid.{block}.{req}: missing")
        Js = _as_list(spec.get("J", [None]))
        for J in Js:
            if J is not None and (isinstance(J, bool) or not isinstance(J, (int, np.integer)) or J < 2):
                raise ConfigError(f"grid.{block}.J: {J!r} must be an integer of at least 2")
        sigmas = [_positive(block, "sigma", s) for s in _as_list(spec["sigma"])]
        taus = [_positive(block, "tau", t, allow_zero=True) for t in _as_list(spec["tau"])]
        mus = []
        for m in _as_list(spec.get("mu", [0.0])):
            if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(float(m)):
                raise ConfigError(f"grid.{block}.mu: {m!r} is not a finite number")
            mus.append(float(m))
        for J, label, sigma, tau, mu in itertools.product(Js, _as_list(spec["sizes"]), sigmas, taus, mus):
            sizes = parse_sizes(label, J, key=f"grid.{block}.sizes")
            cell = Cell(sizes=sizes, sigma=sigma, tau=tau, mu=mu, block=str(block))
            if cell.name in seen:
                raise ConfigError(
                    f"grid.{block}: cell {cell.name} is duplicated (also in grid.{seen[cell.name]})"
                )
            seen[cell.name] = str(block)
            cells.append(cell)
    return cells


def rep_seed_sequence(base_seed: int, cell: Cell, rep: int) -> np.random.SeedSequence:
    """The seed sequence of replication ``rep`` of ``cell``: independent of chunking and order."""
    return np.random.SeedSequence(int(base_seed), spawn_key=(cell.key, int(rep)))


def rep_generator(base_seed: int, cell: Cell, rep: int) -> np.random.Generator:
    """A PCG64 generator on ``rep_seed_sequence``."""
    return np.random.Generator(np.random.PCG64(rep_seed_sequence(base_seed, cell, rep)))
