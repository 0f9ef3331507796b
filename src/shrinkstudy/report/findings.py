"""The numbers the README's "What the study finds" quotes, computed from the study's tables.

``findings(summary, replication, ...)`` returns one entry per quoted number: its value at full
precision, its text exactly as the README writes it, and what it is. ``write_findings`` writes
them to ``results/tables/findings.json``; ``make docs`` copies that file to
``docs/findings.json``, and ``tests/test_readme.py`` fails when the README's findings section
and that file disagree (a number in the README that no entry gives, or an entry's text that the
README does not show), so the README cannot drift from the study (the showyourwork habit).

The quantities (balanced cells: the balanced block's cells; the seed's cell: the seed example's
design at its sigma; every MSE, spread and coverage is the ``all``-groups row unless a group
class is named):

* design: number of cells, replications per cell, the balanced grid's J, n and sigma, the
  seed's design;
* the BLUP's relative MSE in the seed's cell for its smallest and largest groups (percent);
* spread ratios in the seed's cell (varmatch, blup, raw), varmatch's MSE over the BLUP's
  (relative MSEs and the excess in percent), median spread ratios over the balanced cells;
* ``|MSE(bayesglm) / MSE(blup) - 1|`` over all cells: median and maximum (percent), and the
  maximum's cell;
* coverage: the BLUP's lowest over the balanced cells and its value in the seed's cell,
  hier_bayes's range over all cells, and the largest ``|coverage - level| / MCSE`` of raw and
  oracle over all cells;
* theory checks over the balanced cells, as the largest distance in MCSE units: raw MSE from
  sigma^2/n and oracle MSE from its Bayes risk (MCSE of the MSE), the boundary share from its
  F probability p (MCSE ``sqrt(p (1 - p) / R)``, the share's own MCSE being 0 where no fit is
  at the boundary);
* Monte Carlo precision: the largest and the median over the normal world's cells of
  ``replication.csv``'s relative MCSE (percent);
* the seed example: its seed, how it was chosen, its fit and the target fit (``fit.json``).

The README's "When the model is wrong" quotes the ``worlds_*`` entries (``worlds_findings``):
the cells outside the normal world (effects not normal, t errors, a sigma ratio above 1) and
their matching normal-world cell (same J, design, sigma, tau, mu), ``all`` groups. "Large J" is
the largest J of those cells, "small J" the smallest; "the plain world" of a comparison is
normal errors and sigma ratio 1:

* design: the number of such cells, their J, n, sigma and tau, the effects distributions with
  their parameters, the errors' df, the sigma ratios above 1;
* relative MSE at large J in the plain world by effects distribution: the BLUP's, the oracle's
  (the Bayes rule under the true effects distribution), the linear oracle's range, the BLUP's
  largest excess over the linear oracle and over the oracle (and where); NPMLE's under normal,
  bimodal and sparse effects, its gain over the BLUP under sparse effects, and its smallest
  excess over the BLUP at small J (every world); the BLUP's with t errors (normal effects);
* W1 histogram accuracy: the effects distributions where varmatch or constrained Bayes has the
  lowest W1 of the estimators but the oracles (large J, plain world), their and the BLUP's W1
  under normal and bimodal effects, the best estimator and the W1 of NPMLE, varmatch and the
  BLUP under sparse effects; at small J under normal effects the best estimator and the W1 of
  it, varmatch and the BLUP; in how many of the cells the BLUP has the lowest W1;
* coverage: the BLUP's in the normal cell and its lowest with sigma ratio 1 and with a ratio
  above 1, for each J; hier_bayes's and the linear oracle's range over every cell;
* heteroscedasticity (large J, normal effects and errors, the largest sigma ratio): relative MSE
  of SURE, the BLUP, hier_bayes and the linear oracle (which knows the group SDs); the largest
  difference between SURE and the ML BLUP over every cell;
* Monte Carlo precision of the cells outside the normal world (``replication.csv``): the largest
  relative MCSE, of which estimate, and the median over those cells.

The precision of the README's first section (``largest_rel_mcse``, ``median_rel_mcse``) is over
the normal world's cells, like every other number of that section.

"Within x MCSE" is a bound: those numbers are rounded up (to one decimal); every other number is
rounded to the places shown.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .tables import known_se_rows, normal_world, normalise_summary

__all__ = ["findings", "findings_json", "fmt", "worlds_findings", "write_findings"]


def fmt(value: float, spec: str) -> str:
    """``value`` as the README writes it.

    ``spec``: ``".3f"``-style decimals; ``"%0"``, ``"%1"``, ``"%2"``: a fraction as percent with
    that many decimals (0.0907 -> ``9%``); ``"ceil1"``: rounded up to one decimal (a bound:
    2.13 -> ``2.2``); ``","``: an integer with thousands separators (``1,000``); ``"g"``: the
    shortest form (5.0 -> ``5``, 0.035 -> ``0.035``).
    """
    value = float(value)
    if spec.startswith("%"):
        return f"{100 * value:.{int(spec[1:])}f}%"
    if spec == "ceil1":
        return f"{math.ceil(round(value * 10, 9)) / 10:.1f}"
    if spec == ",":
        return f"{round(value):,}"
    if spec == "g":
        return f"{value:g}"
    return format(value, spec)


def _entry(value, spec: str, what: str) -> dict:
    return {"value": float(value), "text": fmt(value, spec), "what": what}


def _coverage_z(rows: pd.DataFrame, level: float) -> pd.Series:
    """|coverage - level| / MCSE per row. An interval that covered in every replication (or in
    none) has an MCSE of 0; there the binomial MCSE the coverage would have at the nominal level,
    sqrt(level (1 - level) / R), is used, so that the distance stays a finite number of MCSEs."""
    mcse = rows["coverage_mcse"].astype(float)
    nominal = np.sqrt(level * (1 - level) / rows["reps"].astype(float))
    mcse = mcse.where(mcse > 0, nominal)
    return ((rows["coverage"] - level) / mcse).abs()


def _set_text(values) -> str:
    """``{3, 6, 12}``; a single value as itself (``1``)."""
    values = sorted(set(values))
    if len(values) == 1:
        return fmt(values[0], "g")
    return "{" + ", ".join(fmt(v, "g") for v in values) + "}"


class _Missing(Exception):
    """What a finding needs is not in the study (no seed cell, no balanced cell, no bayesglm)."""


def _section():
    """Leave out the findings of a block whose inputs the study does not have."""
    return contextlib.suppress(_Missing, KeyError)


def _need(x, what: str):
    if len(x) == 0:
        raise _Missing(what)
    return x


def _one(df: pd.DataFrame, what: str) -> pd.Series:
    if len(df) == 0:
        raise _Missing(what)
    if len(df) != 1:
        raise ValueError(f"findings: {what}: expected one row of the summary, found {len(df)}")
    return df.iloc[0]


def findings(
    summary: pd.DataFrame,
    replication: pd.DataFrame,
    *,
    seed_design: str = "100x6+2x6",
    seed_sigma: float = 5.0,
    level: float = 0.95,
    seed_fit: dict | None = None,
) -> dict:
    """Every number of the README's findings (module docstring), as
    ``{key: {"value": float, "text": str, "what": str}}`` (plus ``text``-only entries for
    words such as a cell's parameters). A finding whose inputs the study lacks (no cell of the
    seed's design, no balanced cell, an estimator not fitted) is left out.

    Parameters
    ----------
    summary : the study's ``summary.csv`` (any row order).
    replication : its ``replication.csv``.
    seed_design, seed_sigma : the seed's cell (the config's ``seed_example`` design and sigma).
    level : nominal interval level.
    seed_fit : the seed example's ``fit.json`` (with ``seed_choice``), or None.
    """
    s = everything = normalise_summary(summary)
    # the findings are about groups of observations: the known-SE cells have none (their rows
    # are in the tables), and their replications are left out of the precision finding too
    known = set(s.loc[known_se_rows(s), "cell"])
    s = s[~s["cell"].isin(known)]
    if "cell" in replication:
        replication = replication[~replication["cell"].isin(known)]
    worlds_out = worlds_findings(s, level=level, replication=replication)
    s = s[normal_world(s)]  # the README's findings are about the model's own world
    a = s[s["groups"] == "all"]
    bal = a[a["balanced"]]
    seed_rows = s[(s["design"] == seed_design) & np.isclose(s["sigma"], seed_sigma)]
    seed_all = seed_rows[seed_rows["groups"] == "all"]

    def seed(est, groups="all"):
        return _one(
            seed_rows[(seed_rows["estimator"] == est) & (seed_rows["groups"] == groups)], f"{est} {groups}"
        )

    def est(df, e):
        return _need(df[df["estimator"] == e], f"rows of {e}")

    out: dict[str, dict] = {}
    # A study without what a finding needs (the seed's cell, balanced cells, an estimator) leaves
    # that finding out; the README's test then names it.
    with _section():  # design
        out["cells"] = _entry(everything["cell"].nunique(), ",", "cells of the study")
        out["normal_world_cells"] = _entry(
            a["cell"].nunique(), ",", "cells of the normal world (normal effects and errors, one sigma)"
        )
        every = everything[everything["groups"] == "all"]  # a study may have no normal-world cell
        out["replications"] = _entry(int((every["reps"] + every["failures"]).max()), ",", "replications per cell")
        out["level"] = _entry(level, "g", "nominal level of the intervals")
    with _section():
        _need(bal, "balanced cells")
        out["balanced_J"] = {"text": _set_text(bal["J"]), "what": "J of the balanced cells"}
        out["balanced_n"] = {"text": _set_text(bal["n"].astype(float)), "what": "n of the balanced cells"}
        out["balanced_sigma"] = {"text": _set_text(bal["sigma"]), "what": "sigma of the balanced cells"}
        out["balanced_tau"] = {"text": _set_text(bal["tau"]), "what": "tau of the balanced cells"}
    with _section():
        seed_cell = _one(seed_all.drop_duplicates("cell"), "the seed's cell")
        out["seed_J"] = _entry(seed_cell["J"], "g", "J of the seed's design")
        out["seed_design"] = {"text": seed_design, "what": "the seed's design (group size x count)"}
        out["seed_sigma"] = _entry(seed_cell["sigma"], "g", "sigma of the seed's cell")
        out["seed_tau"] = _entry(seed_cell["tau"], "g", "tau of the seed's cell")

    with _section():  # shrinkage pays most where the noise is largest
        classes = sorted(
            (g for g in seed_rows["groups"].unique() if g != "all"), key=lambda g: int(g.split("=")[1])
        )
        _need(classes, "group classes of the seed's cell")
        small, large = classes[0], classes[-1]
        out["seed_small_n"] = {
            "text": small.split("=")[1],
            "what": "smallest group size of the seed's design",
        }
        out["seed_blup_relmse_small"] = _entry(
            seed("blup", small)["rel_mse"], "%0", f"BLUP relative MSE, {small}"
        )
        out["seed_blup_relmse_large"] = _entry(
            seed("blup", large)["rel_mse"], "%0", f"BLUP relative MSE, {large}"
        )

    with _section():  # spread
        out["seed_spread_varmatch"] = _entry(
            seed("varmatch")["spread"], ".3f", "varmatch spread ratio, seed's cell"
        )
        out["seed_spread_blup"] = _entry(seed("blup")["spread"], ".2f", "BLUP spread ratio, seed's cell")
        out["seed_spread_raw"] = _entry(seed("raw")["spread"], ".2f", "raw spread ratio, seed's cell")
        vm, bl = seed("varmatch")["rel_mse"], seed("blup")["rel_mse"]
        out["seed_relmse_varmatch"] = _entry(vm, ".3f", "varmatch relative MSE, seed's cell")
        out["seed_relmse_blup"] = _entry(bl, ".3f", "BLUP relative MSE, seed's cell")
        out["seed_varmatch_over_blup"] = _entry(
            vm / bl - 1, "%0", "varmatch's MSE above the BLUP's, seed's cell"
        )
    with _section():  # constrained Bayes, the published relative of the seed's rule
        cb = seed("constrained_bayes")
        out["seed_spread_constrained_bayes"] = _entry(
            cb["spread"], ".3f", "constrained Bayes spread ratio, seed's cell"
        )
        out["seed_relmse_constrained_bayes"] = _entry(
            cb["rel_mse"], ".3f", "constrained Bayes relative MSE, seed's cell"
        )
        out["seed_w1_constrained_bayes"] = _entry(cb["w1"], ".3f", "constrained Bayes W1, seed's cell")
        out["seed_w1_varmatch"] = _entry(seed("varmatch")["w1"], ".3f", "varmatch W1, seed's cell")
        rel = bal.pivot(index="cell", columns="estimator", values="rel_mse")
        out["balanced_constrained_bayes_minus_varmatch"] = _entry(
            (rel["constrained_bayes"] - rel["varmatch"]).abs().max(),
            ".4f",
            "largest |relative MSE of constrained Bayes - that of varmatch| over the balanced cells",
        )
    with _section():
        med = bal.groupby("estimator")["spread"].median()
        out["median_spread_varmatch"] = _entry(
            med["varmatch"], ".3f", "median spread ratio of varmatch, balanced cells"
        )
        out["median_spread_blup"] = _entry(
            med["blup"], ".2f", "median spread ratio of the BLUP, balanced cells"
        )

    with _section():  # bayesglm against the BLUP
        mse = a.pivot(index="cell", columns="estimator", values="mse")
        diff = _need((mse["bayesglm"] / mse["blup"] - 1).abs().dropna(), "cells with bayesglm and blup")
        worst = _one(a[(a["cell"] == diff.idxmax()) & (a["estimator"] == "blup")], "bayesglm's worst cell")
        out["bayesglm_blup_median"] = _entry(
            diff.median(), "%2", "median over cells of |MSE(bayesglm)/MSE(blup) - 1|"
        )
        out["bayesglm_blup_max"] = _entry(diff.max(), "%1", "largest |MSE(bayesglm)/MSE(blup) - 1|")
        n = worst["n"] if pd.notna(worst["n"]) else worst["design"]
        out["bayesglm_blup_max_cell"] = {
            "text": f"J = {worst['J']}, n = {n}, sigma = {fmt(worst['sigma'], 'g')}",
            "what": "the cell of the largest difference",
        }

    # coverage
    with _section():
        out["blup_coverage_min_balanced"] = _entry(
            est(bal, "blup")["coverage"].min(), ".2f", "lowest BLUP coverage, balanced cells"
        )
    with _section():
        out["blup_coverage_seed"] = _entry(seed("blup")["coverage"], ".2f", "BLUP coverage, seed's cell")
    with _section():  # the Prasad-Rao interval beside the plug-in
        pr = est(bal, "blup_pr")["coverage"]
        out["blup_pr_coverage_min_balanced"] = _entry(
            pr.min(), ".2f", "lowest coverage of the Prasad-Rao BLUP interval, balanced cells"
        )
        out["blup_pr_coverage_max_balanced"] = _entry(
            pr.max(), ".3f", "highest coverage of the Prasad-Rao BLUP interval, balanced cells"
        )
        big = est(bal, "blup_pr")
        big = _need(big[(big["J"] >= 12) & (big["boundary_share"] <= 0.01)], "cells of J >= 12 with few boundary fits")
        z = _coverage_z(big, level)
        out["blup_pr_coverage_mcse_big"] = _entry(
            z.max(), "ceil1",
            "largest |coverage - level| / MCSE of the Prasad-Rao interval, balanced cells of J >= 12 with at "
            "most 1% boundary fits",
        )
        out["blup_pr_cells_big"] = _entry(len(big), ",", "those cells")
    with _section():
        out["blup_pr_coverage_seed"] = _entry(
            seed("blup_pr")["coverage"], ".2f", "coverage of the Prasad-Rao BLUP interval, seed's cell"
        )
    with _section():
        hb = est(a, "hier_bayes")["coverage"]
        out["hier_bayes_coverage_min"] = _entry(hb.min(), ".3f", "lowest hier_bayes coverage, all cells")
        out["hier_bayes_coverage_max"] = _entry(hb.max(), ".3f", "highest hier_bayes coverage, all cells")
    with _section():
        ro = _need(
            a[a["estimator"].isin(["raw", "oracle"]) & a["coverage"].notna()], "raw and oracle coverage"
        )
        z = _coverage_z(ro, level)
        who = " and ".join(e for e in ("raw", "oracle") if e in set(ro["estimator"]))  # those the study has
        out["raw_oracle_coverage_mcse"] = _entry(z.max(), "ceil1", f"largest |coverage - level| / MCSE of {who}")

    # theory checks
    with _section():
        raw = est(bal, "raw")
        out["theory_raw_mcse"] = _entry(
            ((raw["mse"] - raw["raw_risk"]) / raw["mse_mcse"]).abs().max(),
            "ceil1",
            "largest |MSE(raw) - sigma^2/n| / MCSE",
        )
        p, R = raw["p_boundary_theory"], raw["reps"]
        out["theory_boundary_mcse"] = _entry(
            ((raw["boundary_share"] - p) / np.sqrt(p * (1 - p) / R)).abs().max(),
            "ceil1",
            "largest |boundary share - F probability| / sqrt(p (1 - p) / R)",
        )
    with _section():
        orc = est(bal, "oracle")
        out["theory_oracle_mcse"] = _entry(
            ((orc["mse"] - orc["oracle_risk"]) / orc["mse_mcse"]).abs().max(),
            "ceil1",
            "largest |MSE(oracle) - Bayes risk| / MCSE",
        )

    with _section():  # Monte Carlo precision
        own = replication
        if "cell" in replication:  # the cells outside the normal world have their own finding
            others = set(everything.loc[~normal_world(everything), "cell"])
            own = replication[~replication["cell"].isin(others)]
        rel = _need(own["rel_mcse"].astype(float).dropna(), "relative MCSEs")
        out["largest_rel_mcse"] = _entry(
            rel.max(), "%1", "largest MCSE / estimate of any MSE or relative MSE"
        )
        out["median_rel_mcse"] = _entry(
            rel.median(), "%1", "median over cells of the largest MCSE / estimate"
        )

    # the seed example
    if seed_fit is not None:
        choice = seed_fit.get("seed_choice") or {"rule": "seed", "seed": seed_fit["seed"]}
        out["seed_example_seed"] = {
            "text": str(seed_fit["seed"]),
            "what": f"seed of the example ({choice['rule']})",
        }
        out["seed_example_tau"] = _entry(seed_fit["tau"], ".2f", "the example's fitted tau")
        out["seed_example_sigma"] = _entry(seed_fit["sigma"], ".2f", "the example's fitted sigma")
        out["seed_example_mu"] = _entry(seed_fit["mu"], ".3f", "the example's fitted mu")
        if choice["rule"] == "closest_fit":
            out["seed_example_candidates"] = _entry(choice["candidates"], ",", "candidate seeds searched")
            for k in ("tau", "sigma", "mu"):
                out[f"seed_example_target_{k}"] = _entry(
                    choice["target"][k], "g", f"the answer's reported {k}"
                )
    out.update(worlds_out)
    return out


#: Estimators that are not estimators (they know the truth): left out of "the best estimator".
ORACLES = ("oracle", "oracle_linear")


def _label(name: str) -> str:
    from ..methods import registry

    return registry.label(name) if name in registry.names() else name


def _words(items) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def worlds_findings(summary: pd.DataFrame, level: float = 0.95, replication=None) -> dict:
    """The ``worlds_*`` entries (module docstring) of a normalised summary; none when the study
    has no cell outside the normal world, and a group of entries is left out when what it needs
    is missing (an estimator, an effects distribution, one cell per J, effects, errors and
    ratio). ``replication``: the study's ``replication.csv``, for the worlds' Monte Carlo
    precision."""
    from ..design import worlds

    if any(c not in summary for c in ("effects", "errors", "sigma_ratio")):
        return {}
    a = summary[summary["groups"] == "all"]
    normal = normal_world(a)
    match = ["J", "design", "sigma", "tau", "mu"]
    key = pd.Series(list(zip(*(a[c] for c in match))), index=a.index)
    keys = set(key[~normal])
    if not keys:
        return {}
    w = a[~normal | key.map(lambda k: k in keys).astype(bool)]
    world = ~normal_world(w)
    Js = sorted(w["J"].unique())
    big, small = Js[-1], Js[0]
    out: dict[str, dict] = {}

    def rows(J=None, effects=None, errors="normal", ratio=1.0, est=None):
        d = w
        if J is not None:
            d = d[d["J"] == J]
        if effects is not None:
            d = d[d["effects"] == effects]
        if errors is not None:
            d = d[d["errors"] == errors]
        if ratio is not None:
            d = d[np.isclose(d["sigma_ratio"].astype(float), ratio)]
        if est is not None:
            d = d[d["estimator"] == est]
        return d

    def one(col, **kw):
        d = rows(**kw)
        if len(d) != 1:
            raise _Missing(f"one row of {kw}")
        return float(d.iloc[0][col])

    with _section():  # design
        cells = w[world].drop_duplicates("cell")
        out["worlds_cells"] = _entry(len(cells), ",", "cells outside the normal world")
        out["worlds_J"] = {"text": _set_text(w["J"]), "what": "J of those cells"}
        out["worlds_sigma"] = {"text": _set_text(w["sigma"]), "what": "sigma of those cells"}
        if w["n"].notna().all():  # balanced cells: their n
            out["worlds_n"] = {"text": _set_text(w["n"].astype(float)), "what": "n of those cells"}
        out["worlds_tau"] = {"text": _set_text(w["tau"]), "what": "tau of those cells"}
        effects = []
        for name in [e for e in worlds.EFFECTS if e != "normal"]:
            params = w.loc[w["effects"] == name, "effects_param"].dropna().unique()
            if len(params) == 1:
                effects.append(f"{name} ({worlds.EFFECTS[name].param} {fmt(params[0], 'g')})")
        out["worlds_effects"] = {"text": _words(_need(effects, "effects")), "what": "effects distributions"}
        dfs = w.loc[w["errors"] == "t", "errors_df"].dropna().unique()
        out["worlds_errors_df"] = {"text": _set_text(_need(dfs, "t errors")), "what": "df of the t errors"}
        ratios = w.loc[w["sigma_ratio"].astype(float) > 1, "sigma_ratio"].astype(float)
        out["worlds_sigma_ratio"] = {"text": _set_text(_need(ratios, "sigma ratios")),
                                     "what": "sigma ratios above 1 (largest SD / smallest)"}  # fmt: skip
        out["worlds_big_J"] = _entry(big, "g", "the large J of the worlds' findings")
        out["worlds_small_J"] = _entry(small, "g", "the small J of the worlds' findings")

    names = [e for e in worlds.EFFECTS if e in set(w["effects"])]
    with _section():  # relative MSE: the BLUP against the oracles, large J, plain world
        over_linear, over_oracle = {}, {}
        for e in names:
            blup = one("rel_mse", J=big, effects=e, est="blup")
            orc = one("rel_mse", J=big, effects=e, est="oracle")
            out[f"worlds_relmse_blup_{e}"] = _entry(blup, ".3f", f"BLUP relative MSE, {e} effects, J = {big}")
            out[f"worlds_relmse_oracle_{e}"] = _entry(
                orc, ".3f", f"oracle relative MSE, {e} effects, J = {big}"
            )
            over_linear[e] = blup / one("rel_mse", J=big, effects=e, est="oracle_linear") - 1
            over_oracle[e] = blup / orc - 1
        lin = rows(J=big, est="oracle_linear")["rel_mse"]
        for k, v in (("min", lin.min()), ("max", lin.max())):
            out[f"worlds_relmse_linear_{k}"] = _entry(
                v, ".3f", f"{'lowest' if k == 'min' else 'highest'} linear-oracle relative MSE, J = {big}"
            )
        out["worlds_blup_over_linear_max"] = _entry(
            max(over_linear.values()), "%1", f"largest BLUP MSE / linear-oracle MSE - 1, J = {big}"
        )
        worst = max(over_oracle, key=over_oracle.get)
        out["worlds_blup_over_oracle_max"] = _entry(
            over_oracle[worst], "%0", f"largest BLUP MSE / oracle MSE - 1, J = {big}"
        )
        out["worlds_blup_over_oracle_max_effects"] = {"text": worst, "what": "where that is"}

    with _section():  # the oracle under t errors: every observation against the group means
        for e in names:
            out[f"worlds_relmse_oracle_{e}_t_errors"] = _entry(
                one("rel_mse", J=big, effects=e, errors="t", est="oracle"), ".3f",
                f"oracle relative MSE, {e} effects, t errors, J = {big}",
            )
        t_gain = {
            e: 1 - one("mse", J=big, effects=e, errors="t", est="oracle")
            / one("mse", J=big, effects=e, errors="t", est="oracle_linear")
            for e in names
        }
        out["worlds_oracle_t_errors_gain_min"] = _entry(
            min(t_gain.values()), "%0", f"smallest oracle MSE below the linear oracle's, t errors, J = {big}"
        )
        out["worlds_oracle_t_errors_gain_max"] = _entry(
            max(t_gain.values()), "%0", f"largest oracle MSE below the linear oracle's, t errors, J = {big}"
        )
    with _section():  # t errors
        out["worlds_relmse_blup_t_errors"] = _entry(
            one("rel_mse", J=big, effects="normal", errors="t", est="blup"), ".3f",
            f"BLUP relative MSE, normal effects, t errors, J = {big}",
        )  # fmt: skip
    with _section():  # NPMLE
        for e in ("normal", "bimodal", "sparse"):
            out[f"worlds_relmse_npmle_{e}"] = _entry(
                one("rel_mse", J=big, effects=e, est="npmle"),
                ".3f",
                f"NPMLE relative MSE, {e} effects, J = {big}",
            )
        out["worlds_npmle_gain_sparse"] = _entry(
            1 - one("rel_mse", J=big, effects="sparse", est="npmle")
            / one("rel_mse", J=big, effects="sparse", est="blup"),
            "%0", f"NPMLE's MSE below the BLUP's, sparse effects, J = {big}",
        )  # fmt: skip
        mse = rows(J=small, errors=None, ratio=None).pivot(index="cell", columns="estimator", values="mse")
        ratio = _need((mse["npmle"] / mse["blup"] - 1).dropna(), "npmle and blup at small J")
        out["worlds_npmle_over_blup_small_min"] = _entry(
            ratio.min(), "%1", f"smallest NPMLE MSE / BLUP MSE - 1 over the cells of J = {small}"
        )

    with _section():  # W1
        def best(J, e, errors="normal", ratio=1.0):
            d = rows(J=J, effects=e, errors=errors, ratio=ratio)
            d = _need(d[~d["estimator"].isin(ORACLES) & d["w1"].notna()], "W1")
            return d.loc[d["w1"].idxmin(), "estimator"]

        present = set(rows(J=big)["estimator"])  # name only the variance matchers of the study
        matchers = _need([m for m in ("varmatch", "constrained_bayes") if m in present], "varmatch")
        wins = [e for e in names if best(big, e) in matchers]
        who = " or ".join({"varmatch": "varmatch", "constrained_bayes": "constrained Bayes"}[m] for m in matchers)
        out["worlds_w1_match_wins"] = {
            "text": _words(_need(wins, "varmatch wins")),
            "what": f"effects where {who} has the lowest W1, J = {big}",
        }
        for e in ("normal", "bimodal"):
            for est in ("varmatch", "blup"):
                out[f"worlds_w1_{est}_{e}"] = _entry(
                    one("w1", J=big, effects=e, est=est), ".3f", f"{est} W1, {e} effects, J = {big}"
                )
        vm = rows(J=big, est="varmatch", errors=None, ratio=None).set_index("cell")["w1"]
        cb = rows(J=big, est="constrained_bayes", errors=None, ratio=None).set_index("cell")["w1"]
        out["worlds_w1_cb_minus_vm_max"] = _entry(
            (cb - vm).abs().max(), ".3f", f"largest |W1(constrained Bayes) - W1(varmatch)|, J = {big}"
        )
        b = best(big, "sparse")
        out["worlds_w1_best_sparse"] = {"text": _label(b), "what": f"lowest W1, sparse effects, J = {big}"}
        for est in dict.fromkeys((b, "varmatch", "blup")):
            out[f"worlds_w1_{est}_sparse"] = _entry(
                one("w1", J=big, effects="sparse", est=est), ".3f", f"{est} W1, sparse effects, J = {big}"
            )
        b = best(small, "normal")
        out["worlds_w1_best_small"] = {"text": _label(b), "what": f"lowest W1, normal effects, J = {small}"}
        for est in dict.fromkeys((b, "varmatch", "blup")):
            out[f"worlds_w1_{est}_small"] = _entry(
                one("w1", J=small, effects="normal", est=est), ".3f", f"{est} W1, normal effects, J = {small}"
            )
        d = w[~w["estimator"].isin(ORACLES) & w["w1"].notna()]
        winners = d.loc[d.groupby("cell")["w1"].idxmin(), "estimator"]
        out["worlds_w1_cells"] = _entry(len(winners), ",", "cells of the worlds' figures")
        out["worlds_w1_blup_best"] = _entry(
            (winners == "blup").sum(), ",", "cells where the BLUP has the lowest W1"
        )

    with _section():  # coverage
        for J in (small, big):
            out[f"worlds_coverage_blup_normal_J{J}"] = _entry(
                one("coverage", J=J, effects="normal", est="blup"),
                ".2f",
                f"BLUP coverage, normal cell, J = {J}",
            )
            d = rows(J=J, effects=None, errors=None, ratio=1.0, est="blup")
            d = _need(d[~normal_world(d)], "ratio-1 world cells")
            out[f"worlds_coverage_blup_ratio1_min_J{J}"] = _entry(
                d["coverage"].min(), ".2f", f"lowest BLUP coverage, sigma ratio 1, J = {J}"
            )
            d = _need(rows(J=J, errors=None, ratio=None, est="blup"), "blup")
            d = _need(d[d["sigma_ratio"].astype(float) > 1], "ratio above 1")
            out[f"worlds_coverage_blup_hetero_min_J{J}"] = _entry(
                d["coverage"].min(), ".2f", f"lowest BLUP coverage, sigma ratio above 1, J = {J}"
            )
        for est, key in (("hier_bayes", "hier_bayes"), ("oracle_linear", "linear")):
            cov = _need(rows(errors=None, ratio=None, est=est)["coverage"].dropna(), est)
            out[f"worlds_coverage_{key}_min"] = _entry(
                cov.min(), ".3f", f"lowest {est} coverage, worlds' cells"
            )
            out[f"worlds_coverage_{key}_max"] = _entry(
                cov.max(), ".3f", f"highest {est} coverage, worlds' cells"
            )

    with _section():  # heteroscedasticity
        r = float(w["sigma_ratio"].astype(float).max())
        if r <= 1:
            raise _Missing("sigma ratio above 1")
        for est in ("sure", "blup", "hier_bayes", "oracle_linear"):
            out[f"worlds_hetero_relmse_{est}"] = _entry(
                one("rel_mse", J=big, effects="normal", ratio=r, est=est), ".3f",
                f"{est} relative MSE, normal effects and errors, sigma ratio {fmt(r, 'g')}, J = {big}",
            )  # fmt: skip
        mse = w.pivot(index="cell", columns="estimator", values="mse")
        diff = _need((mse["sure"] / mse["blup_ml"] - 1).abs().dropna(), "sure and blup_ml")
        out["worlds_sure_blup_ml_max"] = _entry(diff.max(), "%1", "largest |MSE(SURE) / MSE(ML BLUP) - 1|")

    with _section():  # Monte Carlo precision of the cells outside the normal world
        if replication is None or "cell" not in replication:
            raise _Missing("replication table")
        rep = replication[replication["cell"].isin(set(w.loc[world, "cell"]))]
        rep = _need(rep[rep["rel_mcse"].notna()], "relative MCSEs of the worlds")
        top = rep.loc[rep["rel_mcse"].astype(float).idxmax()]
        out["worlds_largest_rel_mcse"] = _entry(
            top["rel_mcse"],
            "%1",
            "largest MCSE / estimate of any MSE or relative MSE, cells outside the normal world",
        )
        out["worlds_largest_rel_mcse_of"] = {
            "text": f"{_label(str(top['estimator']))}'s "
            + ("relative MSE" if top["measure"] == "rel_mse" else "MSE"),
            "what": "the estimate of that MCSE",
        }
        out["worlds_median_rel_mcse"] = _entry(
            rep["rel_mcse"].astype(float).median(), "%1", "median over the cells outside the normal world"
        )
    return out


def findings_json(entries: dict) -> str:
    """The findings as JSON text: sorted keys, two-space indent, a final newline (same entries,
    same bytes)."""
    return json.dumps(entries, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_findings(summary, replication, out, *, seed_fit_json=None, **kwargs) -> Path:
    """``findings`` of the tables (``summary.csv`` and ``replication.csv``, each a path or a
    frame as ``tables.read_summary`` and ``tables.read_replication`` read them; and the seed
    example's ``fit.json``), written to ``out`` as ``findings_json``. A path is read unchecked
    by the same parser (``tables.summary_frame``); the workflow passes the checked frames."""
    from .tables import summary_frame

    if not isinstance(summary, pd.DataFrame):
        summary = summary_frame(summary)
    if not isinstance(replication, pd.DataFrame):
        replication = pd.read_csv(replication)
    if seed_fit_json is None:
        seed_fit = None
    elif hasattr(seed_fit_json, "read"):
        seed_fit = json.load(seed_fit_json)
    else:
        seed_fit = json.loads(Path(seed_fit_json).read_text())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        findings_json(findings(summary, replication, seed_fit=seed_fit, **kwargs)), encoding="utf-8"
    )
    return out
