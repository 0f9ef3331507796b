"""Fast Student-t distribution function for many evaluations at one degrees of freedom.

The hierarchical-Bayes intervals need the CDF of t mixtures at millions of points, all with the
same degrees of freedom (N - 1 of a dataset). ``scipy.special.stdtr`` costs about 250 ns a value;
``TCdf`` tabulates the CDF once per degrees of freedom and interpolates it by piecewise cubic
Hermite polynomials (values and exact derivatives at the nodes) in the variable

    u = z / sqrt(c + z^2),   c = min(df, 30),   u in (-1, 1),

which maps the whole real line, heavy tails included, onto a bounded interval on which the CDF is
smooth. With 4,096 intervals the interpolation error is below 1e-12 everywhere for df >= 5
(checked against ``stdtr`` in the tests); for df < 5 ``stdtr`` itself is used.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special

__all__ = ["TCdf", "t_cdf"]

_INTERVALS = 4096


class TCdf:
    """CDF and density of the standard t distribution with ``df`` degrees of freedom."""

    def __init__(self, df: float, intervals: int = _INTERVALS):
        self.df = float(df)
        self.exact = self.df < 5
        self._logc = special.gammaln((self.df + 1) / 2) - special.gammaln(self.df / 2) - 0.5 * np.log(self.df * np.pi)
        if self.exact:
            return
        self.c = min(self.df, 30.0)
        self.m = intervals
        self.h = 2.0 / intervals
        u = np.linspace(-1.0, 1.0, intervals + 1)
        inner = u[1:-1]
        z = inner * np.sqrt(self.c / (1.0 - inner * inner))
        F = np.empty(intervals + 1)
        D = np.zeros(intervals + 1)
        F[0], F[-1] = 0.0, 1.0
        F[1:-1] = special.stdtr(self.df, z)
        dz_du = np.sqrt(self.c) * (1.0 - inner * inner) ** -1.5
        D[1:-1] = self.pdf(z) * dz_du
        # Hermite coefficients per interval: F(s) = a + s (b + s (c2 + s d)), s in [0, 1]
        F0, F1 = F[:-1], F[1:]
        D0, D1 = D[:-1] * self.h, D[1:] * self.h
        self._coef = np.ascontiguousarray(
            np.stack([F0, D0, 3 * (F1 - F0) - 2 * D0 - D1, 2 * (F0 - F1) + D0 + D1], axis=1)
        )

    def pdf(self, z):
        z = np.asarray(z, dtype=float)
        return np.exp(self._logc - 0.5 * (self.df + 1) * np.log1p(z * z / self.df))

    def cdf(self, z):
        z = np.asarray(z, dtype=float)
        if self.exact:
            return special.stdtr(self.df, z)
        zc = np.clip(z, -1e100, 1e100)  # the CDF is 0 or 1 to double precision beyond
        u = zc / np.sqrt(self.c + zc * zc)
        t = (u + 1.0) / self.h
        i = np.minimum(np.nan_to_num(t).astype(np.int64), self.m - 1)  # NaN in, NaN out (below)
        np.maximum(i, 0, out=i)
        s = t - i
        k = self._coef[i]  # one gather of the four coefficients
        out = k[..., 0] + s * (k[..., 1] + s * (k[..., 2] + s * k[..., 3]))
        np.clip(out, 0.0, 1.0, out=out)
        return np.where(np.isnan(z), np.nan, out)


@functools.lru_cache(maxsize=64)
def _table(df: float) -> TCdf:
    return TCdf(df)


def t_cdf(df: float, z):
    """CDF of the standard t distribution at ``z`` (any shape) for one ``df``."""
    return _table(float(df)).cdf(z)
