"""``shrinkstudy fit``: end to end, in process and through a subprocess."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shrinkstudy.cli import main
from shrinkstudy.methods.estimators import fit_estimators
from shrinkstudy.methods.registry import interval_names, names

ESTIMATORS, INTERVAL_ESTIMATORS = names(), interval_names()
TRUTH = {"oracle", "oracle_linear"}  # need the truth: not fitted on your own data
from shrinkstudy.methods.hierbayes import HierPrior
from shrinkstudy.design.simulate import suffstats_from_long

DATA = Path(__file__).parent / "data"
CLINICS = DATA / "clinics.csv"  # long form: columns clinic, score; 6 clinics of 2 to 8 patients
STUDIES = DATA / "three_studies.csv"  # long form, three datasets: columns study, group, y
SCHOOLS = DATA / "eight_schools.csv"  # summary form: school, estimate, se (Rubin 1981)
NAMES = [e for e in ESTIMATORS if e not in TRUTH]


def _fit(argv, capsys=None):
    code = main(argv)
    err = capsys.readouterr().err if capsys is not None else ""
    return code, err


def _expected_long(df, group, value, **kw):
    """fit_estimators on the same observations, as {group label: {column: value}}."""
    stats, _, groups = suffstats_from_long(np.zeros(len(df)), df[group].astype(str), df[value])
    fit = fit_estimators(stats, NAMES, **kw)
    out = {}
    for j, g in enumerate(groups[0]):
        row = {"n": stats.n[0, j], "ybar": stats.ybar[0, j]}
        row.update({name: fit.estimates[name][0, j] for name in NAMES})
        for name in INTERVAL_ESTIMATORS:
            if name in fit.intervals:
                row[f"{name}_lower"] = fit.intervals[name][0][0, j]
                row[f"{name}_upper"] = fit.intervals[name][1][0, j]
        out[g] = row
    return out, fit


def _assert_rows_equal(table, expected):
    assert sorted(table["group"].astype(str)) == sorted(expected)
    for _, row in table.iterrows():
        exp = expected[str(row["group"])]
        for col, v in exp.items():
            assert np.isnan(v) == np.isnan(row[col]), col
            if not np.isnan(v):
                # SURE's minimiser sits on a flat criterion and the NPMLE's EM stops at a
                # tolerance: ulp changes in the group means (the CSV round trip) move them by
                # about sqrt(machine epsilon)
                tol = 1e-7 if col in ("sure", "npmle") else 1e-12
                assert row[col] == pytest.approx(v, rel=tol, abs=tol), (row["group"], col)


def test_long_csv_equals_fit_estimators(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = _fit(
        ["fit", str(CLINICS), "--group", "clinic", "--value", "score", "--out", str(out)], capsys
    )
    assert code == 0, err
    table = pd.read_csv(out / "estimates.csv")
    expected_cols = ["dataset", "group", "n", "ybar", *NAMES]
    expected_cols += [f"{n}_{b}" for n in ("raw", "blup", "blup_pr", "hier_bayes") for b in ("lower", "upper")]
    assert list(table.columns) == expected_cols
    raw = pd.read_csv(CLINICS)
    assert list(table["group"]) == list(dict.fromkeys(raw["clinic"]))  # order of first appearance
    assert (table["dataset"] == "clinics").all()
    expected, fit = _expected_long(raw, "clinic", "score")
    _assert_rows_equal(table, expected)
    meta = json.loads((out / "fit.json").read_text())
    (rec,) = meta["datasets"]
    assert rec["tau2"] == pytest.approx(fit.varcomp.tau2[0], rel=1e-14)
    assert rec["sigma2"] == pytest.approx(fit.varcomp.sigma2[0], rel=1e-14)
    assert rec["criterion"] == pytest.approx(fit.varcomp.crit[0], rel=1e-14)
    assert rec["method"] == "REML" and rec["boundary"] is False and rec["N"] == len(raw)
    assert set(meta["versions"]) >= {"shrinkstudy", "numpy", "scipy", "pandas", "python"}


def test_long_options_reach_the_fit(tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "fit",
        str(CLINICS),
        "--group",
        "clinic",
        "--value",
        "score",
        "--out",
        str(out),
        "--method",
        "ML",
        "--level",
        "0.8",
        "--prior",
        "uniform_shrinkage",
    ]
    code, err = _fit(argv, capsys)
    assert code == 0, err
    expected, _ = _expected_long(
        pd.read_csv(CLINICS), "clinic", "score", method="ML", level=0.8, prior=HierPrior("uniform_shrinkage")
    )
    _assert_rows_equal(pd.read_csv(out / "estimates.csv"), expected)
    meta = json.loads((out / "fit.json").read_text())
    assert meta["datasets"][0]["method"] == "ML" and meta["prior"]["family"] == "uniform_shrinkage"


def test_dataset_column_equals_separate_fits(tmp_path, capsys):
    raw = pd.read_csv(STUDIES)
    # study s2 lists its groups (a, b, c, as s1 does) in the opposite order
    s2 = raw["study"] == "s2"
    raw = pd.concat(
        [raw[~s2 & (raw.index < s2.idxmax())], raw[s2].iloc[::-1], raw[~s2 & (raw.index > s2.idxmax())]]
    )
    studies = tmp_path / "studies.csv"
    raw.to_csv(studies, index=False)
    out = tmp_path / "all"
    code, err = _fit(["fit", str(studies), "--dataset", "study", "--out", str(out)], capsys)
    assert code == 0, err
    table = pd.read_csv(out / "estimates.csv", dtype={"dataset": str, "group": str})
    assert list(table.loc[table["dataset"] == "s2", "group"]) == ["c", "b", "a"]
    meta = json.loads((out / "fit.json").read_text())
    assert [r["dataset"] for r in meta["datasets"]] == list(dict.fromkeys(raw["study"]))
    for study, part in raw.groupby("study"):
        single = tmp_path / f"{study}.csv"
        part[["group", "y"]].to_csv(single, index=False)
        code, err = _fit(["fit", str(single), "--out", str(tmp_path / study)], capsys)
        assert code == 0, err
        alone = pd.read_csv(tmp_path / study / "estimates.csv", dtype={"group": str})
        mine = table[table["dataset"] == study].reset_index(drop=True)
        # npmle stops at a certified gap: the groups' order (sums in another order, ulps) moves
        # its iterates by about 1e-9
        pd.testing.assert_frame_equal(
            mine.drop(columns=["dataset", "npmle"]),
            alone.drop(columns=["dataset", "npmle"]),
            check_exact=False,
            rtol=1e-12,
            atol=1e-12,
        )
        np.testing.assert_allclose(mine["npmle"], alone["npmle"], rtol=1e-8, atol=1e-8)
        rec = next(r for r in meta["datasets"] if r["dataset"] == study)
        rec_alone = json.loads((tmp_path / study / "fit.json").read_text())["datasets"][0]
        for key in ("mu", "tau2", "sigma2", "criterion", "boundary"):
            assert rec[key] == pytest.approx(rec_alone[key], rel=1e-12, abs=1e-14)
        # the NPMLE's certificate, per dataset: met, and its bound on the log-likelihood's gap
        assert rec["npmle_converged"] is True and 0 <= rec["npmle_gap"] <= 1e-7 * rec["J"]
    assert any(r["boundary"] for r in meta["datasets"])  # study s2 has a tau^2 = 0 fit


def test_eight_schools_summary_form(tmp_path, capsys):
    out = tmp_path / "schools"
    argv = ["fit", str(SCHOOLS), "--group", "school", "--value", "estimate", "--se", "se", "--out", str(out)]
    code, err = _fit(argv, capsys)
    assert code == 0, err
    table = pd.read_csv(out / "estimates.csv")
    assert list(table.columns[:4]) == ["dataset", "group", "se", "ybar"]
    assert list(table["group"]) == list("ABCDEFGH")
    assert "bayesglm" not in table and "oracle" not in table
    meta = json.loads((out / "fit.json").read_text())
    (rec,) = meta["datasets"]
    assert rec["tau2"] == 0.0 and rec["boundary"] is True and rec["sigma2"] is None
    assert rec["mu"] == pytest.approx(7.6856, abs=1e-4)
    np.testing.assert_allclose(table["blup"], rec["mu"], rtol=1e-14)
    assert meta["prior"]["family"] == "uniform"
    a = table.iloc[0]
    assert a["hier_bayes"] == pytest.approx(11.40, abs=0.01)  # BDA3: uniform prior on tau
    assert a["hier_bayes_lower"] == pytest.approx(-2, abs=1) and a["hier_bayes_upper"] == pytest.approx(
        31, abs=1.5
    )
    assert a["raw_lower"] == pytest.approx(28 - 1.959964 * 15, abs=1e-4)


def test_subprocess_module_and_console_script(tmp_path):
    argv = ["fit", str(CLINICS), "--group", "clinic", "--value", "score"]
    assert main([*argv, "--out", str(tmp_path / "inproc")]) == 0
    ref = (tmp_path / "inproc" / "estimates.csv").read_text()
    runs = [[sys.executable, "-m", "shrinkstudy"]]
    script = Path(sys.executable).with_name("shrinkstudy")
    if script.exists():
        runs.append([str(script)])
    elif shutil.which("shrinkstudy"):
        runs.append([shutil.which("shrinkstudy")])
    for i, cmd in enumerate(runs):
        out = tmp_path / f"run{i}"
        proc = subprocess.run([*cmd, *argv, "--out", str(out)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "estimates.csv" in proc.stdout
        assert (out / "estimates.csv").read_text() == ref
    # bad input through a real process: exit status 2, one line, no traceback
    bad = tmp_path / "bad.csv"
    bad.write_text("group,y\na,1\na,2\nb,oops\nb,4\n")
    proc = subprocess.run(
        [sys.executable, "-m", "shrinkstudy", "fit", str(bad), "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "line 4" in proc.stderr and "'y'" in proc.stderr and "oops" in proc.stderr


def _write(tmp_path, text, name="data.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


BAD = {
    # name: (file contents or None for a missing file, extra options, words the message must contain)
    "missing file": (None, [], ["nope.csv", "no such file"]),
    "empty file": ("", [], ["empty"]),
    "header only": ("group,y\n", [], ["no data rows"]),
    "missing column": ("group,value\na,1\nb,2\n", [], ["'y'", "--value", "'value'"]),
    "missing group column": ("g,y\na,1\nb,2\n", [], ["'group'", "--group"]),
    "text in numeric column": (
        "group,y\na,1\na,2\nb,x1\nb,3\n",
        [],
        ["line 4", "'y'", "'x1'", "not a number"],
    ),
    "empty cell": ("group,y\na,1\na,\nb,2\nb,3\n", [], ["line 3", "'y'", "missing value"]),
    "NaN": ("group,y\na,1\na,NaN\nb,2\nb,3\n", [], ["line 3", "'y'", "missing value"]),
    "inf": ("group,y\na,1\na,2\nb,2\nb,-inf\n", [], ["line 5", "'y'", "not a finite number"]),
    "missing group label": ("group,y\na,1\n,2\nb,2\nb,3\n", [], ["line 3", "'group'", "missing group"]),
    "single group": ("group,y\na,1\na,2\na,3\n", [], ["only 1 group", "'a'"]),
    "single group in a dataset": (
        "d,group,y\n1,a,1\n1,b,2\n1,a,3\n2,a,1\n2,a,5\n",
        ["--dataset", "d"],
        ["dataset '2'", "only 1 group"],
    ),
    "one observation per group": ("group,y\na,1\nb,2\nc,3\n", [], ["single observation", "--se"]),
    "se not positive": ("group,y,se\na,1,1\nb,2,0\n", ["--se", "se"], ["line 3", "'se'", "positive"]),
    "se column missing": ("group,y\na,1\nb,2\n", ["--se", "s"], ["'s'", "--se"]),
    "duplicate group with se": (
        "group,y,se\na,1,1\nb,2,1\na,3,1\n",
        ["--se", "se"],
        ["line 4", "'a'", "twice"],
    ),
    "single group with se": ("group,y,se\na,1,1\n", ["--se", "se"], ["only 1 group"]),
    "uniform prior in long form": (
        "group,y\na,1\na,2\nb,3\nb,5\n",
        ["--prior", "uniform"],
        ["--prior uniform", "--se"],
    ),
    "half-Cauchy without scale": (
        "group,y,se\na,1,1\nb,2,1\nc,4,2\n",
        ["--se", "se", "--prior", "half_cauchy"],
        ["--prior-scale"],
    ),
    "bad level": ("group,y\na,1\na,2\nb,3\nb,5\n", ["--level", "1.5"], ["--level", "between 0 and 1"]),
    "bad method": ("group,y\na,1\na,2\nb,3\nb,5\n", ["--method", "OLS"], ["--method", "OLS"]),
    "bad prior scale": (
        "group,y\na,1\na,2\nb,3\nb,5\n",
        ["--prior-scale", "-1"],
        ["--prior-scale", "positive"],
    ),
    "extra field in the first data row": (
        "group,y\na,1,7\na,2\nb,3\nb,5\n",
        [],
        ["first data row has 3 fields", "header 2"],
    ),
    "extra field in a later row": ("group,y\na,1\na,2\nb,3,7\nb,5\n", [], ["cannot be read as CSV"]),
    "duplicate column after stripping": ("group,y, y\na,1,1\na,2,2\nb,3,3\nb,5,5\n", [], ["'y'", "twice"]),
    "duplicate group column after stripping": (
        "group,y,group \na,1,a\na,2,a\nb,3,b\nb,5,b\n",
        [],
        ["'group'", "twice"],
    ),
    "exact duplicate column": ("group,y,y\na,1,9\na,2,9\nb,3,9\nb,5,9\n", [], ["'y'", "twice"]),
    "group and value the same column": (
        "group,y\na,1\na,2\nb,3\nb,5\n",
        ["--group", "y"],
        ["--group", "--value", "'y'"],
    ),
    "value and se the same column": ("group,y\na,1\nb,2\n", ["--se", "y"], ["--value", "--se", "'y'"]),
    "dataset and group the same column": (
        "group,y\na,1\na,2\nb,3\nb,5\n",
        ["--dataset", "group"],
        ["--group", "--dataset", "'group'"],
    ),
    "header only with se": ("group,y,se\n", ["--se", "se"], ["no data rows"]),
    "duplicate se column": ("group,y,se,se\na,1,1,1\nb,2,1,1\n", ["--se", "se"], ["line 1", "'se'", "twice"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_with_one_line(case, tmp_path, capsys):
    text, extra, words = BAD[case]
    path = tmp_path / "nope.csv" if text is None else _write(tmp_path, text)
    code, err = _fit(["fit", str(path), "--out", str(tmp_path / "out"), *extra], capsys)
    assert code == 2
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    if case not in (
        "bad level",
        "bad method",
        "bad prior scale",
        "uniform prior in long form",
        "half-Cauchy without scale",
    ):
        assert path.name in err
    assert not (tmp_path / "out" / "estimates.csv").exists()


def test_no_command_and_help(capsys):
    assert main([]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["fit", "--help"]) == 0
    assert "--dataset" in capsys.readouterr().out


def test_plot_hook(tmp_path, capsys, monkeypatch):
    argv = ["fit", str(SCHOOLS), "--group", "school", "--value", "estimate", "--se", "se", "--plot"]
    calls = []
    fake = types.ModuleType("shrinkstudy.report.figures")
    fake.seed_figure1 = lambda **kw: calls.append(kw)
    monkeypatch.setitem(sys.modules, "shrinkstudy.report.figures", fake)
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    (kw,) = calls
    assert set(kw) == {"estimates", "fit", "out"} and len(kw["estimates"]) == 8
    assert kw["fit"]["datasets"][0]["tau2"] == 0.0
    assert kw["out"] == tmp_path / "a" / "figure1.png"

    monkeypatch.setitem(sys.modules, "shrinkstudy.report.figures", types.ModuleType("shrinkstudy.report.figures"))
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "shrinkstudy.report.figures.seed_figure1" in err

    monkeypatch.setitem(sys.modules, "shrinkstudy.report.figures", None)  # the module is absent
    assert main([*argv, "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "shrinkstudy.report.figures" in err
    assert not (tmp_path / "c").exists()


@pytest.mark.r
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs Rscript with lme4")
def test_long_csv_matches_lme4(tmp_path):
    assert main(["fit", str(CLINICS), "--group", "clinic", "--value", "score", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "estimates.csv").set_index("group")
    rec = json.loads((tmp_path / "fit.json").read_text())["datasets"][0]
    code = (
        "suppressMessages(library(lme4)); d <- read.csv(commandArgs(TRUE)[1]);"
        "m <- lmer(score ~ 1 + (1|clinic), d, REML = TRUE); v <- as.data.frame(VarCorr(m))$vcov;"
        "cf <- coef(m)$clinic; f <- function(x) sprintf('%.15g', x);"
        "cat(f(REMLcrit(m)), f(v[1]), f(v[2]), '\\n');"
        "for (g in rownames(cf)) cat(g, f(cf[g, 1]), '\\n')"
    )
    proc = subprocess.run(["Rscript", "-e", code, str(CLINICS)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.skip(f"lme4 not usable: {proc.stderr.strip().splitlines()[-1:]}")
    first, *rows = proc.stdout.split("\n")
    crit, tau2, sigma2 = map(float, first.split())
    assert rec["criterion"] == pytest.approx(crit, abs=1e-6)
    assert rec["tau2"] == pytest.approx(tau2, rel=1e-4) and rec["sigma2"] == pytest.approx(sigma2, rel=1e-5)
    for row in filter(None, (r.split() for r in rows)):
        assert table.loc[row[0], "blup"] == pytest.approx(float(row[1]), abs=1e-5)


def test_summary_form_with_datasets_equals_separate_fits(tmp_path, capsys):
    schools = pd.read_csv(SCHOOLS)
    other = pd.DataFrame(
        {"school": ["p", "q", "r", "s"], "estimate": [1.0, 5.0, -2.0, 9.0], "se": [1.0, 2.0, 1.5, 3.0]}
    )
    both = pd.concat([other.assign(set="small"), schools.assign(set="rubin")], ignore_index=True)
    path = tmp_path / "both.csv"
    both.to_csv(path, index=False)
    opts = ["--group", "school", "--value", "estimate", "--se", "se"]
    assert main(["fit", str(path), "--dataset", "set", *opts, "--out", str(tmp_path / "both")]) == 0, (
        capsys.readouterr().err
    )
    table = pd.read_csv(tmp_path / "both" / "estimates.csv")
    assert list(table["dataset"]) == ["small"] * 4 + ["rubin"] * 8
    for name, part in (("small", other), ("rubin", schools)):
        single = tmp_path / f"{name}.csv"
        part.to_csv(single, index=False)
        assert main(["fit", str(single), *opts, "--out", str(tmp_path / name)]) == 0
        alone = pd.read_csv(tmp_path / name / "estimates.csv")
        mine = table[table["dataset"] == name].reset_index(drop=True)
        pd.testing.assert_frame_equal(
            mine.drop(columns="dataset"),
            alone.drop(columns="dataset"),
            check_exact=False,
            rtol=1e-12,
            atol=1e-12,
        )


# ---------------------------------------------------------------------------------------------
# files the command cannot read or write: one line, exit status 2
# ---------------------------------------------------------------------------------------------

GOOD = "group,y\na,1\na,2\nb,3\nb,5\nc,4\nc,7\n"


def _one_line_error(argv, capsys, *words):
    code, err = _fit(argv, capsys)
    assert code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)
    return err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads and writes anything")
def test_unreadable_input_and_unwritable_out_by_permissions(tmp_path, capsys):
    data = _write(tmp_path, GOOD)
    data.chmod(0)
    try:
        _one_line_error(["fit", str(data), "--out", str(tmp_path / "o")], capsys, str(data), "cannot be read")
    finally:
        data.chmod(0o644)
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o500)
    try:
        _one_line_error(["fit", str(data), "--out", str(out)], capsys, str(out), "cannot write")
    finally:
        out.chmod(0o755)


def test_unreadable_input_file(tmp_path, capsys, monkeypatch):
    """A file the system refuses to open (EACCES), simulated where the command opens it (Arrow's
    reader, Python's open): root, which the tests may run as, reads any file."""
    import builtins

    import pyarrow.csv

    data = _write(tmp_path, GOOD)
    real_open, real_arrow = builtins.open, pyarrow.csv.read_csv
    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(data))

    def refuse(file, *a, **kw):
        if str(file) == str(data):
            raise denied
        return real_open(file, *a, **kw)

    def refuse_arrow(file, *a, **kw):
        if str(file) == str(data):
            raise OSError(f"Failed to open local file '{data}'. Detail: [errno 13] Permission denied")
        return real_arrow(file, *a, **kw)

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(pyarrow.csv, "read_csv", refuse_arrow)
    _one_line_error(["fit", str(data), "--out", str(tmp_path / "o")], capsys, str(data), "Permission denied")


@pytest.mark.parametrize("err", [errno.EROFS, errno.EACCES])
def test_out_on_a_read_only_file_system_or_not_writable(tmp_path, capsys, monkeypatch, err):
    """An existing --out the system refuses files in (EROFS: read-only file system; EACCES), as
    the kernel answers at open(2) (simulated: the tests may run as root on a writable disk)."""
    data = _write(tmp_path, GOOD)
    out = tmp_path / "ro"
    out.mkdir()
    real_open = os.open

    def refuse(file, *a, **kw):
        if str(file).startswith(str(out)):
            raise OSError(err, os.strerror(err), str(file))
        return real_open(file, *a, **kw)

    monkeypatch.setattr(os, "open", refuse)
    _one_line_error(["fit", str(data), "--out", str(out)], capsys, str(out), "cannot write", os.strerror(err))
    assert not list(out.iterdir())


def test_out_is_a_file(tmp_path, capsys):
    data = _write(tmp_path, GOOD)
    _one_line_error(["fit", str(data), "--out", str(data)], capsys, str(data), "cannot create")


@pytest.mark.parametrize("name", ["estimates.csv", "fit.json"])
def test_out_that_would_overwrite_the_input_is_refused(tmp_path, capsys, name):
    data = _write(tmp_path, GOOD, name=name)
    _one_line_error(["fit", str(data), "--out", str(tmp_path)], capsys, name, "overwrite", "--out")
    assert data.read_text() == GOOD
    # another directory is fine
    assert main(["fit", str(data), "--out", str(tmp_path / "elsewhere")]) == 0


REPLICATE = ["replicate", "J3_n5_sigma1_tau1_mu0", "0"]  # a cell of the project's default study


def _refuse_under(monkeypatch, where: Path, err: int):
    """The system refuses files under ``where`` (os.open, os.mkdir) with ``err``, as a read-only
    file system (EROFS) or directory (EACCES) does (simulated: the tests may run as root)."""
    real_open, real_mkdir = os.open, os.mkdir

    def refusing(real):
        def call(file, *a, **kw):
            if str(file).startswith(str(where)):
                raise OSError(err, os.strerror(err), str(file))
            return real(file, *a, **kw)

        return call

    monkeypatch.setattr(os, "open", refusing(real_open))
    monkeypatch.setattr(os, "mkdir", refusing(real_mkdir))


@pytest.mark.parametrize("err", [errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("exists", [True, False])
def test_replicate_out_on_a_read_only_file_system(tmp_path, capsys, monkeypatch, err, exists):
    """replicate --out DIR where the system refuses files (an existing DIR, or a new one in a
    refusing directory): one line naming DIR and the system's reason, exit 2, nothing created
    (before: a traceback from pandas' to_csv, or from mkdir)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    out = ro if exists else ro / "new" / "dir"
    _refuse_under(monkeypatch, ro, err)
    _one_line_error([*REPLICATE, "--out", str(out)], capsys, str(out), os.strerror(err))
    assert not list(ro.iterdir())


def test_replicate_out_under_a_file(tmp_path, capsys):
    """--out a path under a regular file: one line naming the path and the file, exit 2, the
    file untouched."""
    blocker = _write(tmp_path, "keep me\n", name="notes.txt")
    out = blocker / "sub"
    _one_line_error([*REPLICATE, "--out", str(out)], capsys, str(out), "not a directory", str(blocker))
    assert blocker.read_text() == "keep me\n"
    _one_line_error([*REPLICATE, "--out", str(blocker)], capsys, str(blocker), "not a directory")


@pytest.mark.parametrize("command", ["replicate", "fit"])
def test_a_failed_write_leaves_no_output(tmp_path, capsys, monkeypatch, command):
    """The disk full while the outputs are written (after the fit): one line naming the output
    directory, exit 2, and none of the outputs (the first one written included, no temporary
    file); the next run with room writes them all."""
    out = tmp_path / "out"
    real = pd.DataFrame.to_csv if command == "replicate" else Path.write_text
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def second_file_fails(self, path, *a, **kw):
        if command == "replicate" and "losses" in str(path) or command == "fit" and "fit.json" in str(self):
            raise full
        return real(self, path, *a, **kw)

    if command == "replicate":
        monkeypatch.setattr(pd.DataFrame, "to_csv", second_file_fails)
        argv = [*REPLICATE, "--out", str(out)]
    else:
        monkeypatch.setattr(Path, "write_text", second_file_fails)
        argv = ["fit", str(_write(tmp_path, GOOD)), "--out", str(out)]
    _one_line_error(argv, capsys, str(out), os.strerror(errno.ENOSPC))
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    assert main(argv) == 0
    assert len(list(out.iterdir())) == (3 if command == "replicate" else 2)


# ---------------------------------------------------------------------------------------------
# extreme scales: the fit does not depend on the data's units
# ---------------------------------------------------------------------------------------------


def _scaled_fit(tmp_path, frame, columns, factor, argv, then=1.0):
    """Fit ``frame`` with ``columns`` times ``factor`` (then times ``then``, exactly: a power of
    two); returns (fit.json records, estimates)."""
    data = frame.copy()
    for c in columns:
        data[c] = (data[c] * factor) * then
    path = tmp_path / "data.csv"
    data.to_csv(path, index=False, float_format="%.17g")
    out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
    assert main(["fit", str(path), *argv, "--out", str(out)]) == 0
    return json.loads((out / "fit.json").read_text())["datasets"], pd.read_csv(out / "estimates.csv")


def _assert_scaled(ref, got, factor, keys, df_of, rtol, loose=None):
    """Records and estimates of data times ``factor`` equal those at factor 1, scaled (``loose``:
    a wider tolerance for some columns)."""
    (r_rec, r_tab), (g_rec, g_tab) = ref, got
    loose = loose or {}
    numeric = [c for c in r_tab.columns if c not in ("dataset", "group", "n")]
    for column in numeric:
        tol = max(rtol, loose.get(column, 0.0))
        got_values, ref_values = g_tab[column].to_numpy() / factor, r_tab[column].to_numpy()
        np.testing.assert_allclose(got_values, ref_values, rtol=tol, atol=0, err_msg=column)
    for a, b in zip(r_rec, g_rec, strict=True):
        assert (a["status"], a["boundary"]) == (b["status"], b["boundary"]), (factor, a["dataset"])
        for key in keys:  # means and standard deviations: times the factor
            if a[key] is None:
                assert b[key] is None
            else:
                assert b[key] / factor == pytest.approx(a[key], rel=rtol, abs=1e-300), (factor, key)
        # -2 log likelihood: plus df log(factor^2)
        shift = df_of(a) * 2.0 * math.log(factor)
        if a["criterion"] is None:  # -inf: no within-group noise, or constant data
            assert b["criterion"] is None
        else:
            assert b["criterion"] == pytest.approx(a["criterion"] + shift, rel=1e-12, abs=1e-8)
        # variances: times factor^2 where that is a float, else null (tau and sigma stay)
        for key in ("tau2", "sigma2"):
            if not a[key]:
                assert b[key] == a[key]
            elif abs(log10 := math.log10(a[key]) + 2 * math.log10(factor)) < 300:
                assert b[key] / factor / factor == pytest.approx(a[key], rel=rtol), (factor, key)
            elif abs(log10) > 320:  # beyond the float range
                assert b[key] is None, (factor, key)


#: Data times these factors. Decimal factors round every value (1 ulp), and the optimum moves
#: with that (the engine stops at 1e-11 in log gamma): against the unscaled data 1e-9 (sure,
#: whose own search stops at about 1e-8: 1e-7); against the same numbers brought near 1 by a
#: power of two (exact), 1e-12 for every column. npmle stops at a certified gap of 1e-7 per
#: group: its iterates, moved by the ulps, agree to 1e-8 (measured 2.5e-9).
EXTREME = [1e-170, 1e170, 1e-300, 1e300, 2.0**-150, 2.0**150]


def _check_scales(tmp_path, frame, columns, argv_of, keys, df_of):
    ref = _scaled_fit(tmp_path, frame, columns, 1.0, argv_of(1.0))
    for factor in EXTREME:
        got = _scaled_fit(tmp_path, frame, columns, factor, argv_of(factor))
        near_one = 2.0 ** -(np.frexp(factor)[1] - 1)
        same = _scaled_fit(tmp_path, frame, columns, factor, argv_of(factor * near_one), then=near_one)
        _assert_scaled(same, got, 1.0 / near_one, keys, df_of, rtol=1e-12)
        _assert_scaled(ref, got, factor, keys, df_of, rtol=1e-9, loose={"sure": 1e-7, "npmle": 1e-8})
    return ref


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_long_form_at_extreme_scales(tmp_path, method):
    """Data times 1e+-170, 1e+-300: the same statuses, estimates, intervals, mu, tau and sigma
    (scaled) as the data themselves; before, 1e-170 came back ``constant`` and 1e+170
    ``zero_within``. Datasets: three studies (one a boundary fit), one with no within-group
    noise, one constant."""
    raw = pd.read_csv(STUDIES)
    extra = pd.DataFrame(
        {
            "study": ["zw"] * 4 + ["const"] * 4,
            "group": ["a", "a", "b", "b"] * 2,
            "y": [1.0, 1.0, 3.0, 3.0, 2.0, 2.0, 2.0, 2.0],
        }
    )
    frame = pd.concat([raw, extra], ignore_index=True)
    df = (lambda r: r["N"] - 1) if method == "REML" else (lambda r: r["N"])
    argv = ["--dataset", "study", "--method", method]
    ref = _check_scales(tmp_path, frame, ["y"], lambda f: argv, ["mu", "tau", "sigma"], df)
    assert {r["status"] for r in ref[0]} == {"ok", "zero_within", "constant"}
    assert any(r["boundary"] and r["status"] == "ok" for r in ref[0])


@pytest.mark.parametrize("prior", ["uniform", "half_cauchy"])
def test_summary_form_at_extreme_scales(tmp_path, prior):
    """Estimates and standard errors times 1e+-170, 1e+-300: the same answers, scaled (before:
    NaN estimates with exit status 0 from SEs of 1e-300). The half-Cauchy scale is in the
    units of the estimates, so it is scaled with them."""
    schools = pd.read_csv(SCHOOLS)
    other = pd.DataFrame(
        {"school": list("pqrs"), "estimate": [1.0, 5.0, -2.0, 9.0], "se": [1.0, 2.0, 1.5, 3.0]}
    )
    frame = pd.concat([schools.assign(set="rubin"), other.assign(set="small")], ignore_index=True)
    base = ["--group", "school", "--value", "estimate", "--se", "se", "--dataset", "set"]

    def argv(factor):
        if prior == "half_cauchy":
            return base + ["--prior", "half_cauchy", "--prior-scale", repr(float(25.0 * factor))]
        return base

    ref = _check_scales(
        tmp_path, frame, ["estimate", "se"], argv, ["mu", "tau", "hier_bayes_tau_mean"], lambda r: r["J"] - 1
    )
    assert [r["boundary"] for r in ref[0]] == [True, False]


def test_standard_errors_too_far_apart_are_one_line(tmp_path, capsys):
    """One SE of 1e-300 beside SEs of 10: their squares cannot share the float range: one line."""
    schools = pd.read_csv(SCHOOLS)
    schools["se"] = schools["se"].astype(float)
    schools.loc[0, "se"] = 1e-300
    path = tmp_path / "tiny.csv"
    schools.to_csv(path, index=False)
    argv = ["fit", str(path), "--group", "school", "--value", "estimate", "--se", "se"]
    argv += ["--out", str(tmp_path / "o")]
    _one_line_error(argv, capsys, str(path), "too far apart", "1e-300")
    assert not (tmp_path / "o").exists()


def _unit_spread_studies():
    """The three studies, each moved and scaled to values in [-1, 1] (half its range exactly 1:
    times 2^1023 or 1e308 its half range is at least 2^1023, and every answer stays below the
    largest double), with a dataset of no within-group noise and a constant one."""
    raw = pd.read_csv(STUDIES)
    by = raw.groupby("study")["y"]
    hi, lo = by.transform("max"), by.transform("min")
    raw["y"] = ((raw["y"] - 0.5 * (hi + lo)) / (0.5 * (hi - lo))).clip(-1.0, 1.0)
    extra = pd.DataFrame(
        {
            "study": ["zw"] * 4 + ["const"] * 4,
            "group": ["a", "a", "b", "b"] * 2,
            "y": [1.0, 1.0, -1.0, -1.0] + [1.0] * 4,
        }
    )
    return pd.concat([raw, extra], ignore_index=True)


@pytest.mark.parametrize("factor", [2.0**1023, 1e308])
def test_long_form_near_the_largest_double(tmp_path, factor):
    """Data whose half range reaches 2^1023 (values up to 1e308, whose sums overflow): the same
    statuses, estimates, intervals, mu, tau and sigma as the data in [-1, 1], times the factor
    (before: divided by 2^1024, which is inf, every dataset came back 'constant' with no
    estimate, exit 0). Times 2^1023 the engine sees the same numbers: equal to 1e-15; times
    1e308 every value is rounded once: 1e-9 (sure, whose search stops at about 1e-8: 1e-7)."""
    frame = _unit_spread_studies()
    argv = ["--dataset", "study"]
    ref = _scaled_fit(tmp_path, frame, ["y"], 1.0, argv)
    got = _scaled_fit(tmp_path, frame, ["y"], factor, argv)
    exact = factor == 2.0**1023
    rtol, loose = (1e-15, {}) if exact else (1e-9, {"sure": 1e-7, "npmle": 1e-8})
    _assert_scaled(ref, got, factor, ["mu", "tau", "sigma"], lambda r: r["N"] - 1, rtol=rtol, loose=loose)
    assert [r["status"] for r in got[0]] == ["ok", "ok", "ok", "zero_within", "constant"]
    assert np.isfinite(got[1].drop(columns=["dataset", "group"]).to_numpy(dtype=float)).any(axis=0).all()


def test_answers_beyond_the_largest_double_are_one_line(tmp_path, capsys):
    """Data near +-1.7e308: their sigma and the intervals around them exceed the largest double.
    One line naming the file and dataset, exit 2, nothing written (before: 'constant', no
    estimates, exit 0)."""
    path = _write(tmp_path, "group,y\na,1.7e308\na,-1.7e308\nb,1.6e308\nb,-1.65e308\nc,1e308\nc,-1e308\n")
    argv = ["fit", str(path), "--out", str(tmp_path / "o")]
    _one_line_error(argv, capsys, str(path), "the file", "largest double")
    assert not (tmp_path / "o").exists()
    # the summary form: standard errors of 1e308
    path = _write(tmp_path, "g,est,se\na,1.7e308,1e308\nb,-1.7e308,1.5e308\nc,0,1.2e308\n", name="meta.csv")
    argv = ["fit", str(path), "--group", "g", "--value", "est", "--se", "se", "--out", str(tmp_path / "o")]
    _one_line_error(argv, capsys, str(path), "the file", "largest double")
    assert not (tmp_path / "o").exists()


def test_own_estimator_beyond_the_largest_double_is_its_failure(tmp_path, capsys):
    """A user's estimator whose answers, scaled back to the data's units, exceed the largest
    double fails on that dataset (recorded, no estimate); the built-ins and the other dataset
    are untouched."""
    mine = _write(tmp_path, "def estimate(stats):\n    return 1000.0 * stats.ybar\n", name="mine.py")
    frame = _unit_spread_studies()
    frame = frame[frame["study"].isin(["s1", "s2"])].copy()
    frame.loc[frame["study"] == "s2", "y"] *= 2.0**1023  # 1000 x ybar exceeds the float range
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False, float_format="%.17g")
    argv = ["fit", str(path), "--dataset", "study", "--estimator", f"{mine}:estimate"]
    assert main(argv + ["--out", str(tmp_path / "o")]) == 0
    records = json.loads((tmp_path / "o" / "fit.json").read_text())["datasets"]
    assert [r["failed"] for r in records] == [[], ["mine"]]
    assert "float range" in records[1]["failure_messages"]["mine"]
    table = pd.read_csv(tmp_path / "o" / "estimates.csv")
    s1, s2 = table[table["dataset"] == "s1"], table[table["dataset"] == "s2"]
    assert s2["mine"].isna().all() and np.isfinite(s2["blup"]).all()
    np.testing.assert_array_equal(s1["mine"].to_numpy(), 1000.0 * s1["ybar"].to_numpy())


@pytest.mark.parametrize("damage", ["zero bytes", "no magic", "cut short", "flipped value byte"])
def test_damaged_parquet_input_is_one_line_naming_it(tmp_path, capsys, damage):
    """A Parquet input that is empty, cut, without its magic bytes, or with a flipped byte in a
    value (the file has page checksums: verified on reading) is one line naming the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "data.parquet"
    table = pa.table({"group": ["a", "a", "b", "b", "c", "c"], "y": [1.0, 2.0, 3.0, 5.0, 4.0, 7.0]})
    pq.write_table(table, path, compression="NONE", use_dictionary=False, write_page_checksum=True)
    good = path.read_bytes()
    assert main(["fit", str(path), "--out", str(tmp_path / "ok")]) == 0
    at = good.index(np.float64(5.0).tobytes()) + 7  # the sign and exponent byte of y = 5
    flipped = good[:at] + bytes([good[at] ^ 0x80]) + good[at + 1 :]  # 5 -> -5 without checksums
    path.write_bytes(
        {"zero bytes": b"", "no magic": good[:-4] + b"XXXX", "cut short": good[: len(good) // 2],
         "flipped value byte": flipped}[damage]
    )
    _one_line_error(["fit", str(path), "--out", str(tmp_path / "o")], capsys, str(path), "Parquet")
    if damage == "flipped value byte":  # without the verification, a silent change
        assert pq.read_table(path)["y"].to_pylist()[3] == -5.0


def _parquet_table(columns: dict, names=None):
    """A pyarrow table of ``columns`` (name -> list), under ``names`` if given (which may repeat)."""
    import pyarrow as pa

    text = {k for k, v in columns.items() if k == "group" or v and isinstance(v[0], str)}
    arrays = [pa.array(v, type=pa.string() if k in text else pa.float64()) for k, v in columns.items()]
    return pa.Table.from_arrays(arrays, names=names or list(columns))


PARQUET_BAD = {
    # name: (columns, names or None, extra options, words the message must contain)
    "duplicate column": (
        {"group": ["a", "a", "b", "b"], "y": [1.0, 2.0, 3.0, 5.0], "y2": [1.0] * 4},
        ["group", "y", "y"],
        [],
        ["'y'", "twice"],
    ),
    "duplicate column after stripping": (
        {"group": ["a", "a", "b", "b"], "y": [1.0, 2.0, 3.0, 5.0], "g": ["a"] * 4},
        ["group", "y", " group"],
        [],
        ["'group'", "twice"],
    ),
    "duplicate se column": (
        {"group": ["a", "b"], "y": [1.0, 2.0], "se": [1.0, 1.0], "se2": [1.0, 1.0]},
        ["group", "y", "se", "se"],
        ["--se", "se"],
        ["'se'", "twice"],
    ),
    "no rows": ({"group": [], "y": []}, None, [], ["no rows"]),
    "no rows with se": ({"group": [], "y": [], "se": []}, None, ["--se", "se"], ["no rows"]),
}


@pytest.mark.parametrize("case", list(PARQUET_BAD))
def test_bad_parquet_exits_2_with_one_line(case, tmp_path, capsys):
    """A Parquet file with a column name twice or no rows: one line naming the file and the
    problem, exit 2, nothing written (before: a traceback from Arrow's dataset layer or from an
    empty reduction)."""
    import pyarrow.parquet as pq

    columns, names, extra, words = PARQUET_BAD[case]
    path = tmp_path / "data.parquet"
    pq.write_table(_parquet_table(columns, names), path)
    _one_line_error(["fit", str(path), "--out", str(tmp_path / "o"), *extra], capsys, str(path), *words)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["data.csv", "data.parquet", "data"])
def test_a_directory_as_data_is_one_line(tmp_path, capsys, name):
    """A directory given as DATA, empty or holding a Parquet file and something else: one line,
    exit 2, nothing written (before: a directory named *.parquet was read by Arrow's dataset
    layer, whose error on any other file in it was a traceback)."""
    import pyarrow.parquet as pq

    data = tmp_path / name
    data.mkdir()
    for content in ("empty", "files"):
        if content == "files":
            table = _parquet_table({"group": ["a", "a", "b", "b"], "y": [1.0, 2.0, 3.0, 5.0]})
            pq.write_table(table, data / "part-0.parquet")
            (data / "notes.txt").write_text("not data\n")
        _one_line_error(["fit", str(data), "--out", str(tmp_path / "o")], capsys, str(data), "a directory")
        assert not (tmp_path / "o").exists()


def test_estimates_csv_reads_back_as_pandas_would_write_it(tmp_path):
    """estimates.csv is written by Arrow's CSV writer (fast): read back, every number is the same
    double and every column the same type as from pandas' own ``to_csv`` (whole-number float
    columns stay floats, missing values stay missing, labels with commas and quotes survive)."""
    import io

    from shrinkstudy.cli.fitting import _write_csv

    rng = np.random.default_rng(3)
    x = rng.normal(size=200) * 10.0 ** rng.integers(-12, 12, 200)
    x[:6] = [np.nan, -0.0, 1e-5, 1e16, 2.0, 5e-324]
    table = pd.DataFrame({
        "dataset": np.repeat(["a,b", 'say "hi"', "plain", "ü"], 50),
        "group": np.arange(200),
        "n": rng.integers(1, 9, 200),
        "se": np.round(rng.uniform(1, 20, 200)),  # whole numbers, as in the eight schools
        "blup": x,
        "hier_bayes_lower": np.where(np.arange(200) % 7 == 0, np.nan, x - 1.0),
    })
    _write_csv(table, tmp_path / "estimates.csv")
    got = pd.read_csv(tmp_path / "estimates.csv")
    want = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["se"].dtype == float and np.array_equal(got["blup"].to_numpy(), x, equal_nan=True)
    # labels that need no quotes get none, as pandas writes them
    plain = table.assign(dataset="plain")
    _write_csv(plain, tmp_path / "plain.csv")
    text = (tmp_path / "plain.csv").read_text()
    assert '"' not in text and text.splitlines()[1].startswith("plain,0,")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "plain.csv"), pd.read_csv(io.StringIO(plain.to_csv(index=False))), check_exact=True)


def _shuffled_long(seed=5, datasets=40):
    """Unbalanced long-form datasets, rows shuffled, text labels (some like '01')."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(datasets):
        sizes = rng.integers(1, 9, rng.integers(3, 9))
        for j, n in enumerate(sizes):
            mean = rng.normal(0.0, 1.5)
            rows += [(f"d{d:02d}", f"0{j}" if j % 2 else f"g{j}", mean + 3.0 * rng.normal()) for _ in range(n)]
    df = pd.DataFrame(rows, columns=["ds", "g", "val"])
    return df.iloc[rng.permutation(len(df))].reset_index(drop=True)


@pytest.mark.parametrize("form", ["long", "summary"])
def test_fast_reader_and_text_reader_write_the_same_bytes(tmp_path, form):
    """A regular file is read typed by Arrow (no pandas); padding its labels with spaces sends
    it through the text reader instead: both, and the same data as Parquet, give the same bytes."""
    df = _shuffled_long()
    argv = ["--dataset", "ds", "--group", "g", "--value", "val"]
    if form == "summary":
        df = df.drop_duplicates(["ds", "g"]).assign(se=lambda d: 0.5 + (d["val"].abs() % 2.0))
        argv += ["--se", "se"]
    files = {
        "typed": tmp_path / "typed.csv",
        "parquet": tmp_path / "typed.parquet",
        "categories": tmp_path / "categories.parquet",
        "text": tmp_path / "text.csv",
    }
    df.to_csv(files["typed"], index=False)
    df.to_parquet(files["parquet"], index=False)
    # labels stored as categories: in reverse order, one of them never used
    order = sorted(set(df["ds"]) | {"unused"}, reverse=True)
    df.assign(ds=pd.Categorical(df["ds"], categories=order)).to_parquet(files["categories"], index=False)
    df.assign(g=" " + df["g"] + " ").to_csv(files["text"], index=False)
    out = {}
    for kind, path in files.items():
        assert main(["fit", str(path), *argv, "--out", str(tmp_path / kind)]) == 0
        out[kind] = (tmp_path / kind / "estimates.csv").read_bytes()
    assert out["typed"] == out["text"] == out["parquet"] == out["categories"]
    got = pd.read_csv(tmp_path / "typed" / "estimates.csv", dtype={"group": str})
    assert set(got["group"]) == set(df["g"]) and len(got) == len(df.drop_duplicates(["ds", "g"]))


def test_regular_file_is_fitted_without_pandas(tmp_path):
    """The typed path (CSV and Parquet) never imports pandas: half a second of start-up."""
    df = _shuffled_long(datasets=5)
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_parquet(tmp_path / "d.parquet", index=False)
    for name in ("d.csv", "d.parquet"):
        code = (
            "import sys\nfrom shrinkstudy.cli import main\n"
            f"assert main(['fit', r'{tmp_path / name}', '--dataset', 'ds', '--group', 'g', '--value', 'val', "
            f"'--out', r'{tmp_path / name}.out']) == 0\n"
            "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    fit = json.loads((tmp_path / "d.csv.out" / "fit.json").read_text())
    assert fit["versions"]["pandas"] == pd.__version__


def test_the_command_runs_with_one_blas_thread_unless_told_otherwise():
    """``shrinkstudy`` (and ``python -m shrinkstudy``) start numpy with one OpenBLAS thread,
    whose idle spinning would take the cores of the command's own threads; a value the user
    set is kept."""
    code = (
        "import os, sys\nfrom shrinkstudy.__main__ import run\nsys.argv = ['shrinkstudy', '--help']\n"
        "assert run() == 0\nprint(os.environ['OPENBLAS_NUM_THREADS'], 'numpy' in sys.modules)\n"
    )
    for given, want in ((None, "1 True"), ("3", "3 True")):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        if given is not None:
            env["OPENBLAS_NUM_THREADS"] = given
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().splitlines()[-1] == want
