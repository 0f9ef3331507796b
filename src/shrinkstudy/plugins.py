"""The plugin contract (see ``shrinkstudy.methods.plugins``): write your own estimator as
``from shrinkstudy.plugins import Estimate``.

This name stays the public one; the code lives in ``shrinkstudy.methods.plugins``."""

from .methods.plugins import *  # noqa: F401,F403
from .methods.plugins import __all__, __doc__  # noqa: F401
