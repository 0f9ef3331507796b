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
        # Hermite coefficients per interval: F(s) = k0 + s (k1 + s (k2 + s k3)), s in [0, 1],
        # one contiguous array per power (np.take on 1-D arrays is the fastest gather)
        F0, F1 = F[:-1], F[1:]
        D0, D1 = D[:-1] * self.h, D[1:] * self.h
        self._k = (F0.copy(), D0.copy(), 3 * (F1 - F0) - 2 * D0 - D1, 2 * (F0 - F1) + D0 + D1)

    def pdf(self, z):
        z = np.asarray(z, dtype=float)
        return np.exp(self._logc - 0.5 * (self.df + 1) * np.log1p(z * z / self.df))

    def cdf(self, z):
        z = np.asarray(z, dtype=float)
        if self.exact:
            return special.stdtr(self.df, z)
        return self._interpolate(z, density=False)[0]

    def cdf_pdf(self, z):
        """CDF and density at ``z``, the density as the derivative of the interpolant.

        One table look-up for both, for Newton steps on t mixtures: the derivative of the cubic
        Hermite interpolant is within about 1e-9 (relative) of the exact density.
        """
        z = np.asarray(z, dtype=float)
        if self.exact:
            return special.stdtr(self.df, z), self.pdf(z)
        return self._interpolate(z, density=True)

    def _interpolate(self, z, density):
        shape = z.shape
        zc = np.clip(z.reshape(-1), -1e100, 1e100)  # the CDF is 0 or 1 to double precision beyond
        root = np.sqrt(self.c + zc * zc)
        u = zc / root
        t = (u + 1.0) / self.h
        with np.errstate(invalid="ignore"):  # NaN in: any index, and NaN out through s
            i = t.astype(np.int64)
        np.clip(i, 0, self.m - 1, out=i)
        s = t - i
        k0, k1, k2, k3 = (np.take(k, i) for k in self._k)
        cdf = k3 * s
        cdf += k2
        cdf *= s
        cdf += k1
        cdf *= s
        cdf += k0
        np.clip(cdf, 0.0, 1.0, out=cdf)
        if not density:
            return cdf.reshape(shape), None
        # dF/dz = dF/ds * ds/du * du/dz, with du/dz = c / (c + z^2)^(3/2)
        pdf = 3.0 * k3 * s
        pdf += 2.0 * k2
        pdf *= s
        pdf += k1
        pdf *= self.c / (self.h * root * root * root)
        np.maximum(pdf, 0.0, out=pdf)  # the interpolant may dip below 0 by 1e-250 in the tails
        return cdf.reshape(shape), pdf.reshape(shape)


@functools.lru_cache(maxsize=64)
def _table(df: float) -> TCdf:
    return TCdf(df)


def t_cdf(df: float, z):
    """CDF of the standard t distribution at ``z`` (any shape) for one ``df``."""
    return _table(float(df)).cdf(z)
