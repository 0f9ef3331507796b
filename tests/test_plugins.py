"""A user's own estimator: the contract, the errors that stop a study before any job, failures
recorded per replication, and the shipped example (limited translation)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from shrinkstudy.methods import registry
from shrinkstudy.config import load_study
from shrinkstudy.design.cells import Cell, ConfigError
from shrinkstudy.methods.estimators import Truth, blup, fit_estimators
from shrinkstudy.methods.plugins import PluginError, estimator_entries, observations_from_long, user_estimator
from shrinkstudy.methods.reml import fit_varcomp
from shrinkstudy.design.simulate import simulate_reps, suffstats_from_array, suffstats_from_long
from shrinkstudy.design.worlds import GaussMixture

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples/limited_translation.py:estimate"
SEED = Cell(sizes=(100,) * 6 + (2,) * 6, sigma=5.0, tau=1.0, mu=0.0)


def _write(tmp_path: Path, name: str, code: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


def _stats(cell=SEED, R=200, seed=3):
    y, means = simulate_reps(cell, range(R), seed)
    return y, means, suffstats_from_array(y, cell.sizes)


def limited_translation_by_hand(ybar, n, mu, tau2, sigma2, D=1.0):
    """Efron & Morris (1972), group by group: the BLUP, clipped to ybar_j +- D sigma / sqrt(n_j)."""
    out = np.empty_like(ybar)
    for j in range(ybar.size):
        se = np.sqrt(sigma2 / n[j])
        b = mu + tau2 / (tau2 + se**2) * (ybar[j] - mu) if se > 0 else ybar[j]
        out[j] = min(max(b, ybar[j] - D * se), ybar[j] + D * se)
    return out


def test_example_is_the_blup_clipped_to_one_standard_error():
    _, _, st = _stats()
    entry = user_estimator(EXAMPLE, ROOT)
    assert entry.name == "limited_translation" and entry.needs == ("varcomp",) and not entry.builtin
    assert entry.description.startswith("the BLUP, moved back to within D = 1 standard error")
    assert Path(entry.source) == ROOT / "examples" / "limited_translation.py"
    vc = fit_varcomp(st)
    fit = fit_estimators(st, ["raw", "blup", entry])
    est = fit.estimates["limited_translation"]
    for r in range(0, st.R, 17):
        ref = limited_translation_by_hand(st.ybar[r], st.n[r], vc.mu[r], vc.tau2[r], vc.sigma2[r])
        np.testing.assert_allclose(est[r], ref, rtol=1e-13, atol=1e-13)
    # it moves at most one standard error from the raw means, and equals the BLUP where that is closer
    se = np.sqrt(vc.sigma2[:, None] / st.n)
    assert np.all(np.abs(est - st.ybar) <= se * (1 + 1e-12))
    inside = np.abs(fit.estimates["blup"] - st.ybar) < se * 0.999
    np.testing.assert_allclose(est[inside], fit.estimates["blup"][inside], rtol=1e-13)
    assert inside.mean() > 0.3 and (~inside).mean() > 0.05  # both branches occur
    assert not fit.failed["limited_translation"].any()


def test_module_spec_and_options(tmp_path, monkeypatch):
    _write(tmp_path, "mymod.py", """
        def shrink_half(stats, varcomp):
            '''halfway between the raw means and mu^'''
            return 0.5 * (stats.ybar + varcomp.mu[:, None])
    """)
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = user_estimator({"function": "mymod:shrink_half", "name": "half", "label": "half way"}, tmp_path)
    assert (entry.name, entry.label, entry.description) == ("half", "half way", "halfway between the raw means and mu^")
    assert Path(entry.source) == tmp_path / "mymod.py"
    assert user_estimator("mymod:shrink_half", tmp_path).name == "shrink_half"
    _, _, st = _stats(R=5)
    fit = fit_estimators(st, ["raw", entry])
    np.testing.assert_allclose(fit.estimates["half"], 0.5 * (st.ybar + fit.varcomp.mu[:, None]), rtol=1e-15)


@pytest.mark.parametrize(
    "entry, code, message",
    [
        ("nothere.py:estimate", None, r"^estimators\.2: no such file 'nothere\.py' \(relative to the project\)$"),
        ("mine.py:other", "def estimate(stats):\n    return stats.ybar\n", r"^estimators\.2: mine\.py has no function 'other'"),
        ("mine.py:estimate", "def estimate(ybar):\n    return ybar\n", r"^estimators\.2: the function must take the sufficient statistics first"),
        ("mine.py:estimate", "def estimate(stats, tau):\n    return stats.ybar\n", r"^estimators\.2: unknown argument 'tau'"),
        ("mine.py:estimate", "def estimate(stats, **kw):\n    return stats.ybar\n", r"^estimators\.2: \*args and \*\*kwargs"),
        ("mine.py:estimate", "import nosuchpackage\n", r"^estimators\.2: mine\.py cannot be imported \(ModuleNotFoundError"),
        ("mine.py:blup", "def blup(stats):\n    return stats.ybar\n", r"^estimators\.2: name 'blup' is that of a built-in"),
        ("nosuchpkg.shrink:f", None, r"^estimators\.2: no module 'nosuchpkg'"),
        ("no colon", None, r"^estimators\.2: 'no colon' is not valid"),
        ({"function": "mine.py:estimate", "name": "Bad Name"}, "def estimate(stats):\n    return stats.ybar\n", r"^estimators\.2\.name: 'Bad Name' is not valid"),
    ],
)
def test_a_bad_user_estimator_stops_the_study_with_one_line(tmp_path, entry, code, message):
    if code is not None:
        _write(tmp_path, "mine.py", code)
    config = {
        "estimators": ["raw", "blup", entry],
        "grid": {"b": {"J": [3], "sizes": [5], "sigma": [1], "tau": [1]}},
    }
    with pytest.raises(ConfigError, match=message) as info:
        load_study(config, root=tmp_path)
    assert "\n" not in str(info.value)


def test_two_estimators_of_one_name_are_rejected(tmp_path):
    _write(tmp_path, "a.py", "def estimate(stats):\n    return stats.ybar\n")
    _write(tmp_path, "b.py", "def a(stats):\n    return stats.ybar\n")
    with pytest.raises(PluginError, match=r"^estimators\.2: a second estimator called 'a' \(also estimators\.1\)"):
        estimator_entries(["raw", "a.py:estimate", "b.py:a"], tmp_path)


def _entry(tmp_path, code, name="mine"):
    _write(tmp_path, f"{name}.py", code)
    return user_estimator(f"{name}.py:estimate", tmp_path)


def test_an_estimator_that_raises_fails_only_its_replications(tmp_path):
    entry = _entry(tmp_path, """
        import numpy as np
        def estimate(stats, varcomp):
            if np.any(stats.ybar[:, 0] > 1.0):
                raise FloatingPointError("group 1 too high")
            return stats.ybar
    """)
    _, _, st = _stats(R=60)
    fit = fit_estimators(st, ["raw", entry])
    bad = st.ybar[:, 0] > 1.0
    assert 0 < bad.sum() < st.R
    np.testing.assert_array_equal(fit.failed["mine"], bad)
    assert set(fit.messages["mine"][bad]) == {"FloatingPointError: group 1 too high"}
    assert set(fit.messages["mine"][~bad]) == {""}
    np.testing.assert_array_equal(fit.estimates["mine"][~bad], st.ybar[~bad])
    assert np.isnan(fit.estimates["mine"][bad]).all()
    assert not fit.failed["raw"].any()  # the others are untouched


def test_wrong_shape_and_non_finite_results_are_failures(tmp_path):
    _, _, st = _stats(R=10)
    shape = _entry(tmp_path, "def estimate(stats):\n    return stats.ybar[:, :3]\n", "shape")
    nan = _entry(tmp_path, """
        import numpy as np
        def estimate(stats):
            out = stats.ybar.copy()
            out[::3, 2] = np.inf
            return out
    """, "nonfinite")
    fit = fit_estimators(st, ["raw", shape, nan])
    assert fit.failed["shape"].all()
    assert fit.messages["shape"][0] == "shape returned an estimate of shape (10, 3), expected (R, J) = (10, 12)"
    np.testing.assert_array_equal(fit.failed["nonfinite"], np.arange(10) % 3 == 0)
    assert fit.messages["nonfinite"][0] == "nonfinite returned NaN or inf for a group the dataset has"


def test_nan_for_an_absent_group_is_not_a_failure(tmp_path):
    entry = _entry(tmp_path, "import numpy as np\ndef estimate(stats):\n    return np.where(stats.n > 0, stats.ybar, np.nan)\n")
    st = suffstats_from_long([0, 0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 1, 1, 0, 0, 1, 2, 2], np.arange(9.0))[0]
    fit = fit_estimators(st, ["raw", entry])
    assert not fit.failed["mine"].any() and np.isnan(fit.estimates["mine"][0, 2])


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")
def test_interval_and_raw_data_estimators(tmp_path):
    entry = _entry(tmp_path, """
        import numpy as np
        def estimate(stats, data, level):
            '''group medians, with a +-1 interval'''
            med = np.full(stats.n.shape, np.nan)
            for j in range(stats.n.shape[1]):
                yj = np.where(data.group == j, data.y, np.nan)
                med[:, j] = np.nanmedian(yj, axis=1)
            return med, med - 1.0, med + 1.0
    """, "median")
    assert entry.needs == ("data", "level") and entry.has_interval
    rng = np.random.default_rng(1)
    dataset = np.repeat([0, 1], [7, 9])
    group = np.r_[[0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 1, 2, 2, 2, 2]]
    y = rng.normal(size=16)
    st = suffstats_from_long(dataset, group, y)[0]
    fit = fit_estimators(st, ["raw", entry], data=observations_from_long(dataset, group, y))
    want = [[np.median(y[(dataset == d) & (group == g)]) if d or g < 2 else np.nan for g in range(3)] for d in range(2)]
    np.testing.assert_allclose(fit.estimates["median"], want, rtol=1e-15)
    lo, hi = fit.intervals["median"]
    np.testing.assert_allclose(hi - lo, np.where(np.isnan(want), np.nan, 2.0))
    with pytest.raises(ValueError, match="median needs the raw observations"):
        fit_estimators(st, ["raw", entry])


def test_user_estimators_get_their_own_styles():
    assert registry.style("mine", 0) != registry.style("theirs", 1)
    assert registry.label("mine") == "mine" and registry.label("blup") == "BLUP"
    assert registry.order(["zz", "mine", "oracle", "raw"]) == ["raw", "oracle", "mine", "zz"]


def test_cli_fits_a_user_estimator(tmp_path):
    rng = np.random.default_rng(7)
    group = np.repeat(list("abcdef"), [2, 2, 2, 30, 30, 30])
    y = rng.normal(size=group.size) * 2 + np.repeat(rng.normal(size=6), [2, 2, 2, 30, 30, 30])
    pd.DataFrame({"group": group, "y": y}).to_csv(tmp_path / "data.csv", index=False)
    cmd = [sys.executable, "-m", "shrinkstudy", "fit", str(tmp_path / "data.csv"), "--out", str(tmp_path / "out"),
           "--estimator", str(ROOT / "examples" / "limited_translation.py") + ":estimate"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    est = pd.read_csv(tmp_path / "out" / "estimates.csv")
    st = suffstats_from_long(np.zeros(group.size), group, y)[0]
    vc = fit_varcomp(st)
    ref = limited_translation_by_hand(st.ybar[0], st.n[0], vc.mu[0], vc.tau2[0], vc.sigma2[0])
    np.testing.assert_allclose(est["limited_translation"], ref, rtol=1e-12)
    np.testing.assert_allclose(est["blup"], blup(st, vc)[0], rtol=1e-12)
    bad = subprocess.run(cmd[:-1] + ["nothere.py:estimate"], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr == "shrinkstudy: error: --estimator nothere.py:estimate: no such file 'nothere.py' (relative to the current directory)\n"


def test_the_example_config_is_valid_and_names_its_estimator():
    config = yaml.safe_load((ROOT / "config" / "example_plugin.yaml").read_text())
    study = load_study(copy.deepcopy(config))
    names = [e.name for e in study.estimators]
    assert names[-1] == "limited_translation" and study.estimators[-1].label == "limited transl."
    assert study.user_files == [str(ROOT / "examples" / "limited_translation.py")]
    assert study.config["results"] != "results"
    truth = Truth(0.0, 1.0, 5.0)
    _, _, st = _stats(R=3)
    fit = fit_estimators(st, study.estimators, truth=truth)
    assert list(fit.estimates) == names


# ---------------------------------------------------------------------------------------------
# a user's code cannot corrupt the study: read-only inputs, exits, time limit, results, files
# ---------------------------------------------------------------------------------------------

GRID = {"b": {"J": [3], "sizes": [5], "sigma": [1], "tau": [1]}}
MUTATES = """
    def estimate(stats, varcomp):
        out = stats.ybar.copy()
        stats.ybar[...] = 0
        varcomp.tau2[...] = 123
        return out
"""
ADDS_IN_PLACE = """
    def estimate(stats):
        stats.ybar += 1000
        return stats.ybar
"""


@pytest.mark.parametrize("code", [MUTATES, ADDS_IN_PLACE], ids=["assigns", "adds_in_place"])
def test_an_estimator_that_changes_its_inputs_fails_and_changes_nothing_else(tmp_path, code):
    _, _, st = _stats(R=40)
    ybar = st.ybar.copy()
    entry = _entry(tmp_path, code, "mutates")
    alone = fit_estimators(st, ["raw", "blup", "varmatch"])
    fit = fit_estimators(st, ["raw", entry, "blup", "varmatch"])
    # every estimator after it, and the stored variance components, have the same bits as without it
    for name in ("raw", "blup", "varmatch"):
        np.testing.assert_array_equal(fit.estimates[name], alone.estimates[name])
        assert not fit.failed[name].any()
    for k in ("mu", "tau2", "sigma2"):
        np.testing.assert_array_equal(getattr(fit.varcomp, k), getattr(alone.varcomp, k))
    np.testing.assert_array_equal(st.ybar, ybar)  # the caller's statistics too (no retry added twice)
    assert fit.failed["mutates"].all() and np.isnan(fit.estimates["mutates"]).all()
    message = fit.messages["mutates"][0]
    assert message.startswith("mutates tried to change its inputs, which are read-only (ValueError: ")
    assert set(fit.messages["mutates"]) == {message}


def test_inputs_forced_writable_are_the_estimators_own_copies(tmp_path):
    # it makes the cached N and the true prior's weights writeable and zeroes them, and returns:
    # pooled (which uses N) and the oracle (which uses the prior) see the original numbers
    entry = _entry(tmp_path, """
        def estimate(stats, truth):
            for a in (stats.N, truth.effects_prior.weights):
                a.flags.writeable = True
                a[...] = 0
            return stats.ybar.copy()
    """, "forces")
    _, _, st = _stats(R=10)
    prior = GaussMixture(np.array([0.5, 0.5]), np.array([-1.0, 1.0]), np.array([0.0, 0.0]))
    truth = Truth(0.0, 1.0, 5.0, effects_prior=prior)
    N = st.N.copy()
    alone = fit_estimators(st, ["raw", "pooled", "oracle"], truth=truth)
    fit = fit_estimators(st, ["raw", entry, "pooled", "oracle"], truth=truth)
    for name in ("pooled", "oracle"):
        np.testing.assert_array_equal(fit.estimates[name], alone.estimates[name])
    np.testing.assert_array_equal(st.N, N)
    np.testing.assert_array_equal(prior.weights, [0.5, 0.5])
    assert not fit.failed["forces"].any()


def test_cli_with_an_estimator_that_changes_its_inputs_writes_the_true_numbers(tmp_path):
    _write(tmp_path, "mutates.py", MUTATES)
    rng = np.random.default_rng(7)
    group = np.repeat(list("abcdef"), [2, 2, 2, 30, 30, 30])
    y = rng.normal(size=group.size) * 2 + np.repeat(rng.normal(size=6), [2, 2, 2, 30, 30, 30])
    pd.DataFrame({"group": group, "y": y}).to_csv(tmp_path / "data.csv", index=False)
    cmd = [sys.executable, "-m", "shrinkstudy", "fit", "data.csv", "--out", "out", "--estimator", "mutates.py:estimate"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    est = pd.read_csv(tmp_path / "out" / "estimates.csv")
    st = suffstats_from_long(np.zeros(group.size), group, y)[0]
    vc = fit_varcomp(st)
    np.testing.assert_allclose(est["ybar"], st.ybar[0], rtol=1e-15)
    np.testing.assert_allclose(est["blup"], blup(st, vc)[0], rtol=1e-12)
    record = json.loads((tmp_path / "out" / "fit.json").read_text())["datasets"][0]
    assert record["tau2"] == pytest.approx(vc.tau2[0], rel=1e-12)
    assert record["failure_messages"]["mutates"].startswith("mutates tried to change its inputs")
    # fit.json names the code that made the numbers: the file's SHA-256, by the path as given
    settings = json.loads((tmp_path / "out" / "fit.json").read_text())
    assert settings["estimators"]["mutates"] == "mutates.py:estimate"
    assert settings["estimator_files"] == {"mutates.py": hashlib.sha256((tmp_path / "mutates.py").read_bytes()).hexdigest()}


EXITS = {
    "exit0": ("import sys\ndef estimate(stats):\n    sys.exit(0)\n", "SystemExit: 0"),
    "exit": ("import sys\ndef estimate(stats):\n    sys.exit()\n", "SystemExit"),
    "interrupt": ("def estimate(stats):\n    raise KeyboardInterrupt('stop')\n", "KeyboardInterrupt: stop"),
}


@pytest.mark.parametrize("name", sorted(EXITS))
def test_exit_and_keyboard_interrupt_in_an_estimator_are_its_failures(tmp_path, name):
    code, message = EXITS[name]
    entry = _entry(tmp_path, code, name)
    _, _, st = _stats(R=8)
    fit = fit_estimators(st, ["raw", entry, "blup"])
    assert fit.failed[name].all() and set(fit.messages[name]) == {message}
    assert not fit.failed["blup"].any() and not fit.failed["raw"].any()


def test_cli_with_an_estimator_that_exits_records_it_and_writes_the_rest(tmp_path):
    _write(tmp_path, "quits.py", EXITS["exit0"][0])
    pd.DataFrame({"group": list("aabbcc"), "y": [1.0, 2, 3, 5, 4, 8]}).to_csv(tmp_path / "data.csv", index=False)
    cmd = [sys.executable, "-m", "shrinkstudy", "fit", "data.csv", "--out", "out", "--estimator", "quits.py:estimate"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("fitted 1 dataset")
    record = json.loads((tmp_path / "out" / "fit.json").read_text())["datasets"][0]
    assert record["failure_messages"] == {"quits": "SystemExit: 0"}
    assert pd.read_csv(tmp_path / "out" / "estimates.csv")["quits"].isna().all()


@pytest.mark.parametrize(
    "code, message",
    [
        ("import sys\nsys.exit(3)\n", r"^estimators\.1: mine\.py cannot be imported \(SystemExit: 3\)$"),
        ("import sys\nsys.exit()\n", r"^estimators\.1: mine\.py cannot be imported \(SystemExit\)$"),
        ("raise KeyboardInterrupt\n", r"^estimators\.1: mine\.py cannot be imported \(KeyboardInterrupt\)$"),
    ],
)
def test_an_exit_when_the_estimator_file_is_imported_is_a_config_error(tmp_path, code, message):
    _write(tmp_path, "mine.py", code)
    config = {"estimators": ["raw", "mine.py:estimate"], "grid": GRID}
    with pytest.raises(ConfigError, match=message):
        load_study(config, root=tmp_path)


def test_the_config_check_fails_on_an_estimator_module_that_exits(tmp_path):
    _write(tmp_path, "quitting_module.py", "import sys\nsys.exit(0)\ndef estimate(stats):\n    return stats.ybar\n")
    config = {"estimators": ["raw", "quitting_module:estimate"], "grid": GRID}
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump(config))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-m", "shrinkstudy.config", str(cfg)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert res.returncode == 1
    assert res.stderr == (
        "config error: estimators.1: module 'quitting_module' cannot be imported (SystemExit: 0)\n"
    )


# 30 s, far beyond the tests' limits (0.3 and 0.5 s), and no more: were the limit not kept, the
# test would fail after 30 s rather than hang the suite
IMPORT_HANGS = {
    "sleeps": "import time\ntime.sleep(30)\ndef estimate(stats):\n    return stats.ybar\n",
    "loops": "import time\nt0 = time.monotonic()\nwhile time.monotonic() - t0 < 30:\n    pass\n"
    "def estimate(stats):\n    return stats.ybar\n",
}


@pytest.mark.parametrize("code", IMPORT_HANGS.values(), ids=IMPORT_HANGS.keys())
def test_an_estimator_file_that_never_finishes_importing_is_a_config_error(tmp_path, code):
    """Importing a user's file has the estimators' time limit (estimator_time_limit): code
    that sleeps or loops when imported is one config line naming it, and the timer and the
    SIGALRM handler are as they were."""
    _write(tmp_path, "stuck.py", code)
    config = {"estimators": ["raw", "stuck.py:estimate"], "estimator_time_limit": 0.3, "grid": GRID}
    before = signal.getsignal(signal.SIGALRM)
    with pytest.raises(ConfigError) as err:
        load_study(config, root=tmp_path)
    assert str(err.value) == (
        "estimators.1: importing stuck.py took longer than its time limit of 0.3 s "
        "(estimator_time_limit): does its code wait or loop when imported?"
    )
    assert signal.getsignal(signal.SIGALRM) is before and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_config_check_and_fit_stop_on_an_estimator_that_sleeps_when_imported(tmp_path):
    """The config check (make study's first step) and ``fit --time-limit`` end with one line."""
    _write(tmp_path, "stuck.py", IMPORT_HANGS["sleeps"])
    config = {"estimators": ["raw", "stuck:estimate"], "estimator_time_limit": 0.5, "grid": GRID}
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump(config))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-m", "shrinkstudy.config", str(cfg)], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120)
    assert res.returncode == 1
    assert res.stderr == (
        "config error: estimators.1: importing stuck took longer than its time limit of 0.5 s "
        "(estimator_time_limit): does its code wait or loop when imported?\n"
    )
    pd.DataFrame({"group": list("aabbcc"), "y": [1.0, 2, 3, 5, 4, 8]}).to_csv(tmp_path / "data.csv", index=False)
    cmd = [sys.executable, "-m", "shrinkstudy", "fit", "data.csv", "--out", "out", "--estimator",
           "stuck.py:estimate", "--time-limit", "0.5"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 2 and not (tmp_path / "out").exists()
    assert res.stderr.splitlines() == [
        "shrinkstudy: error: --estimator stuck.py:estimate: importing stuck.py took longer than its time "
        "limit of 0.5 s (estimator_time_limit): does its code wait or loop when imported?"
    ]


LOOPS = "def estimate(stats):\n    while True:\n        pass\n"
SLEEPS = "import time\ndef estimate(stats):\n    time.sleep(3600)\n"
SWALLOWS = """
    def estimate(stats):
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
"""


@pytest.mark.parametrize("code", [LOOPS, SLEEPS], ids=["loops", "sleeps"])
def test_an_estimator_that_never_returns_is_stopped_at_its_time_limit(tmp_path, code):
    entry = _entry(tmp_path, code, "forever")
    _, _, st = _stats(R=6)
    before = signal.getsignal(signal.SIGALRM)
    fit = fit_estimators(st, ["raw", entry, "blup"], time_limit=0.2)
    assert fit.failed["forever"].all()
    assert set(fit.messages["forever"]) == {"forever was stopped at its time limit of 0.2 s"}
    np.testing.assert_array_equal(fit.estimates["blup"], fit_estimators(st, ["raw", "blup"]).estimates["blup"])
    assert signal.getsignal(signal.SIGALRM) is before and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_cli_ends_with_one_line_on_an_estimator_that_swallows_its_stop(tmp_path):
    _write(tmp_path, "swallows.py", SWALLOWS)
    pd.DataFrame({"group": list("aabbcc"), "y": [1.0, 2, 3, 5, 4, 8]}).to_csv(tmp_path / "data.csv", index=False)
    cmd = [sys.executable, "-m", "shrinkstudy", "fit", "data.csv", "--out", "out", "--estimator",
           "swallows.py:estimate", "--time-limit", "0.2"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 1
    assert res.stderr == (
        "shrinkstudy: error: swallows went on past its time limit of 0.2 s, catching the exception "
        "that stops it; ending the process\n"
    )
    assert not (tmp_path / "out" / "estimates.csv").exists()


def test_the_time_limit_covers_the_retries_and_fails_only_the_unfinished_datasets(tmp_path):
    # on all rows it raises; alone, dataset 0 is fine, dataset 1 never returns: 1 and after fail
    entry = _entry(tmp_path, """
        import numpy as np
        def estimate(stats):
            if stats.R > 1:
                raise ValueError("one at a time")
            if stats.ybar[0, 0] == LOOP_ON:
                while True:
                    pass
            return stats.ybar
    """, "partial")
    _, _, st = _stats(R=5)
    entry.point_function().__globals__["LOOP_ON"] = st.ybar[1, 0]
    fit = fit_estimators(st, ["raw", entry], time_limit=0.3)
    np.testing.assert_array_equal(fit.failed["partial"], [False, True, True, True, True])
    np.testing.assert_array_equal(fit.estimates["partial"][0], st.ybar[0])
    assert set(fit.messages["partial"][1:]) == {"partial was stopped at its time limit of 0.3 s"}


def test_the_time_limit_holds_when_shrinkstudy_fit_uses_threads(tmp_path):
    from shrinkstudy.methods import workers

    entry = _entry(tmp_path, SLEEPS, "sleepy")
    _, _, st = _stats(R=2 * workers.MIN_ROWS)
    fit = workers.fit(st, [registry.get("raw"), registry.get("blup"), entry], jobs=2, time_limit=0.2)
    assert fit.failed["sleepy"].all() and not fit.failed["blup"].any()


def test_the_study_passes_its_time_limit_to_the_fit(tmp_path):
    from shrinkstudy.config import fit_settings
    from shrinkstudy.study.fit import replicate

    _write(tmp_path, "sleepy.py", SLEEPS)
    config = {
        "replications": 4, "chunk_size": 2, "estimator_time_limit": 0.25,
        "estimators": ["raw", "blup", "sleepy.py:estimate"],
        "grid": GRID,
    }
    study = load_study(config, root=tmp_path)
    assert fit_settings(study.config)["time_limit"] == 0.25
    assert "time_limit" not in fit_settings(load_study({**config, "estimators": ["raw", "blup"]}).config)
    res = replicate(study, "J3_n5_sigma1_tau1_mu0", 1, tmp_path)
    assert res.estimates["sleepy"].isna().all() and res.estimates["blup"].notna().all()
    with pytest.raises(ConfigError, match=r"^estimator_time_limit: 0 is not valid"):
        load_study({**config, "estimator_time_limit": 0}, root=tmp_path)


def test_the_default_time_limit_is_the_schemas():
    from shrinkstudy.config import SCHEMA_PATH
    from shrinkstudy.methods.plugins import TIME_LIMIT

    text = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]["estimator_time_limit"]["description"]
    assert f"Default {TIME_LIMIT:g} (plugins.TIME_LIMIT)" in text


@pytest.mark.parametrize(
    "code, message",
    [
        ("def estimate(stats):\n    return stats.ybar + 0j\n", "returned an estimate of complex numbers (complex128)"),
        ("import numpy as np\ndef estimate(stats):\n    return np.ma.masked_array(stats.ybar, mask=stats.n == 0)\n",
         "returned an estimate that is a masked array; return NaN where there is no value"),
        ("def estimate(stats):\n    return stats.ybar.astype(str)\n", "returned an estimate that is not an array of numbers (<U32)"),
    ],
    ids=["complex", "masked", "strings"],
)
def test_results_that_are_not_real_numbers_are_failures(tmp_path, code, message):
    entry = _entry(tmp_path, code)
    _, _, st = _stats(R=4)
    fit = fit_estimators(st, ["raw", entry])
    assert fit.failed["mine"].all() and set(fit.messages["mine"]) == {f"mine {message}"}


def test_an_interval_whose_bounds_cross_is_a_failure(tmp_path):
    entry = _entry(tmp_path, """
        def estimate(stats, level):
            lower, upper = stats.ybar - 1.0, stats.ybar + 1.0
            lower[::2, 3], upper[::2, 3] = stats.ybar[::2, 3] + 1.0, stats.ybar[::2, 3] - 1.0  # crossed in even datasets
            return stats.ybar.copy(), lower, upper
    """, "crossed")
    _, _, st = _stats(R=6)
    fit = fit_estimators(st, ["raw", entry])
    np.testing.assert_array_equal(fit.failed["crossed"], np.arange(6) % 2 == 0)
    assert set(fit.messages["crossed"][::2]) == {"crossed returned an interval whose lower bound is above its upper bound"}
    np.testing.assert_array_equal(fit.estimates["crossed"][1::2], st.ybar[1::2])


@pytest.mark.parametrize("where", ["parent", "absolute", "link"])
def test_an_estimator_file_outside_the_project_is_refused(tmp_path, where):
    project = tmp_path / "project"
    project.mkdir()
    outside = _write(tmp_path, "x.py", "def estimate(stats):\n    return stats.ybar\n")
    spec = {"parent": "../x.py", "absolute": str(outside)}.get(where, "x.py")
    if where == "link":
        (project / "x.py").symlink_to(outside)
    config = {"estimators": ["raw", f"{spec}:estimate"], "grid": GRID}
    with pytest.raises(ConfigError, match=rf"^estimators\.1: '{re.escape(spec)}' is outside the project \({re.escape(str(project))}\)"):
        load_study(config, root=project)


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                   check=True, capture_output=True)


def test_provenance_hashes_the_estimator_files_and_is_dirty_while_they_are_uncommitted(tmp_path):
    from shrinkstudy.report.provenance import provenance

    repo = tmp_path / "r"
    try:
        subprocess.run(["git", "init", "-q", str(repo)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git not available")
    _write(repo, "README", "x\n")
    _git(repo, "add", "README")
    _git(repo, "commit", "-qm", "x")
    mine = _write(repo, "mine.py", "def estimate(stats):\n    return stats.ybar\n")
    study = _write(repo, "study.yaml", "estimators: [raw, mine.py:estimate]\n")
    files = {"estimator_files": [mine], "config_files": [study]}
    prov = provenance({}, repo=repo, **files)
    assert prov["files"] == {
        "estimators": {"mine.py": hashlib.sha256(mine.read_bytes()).hexdigest()},
        "config": {"study.yaml": hashlib.sha256(study.read_bytes()).hexdigest()},
    }
    assert prov["git"]["dirty"] is True  # both untracked
    _git(repo, "add", "mine.py")
    _git(repo, "commit", "-qm", "mine")
    assert provenance({}, repo=repo, **files)["git"]["dirty"] is True  # the study file still untracked
    _git(repo, "add", "study.yaml")
    _git(repo, "commit", "-qm", "study")
    assert provenance({}, repo=repo, **files)["git"]["dirty"] is False
    mine.write_text("def estimate(stats):\n    return stats.ybar * 2\n")
    assert provenance({}, repo=repo, **files)["git"]["dirty"] is True  # modified
    _git(repo, "commit", "-qam", "twice")
    elsewhere = _write(tmp_path, "other.yaml", "estimators: [raw]\n")
    prov = provenance({}, repo=repo, estimator_files=[mine], config_files=[elsewhere])
    assert prov["git"]["dirty"] is True  # a study file outside the repository
    assert prov["files"]["config"] == {str(elsewhere.resolve()): hashlib.sha256(elsewhere.read_bytes()).hexdigest()}
