"""How long the study takes from nothing, and how long one changed setting takes after it.

``python -m benchmarks.timing`` (``make timing``) runs, back to back on this machine:

1. the study (the default config, or ``--config FILE``) from an empty results directory;
2. the same study with one more cell: one more sigma (``--add-sigma``, default 10) in the block
   that holds the seed example's design, on top of the finished run of step 1;
3. with ``--verify``, the grown study (the same config file) from an empty results directory,
   and a byte comparison of every table, figure, report page and seed-example file of steps 2
   and 3 (step 2's results kept in ``study_one_cell``).

Each step's wall time, the jobs it ran (per rule) and the ratio of step 2 to step 1 go to
``results/timing/timing.json`` (the runs themselves under ``results/timing/``). The README's
running times are this file's numbers.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

from benchmarks.bench import machine_info
from shrinkstudy.report.provenance import git_state
from shrinkstudy.config import DEFAULT_CONFIG, read_config_file

__all__ = ["grown_config", "main", "rule_times", "run_timing"]

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ("tables", "figures", "report", "seed", "protocol.md")


def grown_config(config: dict, add_sigma: float) -> tuple[dict, str]:
    """``config`` with ``add_sigma`` added to the sigmas of the block that holds the seed
    example's design (the block named ``seed`` when there is one); returns it and the block."""
    grown = copy.deepcopy(config)
    design = str(grown.get("seed_example", {}).get("sizes", ""))
    blocks = grown["grid"]
    name = "seed" if "seed" in blocks else next(
        (b for b, spec in blocks.items() if design and design in [str(s) for s in spec.get("sizes", [])]),
        next(iter(blocks)),
    )
    sigmas = list(blocks[name]["sigma"])
    if add_sigma in sigmas:
        raise ValueError(f"sigma {add_sigma} is already in grid.{name}.sigma: choose another with --add-sigma")
    blocks[name]["sigma"] = sigmas + [add_sigma]
    return grown, name


def _snakemake(config: Path, cores: int, log: Path) -> dict:
    """Run the workflow on ``config``; its wall time and the jobs it ran, per rule."""
    cmd = [str(Path(sys.executable).with_name("snakemake")), "-s", str(ROOT / "Snakefile"), "-d", str(ROOT),
           "--cores", str(cores), "--configfile", str(config)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, MPLBACKEND="Agg"))
    seconds = time.perf_counter() - t0
    log.write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        raise RuntimeError(f"snakemake failed on {config} (log: {log})")
    jobs = Counter(m.group(1) for m in re.finditer(r"^(?:local)?rule (\w+):$", res.stdout + res.stderr, re.M))
    jobs.pop("all", None)
    return {"seconds": seconds, "jobs": dict(sorted(jobs.items())), "job_count": sum(jobs.values())}


def rule_times(results: Path) -> dict:
    """Per rule, from the benchmark files of a run (``results/benchmarks/``): jobs, total, mean
    and largest wall seconds, and the job of the largest."""
    out: dict[str, dict] = {}
    bench = results / "benchmarks"
    for path in sorted(bench.rglob("*.tsv")):
        parts = path.relative_to(bench).parts
        rule = path.stem if parts[0] == "figures" or len(parts) == 1 else parts[0]
        seconds = float(path.read_text().splitlines()[1].split("\t")[0])
        r = out.setdefault(rule, {"jobs": 0, "total": 0.0, "max": 0.0, "max_job": ""})
        r["jobs"] += 1
        r["total"] += seconds
        if seconds > r["max"]:
            r["max"], r["max_job"] = seconds, "/".join(parts[1:-1]) or rule
    for r in out.values():
        r["mean"] = r["total"] / r["jobs"]
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["total"]))


def _outputs(results: Path) -> dict[str, bytes]:
    out = {}
    for top in OUTPUTS:
        base = results / top
        paths = [base] if base.is_file() else [p for p in sorted(base.rglob("*")) if p.is_file()]
        for p in paths:
            if ".cache" not in p.parts:
                out[p.relative_to(results).as_posix()] = p.read_bytes()
    return out


def _shown(path: Path) -> str:
    """``path`` relative to the project when inside it (as a command line there names it)."""
    path = Path(path).resolve()
    return os.path.relpath(path, ROOT) if path.is_relative_to(ROOT) else str(path)


def run_timing(config_file: Path, out_dir: Path, *, add_sigma: float = 10.0, cores: int = 2,
               verify: bool = False) -> dict:
    """Steps 1-3 of the module docstring; returns (and writes to ``out_dir/timing.json``) the record."""
    config = read_config_file(config_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    grown, block = grown_config(config, add_sigma)
    record = {"machine": machine_info(), "python": platform.python_version(), "config": _shown(config_file),
              "added": {"block": block, "sigma": add_sigma}, "cores": cores, "code": git_state(ROOT)}
    results = out_dir / "study"
    where = _shown(results)
    files = {}
    for step, cfg in (("full", config), ("one_cell", grown)):
        files[step] = out_dir / f"{step}.yaml"
        files[step].write_text(yaml.safe_dump({**cfg, "results": where}, sort_keys=False))
    shutil.rmtree(results, ignore_errors=True)
    for step in ("full", "one_cell"):
        record[step] = _snakemake(files[step], cores, out_dir / f"{step}.log")
        if step == "full":
            record["full"]["rules"] = rule_times(results)
        print(f"{step}: {record[step]['seconds']:.1f} s, {record[step]['job_count']} jobs", flush=True)
    record["one_cell_over_full"] = record["one_cell"]["seconds"] / record["full"]["seconds"]
    if verify:  # the same config file, from an empty results directory
        kept = out_dir / "study_one_cell"
        shutil.rmtree(kept, ignore_errors=True)
        results.rename(kept)
        record["grown_full"] = _snakemake(files["one_cell"], cores, out_dir / "grown_full.log")
        print(f"grown_full: {record['grown_full']['seconds']:.1f} s, {record['grown_full']['job_count']} jobs")
        a, b = _outputs(kept), _outputs(results)
        record["verify"] = {"files": len(b), "differ": sorted(k for k in b if a.get(k) != b[k])}
    (out_dir / "timing.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.timing", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the study (default: config/config.yaml)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "timing", help="where the runs and timing.json go")
    ap.add_argument("--add-sigma", type=float, default=10.0, help="the sigma of the one new cell (default 10)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--verify", action="store_true", help="also run the grown study from empty and compare")
    args = ap.parse_args(argv)
    rec = run_timing(args.config, args.out.resolve(), add_sigma=args.add_sigma, cores=args.cores, verify=args.verify)
    print(f"one new cell: {rec['one_cell']['seconds']:.1f} s = {100 * rec['one_cell_over_full']:.1f}% "
          f"of the full study's {rec['full']['seconds']:.1f} s")
    if "verify" in rec:
        print(f"byte comparison with a full run of the grown study: {rec['verify']['files']} files, "
              f"{len(rec['verify']['differ'])} differ {rec['verify']['differ'] or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
