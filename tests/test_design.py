"""The study grid: design labels, canonical cell names, seeding independent of order and chunking."""

import numpy as np
import pytest

from shrinkstudy.design.cells import Cell, ConfigError, cells_from_config, fmt_number, parse_sizes, sizes_label
from helpers import chunk_frames
from shrinkstudy.design.simulate import simulate_reps


def test_fmt_number_is_canonical():
    assert fmt_number(1) == fmt_number(1.0) == fmt_number(np.float64(1)) == "1"
    assert fmt_number(2.5) == "2.5"
    assert fmt_number(0.3) == "0.3"
    assert fmt_number(-1.5) == "m1.5"
    assert fmt_number(-0.0) == "0"


def test_design_labels():
    assert parse_sizes(5, 3) == (5, 5, 5)
    assert parse_sizes("5", 3) == (5, 5, 5)
    assert parse_sizes("100x6+2x6") == (100,) * 6 + (2,) * 6
    assert parse_sizes("100x6+2x6", 12) == (100,) * 6 + (2,) * 6
    assert sizes_label((100,) * 6 + (2,) * 6) == "100x6+2x6"
    assert sizes_label((5, 5)) == "5"
    for bad, J in [("abc", 3), ("5x", 3), ("0", 3), ("100x6+2", None), (5.5, 3), ("5", None), ("100x1", None)]:
        with pytest.raises(ConfigError):
            parse_sizes(bad, J)
    with pytest.raises(ConfigError, match="has 12 groups but J = 10"):
        parse_sizes("100x6+2x6", 10)


def test_cell_names_do_not_depend_on_number_spelling():
    a = cells_from_config({"b": {"J": [12], "sizes": [5], "sigma": [1], "tau": [1.0], "mu": [0]}})
    b = cells_from_config({"b": {"J": [12], "sizes": ["5"], "sigma": [1.0], "tau": [1], "mu": [0.0]}})
    assert [c.name for c in a] == [c.name for c in b] == ["J12_n5_sigma1_tau1_mu0"]
    assert a[0].key == b[0].key
    seed = Cell(sizes=parse_sizes("100x6+2x6"), sigma=5, tau=1)
    assert seed.name == "J12_n100x6+2x6_sigma5_tau1_mu0"
    assert seed.size_classes()["n=2"].tolist() == [6, 7, 8, 9, 10, 11]


def test_grid_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"grid.b.sigma: -1"):
        cells_from_config({"b": {"J": [3], "sizes": [5], "sigma": [-1], "tau": [1]}})
    with pytest.raises(ConfigError, match=r"grid.b.J: 1"):
        cells_from_config({"b": {"J": [1], "sizes": [5], "sigma": [1], "tau": [1]}})
    with pytest.raises(ConfigError, match="duplicated"):
        cells_from_config({"b": {"J": [3, 3], "sizes": [5], "sigma": [1], "tau": [1]}})
    with pytest.raises(ConfigError, match="grid.b.sizes"):
        cells_from_config({"b": {"J": [3], "sizes": ["3 groups"], "sigma": [1], "tau": [1]}})


def test_streams_are_per_replication():
    """Chunking, order and other cells change no dataset; different reps and cells differ."""
    cell = Cell(sizes=(3, 4), sigma=2.0, tau=1.0, mu=0.5)
    y_all, m_all = simulate_reps(cell, np.arange(10), base_seed=11)
    y_a, m_a = simulate_reps(cell, np.arange(5), base_seed=11)
    y_b, m_b = simulate_reps(cell, np.arange(9, 4, -1), base_seed=11)
    np.testing.assert_array_equal(np.vstack([y_a, y_b[::-1]]), y_all)
    np.testing.assert_array_equal(np.vstack([m_a, m_b[::-1]]), m_all)
    other = Cell(sizes=(3, 4), sigma=2.0, tau=1.0, mu=0.0)
    y_other, _ = simulate_reps(other, np.arange(10), base_seed=11)
    assert not np.any(y_other == y_all)
    y_seed, _ = simulate_reps(cell, np.arange(10), base_seed=12)
    assert not np.any(y_seed == y_all)
    assert len(np.unique(y_all)) == y_all.size


def test_chunk_columns_layout_and_model_moments():
    cell = Cell(sizes=(2, 5, 9), sigma=3.0, tau=2.0, mu=10.0)
    data, truth = chunk_frames(cell, np.arange(4000), base_seed=3)
    assert list(data.columns) == ["rep", "group", "y"]
    assert list(truth.columns) == ["rep", "group", "n", "mean"]
    assert len(data) == 4000 * 16 and len(truth) == 4000 * 3
    assert truth["n"].tolist()[:3] == [2, 5, 9]
    # true means ~ N(mu, tau^2): mean and variance within 4 Monte Carlo SEs
    m = truth["mean"].to_numpy()
    assert abs(m.mean() - 10.0) < 4 * 2.0 / np.sqrt(m.size)
    assert abs(m.var() - 4.0) < 4 * 4.0 * np.sqrt(2 / m.size)
    merged = data.merge(truth, on=["rep", "group"])
    e = (merged["y"] - merged["mean"]).to_numpy()
    assert abs(e.var() - 9.0) < 4 * 9.0 * np.sqrt(2 / e.size)
