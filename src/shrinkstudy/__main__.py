"""``python -m shrinkstudy``: the same command line as the ``shrinkstudy`` script."""

import os
import sys


def run() -> int:
    """The ``shrinkstudy`` command, with one BLAS thread unless the environment says otherwise.

    The command's linear algebra is small products (the REML grid of a few thousand datasets);
    OpenBLAS's extra threads gain nothing there and keep spinning after each product, taking
    the cores the command's own threads (``--jobs``) need: 0.4 s of CPU on the 5,000-dataset
    file. The setting must precede numpy's import, so it is made here, not in ``cli``.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from .cli import main

    return main()


if __name__ == "__main__":
    sys.exit(run())
