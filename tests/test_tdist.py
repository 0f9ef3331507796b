"""The tabulated t CDF against scipy's stdtr."""

import numpy as np
import pytest
from scipy import special

from shrinkstudy.methods.tdist import TCdf, t_cdf


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


@pytest.mark.parametrize("df", [2, 5, 7, 30, 611, 4799, 1e6])
def test_cdf_pdf_pairs_the_table_with_its_derivative(df):
    """The Newton steps' density: the interpolant's derivative, within 2e-10 of the exact density
    (1e-6 relative where it exceeds 1e-4); the CDF is the table's own, bit for bit."""
    from scipy import stats

    T = TCdf(df)
    z = np.concatenate([np.linspace(-60, 60, 120_001), [1e12, -1e12, np.inf, -np.inf]])
    F, f = T.cdf_pdf(z)
    np.testing.assert_array_equal(F, T.cdf(z))
    exact = stats.t.pdf(z, df)
    assert np.max(np.abs(f - exact)) < 2e-10
    big = exact > 1e-4
    assert np.max(np.abs(f[big] / exact[big] - 1)) < 1e-6
    assert np.all(f >= 0) and np.all(f[-4:] < 1e-30) and np.array_equal(f[-2:], np.zeros(2))
    F_nan, f_nan = T.cdf_pdf(np.array([np.nan]))
    assert np.isnan(F_nan[0]) and np.isnan(f_nan[0])
