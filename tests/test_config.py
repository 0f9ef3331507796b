"""Bad configuration gets one clear line naming the key and the value, before any work."""

import copy
import re
from pathlib import Path

import pytest
import yaml

from shrinkstudy.config import chunk_ranges, load_config_file, load_study, read_config_file, study_config
from shrinkstudy.design.cells import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_study_meets_the_brief():
    study = load_study(DEFAULT)
    names = {c.name for c in study.cells}
    assert "J12_n100x6+2x6_sigma5_tau1_mu0" in names  # the seed's own cell
    balanced = [c for c in study.cells if c.balanced]
    assert {c.J for c in balanced} >= {3, 6, 12, 24, 48}
    assert {c.n for c in balanced} >= {2, 5, 10, 30, 100}
    assert {c.sigma for c in study.cells} >= {1.0, 2.5, 5.0}
    assert study.config["replications"] >= 1000
    assert study.seed_cell.name == "J12_n100x6+2x6_sigma5_tau1_mu0"


def test_defaults_are_filled():
    study = load_study({"grid": {"b": {"J": [3], "sizes": [5], "sigma": [1], "tau": [1]}}})
    assert study.config["method"] == "REML"
    assert study.config["hier_bayes_prior"] == {"family": "half_cauchy", "scale": 1.0}
    assert study.chunks == [(0, 1000)]
    # a grid block's too, in the schema's order after the given keys (the recorded config, and
    # its hash in the provenance, are those the workflow has always recorded)
    assert study.config["grid"]["b"] == {
        "J": [3], "sizes": [5], "sigma": [1], "tau": [1], "mu": [0], "effects": ["normal"], "effects_df": [3],
        "effects_skew": [2], "effects_sep": [0.9], "effects_p": [0.2], "errors": ["normal"], "errors_df": [5],
        "sigma_ratio": [1],
    }  # fmt: skip
    assert list(study.config["grid"]["b"])[4:] == [
        "mu", "effects", "effects_df", "effects_skew", "effects_sep", "effects_p", "errors", "errors_df", "sigma_ratio"
    ]  # fmt: skip
    assert [c.name for c in study.cells] == ["J3_n5_sigma1_tau1_mu0"]


def test_the_seed_example_only_when_the_config_has_one():
    """Without a seed_example block the study has no seed example (the schema gave it one);
    its seed cell, the headline's and the findings' design, is still the answer's."""
    grid = {"grid": {"b": {"J": [3], "sizes": [5], "sigma": [1], "tau": [1]}}}
    study = load_study(grid)
    assert study.seed_example is None and "seed_example" not in study.config
    assert study.seed_cell.name == "J12_n100x6+2x6_sigma5_tau1_mu0"
    given = load_study(dict(grid, seed_example={"sizes": "10x2+3x2", "sigma": 2}))
    assert given.seed_example["choose"] == "seed" and given.seed_example["seed"] == 522387
    assert given.seed_cell.name == "J4_n10x2+3x2_sigma2_tau1_mu0"
    assert load_study(DEFAULT).seed_example["choose"] == "closest_fit"


def test_chunk_ranges():
    assert chunk_ranges(300, 100) == [(0, 100), (100, 200), (200, 300)]


def edit(path, value):
    cfg = copy.deepcopy(DEFAULT)
    *parents, last = path
    node = cfg
    for p in parents:
        node = node[p]
    node[last] = value
    return cfg


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("replications",), 0, r"^replications: 0 is not valid"),
        (("replications",), "many", r"^replications: 'many' is not valid"),
        (("replications",), 1500, r"^replications: 1500 is not a multiple of chunk_size 1000"),
        (("grid", "balanced", "sigma"), [1, -2.5], r"^grid\.balanced\.sigma\.1: -2\.5 is not valid"),
        (("grid", "balanced", "J"), [1, 3], r"^grid\.balanced\.J\.0: 1 is not valid"),
        (("grid", "balanced", "sizes"), ["lots"], r"^grid\.balanced\.sizes: unknown design label 'lots'"),
        (("estimators",), ["raw", "ridge"], r"^estimators\.1: 'ridge' is not valid"),
        (("estimators",), ["blup"], r"^estimators: \['blup'\] must include 'raw'"),
        (("method",), "MLE", r"^method: 'MLE' is not valid"),
        (("hier_bayes_prior",), {"family": "flat"}, r"^hier_bayes_prior\.family: 'flat' is not valid"),
        (("level",), 1.5, r"^level: 1\.5 is not valid"),
        (("grid", "seed", "J"), [10], r"design '100x6\+2x6' has 12 groups but J = 10"),
        (("grid", "again"), {"J": [3], "sizes": [2], "sigma": [1], "tau": [1]}, r"J3_n2_sigma1_tau1_mu0 is duplicated"),
        (("colour",), "red", r"^config: Additional properties are not allowed \('colour' was unexpected\)"),
        (("results",), "../elsewhere", r"^results: '\.\./elsewhere' must be a directory below the project"),
        (("results",), "/tmp/out", r"^results: '/tmp/out' must be a directory below the project"),
        (("results",), ".", r"^results: '\.' must be a directory below the project"),
        (("results",), "results/{x}", r"^results: 'results/\{x\}' has '\{' '\}', which Snakemake reads as a wildcard"),
        (("results",), "results/my run", r"^results: 'results/my run' has ' ', which Snakemake"),
        (("results",), "results/*", r"^results: 'results/\*' has '\*', which Snakemake"),
    ],
)
def test_bad_values_are_named(path, value, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_study(edit(path, value))
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config_file(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("grid: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_file(tmp_path / "bad.yaml")


# --- every number finite and bounded, checked at once (issue: invalid values that passed) ------

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("level",), NAN, r"^level: nan is not a finite number$"),
        (("hier_bayes_prior",), {"family": "half_cauchy", "scale": NAN}, r"^hier_bayes_prior\.scale: nan is not a finite"),
        (("hier_bayes_prior",), {"family": "half_cauchy", "scale": INF}, r"^hier_bayes_prior\.scale: inf is not a finite"),
        (("seed_example",), {"sizes": "100x6+2x6", "sigma": NAN}, r"^seed_example\.sigma: nan is not a finite"),
        (("seed_example",), {"sizes": "100x6+2x6", "sigma": 5, "mu": -INF}, r"^seed_example\.mu: -inf is not a finite"),
        (("grid", "seed", "tau"), [1, INF], r"^grid\.seed\.tau\.1: inf is not a finite"),
        (("replications",), 200.5, r"^replications: 200\.5 is not valid"),
        (("replications",), 1e12, r"^replications: 1000000000000 is not valid .*maximum of 10000000"),
        (("replications",), 1e8, r"^replications: 100000000 is not valid .*maximum of 10000000"),
        (("replications",), 1_000_000, r"^replications: 116 cells x 1000 chunks is 116,000 jobs; at most 10,000"),
        (("grid", "balanced", "J"), [3, 100_000_000], r"^grid\.balanced\.J\.1: 100000000 is not valid .*maximum of 100000"),
        (("grid", "balanced", "sizes"), [2, 100_000_000], r"^grid\.balanced\.sizes\.1: 100000000 is not valid .*maximum"),
        (("grid", "seed", "sizes"), ["2x100000000"], r"^grid\.seed\.sizes: design '2x100000000' has 100000000 groups; at most 100,000"),
        (("grid", "seed", "sizes"), ["100000x20"], r"^grid\.seed\.sizes: design '100000x20' has 2000000 observations"),
        (("grid", "balanced", "sizes"), [2, 1000], r"^grid\.balanced\.sizes: design 1000 \(24000 observations\) times chunk_size 1000"),
        (("grid", "balanced", "sizes"), [1, 5], r"^grid\.balanced\.sizes: design '1' has a single observation in every group"),
        (("grid", "seed", "sizes"), ["1x12"], r"^grid\.seed\.sizes: design '1' has a single observation in every group"),
        (("grid", "seed", "sigma"), [1e9], r"^grid\.seed\.sigma\.0: 1000000000\.0 is not valid"),
        (("seed_example",), {"sizes": "1x12"}, r"^seed_example\.sizes: design '1' has a single observation"),
        (("seed_example",), {"sizes": "2x1000000"}, r"^seed_example\.sizes: design '2x1000000' has 1000000 groups"),
        (("seed_example",), {"sizes": 3, "J": 1}, r"^seed_example\.J: 1 is not valid"),
        (("results",), "src", r"^results: 'src' is inside the project's own folder 'src'"),
        (("results",), "workflow/out", r"^results: 'workflow/out' is inside the project's own folder 'workflow'"),
        (("results",), ".snakemake", r"^results: '\.snakemake' is inside the project's own folder"),
    ],
)
def test_bounds_are_named_at_once(path, value, message):
    import tracemalloc

    config = edit(path, value)
    load_study(edit(("level",), 0.9))  # imports and schema cached, outside the measured call
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=message) as info:
            load_study(config)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in str(info.value)
    # no expansion of a huge grid or design first: a design of 10^6 groups alone takes 8 MB
    assert peak < 8e6, f"{peak / 1e6:.1f} MB allocated before the error"


def test_integral_floats_are_integers():
    cfg = edit(("replications",), 2000.0)
    cfg["chunk_size"] = 1e3
    cfg["grid"]["balanced"]["J"] = [3.0, 6]
    cfg["grid"]["balanced"]["sizes"] = [2.0, "5"]
    study = load_study(cfg)
    assert study.config["replications"] == 2000 and type(study.config["replications"]) is int
    assert type(study.config["chunk_size"]) is int and study.chunks == [(0, 1000), (1000, 2000)]
    assert {c.name for c in study.cells} >= {"J3_n2_sigma1_tau1_mu0", "J6_n5_sigma5_tau1_mu0"}


def test_results_that_is_a_file(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(ConfigError, match=r"^results: 'out/mine': out exists and is not a directory$"):
        load_study(edit(("results",), "out/mine"), cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"^results: 'out': out exists and is not a directory$"):
        load_study(edit(("results",), "out"), cwd=tmp_path)
    assert load_study(edit(("results",), "results/mine"), cwd=tmp_path).config["results"] == "results/mine"


# --- reading a study file (issue: config files themselves) --------------------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        (b"# caf\xe9 au lait\nreplications: 20\n", r"^{f}:1: not UTF-8 text \(byte 0xe9\); save the file as UTF-8$"),
        (b"", r"^{f}: the file is empty; a study config needs at least a grid$"),
        (b"# only a comment\n", r"^{f}: the file is empty"),
        (b"replications: 20\ngrid: [unclosed\n", r"^{f}:3: not valid YAML \(expected ',' or '\]', but got '<stream end>'\)$"),
        (b"replications: 20\n  chunk_size: 10\n", r"^{f}:2: not valid YAML \(mapping values are not allowed here\)$"),
        (b"replications: 20\nlevel: 0.9\nreplications: 40\n", r"^{f}:3: key 'replications' is given twice \(also on line 1\)$"),
        (b"grid:\n  a: {J: [3], sizes: [2], sigma: [1], tau: [1], tau: [2]}\n", r"^{f}:2: key 'tau' is given twice"),
        (b"- 1\n- 2\n", r"^{f}: expected a mapping of keys to values, not a list$"),
        (
            b"replications: 20\n__use_yte__: true\nx: ?open('ran', 'w')\n",
            r"^{f}:2: '__use_yte__' asks Snakemake to run the file's Python expressions \(YAML templating\); "
            r"a study file holds plain values only$",
        ),
        (b'{"__use_yte__": false, "replications": 20}', r"^{f}: '__use_yte__' asks Snakemake to run"),
    ],
)
def test_bad_config_files_name_file_and_line(tmp_path, content, message):
    f = tmp_path / "mine.yaml"
    f.write_bytes(content)
    with pytest.raises(ConfigError, match=message.replace("{f}", re.escape(str(f)))) as info:
        read_config_file(f)
    assert "\n" not in str(info.value)


def test_missing_or_directory_config_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such config file$"):
        read_config_file(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r": is a directory, not a config file$"):
        read_config_file(tmp_path)


def test_exponents_are_numbers(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("level: 1e-3\nreplications: 2E3\nchunk_size: 1e3\nmu: 5e0\nname: 1e3x\nother: '1e3'\n")
    cfg = read_config_file(f)
    assert cfg["level"] == 0.001 and cfg["mu"] == 5.0
    assert cfg["replications"] == 2000.0 and cfg["chunk_size"] == 1000.0
    assert cfg["name"] == "1e3x" and cfg["other"] == "1e3"  # text stays text
    grid = "grid: {b: {J: [3], sizes: [2], sigma: [1e-3], tau: [1]}}\n"
    f.write_text("level: 1e-1\nreplications: 2e3\nchunk_size: 1e3\n" + grid)
    study = load_study(read_config_file(f))
    assert study.config["level"] == 0.1 and study.config["replications"] == 2000
    assert study.cells[0].sigma == 0.001


def test_a_config_file_is_the_whole_study(tmp_path):
    """No config file: config/config.yaml. A config file: that file alone (no default block)."""
    assert study_config() == DEFAULT
    mine = tmp_path / "mine.yaml"
    mine.write_text("grid:\n  mine:\n    J: [3]\n    sizes: [4]\n    sigma: [1]\n    tau: [1]\n")
    study = load_study(study_config([mine]))
    assert [c.name for c in study.cells] == ["J3_n4_sigma1_tau1_mu0"]
    assert study.config["replications"] == 1000  # the schema's default, not the default study's file
    # a block named as the default's, and a cell of the default study: no duplicate
    mine.write_text("grid:\n  balanced:\n    J: [3]\n    sizes: [2]\n    sigma: [1]\n    tau: [1]\n")
    assert [c.name for c in load_study(study_config([mine])).cells] == ["J3_n2_sigma1_tau1_mu0"]
    # a later file replaces an earlier one's top-level keys as a whole; --config last
    other = tmp_path / "other.yaml"
    other.write_text("replications: 20\nchunk_size: 10\ngrid:\n  b:\n    J: [5]\n    sizes: [2]\n    sigma: [1]\n    tau: [1]\n")
    cfg = study_config([mine, other], {"replications": 40})
    assert cfg["grid"] == {"b": {"J": [5], "sizes": [2], "sigma": [1], "tau": [1]}}
    assert cfg["replications"] == 40 and cfg["chunk_size"] == 10


def test_check_command(tmp_path, capsys):
    from shrinkstudy.config import main

    assert main([str(ROOT / "config" / "quick.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("replications: 20\nreplications: 30\n")
    assert main([str(bad)]) == 1
    assert capsys.readouterr().err == f"config error: {bad}:2: key 'replications' is given twice (also on line 1)\n"


def test_check_config_files_exits_with_one_line(tmp_path, capsys):
    """What the workflow profile runs before Snakemake reads --configfile itself."""
    from shrinkstudy.config import check_config_files

    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("replications: 20\n")
    bad.write_bytes(b"# caf\xe9\n")
    check_config_files([good])  # nothing to say
    assert capsys.readouterr().err == ""
    with pytest.raises(SystemExit) as info:
        check_config_files([good, bad])
    assert info.value.code == 1
    assert capsys.readouterr().err == f"config error: {bad}:1: not UTF-8 text (byte 0xe9); save the file as UTF-8\n"
