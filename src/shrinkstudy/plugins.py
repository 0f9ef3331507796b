"""Your own estimator: the contract, and how it joins the study (``help("shrinkstudy.plugins")``).

The public name of ``shrinkstudy.methods.plugins``, with what an estimator is handed: write a
user's estimator file as ``from shrinkstudy.plugins import Estimate, SuffStats, VarComp``."""

from .design.simulate import SuffStats
from .methods.plugins import *  # noqa: F401,F403
from .methods.plugins import __all__ as _CONTRACT
from .methods.plugins import __doc__  # noqa: F401
from .methods.reml import VarComp

__all__ = [*_CONTRACT, "SuffStats", "VarComp"]
