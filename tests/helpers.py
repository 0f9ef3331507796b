"""Plain helpers shared by the test modules (fixtures live in conftest.py): the simulate job's
tables, a fake row of the summary table, and Snakemake runs and their dry-run plans."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from shrinkstudy.evaluate.measures import SUMMARY_COLUMNS
from shrinkstudy.design.simulate import chunk_columns

#: the project (the Snakefile, src/, config/ ...)
ROOT = Path(__file__).resolve().parents[1]
#: the Snakemake of the environment that runs the tests
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def chunk_frames(cell, reps, base_seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The simulate job's two tables for replications ``reps`` of ``cell`` (``chunk_columns``,
    the columns it writes), as DataFrames: data (rep, group, y) and truth (rep, group, n, mean)."""
    data, truth = chunk_columns(cell, reps, base_seed)
    return pd.DataFrame(data), pd.DataFrame(truth)


def summary_row(cell, estimator: str, groups: str = "all", **values) -> dict:
    """A made-up row of the summary table: every column of ``measures.SUMMARY_COLUMNS``, NaN
    unless given, with the cell's parameters (``Cell.params()``), ``estimator`` and ``groups``,
    then ``values`` (reps, failures, level, the measures ...)."""
    row = {c: math.nan for c in SUMMARY_COLUMNS}
    row.update(cell.params())
    row.update(estimator=estimator, groups=groups)
    row.update(values)
    return row


def run_snakemake(project: Path, workdir: Path, *args, check: bool = True, env=None, timeout=None):
    """Run the Snakefile of ``project`` in ``workdir`` with ``args`` (figures drawn by Agg); with
    ``check``, a failed run fails the test with the end of its output."""
    cmd = [SNAKEMAKE, "-s", str(Path(project) / "Snakefile"), "-d", str(workdir), *args]
    env = dict(env or os.environ, MPLBACKEND="Agg")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and res.returncode != 0:
        said = f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        raise AssertionError(f"snakemake {' '.join(map(str, args))} failed:\n{said}")
    return res


_JOB = re.compile(r"(?:local)?(?:rule|checkpoint) (\w+):$")


def dry_run_jobs(dry_run: str) -> dict[str, list[str]]:
    """The jobs of a dry run's output (``snakemake -n``): rule -> one entry per job, its
    wildcards as Snakemake prints them ("" for a job without). Checkpoints count as rules (a
    dry run names them ``checkpoint plan:``)."""
    jobs: dict[str, list[str]] = {}
    current = None
    for line in dry_run.splitlines():
        line = line.strip()
        m = _JOB.match(line)
        if m:
            current = m.group(1)
            jobs.setdefault(current, []).append("")
        elif line.startswith("wildcards:") and current:
            jobs[current][-1] = line[len("wildcards:") :].strip()
    return jobs


def dry_run_outputs(dry_run: str) -> set[str]:
    """The output files of every job of a dry run's output."""
    outputs = set()
    for line in dry_run.splitlines():
        m = re.match(r"\s+output: (.*)", line)
        if m:
            outputs.update(p.strip() for p in m.group(1).split(","))
    return outputs
