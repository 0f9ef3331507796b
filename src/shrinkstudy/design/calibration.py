"""The design of a study calibrated to a dataset (``shrinkstudy advise``): what the study takes
from the data's fit (``Calibration``: the data's group sizes or standard errors, the REML fit,
the interval for tau and the NPMLE), the worlds it simulates (``WORLDS``) and the design keys of
its grid blocks (``design_block``). The fit is ``study.advise``'s, and so is the study file; the
advice read from the study's summary is ``report.advice``'s."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .cells import sizes_label
from .worlds import Pmf

__all__ = ["DIGITS", "LEVEL", "PMF_DIGITS", "WORLDS", "Calibration", "design_block", "round_digits"]

#: Significant digits of mu, sigma and tau in the study file (and its cell names).
DIGITS = 4
#: Significant digits of the NPMLE's atoms and weights in the study file.
PMF_DIGITS = 6
#: Level of the interval for tau.
LEVEL = 0.95
#: The worlds: grid block, effects distribution, and how advice.md names them.
WORLDS = (
    ("normal", "normal", "normal effects"),
    ("t", "t", "t effects (3 df: heavy tails)"),
    ("npmle", "discrete", "effects drawn from the data's NPMLE"),
)


def round_digits(x: float, digits: int) -> float:
    """``x`` to ``digits`` significant digits, as the study file writes it (never -0.0)."""
    return float(f"{float(x):.{digits}g}") + 0.0


@dataclass(frozen=True)
class Calibration:
    """What the study takes from the data: its design (``sizes``, long form; ``ses``, the
    known-SE form, ascending, with ``sizes`` empty and ``sigma`` NaN), the REML fit, the
    interval for tau (``zero_inside``: it holds 0) and the NPMLE's atoms and weights."""

    sizes: tuple[int, ...]
    mu: float
    sigma: float
    tau: float
    tau_lower: float
    tau_upper: float
    zero_inside: bool
    atoms: tuple[float, ...]
    weights: tuple[float, ...]
    ses: tuple[float, ...] | None = None

    @property
    def known_se(self) -> bool:
        return self.ses is not None

    @property
    def J(self) -> int:
        return len(self.ses) if self.known_se else len(self.sizes)

    @property
    def N(self) -> int:
        """Observations (known-SE form: estimates, one per group)."""
        return self.J if self.known_se else int(sum(self.sizes))

    def study_ses(self) -> list[float]:
        """The standard errors as the study file writes them (``DIGITS`` significant digits)."""
        return [round_digits(s, DIGITS) for s in self.ses]

    def equal_ses(self) -> bool:
        """Every standard error the same, as the study writes them (James-Stein applies)."""
        return self.known_se and len(set(self.study_ses())) == 1

    def se_range(self) -> str:
        """The standard errors as the advice and the study's aims state them."""
        ses = self.study_ses()
        return f"all {ses[0]:g}" if self.equal_ses() else f"{min(ses):g} to {max(ses):g}"

    def taus(self) -> dict[float, str]:
        """The study's values of tau (rounded to ``DIGITS``), ascending, each with its role."""
        roles: dict[float, str] = {}
        for value, role in (
            (self.tau_lower, "the lower end of its 95% interval"),
            (self.tau, "the fit"),
            (self.tau_upper, "the upper end of its 95% interval"),
        ):
            v = round_digits(value, DIGITS)
            roles[v] = f"{roles[v]} and {role}" if v in roles else role
        return dict(sorted(roles.items()))

    def pmf(self):
        """The NPMLE as ``worlds.Pmf`` (atoms and weights rounded), or None when it has a single
        atom (the data look like tau = 0: no shape of their own)."""
        if len(self.atoms) < 2:
            return None
        w = [round_digits(x, PMF_DIGITS) for x in self.weights]
        try:
            return Pmf.of({"atoms": [round_digits(a, PMF_DIGITS) for a in self.atoms], "weights": w})
        except ValueError:
            return None

    @classmethod
    def from_fit(cls, vc, ti, fit, scale: float, **design) -> Calibration:
        """A ``Calibration`` of one dataset's REML fit ``vc``, interval ``ti`` and NPMLE ``fit``
        (of data divided by ``scale``; scaled back here) and its ``design`` (sizes and sigma, or ses)."""
        keep = np.isfinite(fit.atoms[0]) & (fit.weights[0] > 0)
        atoms, weights = fit.atoms[0][keep] * scale, fit.weights[0][keep]
        return cls(
            mu=float(vc.mu[0]) * scale,
            tau=math.sqrt(float(vc.tau2[0])) * scale,
            tau_lower=0.0 if bool(ti.zero_inside[0]) else float(ti.lower[0]) * scale,
            tau_upper=float(ti.upper[0]) * scale,
            zero_inside=bool(ti.zero_inside[0]),
            atoms=tuple(float(a) for a in atoms),
            weights=tuple(float(w) for w in weights / weights.sum()),
            **design,
        )


def design_block(cal: Calibration) -> dict:
    """The design keys of every grid block: the data's group sizes and sigma at its fit, or in
    the known-SE form its standard errors (``ses``, one design)."""
    if cal.known_se:
        return {"ses": [cal.study_ses()]}

    balanced = {"J": [cal.J]} if len(set(cal.sizes)) == 1 else {}  # a balanced label needs J
    return {**balanced, "sizes": [sizes_label(cal.sizes)], "sigma": [round_digits(cal.sigma, DIGITS)]}
