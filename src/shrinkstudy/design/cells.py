"""The study grid: group-size designs, cells, their names and their random streams.

A *cell* is one setting of the simulation factors (number of groups J, the group sizes,
the within-group SD sigma, the between-group SD tau and the grand mean mu; and the world beyond
the normal one, docs/formulas.md section 7: the distribution of the effects and its parameter, the
distribution of the errors and its degrees of freedom, the ratio of the largest to the
smallest within-group SD; see ``worlds``). Each cell has a
short, stable, readable name built from canonically formatted values, so that writing ``1``
or ``1.0`` in the config names the same cell, and a 64-bit key (a hash of that name) that
seeds its random streams.

Group-size designs are written as labels:

* ``"5"`` or ``5``: balanced, every group has 5 observations (needs J);
* ``"100x6+2x6"``: 6 groups of 100 followed by 6 groups of 2 (J is implied: 12).

Cell names: ``J12_n100x6+2x6_sigma5_tau1_mu0`` for a normal world (today's names, unchanged),
followed only by what differs from it, in this order:

* ``_eff-t3``, ``_eff-skew2``, ``_eff-bimodal0.9``, ``_eff-sparse0.2``: effects distribution and
  its parameter (always written, default or not); ``_eff-mymodule.draw`` for a user's
  ``mymodule:draw`` (the colon becomes a dot); ``_eff-discrete.1a2b3c4d`` for a given discrete
  distribution (``worlds.Pmf.token``: a hash of its standardised atoms and weights);
* ``_err-t5``: t errors with 5 degrees of freedom;
* ``_sr4``: heteroscedastic, largest within-group SD 4 times the smallest.

Known-standard-error cells (a block with ``ses``): each group is one estimate y_j with a known
standard error s_j, ``y_j = mu + theta_j + s_j e_j``; the cell has no group sizes and no sigma.
Its name puts the standard errors where a long-form cell has ``n<design>_sigma<sigma>``:
``J18_se0.0659x18_tau0.03_mu0`` when they are all equal, else a token of eight hex digits of a
SHA-256 of their canonical text, ``J8_se.1a2b3c4d_tau10_mu0`` (``se_label``); the world's suffix
follows as for any cell.

A design label longer than ``NAME_DESIGN_MAX`` characters (a dataset's own group sizes, say
``3x2+5x1+...+500x1``) is written in the name as ``n.`` and eight hex digits of a SHA-256 of the
label (``J30_n.1a2b3c4d_sigma10_tau3_mu50``), so that a name stays a short file name; the
tables still show the whole label.

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

from . import worlds
from .names import ConfigError, fmt_number

__all__ = [
    "ConfigError",
    "Cell",
    "NAME_DESIGN_MAX",
    "design_token",
    "SPEC_KEYS",
    "WORLD_KEYS",
    "fmt_number",
    "group_classes",
    "parse_sizes",
    "sizes_label",
    "se_label",
    "NO_SIGMA",
    "cells_from_config",
    "rep_seed_sequence",
    "rep_generator",
]


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


#: The sigma of a known-standard-error cell (it has none): one NaN object, so that two such cells
#: compare and hash equal (a tuple compares the same object as equal).
NO_SIGMA = math.nan


def _check_ses(ses, where: str) -> tuple[float, ...]:
    """The standard errors of a design: a list of at least 2 positive finite numbers."""
    if not isinstance(ses, (list, tuple)) or isinstance(ses, str):
        raise ConfigError(f"{where}: {ses!r} must be a list of standard errors, one per group")
    if len(ses) < 2:
        raise ConfigError(f"{where}: a study cell needs at least 2 groups, got {len(ses)} standard errors")
    out = []
    for s in ses:
        if isinstance(s, bool) or not isinstance(s, (int, float, np.integer, np.floating)):
            raise ConfigError(f"{where}: standard error {s!r} is not a number")
        v = float(s)
        if not (math.isfinite(v) and v > 0):
            raise ConfigError(f"{where}: standard error {s!r} must be a positive finite number")
        out.append(v)
    return tuple(out)


def se_label(ses) -> str:
    """The name's token of a known-SE design: ``se0.0659x18`` (all equal) or ``se.1a2b3c4d``
    (eight hex digits of a SHA-256 of the standard errors' canonical text, comma-separated)."""
    ses = tuple(float(s) for s in ses)
    if len(set(ses)) == 1:
        return f"se{fmt_number(ses[0])}x{len(ses)}"
    text = ",".join(fmt_number(s) for s in ses)
    return "se." + hashlib.sha256(text.encode()).hexdigest()[:8]


#: The longest design label a cell name holds as written; a longer one is hashed (``design_token``).
NAME_DESIGN_MAX = 64


def design_token(label: str) -> str:
    """The design as a cell name writes it: the label itself up to ``NAME_DESIGN_MAX``
    characters, else ``.`` and eight hex digits of the SHA-256 of the label."""
    if len(label) <= NAME_DESIGN_MAX:
        return label
    return "." + hashlib.sha256(label.encode()).hexdigest()[:8]


#: The order of ``Cell.spec()``'s keys (everything needed to rebuild a cell): the design, then each
#: world component's fields (``worlds.COMPONENTS``), then the block.
SPEC_KEYS = (
    ("sizes", "sigma", "ses", "tau", "mu")
    + tuple(f for comp in worlds.COMPONENTS.values() for f in comp.fields)
    + ("block",)
)


def _dist_param(dist, value, where: str):
    """The canonical parameter of a distribution: its default when None, a checked float."""
    if dist.param is None:
        if value is not None:
            raise ConfigError(f"{where}: {dist.name} takes no parameter, got {value!r}")
        return None
    if dist.parse is not None:  # a parameter that is not a number (discrete's atoms and weights)
        try:
            return dist.parse(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if value is None:
        return float(dist.default)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{where}: {dist.param} {value!r} is not a number")
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"{where}: {dist.param} {value!r} is not finite")
    problem = dist.check(v)
    if problem:
        raise ConfigError(f"{where}: {dist.name} {dist.param} = {value!r}: {problem}")
    return v


@dataclass(frozen=True)
class Cell:
    """One setting of the grid. ``sizes`` holds one group size per group.

    The world's fields (``worlds``): ``effects`` (registry name or ``"module:function"``) and
    ``effects_param`` (its parameter, the default when None; for ``discrete`` a ``worlds.Pmf``,
    given as one or as ``{"atoms": [...], "weights": [...]}``), ``errors`` and ``errors_df``,
    ``sigma_ratio`` (>= 1). The defaults are today's normal, homoscedastic world.

    A known-standard-error cell has ``ses`` (one standard error per group): its ``sizes`` are
    then one estimate per group, ``sigma`` is ``NO_SIGMA`` and ``sigma_ratio`` 1.
    """

    sizes: tuple[int, ...]
    sigma: float
    tau: float
    mu: float = 0.0
    block: str = field(default="", compare=False)
    effects: str = "normal"
    effects_param: float | worlds.Pmf | None = None
    errors: str = "normal"
    errors_df: float | None = None
    sigma_ratio: float = 1.0
    ses: tuple[float, ...] | None = None

    def __post_init__(self):
        if self.ses is not None:
            ses = _check_ses(list(self.ses), "ses")
            if float(self.sigma_ratio) != 1:
                raise ConfigError("sigma_ratio: a cell with known standard errors has no within-group SDs")
            object.__setattr__(self, "ses", ses)
            object.__setattr__(self, "sizes", (1,) * len(ses))
            object.__setattr__(self, "sigma", NO_SIGMA)
        eff = str(self.effects)
        if worlds.is_user_name(eff):
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*", eff):
                raise ConfigError(f"effects: {eff!r} must be written 'module:function'")
            dist = worlds.Distribution(eff, None, None, None, None)
        elif eff in worlds.EFFECTS:
            dist = worlds.EFFECTS[eff]
        else:
            raise ConfigError(
                f"effects: unknown distribution {eff!r} (known: {', '.join(worlds.EFFECTS)}, or 'module:function')"
            )
        if self.errors not in worlds.ERRORS:
            raise ConfigError(f"errors: unknown distribution {self.errors!r} (known: {', '.join(worlds.ERRORS)})")
        ratio = self.sigma_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.integer, np.floating)):
            raise ConfigError(f"sigma_ratio: {ratio!r} is not a number")
        if not (math.isfinite(float(ratio)) and float(ratio) >= 1):
            raise ConfigError(f"sigma_ratio: {ratio!r} must be a finite number of at least 1")
        object.__setattr__(self, "effects", eff)
        object.__setattr__(self, "effects_param", _dist_param(dist, self.effects_param, "effects"))
        object.__setattr__(self, "errors_df", _dist_param(worlds.ERRORS[self.errors], self.errors_df, "errors"))
        object.__setattr__(self, "sigma_ratio", float(ratio))

    @property
    def J(self) -> int:
        return len(self.sizes)

    @property
    def N(self) -> int:
        return int(sum(self.sizes))

    @property
    def known_se(self) -> bool:
        """A cell of estimates with known standard errors (``ses``), not of groups of observations."""
        return self.ses is not None

    @property
    def balanced(self) -> bool:
        """Equal group sizes (a known-SE cell has none: False)."""
        return not self.known_se and len(set(self.sizes)) == 1

    @property
    def design(self) -> str:
        """``sizes_label``; for a known-SE cell ``se_label``."""
        return se_label(self.ses) if self.known_se else sizes_label(self.sizes)

    @property
    def n(self) -> int | None:
        """The common group size of a balanced cell, else None."""
        return self.sizes[0] if self.balanced else None

    @property
    def normal_world(self) -> bool:
        """Today's world: normal effects, normal errors, one within-group SD."""
        return worlds.is_normal_world(self)

    @property
    def world_suffix(self) -> str:
        """The name's suffix for a world beyond the normal one ('' for the normal world): each
        world component's token (``worlds.Component.token``), in the order of ``worlds.COMPONENTS``."""
        return "".join(comp.token(self) for comp in worlds.COMPONENTS.values())

    @property
    def name(self) -> str:
        """Stable, readable name such as ``J12_n100x6+2x6_sigma5_tau1_mu0`` (module docstring)."""
        if self.known_se:
            return f"J{self.J}_{self.design}_tau{fmt_number(self.tau)}_mu{fmt_number(self.mu)}" + self.world_suffix
        return (
            f"J{self.J}_n{design_token(self.design)}_sigma{fmt_number(self.sigma)}"
            f"_tau{fmt_number(self.tau)}_mu{fmt_number(self.mu)}"
        ) + self.world_suffix

    @property
    def key(self) -> int:
        """64-bit integer from a SHA-256 of the name: stable across runs, machines and versions."""
        return int.from_bytes(hashlib.sha256(self.name.encode()).digest()[:8], "big")

    def size_classes(self) -> dict[str, np.ndarray]:
        """Group indices by group size, as ``{"n=2": array([6, ...]), ...}`` (unbalanced only; none
        for a known-SE cell)."""
        if self.known_se:
            return {}
        sizes = np.asarray(self.sizes)
        return {f"n={v}": np.flatnonzero(sizes == v) for v in sorted(set(self.sizes))}

    def effects_dist(self) -> worlds.Distribution:
        """The effects distribution (a user's one is imported here, unchecked)."""
        return worlds.effects_distribution(self.effects)

    def errors_dist(self) -> worlds.Distribution:
        return worlds.ERRORS[self.errors]

    def group_sigmas(self) -> np.ndarray:
        """True within-group SDs sigma_j, shape (J,) (``worlds.group_sigmas``); for a known-SE cell
        the standard errors s_j (the noise of its one estimate per group)."""
        if self.known_se:
            return np.asarray(self.ses, dtype=float)
        return worlds.group_sigmas(self.sigma, self.sigma_ratio, self.J)

    def sampling_variances(self) -> np.ndarray:
        """True variances sigma_j^2 / n_j of the group means, shape (J,) (s_j^2 for a known-SE cell)."""
        return self.group_sigmas() ** 2 / np.asarray(self.sizes, dtype=float)

    def effects_prior(self):
        """The true distribution of theta_j (GaussMixture or QuantilePrior), for the oracle."""
        return self.effects_dist().prior(self.tau, self.effects_param)

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
            **{k: v for comp in worlds.COMPONENTS.values() for k, v in comp.columns(self).items()},
        }

    def spec(self) -> dict:
        """Everything needed to rebuild the cell, as plain Python, keys in the order of ``SPEC_KEYS``.

        ``sizes``, ``sigma``, ``tau`` and ``mu`` always; a world key (``effects``,
        ``effects_param``, ``errors``, ``errors_df``, ``sigma_ratio``) only when it differs from
        today's normal world, so a normal-world cell's spec is exactly the dict the workflow
        tracked before the non-normal worlds (Snakemake reruns a job whose params change: none
        does). ``block`` is a label, not part of the cell's identity, and is left out (renaming
        a block reruns no simulation); ``from_spec(spec, block=...)`` restores it.
        ``Cell.from_spec(cell.spec()) == cell``. A known-SE cell's spec has ``ses`` in place of
        ``sizes`` and ``sigma``.
        """
        if self.known_se:
            out = {"ses": list(self.ses), "tau": float(self.tau), "mu": float(self.mu)}
            for comp in worlds.COMPONENTS.values():
                out.update(comp.spec(self))
            return out
        out = {
            "sizes": [int(s) for s in self.sizes],
            "sigma": float(self.sigma),
            "tau": float(self.tau),
            "mu": float(self.mu),
        }
        for comp in worlds.COMPONENTS.values():
            out.update(comp.spec(self))
        return out

    def __reduce__(self):
        """Pickled as its spec and block, rebuilt by ``from_spec``: a known-SE cell's sigma is then
        ``NO_SIGMA`` again (a NaN object of its own would make it unequal to itself)."""
        return (_from_spec, (self.spec(), self.block))

    @classmethod
    def from_spec(cls, spec: dict, block: str | None = None) -> Cell:
        """The cell of a ``spec()`` dict (missing world keys take today's defaults)."""
        unknown = set(spec) - set(SPEC_KEYS)
        if unknown:
            raise ConfigError(f"cell spec: unknown key(s) {sorted(unknown)}")
        ses = spec.get("ses")
        return cls(
            sizes=tuple(int(s) for s in spec["sizes"]) if ses is None else (),
            sigma=float(spec["sigma"]) if ses is None else NO_SIGMA,
            ses=None if ses is None else tuple(float(s) for s in ses),
            tau=float(spec["tau"]),
            mu=float(spec.get("mu", 0.0)),
            block=str(block if block is not None else spec.get("block", "")),
            **{
                f: spec.get(f, default)
                for comp in worlds.COMPONENTS.values()
                for f, default in comp.defaults().items()
            },
        )


def _from_spec(spec: dict, block: str) -> Cell:
    return Cell.from_spec(spec, block=block)


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


#: The grid keys of the world beyond the normal one, with their defaults (docs/formulas.md section 7),
#: from ``worlds.COMPONENTS``. A distribution's parameter key is ``<effects|errors>_<param>``; each
#: applies only to the distribution that has that parameter, so lists of them never duplicate a cell.
WORLD_KEYS = worlds.world_keys()


def _world_variants(block: str, spec: dict, taus=()) -> list[dict]:
    """The (effects, effects_param, errors, errors_df, sigma_ratio) settings of a block (a user's
    effects distribution checked at each of the block's ``taus``)."""
    checked_users: dict[str, None] = {}

    def dists(kind: str, registry: dict) -> list[tuple[str, float | None]]:
        out = []
        for name in _as_list(spec.get(kind, WORLD_KEYS[kind])):
            if not isinstance(name, str):
                raise ConfigError(f"grid.{block}.{kind}: {name!r} is not a distribution name")
            if worlds.COMPONENTS[kind].user and worlds.is_user_name(name):
                if name not in checked_users:
                    try:  # the user's function, checked before any job
                        worlds.user_effects(name, check=True, taus=taus)
                    except ValueError as exc:
                        raise ConfigError(f"grid.{block}.{exc}") from None
                    checked_users[name] = None
                out.append((name, None))
                continue
            if name not in registry:
                extra = ", or 'module:function'" if worlds.COMPONENTS[kind].user else ""
                raise ConfigError(f"grid.{block}.{kind}: unknown distribution {name!r} (known: {', '.join(registry)}{extra})")
            dist = registry[name]
            if dist.param is None:
                out.append((name, None))
                continue
            key = worlds.COMPONENTS[kind].param_key(dist)
            for v in _as_list(spec.get(key, dist.default)):
                out.append((name, _dist_param(dist, v, f"grid.{block}.{key}")))
        return out

    def numbers(kind: str, normal: float) -> list[tuple[float, None]]:
        out = [(_positive(block, kind, r), None) for r in _as_list(spec.get(kind, normal))]
        for r, _ in out:
            if r < normal:
                raise ConfigError(f"grid.{block}.{kind}: {r!r} must be at least {fmt_number(normal)}")
        return out

    settings = [
        [dict(zip(comp.fields, value)) for value in (
            dists(comp.kind, comp.registry) if comp.registry is not None else numbers(comp.kind, comp.normal)
        )]
        for comp in worlds.COMPONENTS.values()
    ]
    return [{k: v for part in combo for k, v in part.items()} for combo in itertools.product(*settings)]


def cells_from_config(grid: dict) -> list[Cell]:
    """Expand the config's ``grid`` (named blocks, each a full factorial) into cells.

    Each block has ``sizes`` (design labels), ``sigma``, ``tau``, optionally ``J`` (needed by
    balanced labels) and ``mu`` (default 0), and the world's keys of ``WORLD_KEYS`` (each a
    value or a list; defaults give today's normal world and today's cell names): ``effects``,
    ``effects_df`` (t), ``effects_skew`` (skewed), ``effects_sep`` (bimodal), ``effects_p``
    (sparse), ``effects_pmf`` (discrete: a list of ``{atoms: [...], weights: [...]}``), ``errors``,
    ``errors_df`` (t errors), ``sigma_ratio``. A parameter key crosses only
    with the distribution that has the parameter. A user's ``effects: module:function`` is
    imported and checked here (``worlds.user_effects``). A block may give ``ses`` (a list of
    designs, each a list of positive standard errors, one per group) in place of ``sizes`` and
    ``sigma``: its cells are known-SE cells (``J``, ``sizes``, ``sigma`` and ``sigma_ratio`` are
    refused there). Raises ConfigError naming the key for a bad value or a cell that appears twice.
    """
    if not isinstance(grid, dict) or not grid:
        raise ConfigError("grid: needs at least one block of settings")
    cells: list[Cell] = []
    seen: dict[str, str] = {}
    for block, spec in grid.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"grid.{block}: must be a mapping of factor lists")
        unknown = set(spec) - {"J", "sizes", "sigma", "ses", "tau", "mu"} - set(WORLD_KEYS)
        if unknown:
            raise ConfigError(f"grid.{block}: unknown key(s) {sorted(unknown)}")
        if "ses" in spec:
            cells += _known_se_cells(str(block), spec, seen)
            continue
        for req in ("sizes", "sigma", "tau"):
            if req not in spec:
                raise ConfigError(f"grid.{block}.{req}: missing")
        Js = _as_list(spec.get("J", [None]))
        for J in Js:
            if J is not None and (isinstance(J, bool) or not isinstance(J, (int, np.integer)) or J < 2):
                raise ConfigError(f"grid.{block}.J: {J!r} must be an integer of at least 2")
        sigmas = [_positive(block, "sigma", s) for s in _as_list(spec["sigma"])]
        taus = [_positive(block, "tau", t, allow_zero=True) for t in _as_list(spec["tau"])]
        mus = _mus(block, spec)
        variants = _world_variants(str(block), spec, taus)
        for J, label, sigma, tau, mu, world in itertools.product(
            Js, _as_list(spec["sizes"]), sigmas, taus, mus, variants
        ):
            sizes = parse_sizes(label, J, key=f"grid.{block}.sizes")
            cells.append(_unique(Cell(sizes=sizes, sigma=sigma, tau=tau, mu=mu, block=str(block), **world), seen))
    return cells


def _unique(cell: Cell, seen: dict) -> Cell:
    """``cell``, recorded in ``seen`` (name -> block); ConfigError if a block already has it."""
    if cell.name in seen:
        raise ConfigError(f"grid.{cell.block}: cell {cell.name} is duplicated (also in grid.{seen[cell.name]})")
    seen[cell.name] = cell.block
    return cell


def _mus(block, spec: dict) -> list[float]:
    mus = []
    for m in _as_list(spec.get("mu", [0.0])):
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(float(m)):
            raise ConfigError(f"grid.{block}.mu: {m!r} is not a finite number")
        mus.append(float(m))
    return mus


#: The keys a block of known standard errors (``ses``) refuses: its designs are the standard errors.
#: (``sigma_ratio`` is refused unless it is its default 1, which Snakemake's validator writes into
#: every block.)
KNOWN_SE_REFUSED = ("sizes", "sigma", "J", "sigma_ratio")


def _is_one(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) and value == 1


def _known_se_cells(block: str, spec: dict, seen: dict) -> list[Cell]:
    """The cells of a block with ``ses``: a list of designs, each a list of positive standard
    errors (one per group), crossed with ``tau``, ``mu`` and the world's effects and errors."""
    for key in KNOWN_SE_REFUSED:
        if key in spec and not (key == "sigma_ratio" and all(_is_one(r) for r in _as_list(spec[key]))):
            raise ConfigError(
                f"grid.{block}.{key}: not allowed with ses (a block of known standard errors has no "
                "group sizes, within-group SD or SD ratio)"
            )
    if "tau" not in spec:
        raise ConfigError(f"grid.{block}.tau: missing")
    designs = spec["ses"]
    if not isinstance(designs, (list, tuple)) or not designs:
        raise ConfigError(f"grid.{block}.ses: must be a non-empty list of designs, each a list of standard errors")
    if all(not isinstance(d, (list, tuple)) for d in designs):
        raise ConfigError(
            f"grid.{block}.ses: {designs!r} must be a list of designs, each a list of standard errors "
            "(write [[15, 10, 16]] for one design)"
        )
    ses = [_check_ses(d, f"grid.{block}.ses.{k}") for k, d in enumerate(designs)]
    taus = [_positive(block, "tau", t, allow_zero=True) for t in _as_list(spec["tau"])]
    variants = _world_variants(block, spec, taus)
    return [
        _unique(Cell(sizes=(), sigma=NO_SIGMA, ses=s, tau=tau, mu=mu, block=block, **world), seen)
        for s, tau, mu, world in itertools.product(ses, taus, _mus(block, spec), variants)
    ]


def group_classes(cell: Cell) -> dict[str, np.ndarray]:
    """The sets of groups losses are averaged over: ``{"all": all groups}``, plus one entry per
    distinct group size (``"n=2"``, ``"n=100"``, in increasing n) when the cell is unbalanced."""
    classes = {"all": np.arange(cell.J)}
    if not cell.balanced:
        classes.update(cell.size_classes())
    return classes


def rep_seed_sequence(base_seed: int, cell: Cell, rep: int) -> np.random.SeedSequence:
    """The seed sequence of replication ``rep`` of ``cell``: independent of chunking and order."""
    return np.random.SeedSequence(int(base_seed), spawn_key=(cell.key, int(rep)))


def rep_generator(base_seed: int, cell: Cell, rep: int) -> np.random.Generator:
    """A PCG64 generator on ``rep_seed_sequence``."""
    return np.random.Generator(np.random.PCG64(rep_seed_sequence(base_seed, cell, rep)))
