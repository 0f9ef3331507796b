"""Replications from target precision: the plan of a cell against hand computations, the config
checks, the replication table, and the workflow's plan checkpoint on a tiny study (a second run
does nothing, a tighter target only adds chunks, the cap is respected and flagged, the numbers
equal a fixed run's of the same counts byte for byte)."""

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest

# the workflow tests' copy of the repository (a fixture of this module too) and their helpers
from test_workflow import REPO, planned_jobs, repo, snakemake, write_config  # noqa: F401

from shrinkstudy.config import load_study
from shrinkstudy.evaluate.measures import PRECISION_MEASURES
from shrinkstudy.design.cells import Cell, ConfigError
from shrinkstudy.evaluate.measures import summary_rows
from shrinkstudy.evaluate.precision import (
    NEEDED_CEILING,
    needed_replications,
    plan_block,
    plan_cell,
    plan_from_pilot,
    plan_json,
    read_plan,
)
from shrinkstudy.store.smkio import DamagedFile
from shrinkstudy.report.tables import PLAN_COLUMNS, REPLICATION_COLUMNS, replication_table, write_tables

CELL = Cell(sizes=(4, 4, 4), sigma=2.0, tau=1.0, mu=0.0, block="b")


def pilot_losses(R=40, seed=1, failed_blup=()):
    """Synthetic per-replication losses of raw, blup (with intervals) and pooled (without)."""
    rng = np.random.default_rng(seed)
    rows = {
        c: []
        for c in (
            "rep",
            "estimator",
            "groups",
            "sq_err",
            "abs_err",
            "err",
            "var_est",
            "var_true",
            "covered",
            "width",
            "w1",
            "spearman",
            "failed",
            "message",
        )
    }
    raw = rng.gamma(2.0, 0.5, R)
    blup = raw * rng.uniform(0.4, 0.9, R)
    pooled = rng.gamma(3.0, 0.4, R)
    cover = rng.choice([0.0, 1 / 3, 2 / 3, 1.0], size=R, p=[0.02, 0.08, 0.3, 0.6])
    for est, s in (("raw", raw), ("blup", blup), ("pooled", pooled)):
        for i in range(R):
            failed = est == "blup" and i in failed_blup
            rows["rep"].append(i)
            rows["estimator"].append(est)
            rows["groups"].append("all")
            rows["sq_err"].append(np.nan if failed else s[i])
            rows["abs_err"].append(np.nan if failed else np.sqrt(s[i]) * rng.uniform(0.7, 1.0))
            rows["err"].append(np.nan if failed else rng.normal(0, 0.3))
            rows["var_est"].append(np.nan if failed else rng.uniform(0.5, 1.5))
            rows["var_true"].append(rng.uniform(0.5, 1.5))
            has = est != "pooled" and not failed
            rows["covered"].append(cover[i] if has else np.nan)
            rows["width"].append(rng.uniform(2, 3) if has else np.nan)
            rows["w1"].append(np.nan if failed else rng.uniform(0.2, 0.6))
            rows["spearman"].append(np.nan if failed else rng.uniform(0.3, 0.9))
            rows["failed"].append(failed)
            rows["message"].append("boom" if failed else "")
    losses = {
        k: np.asarray(v, dtype=object if k in ("estimator", "groups", "message") else None)
        for k, v in rows.items()
    }
    varcomp = {
        "rep": np.arange(R, dtype=np.int64),
        "boundary": rng.uniform(size=R) < 0.2,
        "status": np.zeros(R, dtype=np.int64),
    }
    return losses, varcomp, {"raw": raw, "blup": blup, "cover": cover}


def block(*targets, pilot=40, cap=400):
    return {
        "pilot": pilot,
        "max": cap,
        "targets": [{"estimator": e, "measure": m, "mcse": t} for e, m, t in targets],
    }


# --- the plan against hand computations ----------------------------------------------------------


def test_plan_against_a_hand_computation():
    losses, varcomp, v = pilot_losses()
    t_rel, t_cov = 0.02, 0.03
    plan = plan_from_pilot(
        losses, varcomp, CELL, block(("blup", "rel_mse", t_rel), ("blup", "coverage", t_cov)), 20
    )
    # relative MSE: delta-method variance per replication, z_i = (x_i - r y_i) / ybar
    x, y = v["blup"], v["raw"]
    r = x.mean() / y.mean()
    z = (x - r * y) / y.mean()
    need_rel = np.var(z, ddof=1) / t_rel**2
    # coverage: variance of the per-replication fractions (what the summary's MCSE uses)
    need_cov = np.var(v["cover"], ddof=1) / t_cov**2
    got = {(t["estimator"], t["measure"]): t["needed"] for t in plan["targets"]}
    assert got[("blup", "rel_mse")] == pytest.approx(need_rel, rel=1e-12)
    assert got[("blup", "coverage")] == pytest.approx(need_cov, rel=1e-12)
    need = max(need_rel, need_cov)
    expect = min(max(20 * math.ceil(need / 20), 40), 400)
    assert plan["replications"] == expect and plan["needed"] == pytest.approx(need, rel=1e-12)
    assert plan["reason"]["measure"] == ("rel_mse" if need_rel > need_cov else "coverage")
    assert plan["capped"] is False and plan["pilot"] == 40 and plan["chunk_size"] == 20
    assert expect % 20 == 0 and 40 < expect < 400  # the example exercises the rounding


@pytest.mark.parametrize("measure", PRECISION_MEASURES)
def test_every_measure_reaches_its_target_at_the_planned_count(measure):
    """R_p (MCSE_p / t)^2 is the count at which the summary's formula gives the target, for the
    pilot's per-replication variance: the pilot itself at t = MCSE_p."""
    losses, varcomp, _ = pilot_losses()
    row = next(r for r in summary_rows(losses, varcomp, CELL) if r["estimator"] == "blup")
    m = row[f"{measure}_mcse"]
    assert np.isfinite(m) and m > 0
    assert needed_replications(measure, m, 40, 40, m) == pytest.approx(40, rel=1e-12)
    assert needed_replications(measure, m, 40, 40, m / 2) == pytest.approx(
        40 + 3 * 39 if measure == "empse" else 160, rel=1e-12
    )


def test_failed_replications_are_made_up():
    """Failures are dropped from the summary: the count to run grows by run / used."""
    losses, varcomp, _ = pilot_losses(failed_blup=(3, 7, 11, 19))
    plan = plan_from_pilot(losses, varcomp, CELL, block(("blup", "mse", 0.01)), 20)
    t = plan["targets"][0]
    assert t["pilot_reps"] == 36 and t["pilot_run"] == 40
    assert t["needed"] == pytest.approx(36 * (t["pilot_mcse"] / 0.01) ** 2 * 40 / 36, rel=1e-12)


def test_coverage_without_variation_in_the_pilot():
    """Every pilot interval covered: p = 1 would stop at the pilot; the rule of three
    (q = 3 / R) gives a conservative count instead."""
    losses, varcomp, _ = pilot_losses()
    losses["covered"] = np.where(np.isfinite(losses["covered"]), 1.0, np.nan)
    plan = plan_from_pilot(losses, varcomp, CELL, block(("blup", "coverage", 0.01), cap=2000), 20)
    q = 3 / 40
    assert plan["targets"][0]["pilot_mcse"] == 0
    assert plan["needed"] == pytest.approx(q * (1 - q) / 0.01**2)
    assert plan["replications"] == 20 * math.ceil(q * (1 - q) / 0.01**2 / 20) == 700


def test_cap_and_pilot_bounds():
    losses, varcomp, _ = pilot_losses()
    tight = plan_from_pilot(losses, varcomp, CELL, block(("blup", "mse", 1e-4), cap=200), 20)
    assert tight["replications"] == 200 and tight["capped"] is True and tight["needed"] > 200
    loose = plan_from_pilot(losses, varcomp, CELL, block(("blup", "mse", 10.0)), 20)
    assert loose["replications"] == 40 and loose["capped"] is False and loose["needed"] < 1


def test_a_target_that_does_not_apply():
    """Coverage of an estimator without intervals, or an estimator absent from the cell: no count,
    the other targets decide; none at all: the pilot."""
    losses, varcomp, _ = pilot_losses()
    plan = plan_from_pilot(
        losses,
        varcomp,
        CELL,
        block(("pooled", "coverage", 0.001), ("james_stein", "mse", 0.001), ("blup", "mse", 0.05)),
        20,
    )
    assert [t["needed"] for t in plan["targets"][:2]] == [None, None]
    assert plan["reason"] == {"estimator": "blup", "measure": "mse", "mcse": 0.05}
    none = plan_from_pilot(losses, varcomp, CELL, block(("pooled", "coverage", 0.001)), 20)
    assert none["replications"] == 40 and none["reason"] is None and none["needed"] is None


def test_rounding_to_whole_chunks():
    rows = [
        {
            "cell": "c",
            "estimator": "blup",
            "groups": "all",
            "reps": 100,
            "failures": 0,
            "mse": 1.0,
            "mse_mcse": m,
        }
        for m in (0.1,)
    ]
    # 100 (0.1 / 0.05)^2 = 400 exactly (up to rounding): 400, not 500
    assert plan_cell(rows, block(("blup", "mse", 0.05), pilot=100, cap=1000), 100)["replications"] == 400
    assert plan_cell(rows, block(("blup", "mse", 0.0499), pilot=100, cap=1000), 100)["replications"] == 500


def test_plan_json_round_trip(tmp_path):
    losses, varcomp, _ = pilot_losses()
    plan = plan_from_pilot(losses, varcomp, CELL, block(("blup", "rel_mse", 0.02)), 20)
    path = tmp_path / "plan.json"
    path.write_text(plan_json(plan))
    assert read_plan(path) == plan and plan_json(read_plan(path)) == path.read_text()
    path.write_text(json.dumps(dict(plan, version=99)))
    with pytest.raises(ValueError, match="version 99"):
        read_plan(path)


# --- the plan file: checksum, identity, bounds ----------------------------------------------------

PLAN_BLOCK = dict(
    block(("blup", "rel_mse", 0.02), ("blup", "coverage", 0.02), pilot=40, cap=400), chunk_size=20
)


def written_plan(tmp_path):
    losses, varcomp, _ = pilot_losses()
    plan = plan_from_pilot(losses, varcomp, CELL, PLAN_BLOCK, 20)
    path = tmp_path / "plan.json"
    path.write_text(plan_json(plan))
    return plan, path


def edited(text: str, **values) -> str:
    """The plan's JSON text with some top-level values replaced, its checksum kept or (with
    ``sha256=None``) recomputed as ``plan_json`` would."""
    plan = json.loads(text)
    resign = values.pop("sha256", "keep") is None
    plan.update(values)
    if resign:
        return plan_json({k: v for k, v in plan.items() if k != "sha256"})
    return json.dumps(plan, indent=2, sort_keys=True) + "\n"


def test_a_damaged_or_hand_edited_plan_is_named(tmp_path):
    """A plan read with its cell and block: every kind of damage or edit is a DamagedFile naming
    the file, the problem and what to do, never a plan silently used."""
    plan, path = written_plan(tmp_path)
    good = path.read_text()
    assert read_plan(path, cell=CELL.name, block=PLAN_BLOCK) == plan
    reps = plan["replications"]
    assert 40 < reps < 400 and not plan["capped"]
    # one flipped bit in the count's tens digit (20 -> 30, 160 -> 170: each even digit and the
    # next differ in their lowest bit)
    at = good.index(f'"replications": {reps}') + len('"replications": ') + len(str(reps)) - 2
    flipped = bytearray(good.encode())
    flipped[at] ^= 0x01
    cases = {
        "a flipped bit": (bytes(flipped), "checksum mismatch"),
        "20000 by hand": (edited(good, replications=20000).encode(), "checksum mismatch"),
        "20000 by hand, checksum redone": (
            edited(good, replications=20000, sha256=None).encode(),
            "plans 20000 replications, outside the block's pilot 40 to max 400",
        ),
        "another count by hand, checksum redone": (
            edited(good, replications=reps + 20, sha256=None).encode(),
            f"plans {reps + 20} replications where its needed",
        ),
        "not whole chunks": (
            edited(good, replications=reps + 1, sha256=None).encode(),
            "not whole chunks of 20",
        ),
        "another cell's": (
            edited(good, cell="J3_n4_sigma1_tau1_mu0", sha256=None).encode(),
            "is the plan of cell 'J3_n4_sigma1_tau1_mu0', expected",
        ),
        "another max": (
            edited(good, max=800, sha256=None).encode(),
            "planned with max 800, not the study's 400",
        ),
        "no checksum": (json.dumps(plan).encode(), "no checksum"),
        "cut short": (good.encode()[: len(good) // 2], "not a readable plan"),
        "zero bytes": (b"", "empty file"),
        "not UTF-8": (b"\xff\xfe" + good.encode(), "not a readable plan"),
    }
    for case, (content, reason) in cases.items():
        path.write_bytes(content)
        with pytest.raises(DamagedFile) as err:
            read_plan(path, cell=CELL.name, block=PLAN_BLOCK)
        line = str(err.value)
        assert line.startswith(f"{path}: ") and reason in line, (case, line)
        assert line.endswith("; delete it and run the same command again") and "\n" not in line, case
    # targets other than the study's (the block changed, the plan did not)
    path.write_text(good)
    other = dict(PLAN_BLOCK, targets=PLAN_BLOCK["targets"][:1])
    with pytest.raises(DamagedFile, match="other precision targets than the study's"):
        read_plan(path, cell=CELL.name, block=other)
    path.unlink()
    with pytest.raises(DamagedFile, match="missing"):
        read_plan(path)


def test_a_target_beyond_a_floats_range_holds_the_cell_at_max(tmp_path):
    """A target 1e-200: (MCSE / target)^2 is beyond a float's range; the count is the ceiling,
    the cell is held at max and flagged capped, and the plan is valid JSON that reads back."""
    for measure, mcse in (("mse", 0.1), ("empse", 0.1), ("coverage", 0.0), ("rel_mse", 1e150)):
        assert needed_replications(measure, mcse, 40, 40, 1e-200) == NEEDED_CEILING, measure
        assert needed_replications(measure, mcse, 40, 40, 1e-200, cap=400) == 400, measure
    assert needed_replications("mse", 0.1, 40, 50, 0.01) == pytest.approx(40 * 100 * 50 / 40)  # as before
    losses, varcomp, _ = pilot_losses()
    tiny = dict(PLAN_BLOCK, targets=[{"estimator": "blup", "measure": "coverage", "mcse": 1e-200}])
    plan = plan_from_pilot(losses, varcomp, CELL, tiny, 20)
    assert plan["replications"] == 400 and plan["capped"] is True and plan["needed"] == NEEDED_CEILING
    path = tmp_path / "plan.json"
    path.write_text(plan_json(plan))
    assert read_plan(path, cell=CELL.name, block=tiny) == plan


# --- config ----------------------------------------------------------------------------------------

CONFIG = {
    "chunk_size": 20,
    "estimators": ["raw", "blup"],
    "precision": block(("blup", "rel_mse", 0.005), ("blup", "coverage", 0.005), pilot=40, cap=200),
    "grid": {"b": {"J": [3], "sizes": [4], "sigma": [1], "tau": [1]}},
}


def test_precision_study_runs_the_pilot_chunks():
    study = load_study(copy.deepcopy(CONFIG))
    assert study.chunks == [(0, 20), (20, 40)] and study.precision["max"] == 200
    assert "replications" not in study.config  # not used, not recorded
    fixed = load_study({k: v for k, v in CONFIG.items() if k != "precision"})
    assert fixed.precision is None and fixed.config["replications"] == 1000


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(replications=40), r"^precision: a precision block sets the replications"),
        (
            lambda c: c["precision"].update(pilot=30),
            r"^precision\.pilot: 30 is not a multiple of chunk_size 20",
        ),
        (
            lambda c: c["precision"].update(max=210),
            r"^precision\.max: 210 is not a multiple of chunk_size 20",
        ),
        (
            lambda c: c["precision"].update(pilot=400),
            r"^precision\.pilot: 400 is more than precision\.max 200",
        ),
        (
            lambda c: c["precision"]["targets"][0].update(estimator="oracle"),
            r"^precision\.targets\.0\.estimator: 'oracle' is not one of the study's estimators",
        ),
        (
            lambda c: c["precision"]["targets"][1].update(measure="power"),
            r"^precision\.targets\.1\.measure: 'power' is not valid",
        ),
        (
            lambda c: c["precision"]["targets"][0].update(mcse=0),
            r"^precision\.targets\.0\.mcse: 0 is not valid",
        ),
        (
            lambda c: c["precision"]["targets"][0].update(mcse=float("inf")),
            r"^precision\.targets\.0\.mcse: inf is not a finite",
        ),
        (
            lambda c: c["precision"]["targets"].append(
                {"estimator": "blup", "measure": "coverage", "mcse": 0.1}
            ),
            r"^precision\.targets\.2: a second target for coverage of blup",
        ),
        (
            lambda c: c["precision"]["targets"][0].update(mcse=1e-200),
            r"^precision\.targets\.0\.mcse: 1e-200 is not valid "
            r"\(1e-200 is less than the minimum of 1e-12\)$",
        ),
        (
            lambda c: c.update(estimators=["raw", "blup", "pooled"])
            or c["precision"]["targets"][1].update(estimator="pooled"),
            r"^precision\.targets\.1\.measure: coverage of pooled cannot apply \(pooled gives no interval",
        ),
        (
            lambda c: c.update(estimators=["raw", "blup", "pooled"])
            or c["precision"]["targets"][0].update(estimator="pooled", measure="width"),
            r"^precision\.targets\.0\.measure: width of pooled cannot apply",
        ),
        (
            lambda c: c["precision"]["targets"][0].update(estimator="raw"),
            r"^precision\.targets\.0\.measure: rel_mse of raw cannot apply \(it is 1 by definition",
        ),
        (lambda c: c["precision"].pop("max"), r"^precision: 'max' is a required property$"),
        (lambda c: c["precision"].update(targets=[]), r"^precision\.targets: \[\] is not valid"),
        (
            lambda c: c["precision"].update(chunk_size=10),
            r"^precision: Additional properties are not allowed",
        ),
        (
            lambda c: c["precision"].update(max=10**6),
            r"^precision\.max: 1 cells x 50000 chunks is 50,000 jobs",
        ),
    ],
)
def test_bad_precision_blocks_are_named(edit, message):
    cfg = copy.deepcopy(CONFIG)
    edit(cfg)
    with pytest.raises(ConfigError, match=message):
        load_study(cfg)


# --- shrinkstudy replicate on a precision study ----------------------------------------------------


def test_replicate_reads_the_cells_plan(tmp_path, monkeypatch, capsys):
    """A precision study's replication: any the cell's plan ran is regenerated and refitted; one
    beyond the plan, a cell not yet planned, or a damaged plan is one line and exit code 2.
    The command is the one failures.md prints (``tables.replicate_command``)."""
    import yaml

    from shrinkstudy.cli import main
    from shrinkstudy.study.fit import replicate
    from shrinkstudy.report.tables import replicate_command

    config = copy.deepcopy(CONFIG)
    study = load_study(copy.deepcopy(config))
    cell = study.cells[0]
    losses, varcomp, _ = pilot_losses()
    rows = [dict(r, cell=cell.name) for r in summary_rows(losses, varcomp, cell)]
    plan = plan_cell(rows, plan_block(study.config), 20)
    assert plan["replications"] == 200  # held at max: the coverage target needs more
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    command = replicate_command(cell.name, 199, ["study.yaml"]).split()[1:]

    assert main(command) == 2  # no plan yet
    assert f"no plan of cell {cell.name}" in capsys.readouterr().err
    plan_path = tmp_path / "results" / "plan" / f"{cell.name}.json"
    plan_path.parent.mkdir(parents=True)
    plan_path.write_text(plan_json(plan))

    assert main(command + ["--out", "out"]) == 0
    out = capsys.readouterr().out
    assert f"cell {cell.name}, replication 199" in out
    res = replicate(study, cell.name, 199, tmp_path, workdir=tmp_path)
    stored = pd.read_csv(tmp_path / "out" / f"{cell.name}_rep199.losses.csv")
    assert stored["sq_err"].tolist() == res.losses["sq_err"].tolist() and (stored["rep"] == 199).all()

    assert main(replicate_command(cell.name, 200, ["study.yaml"]).split()[1:]) == 2
    err = capsys.readouterr().err
    assert err.startswith("shrinkstudy: error: replication 200 is not one of the study's 0 to 199 (its plan ")
    plan_path.write_text(plan_json(plan).replace('"replications": 200', '"replications": 2000'))
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"shrinkstudy: error: {plan_path}: its values differ from those written (checksum mismatch); "
        "delete it and run the study again (its plan job writes it anew)"
    )


# --- the replication table -------------------------------------------------------------------------


def test_replication_table_with_plans(tmp_path):
    losses, varcomp, _ = pilot_losses()
    rows = summary_rows(losses, varcomp, CELL)
    summary = pd.DataFrame(rows)
    plan = plan_cell(rows, block(("blup", "mse", 1e-4), ("pooled", "coverage", 0.01), cap=40), 20)
    assert plan["capped"] and plan["replications"] == 40
    rep = replication_table(summary, [plan])
    assert tuple(rep.columns) == REPLICATION_COLUMNS + PLAN_COLUMNS
    r = rep.iloc[0]
    assert (r["planned"], r["run"], r["reason"], bool(r["capped"]), bool(r["all_met"])) == (
        40,
        40,
        "cap",
        True,
        False,
    )
    blup = next(x for x in rows if x["estimator"] == "blup")
    assert r["achieved_mcse"] == blup["mse_mcse"] and r["target_measure"] == "mse"
    assert tuple(replication_table(summary).columns) == REPLICATION_COLUMNS  # no plans: as before
    write_tables(summary, tmp_path / "a", {}, plans=[plan])
    write_tables(summary, tmp_path / "b", {})
    md = (tmp_path / "a" / "replication.md").read_text()
    assert "Held at the cap: 1 of 1 cells (J3_n4_sigma2_tau1_mu0)" in md and "**cap 40**" in md
    plain = (tmp_path / "b" / "replication.md").read_text()
    assert md.startswith(plain) and "precision targets" not in plain


def test_replication_markdown_lists_every_target_of_every_cell(tmp_path):
    """Point 4 of round 2: replication.md gave only the target that set a cell's count. Every
    target of the cell is listed, with its pilot MCSE, the count it needs, the MCSE reached and
    whether it is met; a target whose estimator the cell lacks says n/a."""
    from shrinkstudy.report.tables import plan_targets

    losses, varcomp, _ = pilot_losses()
    rows = summary_rows(losses, varcomp, CELL)
    summary = pd.DataFrame(rows)
    plan = plan_cell(rows, block(("blup", "mse", 1e-4), ("pooled", "coverage", 0.01), ("raw", "mse", 10.0),
                                 ("absent_one", "mse", 0.1), cap=40), 20)
    targets = plan_targets([plan], summary)
    assert [(r.estimator, r.measure) for r in targets.itertuples()] == [
        ("blup", "mse"), ("pooled", "coverage"), ("raw", "mse"), ("absent_one", "mse")]
    by = {r.estimator: r for r in targets.itertuples()}
    raw = next(x for x in rows if x["estimator"] == "raw" and x["groups"] == "all")
    assert by["raw"].achieved_mcse == raw["mse_mcse"] and by["raw"].met and by["raw"].applies
    assert not by["blup"].met and not by["absent_one"].applies
    write_tables(summary, tmp_path, {}, plans=[plan])
    md = (tmp_path / "replication.md").read_text().split("### Every target per cell", 1)[1]
    lines = [l for l in md.splitlines() if l.startswith(f"| {plan['cell']} |")]
    assert [l.split(" | ")[1] for l in lines] == ["mse of blup", "coverage of pooled", "mse of raw", "mse of absent_one"]
    assert lines[2].endswith("| yes |") and lines[0].endswith("| no |") and lines[3].endswith("| n/a | n/a | n/a |")


# --- the workflow ----------------------------------------------------------------------------------

SEED_CELL = "J12_n100x6+2x6_sigma5_tau1_mu0"
SMALL_CELL = "J3_n4_sigma2_tau1_mu0"
PRECISE = {
    "base_seed": 5,
    "chunk_size": 20,
    "estimators": ["raw", "blup"],
    # J3: needs about 490 for the coverage of blup, held at 200; the seed's design: about 140 -> 160
    "precision": block(("blup", "rel_mse", 0.02), ("blup", "coverage", 0.02), pilot=40, cap=200),
    "grid": {
        "b": {"J": [3], "sizes": [4], "sigma": [2], "tau": [1]},
        "seed": {"sizes": ["100x6+2x6"], "sigma": [5], "tau": [1]},
    },
}


@pytest.fixture(scope="module")
def precise(tmp_path_factory, repo):  # noqa: F811 (the fixture imported above)
    """The tiny precision study, run once on 2 cores."""
    REPO[:] = [repo]
    workdir = tmp_path_factory.mktemp("precise")
    write_config(workdir, PRECISE)
    snakemake(workdir, "--cores", "2")
    return workdir


def plans_of(workdir, results="results"):
    return {p.stem: read_plan(p) for p in (workdir / results / "plan").glob("*.json")}


@pytest.mark.slow
@pytest.mark.parametrize("cell", [SMALL_CELL, SEED_CELL])
def test_workflow_plan_against_a_hand_computation(precise, cell):
    fit = precise / "results" / "fit" / cell
    losses = pd.concat([pd.read_parquet(fit / f"reps{a}-{a + 20}.losses.parquet") for a in (0, 20)])
    allrows = losses[losses["groups"] == "all"].sort_values("rep")
    assert not allrows["failed"].any()
    x = allrows.loc[allrows["estimator"] == "blup", "sq_err"].to_numpy()
    y = allrows.loc[allrows["estimator"] == "raw", "sq_err"].to_numpy()
    c = allrows.loc[allrows["estimator"] == "blup", "covered"].to_numpy()
    z = (x - x.mean() / y.mean() * y) / y.mean()
    need = max(np.var(z, ddof=1) / 0.02**2, np.var(c, ddof=1) / 0.02**2)
    plan = plans_of(precise)[cell]
    assert plan["needed"] == pytest.approx(need, rel=1e-10)
    assert plan["replications"] == min(max(20 * math.ceil(need / 20), 40), 200)
    assert plan["capped"] == (need > 200)
    # the cell's summary reads exactly the planned chunks
    summary = pd.read_csv(precise / "results" / "tables" / "summary.csv")
    summary = summary[summary["cell"] == cell]
    assert set(summary["reps"] + summary["failures"]) == {plan["replications"]}
    assert sorted(p.name for p in fit.glob("*.losses.parquet")) == sorted(
        f"reps{a}-{a + 20}.losses.parquet" for a in range(0, plan["replications"], 20)
    )


@pytest.mark.slow
def test_cap_is_respected_and_flagged(precise):
    plans = plans_of(precise)
    assert plans[SMALL_CELL]["capped"] and plans[SMALL_CELL]["replications"] == 200
    assert not plans[SEED_CELL]["capped"] and 40 < plans[SEED_CELL]["replications"] < 200
    rep = pd.read_csv(precise / "results" / "tables" / "replication.csv").set_index("cell")
    assert rep.at[SMALL_CELL, "capped"] and rep.at[SMALL_CELL, "reason"] == "cap"
    assert rep.at[SMALL_CELL, "planned"] == rep.at[SMALL_CELL, "run"] == 200
    assert not rep.at[SEED_CELL, "capped"] and rep.at[SEED_CELL, "reason"] == "target"
    assert rep.at[SEED_CELL, "run"] == plans[SEED_CELL]["replications"]
    md = (precise / "results" / "tables" / "replication.md").read_text()
    assert f"Held at the cap: 1 of 2 cells ({SMALL_CELL})" in md and "**cap 200**" in md


@pytest.mark.slow
def test_a_second_run_does_nothing(precise):
    assert planned_jobs(precise) == {}


@pytest.mark.slow
def test_numbers_equal_a_fixed_run_byte_for_byte(precise):
    """Each cell alone, with fixed replications = its planned count: the same summary rows, byte
    for byte, and the same failures."""
    plans = plans_of(precise)
    for k, (name, spec) in enumerate(PRECISE["grid"].items()):
        cell = SMALL_CELL if name == "b" else SEED_CELL
        fixed = {key: v for key, v in PRECISE.items() if key not in ("precision", "grid")}
        fixed.update(replications=plans[cell]["replications"], grid={name: spec}, results=f"results/fixed{k}")
        sub = precise / f"fixed{k}"
        sub.mkdir()
        cfg = write_config(sub, fixed)
        snakemake(precise, "--cores", "2", f"results/fixed{k}/tables/summary.csv", config=cfg)
        tables = precise / "results" / "tables"
        fixed_tables = precise / f"results/fixed{k}" / "tables"
        rows = [line for line in (tables / "summary.csv").read_text().splitlines() if line.startswith(cell + ",")]
        header, *fixed_rows = (fixed_tables / "summary.csv").read_text().splitlines()
        assert rows and rows == fixed_rows
        columns = ["cell", "rep", "estimator", "message"]
        a = pd.read_csv(tables / "failures.csv", keep_default_na=False)[columns]
        b = pd.read_csv(fixed_tables / "failures.csv", keep_default_na=False)[columns]
        pd.testing.assert_frame_equal(a[a["cell"] == cell].reset_index(drop=True), b)


@pytest.mark.slow
def test_a_tighter_target_only_adds_chunks(repo, tmp_path):  # noqa: F811
    """One cell, first at a loose target (the pilot suffices), then tighter: the plan reruns, and
    then only the new chunks are simulated and fitted; the pilot's files are kept as they are."""
    REPO[:] = [repo]
    config = copy.deepcopy(PRECISE)
    config["grid"] = {"seed": PRECISE["grid"]["seed"]}
    config["precision"] = block(("blup", "rel_mse", 0.05), pilot=40, cap=200)
    write_config(tmp_path, config)
    snakemake(tmp_path, "--cores", "2", "results/tables/replication.md")
    assert plans_of(tmp_path)[SEED_CELL]["replications"] == 40
    fits = tmp_path / "results" / "fit" / SEED_CELL
    before = {p.name: p.stat().st_mtime_ns for p in fits.iterdir()}
    config["precision"] = block(("blup", "rel_mse", 0.05), ("blup", "coverage", 0.02), pilot=40, cap=200)
    write_config(tmp_path, config)
    jobs = planned_jobs(tmp_path, "results/tables/replication.md")
    assert set(jobs) == {"plan", "aggregate"}, jobs  # the new plan first; no chunk reruns
    snakemake(tmp_path, "--cores", "2", "results/tables/replication.md", "--until", "plan")  # (nargs="+")
    planned = plans_of(tmp_path)[SEED_CELL]["replications"]
    assert planned > 40
    jobs = planned_jobs(tmp_path, "results/tables/replication.md")
    starts = sorted(int(w.split("start=")[1].split(",")[0]) for w in jobs["simulate"])
    assert starts == list(range(40, planned, 20))
    assert sorted(int(w.split("start=")[1].split(",")[0]) for w in jobs["fit"]) == starts
    snakemake(tmp_path, "--cores", "2", "results/tables/replication.md")
    after = {p.name: p.stat().st_mtime_ns for p in fits.iterdir()}
    assert all(after[n] == t for n, t in before.items())
    assert len(after) == 2 * planned // 20
    assert planned_jobs(tmp_path, "results/tables/replication.md") == {}


TWO_PLANNED = {
    "base_seed": 3,
    "chunk_size": 20,
    "keep_datasets": False,  # the datasets are temporary: deleted once fitted
    "estimators": ["raw", "blup"],
    "precision": block(("blup", "rel_mse", 0.02), pilot=20, cap=60),
    "grid": {"b": {"J": [3], "sizes": [2], "sigma": [3, 5], "tau": [1]}},
}


@pytest.mark.slow
def test_a_damaged_plan_or_dataset_is_named_and_the_same_command_rebuilds_it(repo, tmp_path):  # noqa: F811
    """A finished precision study. A plan with one flipped bit stops the next run before any job
    with one line naming it; deleted as the line says, the same command writes it again (the
    same bytes) and the tables too. A dataset made again, damaged before its fit reads it: the
    fit stops with one line and leaves no fit files; the dataset deleted as the line says, the
    same command makes the dataset and both fit files again (the same bytes), although the
    tables of the first run are there, and then has nothing left to do."""
    from test_workflow import _stopped_on

    REPO[:] = [repo]
    write_config(tmp_path, TWO_PLANNED)
    snakemake(tmp_path, "--cores", "2")
    cell = "J3_n2_sigma3_tau1_mu0"
    plan = tmp_path / "results" / "plan" / f"{cell}.json"
    tables = {p.name: p.read_bytes() for p in (tmp_path / "results" / "tables").glob("*.csv")}
    good_plan = plan.read_bytes()
    reps = json.loads(good_plan)["replications"]
    at = good_plan.index(f'"replications": {reps}'.encode()) + len('"replications": ') + len(str(reps)) - 2
    flipped = bytearray(good_plan)
    flipped[at] ^= 0x01
    plan.write_bytes(bytes(flipped))
    _stopped_on(snakemake(tmp_path, "--cores", "2", check=False), f"results/plan/{cell}.json")
    plan.unlink()
    snakemake(tmp_path, "--cores", "2")
    assert plan.read_bytes() == good_plan
    assert {p.name: p.read_bytes() for p in (tmp_path / "results" / "tables").glob("*.csv")} == tables

    data = f"results/simulate/{cell}/reps20-40.parquet"
    fits = [tmp_path / f"results/fit/{cell}/reps20-40.{kind}.parquet" for kind in ("losses", "varcomp")]
    good_fits = [f.read_bytes() for f in fits]
    assert not (tmp_path / data).exists()  # deleted once fitted
    snakemake(tmp_path, "--cores", "1", data)  # made again (and its truth file: the fit reruns)
    damaged = bytearray((tmp_path / data).read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (tmp_path / data).write_bytes(bytes(damaged))
    _stopped_on(snakemake(tmp_path, "--cores", "2", check=False), data)
    assert not any(f.exists() for f in fits)
    (tmp_path / data).unlink()
    snakemake(tmp_path, "--cores", "2")
    assert [f.read_bytes() for f in fits] == good_fits
    assert {p.name: p.read_bytes() for p in (tmp_path / "results" / "tables").glob("*.csv")} == tables
    assert planned_jobs(tmp_path) == {}


def test_the_commented_example_of_the_default_config_is_a_valid_study():
    """config/config.yaml's commented precision block, uncommented (replications left out)."""
    import yaml

    from shrinkstudy.config import DEFAULT_CONFIG, read_config_file

    lines = DEFAULT_CONFIG.read_text().splitlines()
    start = lines.index("#   chunk_size: 100")
    example = []
    for line in lines[start:]:
        if not line.startswith("#   "):
            break
        example.append(line[4:])
    config = {k: v for k, v in read_config_file(DEFAULT_CONFIG).items() if k != "replications"}
    config.update(yaml.safe_load("\n".join(example)))
    study = load_study(config)
    assert study.precision["pilot"] == 200 and study.chunks == [(0, 100), (100, 200)]
    assert [t["measure"] for t in study.precision["targets"]] == ["rel_mse", "coverage"]
