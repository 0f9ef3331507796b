"""make timing's one new cell: which block grows, and a clear error where it cannot."""

import pytest

from benchmarks.timing import grown_config
from shrinkstudy.config import DEFAULT_CONFIG, load_study, read_config_file


def test_one_sigma_more_in_the_seed_block_is_one_new_cell():
    config = read_config_file(DEFAULT_CONFIG)
    grown, block = grown_config(config, 10.0)
    assert block == "seed" and grown["grid"]["seed"]["sigma"] == [1, 2.5, 5, 10.0]
    assert config["grid"]["seed"]["sigma"] == [1, 2.5, 5]  # the given config is left alone
    before = {c.name for c in load_study(config).cells}
    after = {c.name for c in load_study(grown).cells}
    assert after - before == {"J12_n100x6+2x6_sigma10_tau1_mu0"} and before < after


def test_the_block_of_the_seed_design_when_none_is_named_seed():
    config = {
        "grid": {
            "a": {"J": [3], "sizes": [4], "sigma": [1], "tau": [1]},
            "mine": {"sizes": ["10x2+3x2"], "sigma": [2], "tau": [1]},
        },
        "seed_example": {"sizes": "10x2+3x2", "sigma": 2, "tau": 1},
    }
    grown, block = grown_config(config, 4.0)
    assert block == "mine" and grown["grid"]["mine"]["sigma"] == [2, 4.0]
    with pytest.raises(ValueError, match=r"sigma 2 is already in grid.mine.sigma"):
        grown_config(config, 2)
