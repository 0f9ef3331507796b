"""The ``fit`` command: fit the estimators to your own data.

Usage::

    shrinkstudy fit DATA.csv --out DIR [--group COL] [--value COL] [--dataset COL]
                    [--se COL] [--method REML|ML] [--level 0.95]
                    [--prior half_cauchy|uniform_shrinkage|uniform] [--prior-scale X] [--plot] [--jobs N]

(also ``python -m shrinkstudy fit ...``).

Two input forms:

* long (default): one row per observation, a group column (``--group``, default ``group``) and
  a value column (``--value``, default ``y``). ``--dataset COL`` fits every dataset of the file
  at once (vectorised, the same numbers as fitting each one alone).
* summary (``--se COL``): one row per group, the group's estimate (``--value``) and its known
  standard error; fitted with ``shrinkstudy.methods.engines.fit_meta`` (Rubin's eight schools).

Writes ``DIR/estimates.csv`` (one row per dataset and group: dataset, group, n or se, ybar,
every estimator's estimate and ``<name>_lower`` / ``<name>_upper`` for the interval
estimators; every number in the shortest form that reads back as the same double, a missing
one empty) and ``DIR/fit.json`` (settings, with the SHA-256 of each ``--estimator`` file,
package versions and, per dataset, mu, tau2,
sigma2, tau, sigma, the REML/ML criterion, boundary, method and engine). Without ``--dataset``
the dataset is named after the file.

Any finite data fit, whatever their units: a dataset whose spread (summary form: standard
errors and spread of the estimates) lies outside 2^-100 .. 2^100 is divided by a power of two
(exactly; at most by 2^1023) before the fit, and its answers are scaled back; tau2 and sigma2
are null where they leave the float range (data beyond about 1e+-154). Data within that range
are fitted as given. Standard errors too far apart for double precision (e.g. 1e-300 beside 10),
and data whose estimates, interval bounds, mu, tau or sigma would exceed the largest double
(values near +-1.8e308), are refused; a user's estimator whose answers would is counted as
failing on that dataset.

Bad input (a missing, unreadable or empty file, a directory, a file without data rows, a
missing column, a column name twice in the header or among a Parquet file's columns, a row with
more fields than the header, text in a numeric column, a missing or infinite value, a single
group, an ``--out`` it cannot write in or where an output would overwrite the input ...) gives
one line on stderr naming the file, line and column, and exit status 2, and writes nothing.

DATA must be a regular file: read typed by Arrow, without pandas (``_read_typed``), and where
that meets something irregular, again by the text reader, which names the line of a problem.
From ``2 * workers.MIN_ROWS`` datasets the long form is fitted on ``--jobs`` threads (default:
one per usable core; ``workers``), with the same bytes written. The outputs are written under
temporary names and renamed once all are written: a failed write leaves none of them.

``--plot`` calls ``shrinkstudy.report.figures.seed_figure1(estimates=<the estimates.csv DataFrame>,
fit=<the fit.json dict>, out=DIR/"figure1.png")`` after the fit; without that function the
command stops with exit status 2 before fitting.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .args import _jobs, _level, _positive_float
from .fitting import (
    _check_not_input,
    _check_out,
    _fit_json,
    _read_and_fit,
    _seed_figure1,
    _versions,
    _write_csv,
    _write_outputs,
)


def _estimators_help() -> str:
    """The registry's estimators, one line each, for ``fit --help``."""
    from ..methods.registry import BUILTIN

    lines = ["estimators:"]
    for e in BUILTIN:
        if "truth" in e.needs:
            continue
        forms = ["long"] + (["known SE"] if e.known_se is not None else [])
        lines.append(f"  {e.name:<12} {e.description} [{', '.join(forms)}]")
    return "\n".join(lines)


def add_parser(sub) -> None:
    """The ``fit`` command's arguments, among the subcommands ``sub``."""
    fit = sub.add_parser(
        "fit",
        help="fit every estimator to a CSV file of your own data",
        description=(
            "Fit every estimator that applies (below; the summary form, --se, has those marked "
            "'known SE') to DATA and write DIR/estimates.csv and DIR/fit.json."
        ),
        epilog=_estimators_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("data", metavar="DATA.csv", help="CSV file with a header row")
    fit.add_argument("--out", required=True, metavar="DIR", help="output directory (created if needed)")
    fit.add_argument("--group", default="group", metavar="COL", help="group column (default: group)")
    fit.add_argument(
        "--value",
        default="y",
        metavar="COL",
        help="observation (or, with --se, estimate) column (default: y)",
    )
    fit.add_argument(
        "--dataset", metavar="COL", help="dataset column: fit every dataset of the file, each on its own"
    )
    fit.add_argument(
        "--se",
        metavar="COL",
        help="summary form: one row per group, COL holds the known standard error of the estimate",
    )
    fit.add_argument(
        "--method", choices=("REML", "ML"), default="REML", help="variance components (default: REML)"
    )
    fit.add_argument("--level", type=_level, default=0.95, help="interval level (default: 0.95)")
    fit.add_argument(
        "--prior",
        choices=("half_cauchy", "uniform_shrinkage", "uniform"),
        help=(
            "hier_bayes prior. Long form: half_cauchy (default; tau/sigma ~ half-Cauchy(0, scale)) or "
            "uniform_shrinkage. Summary form: uniform (default; flat on tau, BDA3), half_cauchy "
            "(tau ~ half-Cauchy(0, scale), scale in units of the estimates, needs --prior-scale) or "
            "uniform_shrinkage"
        ),
    )
    fit.add_argument(
        "--prior-scale", type=_positive_float, metavar="X", help="half-Cauchy scale (long form default: 1)"
    )
    fit.add_argument(
        "--estimator",
        action="append",
        default=[],
        metavar="SPEC",
        help=(
            "also fit your own estimator, 'file.py:function' or 'module:function' (repeatable; "
            "the contract: python -c 'help(\"shrinkstudy.plugins\")')"
        ),
    )
    fit.add_argument(
        "--time-limit",
        type=_positive_float,
        metavar="SECONDS",
        help=(
            "stop each of your own estimators after this many seconds on the file's datasets; the "
            "datasets it has not finished are its failures (default: 600)"
        ),
    )
    fit.add_argument(
        "--plot", action="store_true", help="also draw DIR/figure1.png (needs shrinkstudy.report.figures)"
    )
    fit.add_argument(
        "--jobs",
        type=_jobs,
        metavar="N",
        help=(
            "threads that share the datasets of a long-form file, from a thousand datasets "
            "(default: one per usable core). The results do not depend on it"
        ),
    )
    fit.set_defaults(func=run)


def run(args) -> int:
    path = Path(args.data)
    plot = _seed_figure1() if args.plot else None
    out = Path(args.out)
    _check_not_input(out, path, ("estimates.csv", "fit.json", "figure1.png"))
    _check_out(out)
    table, records, settings = _read_and_fit(args, path)
    meta = {
        "command": "shrinkstudy fit",
        "input": path.name,
        **settings,
        "method": args.method,
        "level": args.level,
        "versions": _versions(),
        "datasets": records,
    }
    written = _write_outputs(
        out,
        {
            "estimates.csv": lambda p: _write_csv(table, p),
            "fit.json": lambda p: p.write_text(_fit_json(meta)),
        },
    )
    if plot is not None:
        import pandas as pd

        fig = out / "figure1.png"
        plot(estimates=pd.DataFrame(table), fit=meta, out=fig)
        written.append(fig)
    n_ds = len(records)
    n_rows = len(next(iter(table.values())))
    print(
        f"fitted {n_ds} dataset{'s' if n_ds != 1 else ''} ({n_rows} groups); wrote "
        + ", ".join(str(p) for p in written)
    )
    return 0
