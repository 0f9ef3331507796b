"""How long ``shrinkstudy advise`` takes on a dataset of about 100 groups, from nothing and again.

``python -m benchmarks.advise_timing`` (``make advise-timing``) writes the long-form dataset of
``tests/data/make_clinics_unequal.py`` with ``--groups`` clinics (default 100: 3 to 500
patients each), then runs, back to back on this machine, the command a user types:

1. ``shrinkstudy advise DATA --group clinic --value score --out DIR`` from an empty DIR: the
   fit, the study file, the study's Snakemake jobs and the advice;
2. the same command again, which must run no job.

Each run's wall time, its CPU time (user and system, of the command and every process it
started) and the load average before it go to ``results/timing/advise.json``, with the
study's worlds, replications and jobs, the machine and the code. The README's figure for the
advice's running time is this file's (``make docs`` copies it to ``docs/advise-timing.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench import machine_info
from shrinkstudy.report.provenance import git_state

__all__ = ["main", "run_advise", "time_advise"]

ROOT = Path(__file__).resolve().parents[1]
MAKE_DATA = ROOT / "tests" / "data" / "make_clinics_unequal.py"


def run_advise(data: Path, out: Path, cores: int, log: Path) -> dict:
    """One ``advise`` call: wall and CPU seconds, the load average before it, the jobs it ran
    (its output to ``log``)."""
    cmd = [sys.executable, "-m", "shrinkstudy", "advise", str(data), "--group", "clinic", "--value", "score",
           "--out", str(out), "--cores", str(cores)]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, MPLBACKEND="Agg"))
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = res.stdout + res.stderr
    log.write_text(text)
    if res.returncode != 0:
        raise RuntimeError(f"advise failed (exit {res.returncode}):\n{text[-2000:]}")
    total = re.search(r"^total\s+(\d+)$", text, re.M)
    worlds = re.search(r"^study .*: (\d+) worlds, (\d+) replications each$", text, re.M)
    return {
        "worlds": int(worlds.group(1)) if worlds else None,
        "replications": int(worlds.group(2)) if worlds else None,
        "seconds": seconds,
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "load_before": load,
        "jobs": int(total.group(1)) if total else 0,
        "nothing_to_do": "Nothing to be done" in text,
    }


def time_advise(out_dir: Path, *, groups: int = 100, cores: int = 2) -> dict:
    """Steps 1-2 of the module docstring; returns (and writes to ``out_dir/advise.json``) the record."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / f"clinics{groups}.csv"
    subprocess.run([sys.executable, str(MAKE_DATA), "--groups", str(groups), "--out", str(data)], check=True)
    sizes = {}
    for row in data.read_text().splitlines()[1:]:
        g = row.split(",", 1)[0]
        sizes[g] = sizes.get(g, 0) + 1
    advice = out_dir / f"advise{groups}"
    shutil.rmtree(advice, ignore_errors=True)
    record = {
        "machine": machine_info(), "python": platform.python_version(), "cores": cores, "code": git_state(ROOT),
        "data": {"groups": len(sizes), "observations": sum(sizes.values()),
                 "smallest": min(sizes.values()), "largest": max(sizes.values())},
    }
    record["first"] = run_advise(data, advice, cores, out_dir / f"advise{groups}.first.log")
    print(f"first call: {record['first']['seconds']:.1f} s, {record['first']['jobs']} jobs", flush=True)
    record["again"] = run_advise(data, advice, cores, out_dir / f"advise{groups}.again.log")
    print(f"second call: {record['again']['seconds']:.1f} s, nothing to do: {record['again']['nothing_to_do']}")
    (out_dir / "advise.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.advise_timing", description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", type=int, default=100, help="clinics in the dataset (default 100)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "timing", help="where the runs and advise.json go")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args(argv)
    time_advise(args.out.resolve(), groups=args.groups, cores=args.cores)
    return 0


if __name__ == "__main__":
    sys.exit(main())
