"""The tabulated t CDF against scipy's stdtr."""

import numpy as np
import pytest
from scipy import special

from shrinkstudy.tdist import TCdf, t_cdf


@pytest.mark.parametrize("df", [1, 2, 4, 5, 6, 7, 11, 29, 30, 31, 99, 611, 4799, 1e6])
def test_table_matches_stdtr(df):
    rng = np.random.default_rng(int(df) % 1000)
    z = np.concatenate(
        [
            rng.standard_t(df, 100_000) * rng.uniform(0.1, 3.0, 100_000),
            np.linspace(-300, 300, 30_001),
            [0.0, 1e12, -1e12, np.inf, -np.inf],
        ]
    )
    got = t_cdf(df, z)
    want = special.stdtr(df, z)
    assert np.max(np.abs(got - want)) < (1e-10 if df == 5 else 1e-12)
    assert np.all((got >= 0) & (got <= 1))


def test_pdf_and_shape():
    T = TCdf(12)
    z = np.linspace(-8, 8, 99).reshape(3, 33)
    from scipy import stats

    np.testing.assert_allclose(T.pdf(z), stats.t.pdf(z, 12), rtol=1e-13)
    assert T.cdf(z).shape == z.shape
    assert np.isnan(T.cdf(np.array([np.nan])))[0]
