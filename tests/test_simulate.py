"""Sufficient statistics: the long-format and array paths against a direct computation."""

import numpy as np
import pandas as pd

from shrinkstudy.design.cells import Cell
from helpers import chunk_frames
from shrinkstudy.design.simulate import SuffStats, suffstats_from_array, suffstats_from_long


def direct(df):
    out = []
    for rep, d in df.groupby("rep"):
        g = d.groupby("group")["y"]
        ssw = float(((d["y"] - g.transform("mean")) ** 2).sum())
        out.append((g.size().to_numpy(), g.mean().to_numpy(), ssw))
    return out


def test_long_and_array_paths_equal_direct():
    cell = Cell(sizes=(1, 4, 2, 7), sigma=2.0, tau=1.0, mu=3.0)
    data, _ = chunk_frames(cell, np.arange(6), base_seed=5)
    ref = direct(data)
    st_long, labels, groups = suffstats_from_long(data["rep"], data["group"], data["y"])
    st_arr = suffstats_from_array(data["y"].to_numpy().reshape(6, cell.N), cell.sizes)
    assert labels.tolist() == list(range(6))
    assert groups[0] == [0, 1, 2, 3]
    for st in (st_long, st_arr):
        for r, (n, ybar, ssw) in enumerate(ref):
            np.testing.assert_array_equal(st.n[r], n)
            np.testing.assert_allclose(st.ybar[r], ybar, rtol=1e-14, atol=1e-14)
            np.testing.assert_allclose(st.ssw[r], ssw, rtol=1e-12)


def test_ragged_datasets_are_padded():
    df = pd.DataFrame(
        {
            "d": ["b", "b", "b", "a", "a", "a", "a"],
            "g": ["x", "x", "y", "p", "q", "r", "r"],
            "y": [1.0, 3.0, 5.0, 2.0, 4.0, 6.0, 8.0],
        }
    )
    st, labels, groups = suffstats_from_long(df["d"], df["g"], df["y"])
    assert labels.tolist() == ["a", "b"]
    assert groups == [["p", "q", "r"], ["x", "y"]]
    np.testing.assert_array_equal(st.n, [[1, 1, 2], [2, 1, 0]])
    np.testing.assert_allclose(st.ybar, [[2, 4, 7], [2, 5, 0]])
    np.testing.assert_allclose(st.ssw, [2.0, 2.0])
    np.testing.assert_array_equal(st.J, [3, 2])
    np.testing.assert_allclose(st.grand_mean(), [5.0, 3.0])


def test_large_offset_keeps_precision():
    """A mean of 1e8 costs no precision beyond the data's own rounding."""
    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, (3, 20))
    st0 = suffstats_from_array(y, [10, 10])
    st1 = suffstats_from_array(y + 1e8, [10, 10])
    np.testing.assert_allclose(st1.ybar - 1e8, st0.ybar, atol=1e-7)
    np.testing.assert_allclose(st1.ssw, st0.ssw, rtol=1e-6)


def test_suffstats_validates_shapes():
    st = SuffStats(np.array([2.0, 3.0]), np.array([1.0, 2.0]), 4.0)
    assert st.n.shape == (1, 2) and st.ssw.shape == (1,)
    assert st.N.tolist() == [5.0]
    assert np.isclose(st.sst()[0], 4.0 + 2 * 0.6**2 + 3 * 0.4**2)
