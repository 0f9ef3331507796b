"""``python -m shrinkstudy``: the same command line as the ``shrinkstudy`` script."""

import sys

from .cli import main

sys.exit(main())
