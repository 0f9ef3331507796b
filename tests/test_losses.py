"""Per-replication losses: values against a slow reference, failures, chunk independence, speed."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from shrinkstudy.design.cells import Cell
from shrinkstudy.methods.estimators import Fit, Truth, fit_estimators
from shrinkstudy.methods.registry import names

ESTIMATORS = names()
from shrinkstudy.evaluate.losses import LOSS_COLUMNS, VARCOMP_COLUMNS, loss_columns, replication_losses, varcomp_table
from shrinkstudy.design.simulate import simulate_reps, suffstats_from_array

FAST = ("raw", "pooled", "blup", "varmatch", "bayesglm", "james_stein", "oracle")
SEED_CELL = Cell(sizes=(100,) * 6 + (2,) * 6, sigma=5.0, tau=1.0)
BALANCED = Cell(sizes=(5,) * 5, sigma=1.0, tau=0.5)


def run(cell, reps, estimators=FAST, base_seed=11):
    reps = np.asarray(reps)
    y, means = simulate_reps(cell, reps, base_seed)
    stats = suffstats_from_array(y, cell.sizes)
    fit = fit_estimators(stats, estimators, truth=Truth(cell.mu, cell.tau, cell.sigma))
    return fit, means


def reference_losses(fit, means, reps, cell):
    """Slow, obvious loop: one replication, estimator and class at a time."""
    sizes = np.asarray(cell.sizes)
    classes = {"all": np.arange(cell.J)}
    if not cell.balanced:
        classes.update({f"n={v}": np.flatnonzero(sizes == v) for v in sorted(set(cell.sizes))})
    rows = []
    for name in [e for e in ESTIMATORS if e in fit.estimates]:
        for label, idx in classes.items():
            for i, rep in enumerate(reps):
                est = fit.estimates[name][i]
                failed = bool(fit.failed[name][i])
                if not failed and not np.isfinite(est).any():
                    continue
                row = {"rep": rep, "estimator": name, "groups": label, "failed": failed}
                if failed:
                    row.update(
                        sq_err=np.nan, err=np.nan, var_est=np.nan, var_true=np.nan, covered=np.nan, width=np.nan
                    )
                else:
                    e = [est[j] - means[i, j] for j in idx]
                    row["sq_err"] = sum(x * x for x in e) / len(e)
                    row["err"] = sum(e) / len(e)
                    row["var_est"] = np.var(est, ddof=1) if label == "all" else np.nan
                    row["var_true"] = np.var(means[i], ddof=1) if label == "all" else np.nan
                    if name in fit.intervals:
                        lo, hi = fit.intervals[name][0][i], fit.intervals[name][1][i]
                        row["covered"] = np.mean([lo[j] <= means[i, j] <= hi[j] for j in idx])
                        row["width"] = np.mean([hi[j] - lo[j] for j in idx])
                    else:
                        row["covered"] = row["width"] = np.nan
                rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("cell", [SEED_CELL, BALANCED], ids=["unbalanced", "balanced"])
def test_losses_match_slow_reference(cell):
    reps = np.arange(40, 70)
    fit, means = run(cell, reps)
    got = replication_losses(fit, means, reps, cell)
    want = reference_losses(fit, means, reps, cell)
    assert list(got.columns) == list(LOSS_COLUMNS)
    assert got["rep"].dtype == np.int64 and got["failed"].dtype == bool
    got = got.sort_values(["estimator", "groups", "rep"], ignore_index=True)
    want = want.sort_values(["estimator", "groups", "rep"], ignore_index=True)
    assert (
        got[["rep", "estimator", "groups"]]
        .astype(str)
        .equals(want[["rep", "estimator", "groups"]].astype(str))
    )
    for c in ("sq_err", "err", "var_est", "var_true", "covered", "width"):
        np.testing.assert_allclose(got[c], want[c], rtol=1e-12, atol=1e-12, err_msg=c)


def test_classes_and_non_applicable_estimators():
    reps = np.arange(10)
    fit, means = run(SEED_CELL, reps)
    L = replication_losses(fit, means, reps, SEED_CELL)
    # James-Stein does not apply to unequal group sizes: left out, not counted as failed
    assert "james_stein" not in set(L["estimator"])
    assert set(L["groups"]) == {"all", "n=2", "n=100"}
    assert len(L) == len(reps) * (len(FAST) - 1) * 3
    assert L.loc[L["groups"] != "all", ["var_est", "var_true"]].isna().all().all()
    assert L.loc[L["groups"] == "all", ["var_est", "var_true"]].notna().all().all()
    no_interval = ~L["estimator"].isin(list(fit.intervals))
    assert L.loc[no_interval, ["covered", "width"]].isna().all().all()
    assert L.loc[~no_interval, ["covered", "width"]].notna().all().all()
    # complete pooling has spread exactly 0
    assert (L.loc[(L["estimator"] == "pooled") & (L["groups"] == "all"), "var_est"] == 0).all()

    fit_b, means_b = run(BALANCED, reps)
    Lb = replication_losses(fit_b, means_b, reps, BALANCED)
    assert set(Lb["groups"]) == {"all"}
    assert "james_stein" in set(Lb["estimator"])


def test_failed_replications_keep_a_row_with_nan_losses():
    reps = np.arange(100, 120)
    fit, means = run(BALANCED, reps)
    bad = np.zeros(len(reps), bool)
    bad[[3, 7]] = True
    est = dict(fit.estimates)
    est["blup"] = np.where(bad[:, None], np.nan, est["blup"])
    failed = dict(fit.failed)
    failed["blup"] = bad
    fit2 = Fit(estimates=est, intervals=fit.intervals, failed=failed, varcomp=fit.varcomp)
    L = replication_losses(fit2, means, reps, BALANCED)
    b = L[L["estimator"] == "blup"].set_index("rep")
    assert len(b) == len(reps)
    assert b["failed"].sum() == 2
    assert b.loc[reps[bad], ["sq_err", "err", "var_est", "var_true", "covered", "width"]].isna().all().all()
    assert b.loc[reps[~bad], ["sq_err", "err", "var_est", "var_true", "covered", "width"]].notna().all().all()


def test_rows_do_not_depend_on_the_other_replications_in_the_call():
    reps = np.arange(60)
    fit, means = run(SEED_CELL, reps)
    full = replication_losses(fit, means, reps, SEED_CELL)
    parts = []
    for chunk in (np.arange(0, 25), np.arange(25, 60)):
        f, m = run(SEED_CELL, chunk)
        parts.append(replication_losses(f, m, chunk, SEED_CELL))
    merged = pd.concat(parts, ignore_index=True)
    key = ["estimator", "groups", "rep"]
    a = full.sort_values(key, ignore_index=True)
    b = merged.sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_varcomp_table():
    reps = np.arange(5, 30)
    fit, _ = run(BALANCED, reps)
    V = varcomp_table(fit, reps)
    assert list(V.columns) == list(VARCOMP_COLUMNS)
    assert V["rep"].tolist() == reps.tolist()
    assert V["boundary"].dtype == bool and V["status"].dtype == np.int64
    np.testing.assert_array_equal(V["tau2"].to_numpy(), fit.varcomp.tau2)
    assert (V["boundary"] == (V["tau2"] == 0)).all()


def test_losses_of_a_large_fit_are_repeatable():
    """1,000 replications x 48 groups x 8 estimators: one row per replication and estimator, the
    same bits on a second call (its speed is measured by ``make bench``, not asserted here)."""
    rng = np.random.default_rng(5)
    cell = Cell(sizes=(10,) * 48, sigma=5.0, tau=1.0)
    R, J = 1000, 48
    means = rng.normal(size=(R, J))
    est = {e: means + rng.normal(size=(R, J)) for e in ESTIMATORS}
    ints = {e: (est[e] - 1.5, est[e] + 1.5) for e in ("raw", "blup", "hier_bayes", "oracle")}
    failed = {e: np.zeros(R, bool) for e in ESTIMATORS}
    fit = Fit(estimates=est, intervals=ints, failed=failed, varcomp=None)
    reps = np.arange(R)
    L = replication_losses(fit, means, reps, cell)
    assert len(L) == R * len(ESTIMATORS)
    a = replication_losses(fit, means, reps, cell)
    pd.testing.assert_frame_equal(L, a, check_exact=True)


def test_a_replications_losses_do_not_depend_on_its_chunk():
    """The same bits for a replication fitted in a chunk of 300 and alone (J = 24: a column
    selection laid out by columns would sum a row in another order)."""
    cell = Cell(sizes=(10,) * 24, sigma=2.5, tau=1.0)
    y, means = simulate_reps(cell, range(300), 11)
    st = suffstats_from_array(y, cell.sizes)
    truth = Truth(0.0, 1.0, 2.5)
    chunk = loss_columns(fit_estimators(st, truth=truth), means, np.arange(300), cell)
    for r in (0, 17, 299):
        one = loss_columns(fit_estimators(suffstats_from_array(y[r : r + 1], cell.sizes), truth=truth), means[r : r + 1], [r], cell)
        rows = chunk["rep"] == r
        for col in ("sq_err", "err", "var_est", "covered", "width"):
            np.testing.assert_array_equal(one[col], chunk[col][rows], err_msg=col)
