"""``shrinkstudy advise``: the study it writes for a dataset, the run, and the advice read from it.

The runs share module-scoped fixtures, each in a copy of the project (the study runs there) with
few replications: a long-form dataset of very unequal group sizes (tests/data/clinics_unequal.csv),
data simulated with tau = 0 (and a negative mu, and a design label long enough to be hashed in
the cell names) and data whose tau is much larger than their standard errors; and, in the
known-SE form (--se), the eight schools (tests/data/eight_schools.csv) and Efron & Morris's
batting averages after 45 at bats (tests/data/efron_morris_1975.csv, equal standard errors).
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from shrinkstudy.cli import advise as advise_cli
from shrinkstudy.design.calibration import Calibration, round_digits
from shrinkstudy.report import advice
from shrinkstudy.study import advise
from shrinkstudy.config import DEFAULT_CONFIG, load_study, read_config_file
from shrinkstudy.design.cells import Cell, cells_from_config, design_token
from shrinkstudy.report.tables import format_estimate, read_summary

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
PROJECT_FILES = ("Snakefile", "workflow", "src", "config", "profiles", "matplotlibrc")
REPS = 40

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project (workflow, library, profile) in which the studies run."""
    dest = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def run_advise(project: Path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(project / "src"), MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "shrinkstudy", "advise", *map(str, args), "--cores", "2"]
    return subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)


def advise_command(project: Path, csv: Path, out: str, *args) -> list[str]:
    return [sys.executable, "-m", "shrinkstudy", "advise", str(csv), "--out", out, "--replications", str(REPS),
            "--cores", "2", *args]


def write_long(path: Path, sizes, mu: float, tau: float, sigma: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    rows = ["group,y"]
    for j, n in enumerate(sizes):
        m = mu + tau * rng.standard_normal()
        rows += [f"g{j},{v!r}" for v in (m + sigma * rng.standard_normal(n)).tolist()]
    path.write_text("\n".join(rows) + "\n")
    return path


#: 14 groups of distinct sizes: a design label of more than 64 characters
LONG_SIZES = tuple(range(10, 38, 2))


@pytest.fixture(scope="module")
def runs(project, tmp_path_factory) -> dict[str, Path]:
    """The three advise runs, side by side (each its own results directory): the unequal
    clinics; data with tau = 0, mu = -5.04 and a long design label; data with tau 40 times
    their standard errors."""
    data = tmp_path_factory.mktemp("data")
    jobs = {
        "clinics": (DATA / "clinics_unequal.csv", "--group", "clinic", "--value", "score"),
        "flat": (write_long(data / "flat.csv", LONG_SIZES, -5.04, 0.0, 1.0, seed=11),),
        "spread": (write_long(data / "spread.csv", (20,) * 10, 3.0, 40.0, 1.0, seed=12),),
    }
    return run_side_by_side(project, data, jobs)


def run_side_by_side(project: Path, logs: Path, jobs: dict) -> dict[str, Path]:
    """advise on each of ``jobs`` (name -> (data, *options)) at once, into advice/<name>; their
    output directories."""
    env = dict(os.environ, PYTHONPATH=str(project / "src"), MPLBACKEND="Agg")
    procs = {}
    for name, (csv, *args) in jobs.items():
        cmd = advise_command(project, csv, f"advice/{name}", *args)
        log = open(logs / f"{name}.log", "w")
        procs[name] = (subprocess.Popen(cmd, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT), log)
    for name, (proc, log) in procs.items():
        proc.wait()
        log.close()
        assert proc.returncode == 0, (logs / f"{name}.log").read_text()[-3000:]
    return {name: project / "advice" / name for name in jobs}


@pytest.fixture(scope="module")
def clinics(runs):
    return runs["clinics"]


@pytest.fixture(scope="module")
def tau_zero(runs):
    return runs["flat"]


@pytest.fixture(scope="module")
def tau_large(runs):
    return runs["spread"]


def summary_of(out: Path):
    study = yaml.safe_load((out / "study.yaml").read_text())
    return read_summary(out.parent.parent / study["results"] / "tables" / "summary.csv")


def world_tables(md: str) -> dict[str, list[list[str]]]:
    """advice.md's world tables: title -> rows of cells."""
    out, title = {}, None
    for line in md.splitlines():
        if line.startswith("## World: "):
            title = line[len("## World: ") :]
            out[title] = []
        elif title and line.startswith("| ") and not line.startswith("| estimator"):
            out[title].append([c.strip() for c in line.strip("|").split("|")])
    return out


# --- the study file --------------------------------------------------------------------------


def test_clinics_data_are_their_documented_simulation():
    sys.path.insert(0, str(DATA))
    try:
        import make_clinics_unequal
    finally:
        sys.path.remove(str(DATA))
    assert "\n".join(make_clinics_unequal.rows()) + "\n" == (DATA / "clinics_unequal.csv").read_text()


def test_study_file_is_calibrated_to_the_data(clinics):
    study = yaml.safe_load((clinics / "study.yaml").read_text())
    from shrinkstudy.cli.fitting import _read_and_fit, long_data
    from shrinkstudy.methods.reml import fit_varcomp, tau_interval

    class Args:
        group, value, se, dataset = "clinic", "score", None, None

    data = _read_and_fit(Args, DATA / "clinics_unequal.csv", fit=long_data)
    vc = fit_varcomp(data.stats)
    ti = tau_interval(data.stats, 0.95, fit=vc)
    sizes = np.sort(data.stats.n[0]).astype(int)
    assert sizes[0] == 3 and sizes[-1] == 500 and sizes.size == 30
    assert list(study["grid"]) == ["normal", "t", "npmle"]
    for block, effects in (("normal", "normal"), ("t", "t"), ("npmle", "discrete")):
        spec = study["grid"][block]
        assert spec["effects"] == [effects]
        assert spec["sizes"] == ["+".join(f"{n}x{c}" for n, c in zip(*np.unique(sizes, return_counts=True)))]
        np.testing.assert_allclose(spec["sigma"], [np.sqrt(vc.sigma2[0])], rtol=5e-4)
        np.testing.assert_allclose(spec["mu"], [vc.mu[0]], rtol=5e-4)
        np.testing.assert_allclose(spec["tau"], [ti.lower[0], np.sqrt(vc.tau2[0]), ti.upper[0]], rtol=5e-4)
    pmf = study["grid"]["npmle"]["effects_pmf"][0]
    assert len(pmf["atoms"]) >= 2 and abs(sum(pmf["weights"]) - 1) < 1e-5
    assert study["replications"] == REPS and study["results"] == "advice/clinics/study"
    assert "james_stein" not in study["estimators"]  # unequal sizes: it does not apply
    assert {"raw", "pooled", "blup", "hier_bayes", "npmle", "oracle"} <= set(study["estimators"])
    cells = load_study(study).cells
    assert len(cells) == 9
    # the long design label is hashed: short names
    assert all(c.name.startswith("J30_n.") and len(c.name) < 80 for c in cells)


def test_tau_zero_is_studied_when_the_data_cannot_rule_it_out(tau_zero):
    study = yaml.safe_load((tau_zero / "study.yaml").read_text())
    assert study["grid"]["normal"]["tau"][0] == 0
    assert all(t > 0 for t in study["grid"]["t"]["tau"])
    assert study["grid"]["normal"]["mu"][0] < 0
    md = (tau_zero / "advice.md").read_text()
    assert "It holds tau = 0" in md and "runs tau = 0 (its grid allows it)" in md


def test_negative_mu_and_a_long_design_label_run_through_snakemake(tau_zero):
    """The cells' names (mu written m5.04, the design hashed) match the workflow's wildcard."""
    summary = summary_of(tau_zero)
    names = sorted(set(summary["cell"]))
    label = "+".join(f"{n}x1" for n in LONG_SIZES)
    assert len(label) > 64
    assert all(f"_n{design_token(label)}_" in n and "_mum5" in n for n in names), names
    assert set(summary["design"]) == {label}
    smk = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    pattern = re.search(r'cell=r"([^"]+)"', smk).group(1)
    assert all(re.fullmatch(pattern, n) for n in names)


def test_default_study_cell_names_unchanged():
    """The hashing of long labels leaves every name of config/config.yaml as it was (their
    SHA-256, taken before the change)."""
    cells = load_study(read_config_file(DEFAULT_CONFIG)).cells
    names = "\n".join(c.name for c in cells)
    assert len(cells) == 116
    assert hashlib.sha256(names.encode()).hexdigest() == "94ff9a6e9c45608d55a676e2f99c90b2a68124342e46c33de36ee49514b42a50"


def test_design_token_by_hand():
    assert design_token("100x6+2x6") == "100x6+2x6"
    long = "+".join(f"{n}x1" for n in range(100, 120))
    assert design_token(long) == "." + hashlib.sha256(long.encode()).hexdigest()[:8]
    cell = cells_from_config({"b": {"sizes": [long], "sigma": [1], "tau": [0.5], "mu": [-2.5]}})[0]
    assert cell.name == f"J20_n{design_token(long)}_sigma1_tau0.5_mum2.5"
    assert Cell.from_spec(cell.spec()).name == cell.name


# --- the advice ------------------------------------------------------------------------------


def assert_advice_is_the_summary(out: Path, worlds: int) -> None:
    """advice.md's world tables are summary.csv's rows, as ``tables.format_estimate`` writes
    them, with the best marked; the figure and the self-contained page are there."""
    md = (out / "advice.md").read_text()
    summary = summary_of(out)
    tables = world_tables(md)
    rows = advice.world_rows(summary)
    assert len(tables) == len(rows) == worlds
    for (title, trows), (block, tau, srows) in zip(tables.items(), rows, strict=True):
        assert f"tau = {tau:g}" in title
        assert [r[0].replace(" (floor)", "") for r in trows] == list(srows["estimator"])
        for r, s in zip(trows, srows.itertuples(), strict=True):
            assert r[1] == format_estimate(s.rel_mse, s.rel_mse_mcse)
            assert r[2] == ("" if np.isnan(s.coverage) else format_estimate(s.coverage, s.coverage_mcse))
            assert (r[3] == "yes") == (s.estimator in advice.best_estimators(srows))
    assert f"worlds of {REPS} replications each" in md
    assert (out / "advice.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "advice.html").read_text()
    assert "data:image/png;base64," in page and page.count("<table>") == worlds
    assert "http" not in page  # self-contained


def assert_study_reruns_to_the_same_summary(out: Path, project: Path, results: str) -> None:
    """``out``/study.yaml, run by Snakemake into ``results`` instead: summary.csv's bytes."""
    study = yaml.safe_load((out / "study.yaml").read_text())
    first = (project / study["results"] / "tables" / "summary.csv").read_bytes()
    study["results"] = results
    cfg = project / f"{Path(results).name}.yaml"
    cfg.write_text(yaml.safe_dump(study, sort_keys=False))
    env = dict(os.environ, PYTHONPATH=str(project / "src"), MPLBACKEND="Agg")
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    res = subprocess.run(
        [snakemake, f"{results}/tables/summary.csv", "--cores", "2", "--configfile", str(cfg)],
        cwd=project, env=env, capture_output=True, text=True,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert (project / results / "tables" / "summary.csv").read_bytes() == first


def test_advice_numbers_are_the_summary_tables(clinics):
    assert_advice_is_the_summary(clinics, 9)


def test_study_file_reruns_to_the_same_summary(tau_zero, project):
    """The written study.yaml, run again into another results directory, gives summary.csv's bytes."""
    assert_study_reruns_to_the_same_summary(tau_zero, project, "advice/rerun")


def test_second_call_runs_no_job(clinics, project):
    before = (clinics / "study.yaml").stat().st_mtime_ns
    res = run_advise(project, DATA / "clinics_unequal.csv", "--out", "advice/clinics", "--replications", REPS,
                     "--group", "clinic", "--value", "score")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Nothing to be done" in res.stderr + res.stdout
    assert (clinics / "study.yaml").stat().st_mtime_ns == before  # not rewritten


def test_tau_zero_pooled_or_blup_within_mcse_of_the_best(tau_zero):
    for block, tau, rows in advice.world_rows(summary_of(tau_zero)):
        if tau == 0:
            best = advice.best_estimators(rows)
            assert {"pooled", "blup"} & set(best), (block, best)
            assert "raw" not in best


def test_tau_large_raw_within_mcse_of_the_best(tau_large):
    """tau 40 times the SEs: raw is best within MCSE in the normal and t worlds. In the world of
    the data's own NPMLE (ten atoms, one per group, far apart against the SEs) the NPMLE finds
    the atoms and beats every other estimator, raw included: that is the advice too."""
    worlds = advice.world_rows(summary_of(tau_large))
    assert len(worlds) == 9
    for block, tau, rows in worlds:
        best = advice.best_estimators(rows)
        assert ("raw" in best) == (block != "npmle"), (block, tau, best)
        assert "pooled" not in best
        if block == "npmle":
            assert best == ["npmle"]


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--value", "nope"], "no column 'nope'"),
        (["--se", "score"], "--value and --se both name column 'score'; each needs its own"),
        (["--out", "/tmp/elsewhere-advice"], "must be a directory inside the project"),
        (["--estimator", "/tmp/mine.py:estimate"], "is not inside the project"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(project, args, message):
    out = ["--out", "advice/bad"] if "--out" not in args else []
    res = run_advise(project, DATA / "clinics_unequal.csv", "--group", "clinic", "--value", "score", *out, *args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not (project / "advice" / "bad").exists() and not Path("/tmp/elsewhere-advice").exists()


def test_bad_data_gets_fits_message(project, tmp_path):
    """A single group: the same line as 'shrinkstudy fit' gives, exit 2, nothing written."""
    csv = tmp_path / "one.csv"
    csv.write_text("group,y\na,1\na,2\n")
    res = run_advise(project, csv, "--out", "advice/bad")
    env = dict(os.environ, PYTHONPATH=str(project / "src"))
    fit = subprocess.run([sys.executable, "-m", "shrinkstudy", "fit", str(csv), "--out", str(tmp_path / "fit")],
                         cwd=project, env=env, capture_output=True, text=True)
    assert res.returncode == fit.returncode == 2
    assert res.stderr == fit.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (project / "advice" / "bad").exists()


# --- the pieces, by hand ---------------------------------------------------------------------


def test_best_within_two_combined_mcse_by_hand(summary_table):
    """r_min = 0.50 (MCSE 0.01): 0.52 (0.01) is within 2 sqrt(2) 0.01 = 0.0283, 0.53 (0.01) is
    not; raw (1, MCSE 0) is far; the oracle is never best, whatever its MSE."""
    rows = [
        {"estimator": e, "groups": "all", "rel_mse": r, "rel_mse_mcse": m, "J": 4, "N": 20, "reps": 100,
         "failures": 0, "balanced": True}
        for e, r, m in [("raw", 1.0, 0.0), ("blup", 0.50, 0.01), ("hier_bayes", 0.52, 0.01),
                        ("npmle", 0.53, 0.01), ("sure", 0.51, float("nan")), ("oracle", 0.2, 0.01)]
    ]
    assert advice.best_estimators(summary_table(rows)) == ["blup", "hier_bayes", "sure"]


def _calibration(**kw):
    base = dict(sizes=(5, 5, 5, 5), mu=-1.23456, sigma=2.0, tau=0.0, tau_lower=0.0, tau_upper=1.98765,
                zero_inside=True, atoms=(0.5,), weights=(1.0,))
    return Calibration(**{**base, **kw})


def test_study_of_balanced_data_at_a_boundary_fit():
    """tau^ = 0 and its interval's lower end 0 are one value of tau; the t world runs only tau > 0;
    a one-atom NPMLE gives no world of its own; balanced sizes give J and James-Stein."""
    cal = _calibration()
    assert cal.taus() == {0.0: "the lower end of its 95% interval and the fit", 1.988: "the upper end of its 95% interval"}
    assert cal.pmf() is None
    config = advise.study_config(cal, name="x.csv", results="advice/x/study", replications=200)
    assert config["grid"] == {
        "normal": {"J": [4], "sizes": ["5"], "sigma": [2.0], "tau": [0.0, 1.988], "mu": [-1.235], "effects": ["normal"]},
        "t": {"J": [4], "sizes": ["5"], "sigma": [2.0], "tau": [1.988], "mu": [-1.235], "effects": ["t"]},
    }
    assert "james_stein" in config["estimators"] and config["chunk_size"] == 200
    assert [c.name for c in load_study(config).cells] == [
        "J4_n5_sigma2_tau0_mum1.235", "J4_n5_sigma2_tau1.988_mum1.235", "J4_n5_sigma2_tau1.988_mum1.235_eff-t3",
    ]
    # the same calibration, the same text
    again = advise.study_config(_calibration(), name="x.csv", results="advice/x/study", replications=200)
    assert advise.study_text(config) == advise.study_text(again)


def test_user_estimator_specs_are_written_relative_to_the_project(tmp_path):
    from shrinkstudy.cli import InputError

    (tmp_path / "mine").mkdir()
    spec = str(tmp_path / "mine" / "est.py") + ":estimate"
    assert advise_cli._user_specs([spec, "pkg.mod:fn"], tmp_path) == ["mine/est.py:estimate", "pkg.mod:fn"]
    with pytest.raises(InputError, match="is not inside the project"):
        advise_cli._user_specs(["/elsewhere/est.py:estimate"], tmp_path)


# --- the known-SE form (--se) ----------------------------------------------------------------

SCHOOLS = DATA / "eight_schools.csv"
SCHOOLS_SE = (15, 10, 16, 11, 9, 11, 10, 18)
SCHOOLS_Y = (28, 8, -3, 7, -1, 1, 18, 12)
BASEBALL = DATA / "efron_morris_1975.csv"


def write_baseball(path: Path) -> Path:
    """The 18 players' averages after 45 at bats with their common standard error
    sqrt(p (1 - p) / 45), p the mean of the 18 averages (as tests/test_knownse.py writes them)."""
    import pandas as pd

    df = pd.read_csv(BASEBALL)
    p = df["y"].mean()
    df["se"] = np.sqrt(p * (1 - p) / 45)
    df.to_csv(path, index=False)
    return path


KNOWN_SE_ARGS = {
    "schools": ("--group", "school", "--value", "estimate", "--se", "se"),
    "baseball": ("--group", "name", "--value", "y", "--se", "se"),
}


@pytest.fixture(scope="module")
def known_se_runs(project, tmp_path_factory) -> dict[str, Path]:
    """advise --se on the eight schools and on the batting averages, side by side."""
    data = tmp_path_factory.mktemp("knownse")
    files = {"schools": SCHOOLS, "baseball": write_baseball(data / "baseball.csv")}
    runs = run_side_by_side(project, data, {name: (csv, *KNOWN_SE_ARGS[name]) for name, csv in files.items()})
    runs["baseball.csv"] = files["baseball"]
    return runs


def test_schools_study_is_their_standard_errors_and_fit(known_se_runs):
    from shrinkstudy.methods.knownse import KNOWN_SE_ESTIMATORS, fit_meta_varcomp, meta_tau_interval

    study = yaml.safe_load((known_se_runs["schools"] / "study.yaml").read_text())
    y, se = np.array(SCHOOLS_Y, float)[None], np.array(SCHOOLS_SE, float)[None]
    vc = fit_meta_varcomp(y, se)
    ti = meta_tau_interval(y, se, 0.95, fit=vc)
    assert vc.tau2[0] == 0 and ti.zero_inside[0]  # tau^ = 0, and the interval holds 0
    # the NPMLE of the eight estimates is one atom: no world of its own; t effects need tau > 0
    assert list(study["grid"]) == ["normal", "t"]
    for block in ("normal", "t"):
        spec = study["grid"][block]
        assert spec["ses"] == [sorted(float(s) for s in SCHOOLS_SE)]
        assert not {"sizes", "sigma", "J"} & set(spec)
        np.testing.assert_allclose(spec["mu"], [vc.mu[0]], rtol=5e-4)
    np.testing.assert_allclose(study["grid"]["normal"]["tau"], [0.0, ti.upper[0]], rtol=5e-4)
    np.testing.assert_allclose(study["grid"]["t"]["tau"], [ti.upper[0]], rtol=5e-4)
    # every built-in with a known-SE form, but James-Stein (the SEs differ)
    assert study["estimators"] == [e for e in KNOWN_SE_ESTIMATORS if e != "james_stein"]
    assert "bayesglm" not in study["estimators"]
    cells = load_study(study).cells
    assert len(cells) == 3 and all(c.known_se and c.name.startswith("J8_se.") for c in cells)
    md = (known_se_runs["schools"] / "advice.md").read_text()
    assert "- Known standard errors: 8 groups, one estimate and its known standard error each; standard errors 9 to 18." in md
    assert f"mu = {round_digits(vc.mu[0], 4):g}, tau = 0 (95% profile-likelihood interval 0 to {round_digits(ti.upper[0], 4):g})" in md
    assert "It holds tau = 0" in md and "has 1 atom: no shape of its own" in md


def test_baseball_study_has_james_stein(known_se_runs):
    import pandas as pd

    study = yaml.safe_load((known_se_runs["schools"].parent / "baseball" / "study.yaml").read_text())
    se = float(pd.read_csv(known_se_runs["baseball.csv"])["se"].iloc[0])
    assert se == pytest.approx(0.06582, abs=5e-6)
    assert list(study["grid"]) == ["normal", "t", "npmle"]
    for spec in study["grid"].values():
        assert spec["ses"] == [[round_digits(se, 4)] * 18]
    assert "james_stein" in study["estimators"]
    assert len(study["grid"]["npmle"]["effects_pmf"][0]["atoms"]) >= 2
    summary = summary_of(known_se_runs["baseball"])
    js = summary[(summary["estimator"] == "james_stein") & (summary["groups"] == "all")]
    assert len(js) == len(advice.world_rows(summary)) == 7 and js["rel_mse"].notna().all()
    assert set(summary["design"]) == {f"se{round_digits(se, 4):g}x18"}
    md = (known_se_runs["baseball"] / "advice.md").read_text()
    assert "- Known standard errors: 18 groups, one estimate and its known standard error each; standard errors all 0.06582." in md
    assert "| james_stein | " in md and "`james_stein` (" in md


@pytest.mark.parametrize("name, worlds", [("schools", 3), ("baseball", 7)])
def test_known_se_advice_numbers_are_the_summary_tables(known_se_runs, name, worlds):
    assert_advice_is_the_summary(known_se_runs[name], worlds)


@pytest.mark.parametrize("name", ["schools", "baseball"])
def test_known_se_study_file_reruns_to_the_same_summary(known_se_runs, project, name):
    """DIR/study.yaml as written, run by Snakemake into another results directory: summary.csv's bytes."""
    assert_study_reruns_to_the_same_summary(known_se_runs[name], project, f"advice/rerun-{name}")


def test_known_se_second_call_runs_no_job(known_se_runs, project):
    out = known_se_runs["schools"]
    before = (out / "study.yaml").stat().st_mtime_ns
    res = run_advise(project, SCHOOLS, "--out", "advice/schools", "--replications", REPS, *KNOWN_SE_ARGS["schools"])
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Nothing to be done" in res.stderr + res.stdout
    assert (out / "study.yaml").stat().st_mtime_ns == before


def test_schools_tau_zero_pooled_or_blup_within_mcse_of_the_best(known_se_runs):
    worlds = advice.world_rows(summary_of(known_se_runs["schools"]))
    assert [tau for _, tau, _ in worlds].count(0.0) == 1
    for block, tau, rows in worlds:
        if tau == 0:
            best = advice.best_estimators(rows)
            assert {"pooled", "blup"} & set(best), (block, best)
            assert "raw" not in best


@pytest.mark.parametrize(
    "text, args, message",
    [
        ("school,estimate,se\nA,28,15\nB,8,10\n", ["--se", "sd"], "no column 'sd'"),
        ("school,estimate,se\nA,28,15\nB,8,-10\nC,1,3\n", ["--se", "se"],
         "line 3, column 'se': a standard error must be positive, got '-10'"),
        ("school,estimate,se\nA,28,15\nB,8,10\nA,1,3\n", ["--se", "se"], "group 'A' appears twice"),
    ],
)
def test_known_se_bad_input_gets_fits_line(project, tmp_path, text, args, message):
    """A missing SE column, a negative SE, a group given twice: fit --se's one line, exit 2, nothing written."""
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    cols = ["--group", "school", "--value", "estimate", *args]
    res = run_advise(project, csv, "--out", "advice/bad-se", *cols)
    env = dict(os.environ, PYTHONPATH=str(project / "src"))
    fit = subprocess.run([sys.executable, "-m", "shrinkstudy", "fit", str(csv), *cols, "--out", str(tmp_path / "fit")],
                         cwd=project, env=env, capture_output=True, text=True)
    assert res.returncode == fit.returncode == 2
    assert res.stderr == fit.stderr and len(res.stderr.strip().splitlines()) == 1
    assert message in res.stderr, res.stderr
    assert not (project / "advice" / "bad-se").exists() and not (tmp_path / "fit").exists()


def test_known_se_refuses_an_estimator_without_a_known_se_form(project):
    (project / "mine_est.py").write_text("def estimate(stats):\n    return stats.ybar\n")
    res = run_advise(project, SCHOOLS, "--out", "advice/bad-se", *KNOWN_SE_ARGS["schools"],
                     "--estimator", "mine_est.py:estimate")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--estimator mine_est.py:estimate: has no known-SE form" in lines[0], res.stderr
    assert not (project / "advice" / "bad-se").exists()


def test_study_of_known_standard_errors_by_hand():
    """Unequal SEs: one ses design (ascending, 4 digits), no sigma, no James-Stein; equal ones: James-Stein."""
    cal = _calibration(sizes=(), sigma=float("nan"), ses=(1.23456, 2.0, 3.0), mu=1.0, tau=0.5, tau_lower=0.0,
                       tau_upper=2.0)
    config = advise.study_config(cal, name="x.csv", results="advice/x/study", replications=200)
    assert config["grid"] == {
        "normal": {"ses": [[1.235, 2.0, 3.0]], "tau": [0.0, 0.5, 2.0], "mu": [1.0], "effects": ["normal"]},
        "t": {"ses": [[1.235, 2.0, 3.0]], "tau": [0.5, 2.0], "mu": [1.0], "effects": ["t"]},
    }
    assert "james_stein" not in config["estimators"] and "bayesglm" not in config["estimators"]
    assert "3 estimates with known standard errors 1.235 to 3" in config["aims"]
    assert [c.name for c in load_study(config).cells][0].startswith("J3_se.")
    equal = _calibration(sizes=(), sigma=float("nan"), ses=(0.5,) * 4, tau=0.5, tau_upper=2.0)
    config = advise.study_config(equal, name="x.csv", results="advice/x/study", replications=200)
    assert "james_stein" in config["estimators"] and "standard errors all 0.5" in config["aims"]
    assert [c.name for c in load_study(config).cells][0] == "J4_se0.5x4_tau0_mum1.235"
