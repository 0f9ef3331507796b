"""Shared fixtures for the estimator-engine tests (test_reml, test_estimators, test_hierbayes,
test_lme4_arm). Data come from ``shrinkstudy.design.simulate`` with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from shrinkstudy.design.cells import Cell
from shrinkstudy.design.simulate import simulate_reps, suffstats_from_array


def _random_unbalanced_cells(seed: int, count: int) -> list[Cell]:
    """Small unbalanced designs: J in 2..8, group sizes 1..7 (never all 1), tau/sigma in {0, 0.3, 1, 3}."""
    rng = np.random.default_rng(seed)
    cells = []
    for i in range(count):
        J = int(rng.integers(2, 9))
        sizes = rng.integers(1, 8, size=J)
        if sizes.sum() <= J:
            sizes[0] += 2
        if len(set(sizes.tolist())) == 1:
            sizes[-1] += 1
        tau = (0.0, 0.3, 1.0, 3.0)[i % 4]
        cells.append(Cell(sizes=tuple(int(s) for s in sizes), sigma=1.5, tau=tau, mu=2.0))
    return cells


@pytest.fixture(scope="session")
def small_unbalanced():
    """24 small unbalanced datasets as (cell, y, group codes, SuffStats of one row)."""
    out = []
    for k, cell in enumerate(_random_unbalanced_cells(20240601, 24)):
        y, _ = simulate_reps(cell, [0], base_seed=k)
        group = np.repeat(np.arange(cell.J), cell.sizes)
        out.append((cell, y[0], group, suffstats_from_array(y, cell.sizes)))
    return out


@pytest.fixture(scope="session")
def near_boundary_cell():
    """Balanced J = 5, n = 5, tau^2 / sigma^2 = 0.25: about 23% of REML fits are at tau^2 = 0."""
    return Cell(sizes=(5,) * 5, sigma=1.0, tau=0.5, mu=0.0)


@pytest.fixture(scope="session")
def seed_cell():
    """The seed's design: J = 12, six groups of 100 and six of 2, tau = 1, sigma = 5."""
    return Cell(sizes=(100,) * 6 + (2,) * 6, sigma=5.0, tau=1.0, mu=0.0)


@pytest.fixture(scope="session")
def simulate():
    """simulate(cell, R, seed) -> (y (R, N), true means (R, J), SuffStats)."""

    def _simulate(cell: Cell, R: int, seed: int):
        y, means = simulate_reps(cell, range(R), base_seed=seed)
        return y, means, suffstats_from_array(y, cell.sizes)

    return _simulate


@pytest.fixture(scope="session")
def summary_table(tmp_path_factory):
    """``summary_table(rows)``: a summary table as the study stores and reads it, from a few rows
    (dicts): every column of ``measures.SUMMARY_COLUMNS`` (NaN where the rows lack it), written
    to CSV as the tables are and read back by ``tables.summary_frame``."""
    import pandas as pd

    from shrinkstudy.evaluate.measures import SUMMARY_COLUMNS
    from shrinkstudy.report.tables import summary_frame

    def build(rows) -> pd.DataFrame:
        table = pd.DataFrame(rows).reindex(columns=list(SUMMARY_COLUMNS))
        path = tmp_path_factory.mktemp("tables") / "summary.csv"
        table.to_csv(path, index=False, float_format="%.10g")
        return summary_frame(path)

    return build
