"""Throughput of the engine against statsmodels MixedLM and lme4 on the seed's design.

``python -m benchmarks.bench`` (``make bench``) simulates the seed's cell (J = 12: six groups
of 100 and six of 2, tau = 1, sigma = 5, mu = 0) and times, on the same datasets:

* generating them (``simulate_reps``);
* the engine: sufficient statistics + exact REML (``fit_varcomp``) + BLUPs, and separately every
  estimator with its intervals (``fit_estimators``, oracle included);
* the NPMLE (``ebayes.npmle``, solved to its certified gap) beside the budgeted fixed-grid EM it
  replaced (50 grid points, at most 50 SQUAREM iterations; a copy kept here for the comparison
  only, ``_npmle_budgeted_em``), on the same datasets, taking turns;
* statsmodels MixedLM, one dataset at a time (``engines.fit_statsmodels``);
* ``shrinkstudy fit`` end to end in a fresh process, on 5,000 datasets in one CSV file (on the
  usable cores, its default, and with ``--jobs 1``) and in one Parquet file;
* lme4 ``lmer`` when Rscript is present: one R process fits the datasets in a loop timed inside R
  with ``system.time`` (R's start-up and the reading of the data are not counted).

It prints datasets per second for each, the ratios, how far statsmodels' and lme4's BLUPs and
tau^2 are from the engine's exact REML optimum (with the REML criterion at their tau^2/sigma^2
against the engine's, so that a positive gap shows whose optimum is lower), and the machine; and
writes the same to ``results/bench/bench.json`` (``--out``). The engine and the generation are
timed as the best of ``--repeat`` runs (fewer where the runs take over 10 s), ``shrinkstudy fit``
as the best of five runs per kind, statsmodels as the best of its passes over its datasets, one
before each round of those runs (the machine's speed drifts: the rates compared are measured
over the same stretch of time); lme4 once over all its datasets.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from shrinkstudy.design.cells import Cell
from shrinkstudy.methods.ebayes import npmle as ebayes_npmle
from shrinkstudy.methods.ebayes import sampling_variances
from shrinkstudy.methods.engines import fit_statsmodels
from shrinkstudy.methods.estimators import Truth, blup, fit_estimators
from shrinkstudy.methods.reml import criterion, fit_varcomp
from shrinkstudy.design.simulate import SuffStats, simulate_reps, suffstats_from_array
from shrinkstudy.report.provenance import git_state
from shrinkstudy.methods.registry import BUILTIN
from shrinkstudy.methods.workers import fit as workers_fit
from shrinkstudy.methods.workers import usable_cores

__all__ = ["seed_cell", "machine_info", "run", "main"]

_BUDGET = 10.0  # seconds of repeated runs per timing
TARGETS = {
    "engine_over_statsmodels": 1000.0,
    "engine_over_lme4": 300.0,
    "fit_over_generate": 1.0,
    "cli_csv_over_statsmodels": 100.0,
}

_R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressMessages(library(lme4))
d <- read.csv(args[1])
d$group <- factor(d$group)
sets <- split(d[, c("group", "y")], d$rep)
reps <- as.integer(names(sets))
J <- nlevels(d$group)
out <- matrix(NA_real_, length(sets), 6 + J)
fit_one <- function(x) {
  m <- lmer(y ~ 1 + (1 | group), data = x, REML = TRUE)
  vc <- as.data.frame(VarCorr(m))
  c(fixef(m)[[1]], vc$vcov[1], vc$vcov[2], REMLcrit(m), as.numeric(isSingular(m)),
    length(m@optinfo$warnings) + length(m@optinfo$conv$lme4$messages), coef(m)$group[levels(x$group), 1])
}
tm <- system.time(for (i in seq_along(sets)) out[i, ] <- fit_one(sets[[i]]))
colnames(out) <- c("mu", "tau2", "sigma2", "crit", "singular", "messages", paste0("blup", seq_len(J) - 1))
write.csv(data.frame(rep = reps, out), args[2], row.names = FALSE)
writeLines(c(format(tm[["elapsed"]], digits = 10), R.version.string,
             as.character(packageVersion("lme4"))), args[3])
"""


def seed_cell() -> Cell:
    """The seed's example: J = 12, six groups of 100 and six of 2, tau = 1, sigma = 5, mu = 0."""
    return Cell(sizes=(100,) * 6 + (2,) * 6, sigma=5.0, tau=1.0, mu=0.0)


def machine_info() -> dict:
    """CPU model, cores, platform, numpy's BLAS and package versions."""
    cpu = None
    try:
        with open("/proc/cpuinfo") as fh:
            for row in fh:
                if row.lower().startswith("model name"):
                    cpu = row.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable = usable_cores()
    blas = None
    try:
        cfg = np.show_config(mode="dicts")
        b = cfg["Build Dependencies"]["blas"]
        blas = f"{b.get('name')} {b.get('version')}"
    except Exception:  # the layout of numpy's build information is not a stable API
        pass
    import scipy
    import statsmodels

    return {
        "cpu": cpu or platform.processor() or None,
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": blas,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "statsmodels": statsmodels.__version__,
        "load_average_1min": _loadavg(),
    }


def _loadavg():
    """1-minute load average (other work on the machine slows every timing), or None."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _best_time(fn, repeat: int):
    """Shortest of up to ``repeat`` runs of ``fn`` (stopping once they have taken ``_BUDGET`` s)."""
    best, out, spent = math.inf, None, 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t = time.perf_counter() - t0
        best, spent = min(best, t), spent + t
        if spent > _BUDGET:
            break
    return best, out


def _npmle_budgeted_em(y, s2, grid_size: int = 50, maxiter: int = 50, ltol: float = 1e-6):
    """The NPMLE as the study computed it before it was solved (kept for the bench only): a
    grid of ``grid_size`` points over [min y, max y] per dataset, EM accelerated by SQUAREM
    (scheme S3, the extrapolation kept on the simplex, then one EM step) for at most ``maxiter``
    iterations, stopped early when the grid's gap J log max_k D_k is <= 1e-8 or an iteration
    raises the log-likelihood by less than ``ltol``; posterior means (R, J)."""
    y = np.atleast_2d(np.asarray(y, dtype=float))
    s2 = np.atleast_2d(np.asarray(s2, dtype=float))
    present = np.isfinite(s2) & np.isfinite(y)
    with np.errstate(invalid="ignore"):
        lo = np.where(present, y, np.inf).min(axis=1)
        hi = np.where(present, y, -np.inf).max(axis=1)
    usable = present.any(axis=1) & (hi > lo) & ~np.any(present & (s2 <= 0), axis=1)
    out = np.where(present, y, np.nan)
    rows = np.flatnonzero(usable)
    step = max(1, (1 << 18) // max(y.shape[1] * grid_size, 1))
    for at in range(0, rows.size, step):
        r = rows[at : at + step]
        p = present[r]
        grid = lo[r, None] + (hi - lo)[r, None] * np.linspace(0.0, 1.0, grid_size)[None, :]
        yi, si = np.where(p, y[r], 0.0), np.where(p, s2[r], 1.0)
        z2 = (yi[:, :, None] - grid[:, None, :]) ** 2 / si[:, :, None]
        L = np.exp(-0.5 * (z2 - z2.min(axis=2)[:, :, None]))
        Jr = p.sum(axis=1)

        def em(w):
            f = np.where(p, np.einsum("rjk,rk->rj", L, w), 1.0)
            D = np.einsum("rjk,rj->rk", L, np.where(p, 1.0 / f, 0.0)) / Jr[:, None]
            w = w * D
            return w / w.sum(axis=1, keepdims=True), D

        def loglik(w):
            f = np.where(p, np.einsum("rjk,rk->rj", L, w), 1.0)
            return np.where(p, np.log(f), 0.0).sum(axis=1)

        w = np.full((r.size, grid_size), 1.0 / grid_size)
        ll = loglik(w)
        active = np.ones(r.size, dtype=bool)
        for _ in range(maxiter):
            a = np.flatnonzero(active)
            if a.size == 0:
                break
            L_all, p_all, J_all = L, p, Jr
            L, p, Jr = L_all[a], p_all[a], J_all[a]
            w0 = w[a]
            w1, D0 = em(w0)
            done = J_all[a] * np.log(D0.max(axis=1)) <= 1e-8
            w2, _ = em(w1)
            v1, v2 = w1 - w0, w2 - 2.0 * w1 + w0
            with np.errstate(invalid="ignore", divide="ignore"):
                alpha = np.minimum(-np.sqrt((v1 * v1).sum(axis=1)) / np.sqrt((v2 * v2).sum(axis=1)), -1.0)
            alpha = np.where(np.isfinite(alpha), alpha, -1.0)
            wx = w0 - 2.0 * alpha[:, None] * v1 + (alpha * alpha)[:, None] * v2
            wx = np.maximum(wx, 1e-12 * np.abs(wx).max(axis=1, keepdims=True))
            wx = wx / wx.sum(axis=1, keepdims=True)
            ok = np.isfinite(wx).all(axis=1)
            w3, _ = em(np.where(ok[:, None], wx, w2))
            l2, l3 = loglik(w2), loglik(w3)
            better = ok & (l3 >= l2)
            w_new, l_new = np.where(better[:, None], w3, w2), np.where(better, l3, l2)
            stalled = l_new - ll[a] < ltol
            L, p, Jr = L_all, p_all, J_all
            w[a] = np.where(done[:, None], w0, w_new)
            ll[a] = np.where(done, ll[a], l_new)
            active[a[done | stalled]] = False
        f = np.where(p, np.einsum("rjk,rk->rj", L, w), 1.0)
        out[r] = np.where(p, np.einsum("rjk,rk->rj", L, w * grid) / f, np.nan)
    return out


def _long(y: np.ndarray, sizes, reps) -> pd.DataFrame:
    group = np.repeat(np.arange(len(sizes)), sizes)
    return pd.DataFrame(
        {
            "rep": np.repeat(np.asarray(reps), y.shape[1]),
            "group": np.tile(group, y.shape[0]),
            "y": y.reshape(-1),
        }
    )


def _compare(stats: SuffStats, vc, eng_blup, tau2, sigma2, other_blup, sigma: float) -> dict:
    """Deviations of another fit from the engine's exact optimum on the first ``len(tau2)`` datasets."""
    m = len(tau2)
    ok = np.isfinite(tau2) & np.isfinite(sigma2) & np.all(np.isfinite(other_blup), axis=1)
    out = {"datasets": int(m), "compared": int(ok.sum())}
    if not ok.any():
        return out
    idx = np.flatnonzero(ok)
    dev = np.abs(other_blup[idx] - eng_blup[idx]).max(axis=1)
    gamma = np.maximum(tau2[idx], 0.0) / sigma2[idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = criterion(stats.rows(idx), gamma, "REML") - vc.crit[idx]
    out.update(
        {
            "max_abs_blup_dev": float(dev.max()),
            "max_abs_blup_dev_over_sigma": float(dev.max() / sigma),
            "share_blup_dev_over_0.01_sigma": float(np.mean(dev > 0.01 * sigma)),
            "max_abs_tau2_dev": float(np.abs(tau2[idx] - vc.tau2[idx]).max()),
            "max_abs_sigma2_dev": float(np.abs(sigma2[idx] - vc.sigma2[idx]).max()),
            "max_remlcrit_gap": float(np.max(gap)),
            "min_remlcrit_gap": float(np.min(gap)),
        }
    )
    return out


def _run_lme4(y: np.ndarray, cell: Cell, reps, rscript: str):
    """lmer over the datasets in one R process; returns (elapsed seconds in R, results, versions)."""
    with tempfile.TemporaryDirectory(prefix="shrinkstudy-bench-") as tmp:
        tmp = Path(tmp)
        _long(y, cell.sizes, reps).to_csv(tmp / "data.csv", index=False)
        (tmp / "fit.R").write_text(_R_SCRIPT)
        proc = subprocess.run(
            [
                rscript,
                "--vanilla",
                str(tmp / "fit.R"),
                str(tmp / "data.csv"),
                str(tmp / "out.csv"),
                str(tmp / "time.txt"),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            tail = " ".join(proc.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"Rscript failed (exit {proc.returncode}): {tail}")
        elapsed, r_version, lme4_version = (tmp / "time.txt").read_text().splitlines()[:3]
        res = pd.read_csv(tmp / "out.csv").sort_values("rep")
    return float(elapsed), res, {"R": r_version, "lme4": lme4_version}


_CLI_RUNS = 5  # fresh processes per kind of run: the shortest is reported, as for every rate


def _run_cli(y: np.ndarray, cell: Cell, cli_reps: int, tmp: Path, runs: int = _CLI_RUNS, between=None) -> dict:
    """``shrinkstudy fit`` end to end, in a fresh process (start-up, reading, fitting every
    estimator with intervals, writing estimates.csv and fit.json), on ``cli_reps`` datasets in one
    CSV file (``--dataset``; on a thread per usable core, the default, and with ``--jobs 1``) and
    in one Parquet file, ``runs`` times each, taking turns (each round in another order); per kind the shortest run's seconds and
    peak resident memory, and every run's seconds (the first run after a pause is often slower:
    the system's time to hand out the process's memory, up to a second and a half here).
    ``between()`` is called before each round (the bench: one pass of statsmodels, so that the
    rates compared are measured over the same stretch of time)."""
    k = min(cli_reps, y.shape[0])
    frame = _long(y[:k], cell.sizes, np.arange(k)).rename(columns={"rep": "dataset"})
    files = {"csv": tmp / "datasets.csv", "parquet": tmp / "datasets.parquet"}
    frame.to_csv(files["csv"], index=False)
    frame.to_parquet(files["parquet"], index=False)
    out = {"datasets": k, "csv_bytes": files["csv"].stat().st_size, "cores_usable": usable_cores()}
    kinds = {"csv": (files["csv"], []), "csv_one_thread": (files["csv"], ["--jobs", "1"]), "parquet": (files["parquet"], [])}
    order = list(kinds.items())
    # each round in another order (round r starts with kind r): the run just after the pass of
    # statsmodels is often the slowest of its round here, whatever its kind
    rounds = [order[r % len(order) :] + order[: r % len(order)] for r in range(runs)]
    for i, (kind, (path, extra)) in enumerate(item for round_ in rounds for item in round_):
        if between is not None and i % len(kinds) == 0:
            between()
        cmd = [sys.executable, "-m", "shrinkstudy", "fit", str(path), "--dataset", "dataset", *extra, "--out", str(tmp / kind)]
        t0 = time.perf_counter()
        with open(tmp / f"{kind}.err", "w+") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
            elapsed = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                err.seek(0)
                raise RuntimeError(f"shrinkstudy fit failed on {path.name}: {err.read().strip()}")
        best = out.get(kind)
        runs_of = (best or {}).get("runs", []) + [elapsed]
        if best is None or elapsed < best["seconds"]:
            best = {"seconds": elapsed, "peak_rss_mb": usage.ru_maxrss / 1024}
        out[kind] = {**best, "runs": runs_of}
    return out


def run(
    reps: int = 10_000,
    sm_reps: int = 50,
    r_reps: int = 200,
    seed: int = 20240522,
    repeat: int = 3,
    use_r: bool = True,
    cli_reps: int = 5_000,
    log=print,
) -> dict:
    """Run the benchmark and return its results as a dict (see the module docstring)."""
    cell = seed_cell()
    sizes = np.asarray(cell.sizes)
    rep_ids = np.arange(reps)
    truth = Truth(mu=cell.mu, tau=cell.tau, sigma=cell.sigma)
    res: dict = {
        "cell": cell.params(),
        "seed": seed,
        "reps": {"engine": reps, "statsmodels": sm_reps, "lme4": 0},
        "timing": (
            f"engine and generation: best of up to {repeat} runs (fewer once the runs have taken "
            f"{_BUDGET:g} s); shrinkstudy fit: best of {_CLI_RUNS} fresh processes per kind; "
            f"statsmodels: best of its passes, one before each round of those (else up to {repeat}); "
            "lme4: one pass, timed inside R"
        ),
        "machine": machine_info(),
        "code": git_state(Path(__file__).resolve().parents[1]),  # the commit measured
    }

    log(f"generating {reps} datasets of {cell.name} ...")
    t_gen, (y, _) = _best_time(lambda: simulate_reps(cell, rep_ids, seed), repeat)

    def engine_blup():
        stats = suffstats_from_array(y, sizes)
        vc = fit_varcomp(stats)
        return stats, vc, blup(stats, vc)

    log("engine: fit_varcomp + blup ...")
    t_eng, (stats, vc, eng_blup) = _best_time(engine_blup, repeat)
    t_stats, _ = _best_time(lambda: suffstats_from_array(y, sizes), repeat)
    t_reml, _ = _best_time(lambda: fit_varcomp(stats), repeat)
    t_blup, _ = _best_time(lambda: blup(stats, vc), repeat)

    log("engine: every estimator with intervals ...")
    t_all, _ = _best_time(
        lambda: fit_estimators(suffstats_from_array(y, sizes), truth=truth), repeat
    )
    threads = usable_cores()
    log(f"engine: every estimator with intervals, on {threads} threads (workers.fit) ...")
    t_threads, _ = _best_time(
        lambda: workers_fit(suffstats_from_array(y, sizes), list(BUILTIN), threads, truth=truth), repeat
    )

    log("npmle: solved to its certificate, and the budgeted EM it replaced ...")
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma2 = stats.ssw / (stats.N - stats.J)
    s2 = sampling_variances(stats, sigma2)
    ybar = np.where(stats.present, stats.ybar, np.nan)
    t_np = t_old = math.inf
    spent = 0.0
    for _ in range(repeat):  # taking turns: the two times are measured over the same stretch
        t0 = time.perf_counter()
        fit = ebayes_npmle(stats, sigma2)
        t1 = time.perf_counter()
        old_est = _npmle_budgeted_em(ybar, s2)
        t2 = time.perf_counter()
        t_np, t_old, spent = min(t_np, t1 - t0), min(t_old, t2 - t1), spent + t2 - t0
        if spent > 2 * _BUDGET:
            break
    J = stats.present.sum(axis=1)
    res["npmle"] = {
        "ms_per_dataset": 1e3 * t_np / reps,
        "budgeted_em_ms_per_dataset": 1e3 * t_old / reps,
        "over_budgeted_em": t_np / t_old,
        "converged_share": float(np.mean(fit.converged)),
        "max_gap_per_group": float(np.max(fit.gap / J)),
        "iterations_median": float(np.median(fit.iterations)),
        "iterations_max": int(np.max(fit.iterations)),
        "max_abs_diff_budgeted_em_over_s": float(np.nanmax(np.abs(old_est - fit.estimate) / np.sqrt(s2))),
    }

    rates = {
        "npmle": reps / t_np,
        "npmle_budgeted_em": reps / t_old,
        "generate": reps / t_gen,
        "engine_varcomp_blup": reps / t_eng,
        "engine_all_estimators": reps / t_all,
        "engine_all_estimators_threads": reps / t_threads,
    }
    res["seconds"] = {
        "generate": t_gen,
        "engine_varcomp_blup": t_eng,
        "engine_all_estimators": t_all,
        "engine_all_estimators_threads": t_threads,
        "engine_threads": threads,
        "npmle": t_np,
        "npmle_budgeted_em": t_old,
        "engine_breakdown": {"suffstats": t_stats, "fit_varcomp": t_reml, "blup": t_blup},
    }
    res["engine"] = {
        "boundary_share": float(np.mean(vc.boundary)),
        "status_counts": {
            str(k): int(v) for k, v in zip(*np.unique(vc.status, return_counts=True), strict=True)
        },
    }

    m = min(sm_reps, reps)
    log(f"statsmodels MixedLM on {m} datasets ...")
    data = _long(y[:m], cell.sizes, rep_ids[:m])
    sm_passes: list[float] = []

    def statsmodels_pass():
        t0 = time.perf_counter()
        out = fit_statsmodels(data, reml=True)
        sm_passes.append(time.perf_counter() - t0)
        return out

    sm, sm_blup = statsmodels_pass()
    res["statsmodels"] = {
        "errors": int((sm["error"] != "").sum()),
        "error_kinds": sorted(set(e.split(":")[0] for e in sm["error"] if e)),
        "datasets_with_warnings": int((sm["warnings"] > 0).sum()),
        "not_converged": int((~sm["converged"]).sum()),
        "boundary_statsmodels": int(sm["boundary"].sum()),
        "boundary_engine": int(vc.boundary[:m].sum()),
        **_compare(stats, vc, eng_blup, sm["tau2"].to_numpy(), sm["sigma2"].to_numpy(), sm_blup, cell.sigma),
    }

    if cli_reps > 0:
        log(f"shrinkstudy fit end to end on {min(cli_reps, reps)} datasets (CSV, then Parquet) ...")
        with tempfile.TemporaryDirectory() as d:
            res["cli"] = _run_cli(y, cell, cli_reps, Path(d), between=statsmodels_pass)
        k = res["cli"]["datasets"]
        rates["cli_csv"] = k / res["cli"]["csv"]["seconds"]
        rates["cli_csv_one_thread"] = k / res["cli"]["csv_one_thread"]["seconds"]
        rates["cli_parquet"] = k / res["cli"]["parquet"]["seconds"]
        res["seconds"]["cli_csv"] = res["cli"]["csv"]["seconds"]
        res["seconds"]["cli_csv_one_thread"] = res["cli"]["csv_one_thread"]["seconds"]
        res["seconds"]["cli_parquet"] = res["cli"]["parquet"]["seconds"]
    while len(sm_passes) < repeat and sum(sm_passes) < _BUDGET:
        statsmodels_pass()
    rates["statsmodels"] = m / min(sm_passes)
    res["seconds"]["statsmodels"] = min(sm_passes)
    res["seconds"]["statsmodels_passes"] = sm_passes

    rscript = shutil.which("Rscript") if use_r else None
    if rscript and r_reps > 0:
        k = min(r_reps, reps)
        log(f"lme4 lmer on {k} datasets (one Rscript call) ...")
        try:
            t_r, r_res, r_versions = _run_lme4(y[:k], cell, rep_ids[:k], rscript)
        except (RuntimeError, OSError, ValueError) as exc:
            res["lme4"] = {"skipped": str(exc)}
        else:
            res["reps"]["lme4"] = k
            rates["lme4"] = k / t_r
            res["seconds"]["lme4"] = t_r
            r_blup = r_res[[f"blup{j}" for j in range(cell.J)]].to_numpy()
            res["lme4"] = {
                **r_versions,
                "singular_lme4": int(r_res["singular"].sum()),
                "boundary_engine": int(vc.boundary[:k].sum()),
                "datasets_with_messages": int((r_res["messages"] > 0).sum()),
                **_compare(
                    stats,
                    vc,
                    eng_blup,
                    r_res["tau2"].to_numpy(),
                    r_res["sigma2"].to_numpy(),
                    r_blup,
                    cell.sigma,
                ),
                "max_abs_remlcrit_dev": float(np.abs(r_res["crit"].to_numpy() - vc.crit[:k]).max()),
            }
    else:
        res["lme4"] = {"skipped": "Rscript not found" if use_r else "--no-r"}

    res["machine"]["load_average_1min_at_end"] = _loadavg()
    res["datasets_per_second"] = rates
    ratios = {
        "engine_over_statsmodels": rates["engine_varcomp_blup"] / rates["statsmodels"],
        "engine_all_over_statsmodels": rates["engine_all_estimators"] / rates["statsmodels"],
        "engine_all_threads_over_statsmodels": rates["engine_all_estimators_threads"] / rates["statsmodels"],
        "fit_over_generate": rates["engine_varcomp_blup"] / rates["generate"],
        "fit_all_over_generate": rates["engine_all_estimators"] / rates["generate"],
    }
    if "cli_csv" in rates:
        ratios["cli_csv_over_statsmodels"] = rates["cli_csv"] / rates["statsmodels"]
        ratios["cli_csv_one_thread_over_statsmodels"] = rates["cli_csv_one_thread"] / rates["statsmodels"]
        ratios["cli_parquet_over_statsmodels"] = rates["cli_parquet"] / rates["statsmodels"]
    if "lme4" in rates:
        ratios["engine_over_lme4"] = rates["engine_varcomp_blup"] / rates["lme4"]
        ratios["engine_all_over_lme4"] = rates["engine_all_estimators"] / rates["lme4"]
    res["ratios"] = ratios
    res["targets"] = {
        name: {
            "target": goal,
            "measured": ratios.get(name),
            "met": (ratios[name] >= goal) if name in ratios else None,
        }
        for name, goal in TARGETS.items()
    }
    return res


def _cli_runs(kind: dict) -> str:
    runs = ", ".join(f"{t:.2f}" for t in kind.get("runs", []))
    return f"{kind['seconds']:.2f} s, peak {kind['peak_rss_mb']:.0f} MB; runs {runs} s"


def report(res: dict) -> str:
    """Human-readable summary of ``run``'s results."""
    r = res["datasets_per_second"]
    q = res["ratios"]
    mach = res["machine"]
    lines = [
        f"cell {res['cell']['cell']}  (engine {res['reps']['engine']} datasets, statsmodels "
        f"{res['reps']['statsmodels']}, lme4 {res['reps']['lme4']})",
        f"machine: {mach['cpu']}, {mach['cores']} cores ({mach['cores_usable']} usable), "
        f"numpy {mach['numpy']} with {mach['numpy_blas']}, Python {mach['python']}; "
        f"load average {mach['load_average_1min']} at start, {mach['load_average_1min_at_end']} at end",
        "",
        "datasets per second",
        f"  generate (simulate_reps)           {r['generate']:>14,.0f}",
        f"  engine: fit_varcomp + blup         {r['engine_varcomp_blup']:>14,.0f}",
        f"  engine: all estimators + intervals {r['engine_all_estimators']:>14,.0f}",
        f"    the same on {res['seconds'].get('engine_threads', '?')} threads (workers.fit)  "
        f"{r.get('engine_all_estimators_threads', float('nan')):>14,.0f}",
        f"  statsmodels MixedLM                {r['statsmodels']:>14,.2f}",
    ]
    if "npmle" in res:
        n = res["npmle"]
        lines.insert(
            -1,
            f"  npmle (solved, certified)          {r['npmle']:>14,.0f}   ({n['ms_per_dataset']:.3f} ms per dataset; "
            f"the budgeted EM it replaced {n['budgeted_em_ms_per_dataset']:.3f} ms, ratio "
            f"{n['over_budgeted_em']:.2f}; iterations median {n['iterations_median']:g}, max "
            f"{n['iterations_max']}; gap per group at most {n['max_gap_per_group']:.1e})",
        )
    if "cli_csv" in r:
        c = res["cli"]
        lines.append(
            f"  shrinkstudy fit, CSV, end to end   {r['cli_csv']:>14,.0f}   ({c['datasets']} datasets, "
            f"{c['csv_bytes'] / 1e6:.0f} MB, {c.get('cores_usable', '?')} threads: {_cli_runs(c['csv'])})"
        )
        if "cli_csv_one_thread" in r:
            lines.append(
                f"  shrinkstudy fit, CSV, --jobs 1     {r['cli_csv_one_thread']:>14,.0f}   "
                f"({_cli_runs(c['csv_one_thread'])})"
            )
        lines.append(f"  shrinkstudy fit, Parquet           {r['cli_parquet']:>14,.0f}   ({_cli_runs(c['parquet'])})")
    if "lme4" in r:
        lines.append(f"  lme4 lmer (inside R)               {r['lme4']:>14,.2f}")
    else:
        lines.append(f"  lme4: skipped ({res['lme4'].get('skipped')})")
    b = res["seconds"]["engine_breakdown"]
    lines += [
        f"  engine breakdown (s): suffstats {b['suffstats']:.4f}, fit_varcomp {b['fit_varcomp']:.4f}, "
        f"blup {b['blup']:.4f}",
        "",
        "ratios",
    ]
    for name, v in q.items():
        goal = TARGETS.get(name)
        mark = "" if goal is None else f"   (target >= {goal:g}: {'met' if v >= goal else 'NOT met'})"
        lines.append(f"  {name:<36} {v:>12,.1f}{mark}")
    lines += ["", "deviation from the engine's exact REML optimum (same datasets)"]
    for who in ("statsmodels", "lme4"):
        s = res.get(who, {})
        if "max_abs_blup_dev" not in s:
            continue
        extra = ""
        if who == "statsmodels":
            extra = (
                f"; {s['errors']} errors {s['error_kinds']}, {s['datasets_with_warnings']} datasets "
                f"with warnings, {s['not_converged']} not converged"
            )
        lines.append(
            f"  {who:<11} max |BLUP diff| {s['max_abs_blup_dev']:.3g} "
            f"({s['max_abs_blup_dev_over_sigma']:.3g} sigma), "
            f"max |tau2 diff| {s['max_abs_tau2_dev']:.3g}, REMLcrit gap {s['min_remlcrit_gap']:.2g} .. "
            f"{s['max_remlcrit_gap']:.2g}; {s['compared']}/{s['datasets']} compared{extra}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--reps", type=int, default=10_000, help="datasets for the engine and generation (default 10000)"
    )
    p.add_argument("--sm-reps", type=int, default=50, help="datasets for statsmodels MixedLM (default 50)")
    p.add_argument("--r-reps", type=int, default=200, help="datasets for lme4 (default 200; 0 skips R)")
    p.add_argument("--seed", type=int, default=20240522)
    p.add_argument(
        "--repeat", type=int, default=3, help="runs of the engine and generation timings (best kept)"
    )
    p.add_argument("--no-r", action="store_true", help="skip lme4 even when Rscript is present")
    p.add_argument(
        "--cli-reps", type=int, default=5_000, help="datasets for shrinkstudy fit end to end (default 5000; 0 skips)"
    )
    p.add_argument("--out", default=str(Path("results") / "bench" / "bench.json"), help="JSON output")
    args = p.parse_args(argv)
    res = run(
        args.reps,
        args.sm_reps,
        args.r_reps,
        args.seed,
        args.repeat,
        use_r=not args.no_r,
        cli_reps=args.cli_reps,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    print(report(res))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
