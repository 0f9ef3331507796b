"""``shrinkstudy advise``: which estimator for my data, answered by a study calibrated to it.

Usage::

    shrinkstudy advise DATA [--group G --value Y] [--out DIR] [--replications R]
                            [--estimator SPEC ...] [--cores N]
    shrinkstudy advise DATA --value Y --se SE [--group G] [...]   # one estimate and known SE per group

1. Reads and fits DATA as ``shrinkstudy fit`` does (the same readers and checks: bad input is
   one line and exit status 2, and nothing is written): REML mu, sigma and tau, the 95% profile
   likelihood interval for tau (``reml.tau_interval``) and the NPMLE of the group means
   (``ebayes.npmle``): ``study.advise.calibrate_long``. The known-SE form (``--se``, read by ``cli.fitting.summary_data`` as ``fit --se``
   reads it): REML mu and tau with known standard errors (``knownse.fit_meta_varcomp``), the
   interval of ``knownse.meta_tau_interval`` and the NPMLE of the y_j with their s_j
   (``ebayes.npmle_fit``): ``study.advise.calibrate_known_se``.
2. Writes ``DIR/study.yaml`` (``study.advise.study_config``), a study like any other (``make study
   CONFIG=DIR/study.yaml`` reruns it): the data's own group sizes and sigma at the fit (known-SE
   form: a block's ``ses``, the data's standard errors in ascending order); mu at the fit; tau at
   the ends of its interval and at the fit (0 when the data cannot rule it out: the study grid
   allows tau = 0); effects normal, t (``worlds``' ``t``, 3 degrees of freedom) and drawn from
   the NPMLE of the data (``discrete``); every built-in estimator that applies and the user's
   own (known-SE form: the built-ins with a known-SE form, James-Stein when every standard error
   is equal; a user's estimator has no such form and is refused). The file is written only
   when its text changes, so the same data run no job again.
3. Runs it through the project's Snakemake workflow, up to its summary table, showing progress.
4. Writes ``DIR/advice.md``, ``DIR/advice.html`` (the same, with the figure embedded) and
   ``DIR/advice.png`` (relative MSE by world and estimator, +-2 MCSE), every number of the
   worlds read from the study's ``summary.csv`` (``tables.read_summary``): ``report.advice``,
   which also says what "best within Monte Carlo error" means.

This module is the command: its arguments, the output directory and the run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

__all__ = ["add_parser", "command"]


def add_parser(sub) -> None:
    """Register ``advise`` among the subcommands ``sub`` of the ``shrinkstudy`` parser."""
    from .args import _jobs
    from ..design.calibration import LEVEL
    from ..study.advise import DEFAULT_REPLICATIONS

    p = sub.add_parser(
        "advise",
        help="which estimator for your data: a study calibrated to it, run and summarised",
        description=(
            "Fit DATA (long form, or with --se one estimate and its known standard error per group) as "
            "'fit' does, write DIR/study.yaml (a study of the data's design "
            "at its fit and across the uncertainty of tau), run it through the workflow and write "
            "DIR/advice.md, DIR/advice.html and DIR/advice.png."
        ),
    )
    p.add_argument(
        "data", metavar="DATA", help="CSV or Parquet file, one row per observation (with --se: per group)"
    )
    p.add_argument("--group", default="group", metavar="COL", help="group column (default: group)")
    p.add_argument(
        "--value", default="y", metavar="COL", help="observation (with --se, estimate) column (default: y)"
    )
    p.add_argument(
        "--se", metavar="COL", help="known-SE form: the column of each group's known standard error"
    )
    p.add_argument(
        "--out", metavar="DIR", help="output directory inside the project (default: advice/<DATA's stem>)"
    )
    p.add_argument(
        "--replications",
        type=_replications,
        default=DEFAULT_REPLICATIONS,
        metavar="R",
        help=f"replications per world (default: {DEFAULT_REPLICATIONS})",
    )
    p.add_argument(
        "--estimator",
        action="append",
        default=[],
        metavar="SPEC",
        help="also study your own estimator, 'file.py:function' or 'module:function' inside the project",
    )
    p.add_argument("--cores", type=_jobs, metavar="N", help="cores of the study (default: every usable one)")
    # the settings of 'fit' that advise keeps at their defaults (its readers take them)
    p.set_defaults(
        func=command, dataset=None, method="REML", level=LEVEL, prior=None, prior_scale=None, time_limit=None
    )


def _replications(text):
    import argparse

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 2:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 2")
    return v


def _out_dir(args, path: Path, project: Path) -> Path:
    """The output directory, checked to lie inside the project (the study runs there) and to
    name a results directory the study's checks accept."""
    from .args import InputError

    if args.out is None:
        stem = re.sub(r"[^\w.+-]", "_", path.stem) or "data"
        return project / "advice" / stem
    out = Path(args.out).resolve()
    try:
        out.relative_to(project)
    except ValueError:
        raise InputError(f"--out {args.out}: must be a directory inside the project {project}") from None
    return out


def _user_specs(specs, project: Path) -> list[str]:
    """The --estimator specs as the study file names them: a file relative to the project."""
    from .args import InputError
    from ..methods.plugins import _is_file

    out = []
    for spec in specs:
        target, sep, fn = str(spec).rpartition(":")
        if not sep:
            raise InputError(f"--estimator {spec}: write it 'file.py:function' or 'module:function'")
        if _is_file(target):
            file = Path(target).resolve()
            try:
                target = file.relative_to(project).as_posix()
            except ValueError:
                raise InputError(f"--estimator {spec}: {file} is not inside the project {project}") from None
        out.append(f"{target}:{fn}")
    return out


def _known_se_users(args) -> None:
    """Refuse (one line) an --estimator without a known-SE form: the study's cells of known
    standard errors could not fit it (a user's estimator takes the long form's statistics)."""
    from .args import InputError
    from .fitting import _user_estimators

    for spec, entry in zip(args.estimator, _user_estimators(args), strict=True):
        if entry.known_se is None:
            raise InputError(
                f"--estimator {spec}: has no known-SE form, so the study of estimates with known "
                "standard errors (--se) cannot fit it; leave it out, or give the observations"
            )


def _snakemake(project: Path, study: Path, target: str, cores: int) -> int:
    """Run the workflow on ``study`` up to ``target`` (progress on this terminal); its status."""
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "snakemake"]
    cmd += [target, "--snakefile", str(project / "Snakefile"), "--directory", str(project)]
    cmd += ["--configfile", str(study), "--cores", str(cores), "--quiet", "rules", "host"]
    env = dict(os.environ, MPLBACKEND="Agg")
    src = str(project / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    sys.stdout.flush()
    return subprocess.run(cmd, cwd=project, env=env).returncode


def command(args) -> int:
    """``shrinkstudy advise``: see the module's docstring."""
    from .args import InputError
    from .fitting import _check_not_input, _check_out, _read_and_fit, _write_outputs, long_data, summary_data
    from ..report.advice import advice_figure, advice_html, advice_markdown
    from ..study.advise import NotCalibrated, calibrate_known_se, calibrate_long, study_config, study_text
    from ..config import PROJECT, load_study
    from ..design.cells import ConfigError
    from ..methods.workers import usable_cores

    path = Path(args.data)
    project = PROJECT.resolve()
    out = _out_dir(args, path, project)
    names = ("study.yaml", "advice.md", "advice.html", "advice.png")
    _check_not_input(out, path, names)
    _check_out(out)
    try:
        if args.se is not None:
            _known_se_users(args)
            cal = calibrate_known_se(_read_and_fit(args, path, fit=summary_data))
        else:
            cal = calibrate_long(_read_and_fit(args, path, fit=long_data))
    except NotCalibrated as exc:
        raise InputError(str(exc)) from None
    rel = out.relative_to(project).as_posix()
    config = study_config(
        cal,
        name=path.name,
        results=f"{rel}/study",
        replications=args.replications,
        users=_user_specs(args.estimator, project),
    )
    try:
        checked = load_study(config, cwd=project, root=project)
    except ConfigError as exc:
        raise InputError(f"{path}: the study of these data cannot run: {exc}") from None
    text = study_text(config)
    study = out / "study.yaml"
    if not (study.is_file() and study.read_text() == text):  # unchanged: not rewritten
        _write_outputs(out, {"study.yaml": lambda p: p.write_text(text)})
    print(f"study {study}: {len(checked.cells)} worlds, {args.replications} replications each")
    summary_path = f"{rel}/study/tables/summary.csv"
    status = _snakemake(project, study, summary_path, args.cores or usable_cores())
    if status != 0:
        print(f"shrinkstudy: error: the study {study} stopped (snakemake exit status {status})", file=sys.stderr)
        return 1
    from ..report.tables import read_summary

    summary = read_summary(project / summary_path)
    md = advice_markdown(summary, cal, data_name=path.name, study_file=f"{rel}/study.yaml", figure="advice.png")
    png = advice_figure(summary)
    written = _write_outputs(
        out,
        {
            "advice.md": lambda p: p.write_text(md),
            "advice.png": lambda p: p.write_bytes(png),
            "advice.html": lambda p: p.write_text(advice_html(md, png)),
        },
    )
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
