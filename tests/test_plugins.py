"""A user's own estimator: the contract, the errors that stop a study before any job, failures
recorded per replication, and the shipped example (limited translation)."""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from shrinkstudy import registry
from shrinkstudy.config import load_study
from shrinkstudy.design import Cell, ConfigError
from shrinkstudy.estimators import Truth, blup, fit_estimators
from shrinkstudy.plugins import PluginError, estimator_entries, observations_from_long, user_estimator
from shrinkstudy.reml import fit_varcomp
from shrinkstudy.simulate import simulate_reps, suffstats_from_array, suffstats_from_long

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
