"""shrinkstudy: simulation studies of shrinkage estimators of group means.

The library behind the workflow: study grid and seeding (``design``), data generation and
sufficient statistics (``simulate``), exact REML/ML variance components (``reml``), the
estimators (``estimators``, ``hierbayes``), performance measures with Monte Carlo standard
errors (``measures``), tables and figures.
"""

__version__ = "0.1.0"
