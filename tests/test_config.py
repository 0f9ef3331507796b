"""Bad configuration gets one clear line naming the key and the value, before any work."""

import copy
from pathlib import Path

import pytest
import yaml

from shrinkstudy.config import chunk_ranges, load_config_file, load_study
from shrinkstudy.design import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_study_meets_the_brief():
    study = load_study(DEFAULT)
    names = {c.name for c in study.cells}
    assert "J12_n100x6+2x6_sigma5_tau1_mu0" in names  # the seed's own cell
    balanced = [c for c in study.cells if c.balanced]
    assert {c.J for c in balanced} >= {3, 6, 12, 24, 48}
    assert {c.n for c in balanced} >= {2, 5, 10, 30, 100}
    assert {c.sigma for c in study.cells} >= {1.0, 2.5, 5.0}
    assert study.config["replications"] >= 1000
    assert study.seed_cell.name == "J12_n100x6+2x6_sigma5_tau1_mu0"


def test_defaults_are_filled():
    study = load_study({"grid": {"b": {"J": [3], "sizes": [5], "sigma": [1], "tau": [1]}}})
    assert study.config["method"] == "REML"
    assert study.config["hier_bayes_prior"] == {"family": "half_cauchy", "scale": 1.0}
    assert study.chunks == [(0, 1000)]


def test_chunk_ranges():
    assert chunk_ranges(300, 100) == [(0, 100), (100, 200), (200, 300)]


def edit(path, value):
    cfg = copy.deepcopy(DEFAULT)
    *parents, last = path
    node = cfg
    for p in parents:
        node = node[p]
    node[last] = value
    return cfg


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("replications",), 0, r"^replications: 0 is not valid"),
        (("replications",), "many", r"^replications: 'many' is not valid"),
        (("replications",), 1500, r"^replications: 1500 is not a multiple of chunk_size 1000"),
        (("grid", "balanced", "sigma"), [1, -2.5], r"^grid\.balanced\.sigma\.1: -2\.5 is not valid"),
        (("grid", "balanced", "J"), [1, 3], r"^grid\.balanced\.J\.0: 1 is not valid"),
        (("grid", "balanced", "sizes"), ["lots"], r"^grid\.balanced\.sizes: unknown design label 'lots'"),
        (("estimators",), ["raw", "ridge"], r"^estimators\.1: 'ridge' is not valid"),
        (("estimators",), ["blup"], r"^estimators: \['blup'\] must include 'raw'"),
        (("method",), "MLE", r"^method: 'MLE' is not valid"),
        (("hier_bayes_prior",), {"family": "flat"}, r"^hier_bayes_prior\.family: 'flat' is not valid"),
        (("level",), 1.5, r"^level: 1\.5 is not valid"),
        (("grid", "seed", "J"), [10], r"design '100x6\+2x6' has 12 groups but J = 10"),
        (("grid", "again"), {"J": [3], "sizes": [2], "sigma": [1], "tau": [1]}, r"J3_n2_sigma1_tau1_mu0 is duplicated"),
        (("colour",), "red", r"^config: Additional properties are not allowed \('colour' was unexpected\)"),
        (("results",), "../elsewhere", r"^results: '\.\./elsewhere' must be a directory below the project"),
        (("results",), "/tmp/out", r"^results: '/tmp/out' must be a directory below the project"),
        (("results",), ".", r"^results: '\.' must be a directory below the project"),
    ],
)
def test_bad_values_are_named(path, value, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_study(edit(path, value))
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config_file(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("grid: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_file(tmp_path / "bad.yaml")
