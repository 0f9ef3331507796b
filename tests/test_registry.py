"""The estimator registry: one entry per estimator, and everything else reads it."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from shrinkstudy.methods import registry
from shrinkstudy.config import _schema, load_study
from shrinkstudy.design.cells import Cell
from shrinkstudy.methods.estimators import Truth, fit_estimators
from shrinkstudy.methods.knownse import KNOWN_SE_ESTIMATORS, META_ESTIMATORS, META_INTERVAL_ESTIMATORS
from shrinkstudy.evaluate.losses import loss_columns
from shrinkstudy.design.simulate import simulate_reps, suffstats_from_array

ROOT = Path(__file__).resolve().parents[1]


def test_names_are_unique_and_in_table_order():
    names = registry.names()
    assert names == (
        "raw", "pooled", "blup", "blup_pr", "blup_ml", "varmatch", "constrained_bayes", "bayesglm", "hier_bayes",
        "james_stein", "sure", "npmle", "oracle_linear", "oracle",
    )
    assert len(set(names)) == len(names)
    assert registry.interval_names() == ("raw", "blup", "blup_pr", "hier_bayes", "oracle_linear", "oracle")
    assert META_ESTIMATORS == (
        "raw", "pooled", "blup", "blup_pr", "blup_ml", "varmatch", "constrained_bayes", "hier_bayes", "james_stein",
        "sure", "npmle",
    )
    assert META_INTERVAL_ESTIMATORS == ("raw", "blup", "blup_pr", "hier_bayes")
    # the study's known-SE cells also fit the oracles (they know the truth); only bayesglm has no form
    assert KNOWN_SE_ESTIMATORS == tuple(e for e in names if e != "bayesglm")
    with pytest.raises(KeyError, match="unknown estimator 'ridge'"):
        registry.get("ridge")


@pytest.mark.parametrize("entry", registry.BUILTIN, ids=lambda e: e.name)
def test_every_entry_resolves_and_its_needs_match_its_functions(entry):
    point = entry.point_function()
    params = list(inspect.signature(point).parameters)
    assert params[0] == "stats"
    assert set(params[1:]) <= set(entry.needs) | {"tol", "maxiter"}
    assert set(entry.needs) - {"level"} <= set(params)
    if entry.interval is not None:
        iparams = list(inspect.signature(entry.interval_function()).parameters)
        assert iparams[0] == "stats" and "level" in iparams
    if entry.known_se is not None:
        truth = ["truth"] if "truth" in entry.needs else []
        assert list(inspect.signature(entry.known_se_function()).parameters) == ["data", "varcomp", "prior", "level",
                                                                                 *truth]
    assert entry.description and entry.label and entry.reference and entry.builtin
    assert entry.style.color.startswith("#")


def test_config_schema_and_readme_read_the_registry():
    schema_text = (ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text()
    assert "james_stein" not in schema_text  # the schema file lists no estimator name ...
    schema = _schema()
    assert schema["$defs"]["builtin_estimator"]["enum"] == list(registry.names())  # ... the check fills them in
    assert schema["properties"]["estimators"]["default"] == list(registry.names())
    readme = (ROOT / "README.md").read_text()
    assert registry.markdown_table() in readme


def test_a_new_builtin_entry_flows_everywhere(monkeypatch):
    """Adding a built-in estimator is one registry entry: the config check, the fit, the losses,
    the ordering of tables and the figures' styles pick it up."""
    from shrinkstudy.report import tables

    def halfway(stats, varcomp):
        return 0.5 * (stats.ybar + varcomp.mu[:, None])

    new = registry.Estimator(
        name="halfway",
        label="half way",
        description="half way to the grand mean",
        point=halfway,
        needs=("varcomp",),
        style=registry.Style("#123456", "X"),
        reference="a test",
    )
    builtin = registry.BUILTIN[:2] + (new,) + registry.BUILTIN[2:]
    monkeypatch.setattr(registry, "BUILTIN", builtin)
    monkeypatch.setattr(registry, "_BY_NAME", {e.name: e for e in builtin})
    assert registry.names()[2] == "halfway"
    study = load_study({"estimators": ["raw", "halfway"], "grid": {"b": {"J": [4], "sizes": [3], "sigma": [1], "tau": [1]}}})
    assert [e.name for e in study.estimators] == ["raw", "halfway"]
    cell = Cell(sizes=(3,) * 4, sigma=1.0, tau=1.0)
    y, means = simulate_reps(cell, range(20), 1)
    st = suffstats_from_array(y, cell.sizes)
    fit = fit_estimators(st, ["oracle", "halfway", "raw"], truth=Truth(0.0, 1.0, 1.0))
    np.testing.assert_allclose(fit.estimates["halfway"], 0.5 * (st.ybar + fit.varcomp.mu[:, None]))
    cols = loss_columns(fit, means, np.arange(20), cell)
    assert list(dict.fromkeys(cols["estimator"])) == ["raw", "halfway", "oracle"]
    assert tables._estimators_in(pd.DataFrame({"estimator": ["oracle", "halfway", "raw"]})) == ["raw", "halfway", "oracle"]
    from shrinkstudy.report.figures.style import _style

    assert _style("halfway") == {"color": "#123456", "marker": "X", "linestyle": "-", "label": "half way"}


def test_entries_are_immutable_and_checked():
    with pytest.raises(dataclasses.FrozenInstanceError):
        registry.get("raw").name = "x"
    with pytest.raises(ValueError, match="unknown needs"):
        registry.Estimator(name="x", label="x", description="x", point=print, needs=("tau",))
    with pytest.raises(ValueError, match="applies"):
        registry.Estimator(name="x", label="x", description="x", point=print, applies="sometimes")


def test_the_default_study_fits_every_builtin_estimator():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    assert "estimators" not in config  # the default is the registry's list
    assert tuple(e.name for e in load_study(config).estimators) == registry.names()
