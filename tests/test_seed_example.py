"""The seed example's choice of dataset: the closest fit to the answer's reported one, found by a
deterministic search over seeds, and the plain seed."""

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from shrinkstudy.config import load_study
from shrinkstudy.design.cells import Cell, ConfigError
from shrinkstudy.report.figures.seed import _seed_title
from shrinkstudy.report.seed_example import (
    REPORTED_FIT,
    choose_seed,
    closest_fit_seed,
    fit_distance,
    seed_example,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
SEED_CELL = Cell(sizes=(100,) * 6 + (2,) * 6, sigma=5.0, tau=1.0, mu=0.0)
GRID = {"b": {"J": [3], "sizes": [5], "sigma": [1], "tau": [1]}}


def test_reported_fit_is_the_answers():
    # "it estimates the groups to have a SD of 0.75 and the within_group SD to be 5.1. It
    # estimates the grand mean to be 0.035" (the seed answer)
    assert REPORTED_FIT == {"tau": 0.75, "sigma": 5.1, "mu": 0.035}


def test_fit_distance_formula():
    target = {"tau": 0.5, "sigma": 4.0, "mu": 1.0}
    N = 64  # mean scale 4 / 8 = 0.5
    d = fit_distance([0.5, 0.75, 0.5, 0.25], [4.0, 4.0, 5.0, 3.0], [1.0, 1.0, 1.0, 2.0], target, N)
    expected = [0.0, 0.5, 0.25, math.sqrt(0.25 + 0.0625 + 4.0)]
    np.testing.assert_allclose(d, expected, rtol=1e-15)
    assert fit_distance(np.nan, 4.0, 1.0, target, N) == np.inf
    with pytest.raises(ValueError, match="positive"):
        fit_distance(1.0, 1.0, 0.0, {"tau": 0.0, "sigma": 1.0, "mu": 0.0}, 10)


def test_search_is_the_minimum_over_the_candidates():
    """A slow reference: every candidate seed through seed_example, its fit's distance."""
    K, first = 25, 1000
    found = closest_fit_seed(SEED_CELL, REPORTED_FIT, first, K, block=7)
    dists = []
    for s in range(first, first + K):
        info = seed_example(SEED_CELL, s, estimators=("raw", "blup"))[2]
        dists.append(fit_distance(info["tau"], info["sigma"], info["mu"], REPORTED_FIT, SEED_CELL.N))
    best = int(np.argmin(dists))
    assert found["seed"] == first + best
    assert found["distance"] == pytest.approx(float(dists[best]), rel=1e-12)
    assert found["candidates"] == K and found["first"] == first and found["rule"] == "closest_fit"
    # deterministic, whatever the block size
    again = closest_fit_seed(SEED_CELL, REPORTED_FIT, first, K, block=500)
    assert again == found


def test_chosen_seed_as_plain_seed_draws_the_same_dataset():
    found = closest_fit_seed(SEED_CELL, REPORTED_FIT, 522387, 40)
    info = seed_example(SEED_CELL, found["seed"])[2]
    assert (info["tau"], info["sigma"], info["mu"]) == pytest.approx(
        (found["tau"], found["sigma"], found["mu"]), rel=1e-12
    )


def test_choose_seed_plain():
    assert choose_seed(SEED_CELL, {"seed": 7}) == {"rule": "seed", "seed": 7}
    assert choose_seed(SEED_CELL, {"seed": 7, "choose": "seed", "candidates": 9}) == {
        "rule": "seed",
        "seed": 7,
    }
    with pytest.raises(ValueError, match="choose"):
        choose_seed(SEED_CELL, {"seed": 7, "choose": "nearest"})


def test_default_config_gives_a_fit_near_the_reported_one():
    study = load_study(DEFAULT)
    ex = study.config["seed_example"]
    assert ex["choose"] == "closest_fit"
    choice = choose_seed(study.seed_cell, ex, method=study.config["method"])
    info = seed_example(study.seed_cell, choice["seed"])[2]
    assert abs(info["tau"] / 0.75 - 1) < 0.1
    assert abs(info["sigma"] / 5.1 - 1) < 0.05
    assert abs(info["mu"] - 0.035) < 0.1
    # against the plain seed, which fits tau = 0.13 (near-complete pooling)
    plain = seed_example(study.seed_cell, ex["seed"])[2]
    assert plain["tau"] < 0.2
    assert choice["distance"] < fit_distance(plain["tau"], plain["sigma"], plain["mu"], REPORTED_FIT, 612)


def test_config_plain_seed_keeps_the_plain_rule():
    plain = load_study({"grid": GRID, "seed_example": {"seed": 5, "sizes": "100x6+2x6"}})
    assert plain.config["seed_example"]["choose"] == "seed"
    # without the block, no seed example (the default study's config has the closest_fit block)
    absent = load_study({"grid": GRID})
    assert "seed_example" not in absent.config and absent.seed_example is None
    default = load_study(DEFAULT).config["seed_example"]
    assert default["choose"] == "closest_fit" and default["target"] == REPORTED_FIT
    assert default["candidates"] == 2000


@pytest.mark.parametrize(
    "block, message",
    [
        ({"choose": "nearest"}, r"^seed_example\.choose: 'nearest' is not valid"),
        ({"candidates": 0}, r"^seed_example\.candidates: 0 is not valid"),
        ({"candidates": 2.5}, r"^seed_example\.candidates: 2\.5 is not valid"),
        ({"target": {"tau": 0, "sigma": 5, "mu": 0}}, r"^seed_example\.target\.tau: 0 is not valid"),
        ({"target": {"tau": 1, "sigma": 5, "mu": 0, "nu": 1}}, r"^seed_example\.target: Additional"),
        ({"target": {"tau": 1, "sigma": float("nan"), "mu": 0}}, r"^seed_example\.target\.sigma: nan is not"),
        ({"seed": 2**64 - 10, "candidates": 20}, r"^seed_example\.candidates: seeds .* beyond the largest"),
        (
            {"candidates": 100000, "sizes": "1000x100"},
            r"^seed_example\.candidates: 100000 candidate datasets",
        ),
    ],
)
def test_config_checks_the_search(block, message):
    ex = {"seed": 1, "choose": "closest_fit", "sizes": "100x6+2x6", **block}
    with pytest.raises(ConfigError, match=message):
        load_study({"grid": GRID, "seed_example": ex})


def test_seed_title_states_the_seed_and_its_fit():
    found = closest_fit_seed(SEED_CELL, REPORTED_FIT, 522387, 10)
    _data, _estimates, info = seed_example(SEED_CELL, found["seed"])
    info["seed_choice"] = found
    title = _seed_title(info)
    assert f"Seed {found['seed']}" in title and "10 seeds 522387–522396" in title
    assert "τ = 0.75, σ = 5.1, μ = 0.035" in title
    assert f"τ = {found['tau']:.2f}" in title and f"μ = {found['mu']:.3f}" in title
    assert _seed_title({**info, "seed_choice": {"rule": "seed", "seed": 3}}).startswith("Seed 3. REML")
