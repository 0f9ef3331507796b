"""The ``replicate`` command: regenerate one replication of a study and fit every estimator to it,
the numbers the study stored for it."""

from __future__ import annotations

from pathlib import Path

from .args import InputError
from .fitting import _check_out, _write_outputs


def add_parser(sub) -> None:
    """The ``replicate`` command's arguments, among the subcommands ``sub``."""
    rep = sub.add_parser(
        "replicate",
        help="regenerate one replication of a study and fit every estimator to it",
        description=(
            "Regenerate replication REP of cell CELL of a study (its dataset, written as CSV), fit "
            "every estimator of the study to it and print the estimates and losses: the numbers "
            "the study stored for it."
        ),
    )
    rep.add_argument("cell", metavar="CELL", help="cell name, e.g. J12_n100x6+2x6_sigma5_tau1_mu0")
    rep.add_argument("rep", metavar="REP", type=int, help="replication index (0-based)")
    rep.add_argument(
        "--config",
        action="append",
        metavar="FILE",
        help="the study's config file, as given to snakemake --configfile (repeatable; default: the "
        "project's config/config.yaml)",
    )
    rep.add_argument(
        "--out", default="replicate", metavar="DIR", help="where the dataset and tables go (default: replicate/)"
    )
    rep.set_defaults(func=run)


def run(args) -> int:
    import pandas as pd

    from ..config import PROJECT, load_study, study_config
    from ..design.cells import ConfigError
    from ..study.fit import replicate
    from ..store.smkio import DamagedFile

    # the project: this directory when it holds the workflow, else the one of this installation
    root = Path.cwd() if (Path.cwd() / "Snakefile").is_file() else PROJECT
    try:
        study = load_study(study_config(args.config or ()), root=root)
    except ConfigError as exc:
        raise InputError(f"config: {exc}") from None
    out = Path(args.out)
    _check_out(out)
    try:
        res = replicate(study, args.cell, args.rep, root, workdir=Path.cwd())
    except (KeyError, IndexError) as exc:
        raise InputError(str(exc.args[0])) from None
    except DamagedFile as exc:  # a precision study's plan of the cell
        raise InputError(
            f"{exc.path}: {exc.reason}; delete it and run the study again (its plan job writes it anew)"
        ) from None
    stem = f"{res.cell.name}_rep{res.rep}"
    written = _write_outputs(
        out,
        {
            f"{stem}.csv": lambda p: res.data.to_csv(p, index=False),
            f"{stem}.estimates.csv": lambda p: res.estimates.to_csv(p, index=False, float_format="%.17g"),
            f"{stem}.losses.csv": lambda p: res.losses.to_csv(p, index=False, float_format="%.17g"),
        },
    )
    vc = res.varcomp.iloc[0]
    with pd.option_context("display.width", 160, "display.max_columns", 40, "display.precision", 6):
        print(f"cell {res.cell.name}, replication {res.rep} (seed {study.config['base_seed']})")
        print(
            f"variance components ({study.config['method']}): mu {vc['mu']:.6g}, tau2 {vc['tau2']:.6g}, "
            f"sigma2 {vc['sigma2']:.6g}, boundary {bool(vc['boundary'])}"
        )
        print("\nestimates of the group means:")
        print(res.estimates.to_string(index=False))
        print("\nlosses (mean over the groups):")
        print(res.losses.drop(columns="rep").to_string(index=False))
    print("\nwrote " + ", ".join(str(p) for p in written))
    return 0
