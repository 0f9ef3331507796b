"""Command line: ``shrinkstudy fit`` fits the estimators to your own data, ``shrinkstudy replicate``
regenerates one replication of a study, ``shrinkstudy advise`` says which estimator suits
your data from a study calibrated to them (also ``python -m shrinkstudy ...``).

One module per command, each its arguments (``add_parser``) and what it does: ``fit``,
``replicate``, ``advise``. Beside them what they share: ``args`` (the parser, the options'
types, ``InputError``), ``read`` (the data file, in every format), ``rescale`` (extreme scales)
and ``fitting`` (the fit and the files it writes)."""

from __future__ import annotations

import argparse
import sys

from . import advise, fit, replicate
from .args import InputError, _Parser


__all__ = ["main", "InputError"]

#: The commands, in the order of ``shrinkstudy --help``.
COMMANDS = (fit, replicate, advise)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="shrinkstudy",
        description="Shrinkage estimators of group means in the one-way random-effects model.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of ``shrinkstudy`` and ``python -m shrinkstudy``; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2) and --help (0)
        return int(exc.code or 0)
    if args.command is None:
        print("shrinkstudy: error: choose a command: fit (see shrinkstudy --help)", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except InputError as exc:
        print(f"shrinkstudy: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
