"""Worlds beyond the normal one: distributions, group SDs, cell names and specs, the simulation."""

import re
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
import pandas as pd
from scipy import special

from reference.simulate_v1 import simulate_reps_v1
from shrinkstudy.config import load_study
from shrinkstudy.design.cells import Cell, ConfigError, WORLD_KEYS, cells_from_config
from shrinkstudy.design.simulate import chunk_columns, simulate_reps, suffstats_from_array
from shrinkstudy.design.worlds import EFFECTS, ERRORS, EffectsError, GaussMixture, QuantilePrior, group_sigmas, user_effects

SEED = (100,) * 6 + (2,) * 6

# ----------------------------------------------------------------------------------------------
# today's cells: same names, same specs, same datasets bit for bit


TODAY = [
    Cell(sizes=SEED, sigma=5.0, tau=1.0, mu=0.0),
    Cell(sizes=(5,) * 5, sigma=1.0, tau=0.5, mu=2.0),
    Cell(sizes=(5,) * 5, sigma=1.0, tau=0.0),  # no draw of the effects at all
    Cell(sizes=(1, 4, 2, 7), sigma=2.0, tau=3.0, mu=-1.5),
]


@pytest.mark.parametrize("cell", TODAY, ids=lambda c: c.name)
def test_normal_world_datasets_are_byte_identical(cell):
    y, m = simulate_reps(cell, np.arange(7), base_seed=2024)
    y1, m1 = simulate_reps_v1(cell, np.arange(7), base_seed=2024)
    assert y.tobytes() == y1.tobytes() and m.tobytes() == m1.tobytes()


def test_normal_world_names_and_specs_are_unchanged():
    cell = TODAY[0]
    assert cell.name == "J12_n100x6+2x6_sigma5_tau1_mu0"
    assert cell.normal_world and cell.world_suffix == ""
    # exactly the dict the workflow tracked as params before (no job reruns)
    assert cell.spec() == {"sizes": list(SEED), "sigma": 5.0, "tau": 1.0, "mu": 0.0}
    assert list(cell.spec()) == ["sizes", "sigma", "tau", "mu"]
    grid = {"b": {"sizes": ["100x6+2x6"], "sigma": [5], "tau": [1]}}
    explicit = dict(grid["b"], **{k: [v] for k, v in WORLD_KEYS.items()})
    assert [c.name for c in cells_from_config(grid)] == [c.name for c in cells_from_config({"b": explicit})]
    assert cells_from_config({"b": explicit})[0] == cell


def test_world_names_specs_and_round_trip():
    c = Cell(sizes=(5,) * 4, sigma=1, tau=1, effects="t", errors="t", errors_df=10, sigma_ratio=4)
    assert c.name == "J4_n5_sigma1_tau1_mu0_eff-t3_err-t10_sr4"
    assert c.effects_param == 3.0  # the default, filled in
    assert c == Cell(sizes=(5,) * 4, sigma=1, tau=1, effects="t", effects_param=3.0, errors="t", errors_df=10.0,
                     sigma_ratio=4.0)
    assert list(c.spec()) == ["sizes", "sigma", "tau", "mu", "effects", "effects_param", "errors", "errors_df",
                              "sigma_ratio"]
    for cell in [c, *TODAY,
                 Cell(sizes=(3, 4), sigma=1, tau=1, effects="skewed", effects_param=-1),
                 Cell(sizes=(3, 4), sigma=1, tau=1, effects="bimodal"),
                 Cell(sizes=(3, 4), sigma=1, tau=1, effects="sparse", effects_param=0.05),
                 Cell(sizes=(3, 4), sigma=1, tau=1, effects="mymod.sub:draw")]:
        back = Cell.from_spec(cell.spec(), block="x")
        assert back == cell and back.name == cell.name and back.block == "x"
    names = {
        "skewed": "_eff-skew2", "bimodal": "_eff-bimodal0.9", "sparse": "_eff-sparse0.2", "mymod.sub:draw": "_eff-mymod.sub.draw",
    }
    for eff, suffix in names.items():
        assert Cell(sizes=(3, 4), sigma=1, tau=1, effects=eff).world_suffix == suffix
    assert Cell(sizes=(3, 4), sigma=1, tau=1, effects="skewed", effects_param=-1).world_suffix == "_eff-skewm1"
    p = c.params()
    assert (p["effects"], p["effects_param"], p["errors"], p["errors_df"], p["sigma_ratio"]) == ("t", 3.0, "t", 10.0, 4.0)


def test_names_match_the_workflow_wildcard():
    import re

    text = open("workflow/rules/common.smk").read()
    pattern = re.search(r'cell=r"([^"]+)"', text).group(1)
    cells = cells_from_config(
        {"b": {"J": 3, "sizes": [2], "sigma": [1e-5, 2], "tau": [0, 1.5], "mu": [-1],
               "effects": list(EFFECTS), "effects_df": [3, 4.5], "errors": list(ERRORS), "sigma_ratio": [1, 2.5],
               "effects_pmf": [{"atoms": [-1, 0.5, 2], "weights": [0.25, 0.5, 0.25]}]}}
    )
    assert len({c.name for c in cells}) == len(cells) == 2 * 2 * (1 + 2 + 1 + 1 + 1 + 1) * 2 * 2
    for c in cells + [Cell(sizes=(3, 4), sigma=1, tau=1, effects="my_mod.x:my_draw")]:
        assert re.fullmatch(pattern, c.name), c.name


def test_world_config_errors_name_the_key():
    base = {"sizes": [5], "J": 3, "sigma": [1], "tau": [1]}
    for extra, match in [
        ({"effects": ["cauchy"]}, r"grid.b.effects: unknown distribution 'cauchy'"),
        ({"effects": ["t"], "effects_df": [2]}, r"grid.b.effects_df: t df = 2"),
        ({"effects": ["skewed"], "effects_skew": [0]}, r"grid.b.effects_skew"),
        ({"effects": ["bimodal"], "effects_sep": [1.5]}, r"grid.b.effects_sep"),
        ({"effects": ["sparse"], "effects_p": [0]}, r"grid.b.effects_p"),
        ({"errors": ["t"], "errors_df": [1]}, r"grid.b.errors_df"),
        ({"errors": ["skewed"]}, r"grid.b.errors: unknown"),
        ({"sigma_ratio": [0.5]}, r"grid.b.sigma_ratio"),
        ({"effects_shape": [1]}, r"unknown key"),
    ]:
        with pytest.raises(ConfigError, match=match):
            cells_from_config({"b": dict(base, **extra)})
    with pytest.raises(ConfigError, match="takes no parameter"):
        Cell(sizes=(3, 4), sigma=1, tau=1, effects="normal", effects_param=2.0)


# ----------------------------------------------------------------------------------------------
# a user's own effects distribution


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "myworld.py").write_text(textwrap.dedent("""
        import numpy as np

        def draw(rng, shape, tau):  # a standardised uniform
            return tau * np.sqrt(3.0) * rng.uniform(-1.0, 1.0, shape)

        def wide(rng, shape, tau):
            return 2.0 * tau * rng.standard_normal(shape)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "myworld"
    sys.modules.pop("myworld", None)


def test_user_effects_checked_before_any_job(user_module):
    cells = cells_from_config({"b": {"J": 4, "sizes": [3], "sigma": [1], "tau": [2], "effects": ["myworld:draw"]}})
    (cell,) = cells
    assert cell.name == "J4_n3_sigma1_tau2_mu0_eff-myworld.draw"
    _, m = simulate_reps(cell, np.arange(200), base_seed=1)
    assert np.all(np.abs(m) <= 2 * np.sqrt(3.0))
    prior = cell.effects_prior()
    assert isinstance(prior, GaussMixture) and prior.means.size == 20_000
    with pytest.raises(ConfigError, match=r"grid.b.effects: myworld:wide at tau = 1 has mean .* SD 2"):
        cells_from_config({"b": {"J": 4, "sizes": [3], "sigma": [1], "tau": [2], "effects": ["myworld:wide"]}})
    with pytest.raises(ConfigError, match="no function"):
        cells_from_config({"b": {"J": 4, "sizes": [3], "sigma": [1], "tau": [2], "effects": ["myworld:nothing"]}})
    with pytest.raises(ValueError, match="cannot import"):
        user_effects("no_such_module_xyz:draw")


BAD_MODULES = {
    # module: (its text, what cells_from_config says about 'module:draw')
    "bw_syntax": ("def draw(rng, shape, tau)\n    return 0\n", r"cannot import module 'bw_syntax' from .*bw_syntax\.py \(SyntaxError: expected ':' \(bw_syntax\.py, line 1\)\)$"),
    "bw_typeerror": ("1 + 'a'\n", r"cannot import module 'bw_typeerror' from .*bw_typeerror\.py \(TypeError: unsupported operand"),
    "bw_exit": ("import sys\nsys.exit('bye')\n", r"cannot import module 'bw_exit' from .*bw_exit\.py \(SystemExit: bye\)$"),
    "bw_runtime": ("def draw(rng, shape, tau):\n    raise RuntimeError('no\\ndraws')\n", r"bw_runtime:draw failed at tau = 1 \(RuntimeError: no draws\)$"),
    "bw_text": ("def draw(rng, shape, tau):\n    return [['a'] * 4] * 3\n", r"bw_text:draw returned values of type <U1 at tau = 1, not real numbers$"),
    "bw_complex": ("import numpy as np\ndef draw(rng, shape, tau):\n    return tau * rng.standard_normal(shape) * 1j\n", r"type complex128 at tau = 1, not real numbers$"),
    # right at tau = 1, wrong at the cells' tau = 2
    "bw_nan2": (
        "import numpy as np\ndef draw(rng, shape, tau):\n    x = tau * rng.standard_normal(shape)\n"
        "    if tau == 2:\n        x.flat[0] = np.nan\n    return x\n",
        r"bw_nan2:draw returned 1 non-finite value\(s\) of 12 at tau = 2$",
    ),
    "bw_len2": (
        "import numpy as np\ndef draw(rng, shape, tau):\n    x = tau * rng.standard_normal(shape)\n"
        "    return x.ravel()[:-1] if tau == 2 else x\n",
        r"bw_len2:draw returned shape \(11,\) for shape \(3, 4\) at tau = 2$",
    ),
    "bw_sd2": ("import numpy as np\ndef draw(rng, shape, tau):\n    return min(tau, 1.5) * rng.standard_normal(shape)\n",
               r"bw_sd2:draw at tau = 2 has mean .* and SD 1\.5; it must have mean 0, SD tau$"),
}


@pytest.fixture
def bad_modules(tmp_path, monkeypatch):
    for module, (text, _) in BAD_MODULES.items():
        (tmp_path / f"{module}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for module in BAD_MODULES:
        sys.modules.pop(module, None)


@pytest.mark.parametrize("module", list(BAD_MODULES))
def test_a_bad_user_effects_is_one_config_line(bad_modules, module):
    """Any failure of the user's module or function, at import or at any tau of the cells that
    use it, is a config error of one line naming the key and the function (or its file)."""
    grid = {"b": {"J": 4, "sizes": [3], "sigma": [1], "tau": [1, 2], "effects": [f"{module}:draw"]}}
    with pytest.raises(ConfigError) as info:
        cells_from_config(grid)
    text = str(info.value)
    assert "\n" not in text and text.startswith("grid.b.effects: ")
    assert re.search(BAD_MODULES[module][1], text), text


def test_user_effects_draws_are_checked_in_the_job(tmp_path, monkeypatch):
    """Draws that pass the check before the jobs but not in a simulate job (here: only for J = 7
    groups) stop it with one line naming the function; nothing is returned to be stored."""
    (tmp_path / "bw_job.py").write_text(textwrap.dedent("""
        import numpy as np

        def nan7(rng, shape, tau):
            x = tau * rng.standard_normal(shape)
            if np.shape(x) == (7,):
                x[3] = np.inf
            return x

        def long7(rng, shape, tau):
            x = tau * rng.standard_normal(shape)
            return np.append(x, 0.0) if np.shape(x) == (7,) else x
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        for func, message in [
            ("nan7", r"^effects: bw_job:nan7 returned 1 non-finite value\(s\) of 7 at tau = 1$"),
            ("long7", r"^effects: bw_job:long7 returned shape \(8,\) for shape \(7,\) at tau = 1$"),
        ]:
            (cell,) = cells_from_config({"b": {"J": 7, "sizes": [3], "sigma": [1], "tau": [1], "effects": [f"bw_job:{func}"]}})
            with pytest.raises(EffectsError, match=message):
                chunk_columns(cell, np.arange(2), base_seed=1)
    finally:
        sys.modules.pop("bw_job", None)


# ----------------------------------------------------------------------------------------------
# the distributions: mean 0 and SD tau within 4 MCSE, draws consistent with the oracle's prior

DISTS = [
    ("effects", "normal", None),
    ("effects", "t", 3.0),
    ("effects", "t", 5.0),
    ("effects", "t", 10.0),
    ("effects", "skewed", 2.0),
    ("effects", "skewed", -0.5),
    ("effects", "bimodal", 0.9),
    ("effects", "bimodal", 1.0),
    ("effects", "sparse", 0.2),
    ("errors", "normal", None),
    ("errors", "t", 5.0),
]


def _moments_within_4_mcse(x, scale, check_sd=True):
    n = x.size
    m = x.mean()
    assert abs(m) <= 4 * x.std() / np.sqrt(n), (m, x.std() / np.sqrt(n))
    if check_sd:
        x2 = x * x  # the mean is known (0): E x^2 = scale^2, MCSE sd(x^2) / sqrt(n)
        v, mcse_v = x2.mean(), x2.std() / np.sqrt(n)
        assert abs(v - scale**2) <= 4 * mcse_v + 1e-12 * scale**2, (v, scale**2, mcse_v)


@pytest.mark.parametrize("kind,name,value", DISTS)
def test_distributions_have_mean_zero_and_sd_scale(kind, name, value):
    dist = (EFFECTS if kind == "effects" else ERRORS)[name]
    # a seed of its own per case, the same in every process (Python's string hash is not)
    rng = np.random.default_rng(zlib.crc32(f"{kind}/{name}/{value!r}".encode()))
    x = dist.draw(rng, 400_000, 2.5, value)
    # the sample variance of t3 has no finite variance itself: its SD is checked by quantiles below
    _moments_within_4_mcse(x, 2.5, check_sd=not (name == "t" and value == 3.0))
    # the draws follow the oracle's prior: P(X <= q) at a few points, binomial MCSE
    prior = dist.prior(2.5, value)
    for q in (-3.0, -1.0, -0.2, 0.0, 0.4, 1.5, 4.0):
        if isinstance(prior, QuantilePrior):
            p = float(prior.cdf(np.array(q)))
            assert abs(p + float(prior.sf(np.array(q))) - 1) < 1e-12
        else:
            sd = np.sqrt(prior.variances)
            with np.errstate(divide="ignore", invalid="ignore"):
                z = np.where(sd > 0, (q - prior.means) / np.where(sd > 0, sd, 1), np.where(q >= prior.means, np.inf, -np.inf))
            p = float(np.sum(prior.weights * special.ndtr(z)))
        phat = np.mean(x <= q)
        assert abs(phat - p) <= 4 * np.sqrt(p * (1 - p) / x.size) + 1e-12, (q, phat, p)


@pytest.mark.parametrize("name,value", [("t", 3.0), ("t", 7.0), ("skewed", 2.0), ("skewed", -1.0)])
def test_quantile_priors_have_mean_zero_sd_tau_and_inverse_functions(name, value):
    prior = EFFECTS[name].prior(1.7, value)
    # moments by Gauss-Legendre in the probability scale, both halves
    x, w = np.polynomial.legendre.leggauss(400)
    u = 0.25 * (x + 1)  # (0, 0.5)
    t_lo, t_hi = prior.ppf(u), prior.isf(u)
    m1 = 0.25 * np.sum(w * (t_lo + t_hi))
    assert abs(m1) < 2e-3
    if not (name == "t" and value < 5):  # a slowly converging tail integral for t3
        m2 = 0.25 * np.sum(w * (t_lo**2 + t_hi**2))
        assert m2 == pytest.approx(1.7**2, rel=2e-2)
    np.testing.assert_allclose(prior.cdf(t_lo), u, rtol=1e-9)
    np.testing.assert_allclose(prior.sf(t_hi), u, rtol=1e-9)


# ----------------------------------------------------------------------------------------------
# heteroscedastic worlds


def test_group_sigmas_order_and_spread():
    s = group_sigmas(2.0, 4.0, 5)
    np.testing.assert_allclose(s, [1.0, 2**-0.5 * 2, 2.0, 2 * 2**0.5, 4.0])
    assert np.all(np.diff(s) > 0)
    assert np.exp(np.mean(np.log(s))) == pytest.approx(2.0)
    np.testing.assert_array_equal(group_sigmas(2.0, 1.0, 3), [2.0, 2.0, 2.0])
    cell = Cell(sizes=SEED, sigma=5, tau=1, sigma_ratio=9)
    np.testing.assert_allclose(cell.sampling_variances()[[0, -1]], [25 / 9 / 100, 25 * 9 / 2])


@pytest.mark.parametrize(
    "cell",
    [
        Cell(sizes=(2, 5, 3, 8, 4), sigma=1.5, tau=1.0, mu=1.0, effects="skewed", errors="t", errors_df=5,
             sigma_ratio=4),
        Cell(sizes=SEED, sigma=5.0, tau=1.0, effects="bimodal", sigma_ratio=9),
        Cell(sizes=(3,) * 6, sigma=1.0, tau=0.0, effects="t", errors="t"),
    ],
    ids=lambda c: c.name,
)
def test_raw_mse_is_mean_sampling_variance(cell):
    """MSE of the raw means = mean_j sigma_j^2 / n_j; E SSW / (N - J) = sum (n_j - 1) sigma_j^2 / (N - J)."""
    R = 6000
    y, m = simulate_reps(cell, np.arange(R), base_seed=7)
    st = suffstats_from_array(y, cell.sizes)
    loss = np.mean((st.ybar - m) ** 2, axis=1)
    target = np.mean(cell.sampling_variances())
    assert abs(loss.mean() - target) <= 4 * loss.std(ddof=1) / np.sqrt(R), (loss.mean(), target)
    s2 = st.ssw / (cell.N - cell.J)
    sizes = np.asarray(cell.sizes)
    target_s2 = np.sum((sizes - 1) * cell.group_sigmas() ** 2) / (cell.N - cell.J)
    assert abs(s2.mean() - target_s2) <= 4 * s2.std(ddof=1) / np.sqrt(R)
    if cell.tau == 0:
        np.testing.assert_array_equal(m, cell.mu)


def test_world_streams_do_not_depend_on_chunking():
    cell = Cell(sizes=(3, 4, 2), sigma=1.0, tau=1.0, effects="sparse", errors="t", sigma_ratio=2)
    y, m = simulate_reps(cell, np.arange(8), base_seed=3)
    ya, ma = simulate_reps(cell, np.arange(3), base_seed=3)
    yb, mb = simulate_reps(cell, np.arange(7, 2, -1), base_seed=3)
    np.testing.assert_array_equal(np.vstack([ya, yb[::-1]]), y)
    np.testing.assert_array_equal(np.vstack([ma, mb[::-1]]), m)
    data, truth = chunk_columns(cell, np.arange(2), base_seed=3)
    np.testing.assert_array_equal(truth["mean"], m[:2].reshape(-1))


def test_normal_effects_with_t_errors_have_sd_tau():
    """A world with t errors has its own name and stream; its effects are still N(0, tau^2)."""
    a = Cell(sizes=(4,) * 5, sigma=1.0, tau=1.0)
    b = Cell(sizes=(4,) * 5, sigma=1.0, tau=1.0, errors="t")
    assert a.key != b.key
    _, m = simulate_reps(b, np.arange(3000), base_seed=1)
    _moments_within_4_mcse(m.reshape(-1), 1.0)


# ----------------------------------------------------------------------------------------------
# each world component declared once (worlds.COMPONENTS): the schema, the cell's name, the protocol


def _schema_block() -> dict:
    import yaml

    path = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
    schema = yaml.safe_load(path.read_text())
    return schema["properties"]["grid"]["additionalProperties"]["properties"]


def test_schema_world_keys_are_the_components():
    from shrinkstudy.design import worlds

    block = _schema_block()
    expected = worlds.schema_properties()
    world_in_file = [k for k in block if k not in ("J", "sizes", "sigma", "ses", "tau", "mu")]
    assert world_in_file == list(expected) == list(WORLD_KEYS)
    for key, prop in expected.items():
        assert block[key] == prop, key
    # the names the schema admits are the registries'
    assert block["errors"]["items"]["enum"] == list(worlds.ERRORS) == ["normal", "t"]
    pattern = block["effects"]["items"]["pattern"]
    assert pattern.startswith("^(" + "|".join(worlds.EFFECTS) + "|")
    assert list(worlds.EFFECTS) == ["normal", "t", "skewed", "bimodal", "sparse", "discrete"]
    # each parameter's key, default and bounds
    assert block["effects_df"]["default"] == [3] and block["effects_df"]["items"]["exclusiveMinimum"] == 2
    assert block["effects_sep"]["items"] == {"type": "number", "minimum": 0, "maximum": 1}
    assert block["errors_df"]["default"] == [5]
    assert block["sigma_ratio"]["items"]["minimum"] == 1 and block["sigma_ratio"]["default"] == [1]


def test_config_checks_the_world_keys_against_the_components():
    from shrinkstudy.config import _schema

    assert {k: v for k, v in _schema()["properties"]["grid"]["additionalProperties"]["properties"].items()
            if k in WORLD_KEYS} == __import__("shrinkstudy.design.worlds").design.worlds.schema_properties()
    base = {"sizes": [5], "J": [6], "sigma": [1], "tau": [1]}
    for key, bad in (("effects", ["cauchy"]), ("errors", ["skewed"]), ("effects_sep", [1.5]),
                     ("errors_df", [2]), ("sigma_ratio", [0.5])):
        with pytest.raises(ConfigError, match=key):
            load_study({"grid": {"b": dict(base, **{key: bad})}})


@pytest.mark.parametrize(
    "world,token",
    [
        ({"effects": "t"}, "_eff-t3"),
        ({"effects": "t", "effects_param": 7}, "_eff-t7"),
        ({"effects": "skewed", "effects_param": -0.5}, "_eff-skewm0.5"),
        ({"effects": "bimodal"}, "_eff-bimodal0.9"),
        ({"effects": "sparse", "effects_param": 0.1}, "_eff-sparse0.1"),
        ({"errors": "t"}, "_err-t5"),
        ({"errors": "t", "errors_df": 4}, "_err-t4"),
        ({"sigma_ratio": 4}, "_sr4"),
        ({"sigma_ratio": 2.5}, "_sr2.5"),
        ({"effects": "t", "errors": "t", "sigma_ratio": 4}, "_eff-t3_err-t5_sr4"),
    ],
)
def test_each_components_token_round_trips(world, token):
    from shrinkstudy.design import worlds

    cell = Cell(sizes=(5,) * 6, sigma=1.0, tau=1.0, **world)
    assert cell.name == "J6_n5_sigma1_tau1_mu0" + token
    assert "".join(comp.token(cell) for comp in worlds.COMPONENTS.values()) == token
    again = Cell.from_spec(cell.spec())
    assert again == cell and again.name == cell.name
    assert not cell.normal_world and not worlds.is_normal_world(cell)
    # the same cell from a grid block of the config
    key = {"effects_param": f"effects_{worlds.EFFECTS[world.get('effects', 'normal')].param}", "errors_df": "errors_df"}
    grid_world = {key.get(k, k): [v] for k, v in world.items()}
    (from_grid,) = cells_from_config({"b": {"J": [6], "sizes": [5], "sigma": [1], "tau": [1], **grid_world}})
    assert from_grid.name == cell.name


def test_normal_world_has_no_token():
    from shrinkstudy.design import worlds

    cell = Cell(sizes=(5,) * 6, sigma=1.0, tau=1.0)
    assert [comp.token(cell) for comp in worlds.COMPONENTS.values()] == ["", "", ""]
    assert cell.spec() == {"sizes": [5] * 6, "sigma": 1.0, "tau": 1.0, "mu": 0.0}
    assert cell.normal_world


def test_protocol_describes_each_cells_effects_and_errors():
    from shrinkstudy.report import protocol

    study = load_study({
        "replications": 100,
        "chunk_size": 100,
        "estimators": ["raw", "blup"],
        "grid": {
            "main": {"J": [6], "sizes": [5], "sigma": [1], "tau": [1], "effects": ["normal", "t"]},
            "errs": {"J": [6], "sizes": [5], "sigma": [1], "tau": [1], "errors": ["t"], "sigma_ratio": [4]},
        },
    })
    names = [c.name for c in study.cells]
    assert names == ["J6_n5_sigma1_tau1_mu0", "J6_n5_sigma1_tau1_mu0_eff-t3", "J6_n5_sigma1_tau1_mu0_err-t5_sr4"]
    summary = pd.DataFrame([{"cell": c, "estimator": e, "groups": "all", "reps": 100, "failures": 0}
                            for c in names for e in ("raw", "blup")])
    replication = pd.DataFrame({"cell": names[:1], "measure": ["mse"], "estimator": ["raw"], "groups": ["all"],
                                "rel_mcse": [0.01]})
    text = protocol.protocol_markdown(study.config, study.cells, study.estimators, summary, replication,
                                      {"packages": {}})
    mech = text.split("## Data-generating mechanisms", 1)[1].split("\n## ", 1)[0]
    assert ("- effects `t (3)` (1 of the 3 cells): theta_j = tau sqrt((df - 2) / df) T_df, T_df a Student t "
            "draw with df = 3.") in mech
    assert "- effects `normal` (2 of the 3 cells): theta_j ~ N(0, tau^2)." in mech
    assert ("- errors `t (5)` (1 of the 3 cells): e_ij = sigma_j sqrt((df - 2) / df) T_df, T_df a Student t "
            "draw with df = 5.") in mech
    assert "- errors `normal` (2 of the 3 cells): e_ij ~ N(0, sigma_j^2)." in mech
    assert "- SD ratio `4` (1 of the 3 cells): sigma_j = sigma r^((j - 1) / (J - 1) - 1/2), r = 4" in mech
    # the cells table: one row per cell with its effects, errors and SD ratio
    rows = {line.split(" | ")[0].strip("| `"): line.split(" | ")[-3:] for line in mech.splitlines()
            if line.startswith("| `J6")}
    assert rows["J6_n5_sigma1_tau1_mu0_eff-t3"] == ["t (3)", "normal", "1 |"]
    assert rows["J6_n5_sigma1_tau1_mu0_err-t5_sr4"] == ["normal", "t (5)", "4 |"]
    assert rows["J6_n5_sigma1_tau1_mu0"] == ["normal", "normal", "1 |"]
    assert "effects, errors and SD ratio say" in mech


# 30 s, far beyond the tests' limit (0.3 s), and no more: were the limit not kept, the test would
# fail after 30 s rather than hang the suite
STUCK_EFFECTS = {
    "stuck_import": ("import time\ntime.sleep(30)\ndef draw(rng, shape, tau):\n    return tau * rng.standard_normal(shape)\n",
                     r"^grid\.b\.effects: importing module 'stuck_import' from .*stuck_import\.py took longer "
                     r"than its time limit of 0\.3 s: does its code wait or loop when imported\?$"),
    "stuck_draw": ("import time\ndef draw(rng, shape, tau):\n    t0 = time.monotonic()\n"
                   "    while time.monotonic() - t0 < 30:\n        pass\n",
                   r"^grid\.b\.effects: stuck_draw:draw took longer than its time limit of 0\.3 s at tau = 1$"),
}


@pytest.mark.parametrize("module", list(STUCK_EFFECTS))
def test_a_user_effects_that_never_returns_is_one_config_line(tmp_path, monkeypatch, module):
    """A user's effects distribution has a time limit (``worlds.EFFECTS_TIME_LIMIT``) to import
    and for each call: code that sleeps or loops is one config line naming it, not a study that
    never starts; the timer and the SIGALRM handler are as they were."""
    import signal

    from shrinkstudy.design import worlds

    code, message = STUCK_EFFECTS[module]
    (tmp_path / f"{module}.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(worlds, "EFFECTS_TIME_LIMIT", 0.3)
    before = signal.getsignal(signal.SIGALRM)
    try:
        with pytest.raises(ConfigError) as info:
            cells_from_config({"b": {"J": 4, "sizes": [3], "sigma": [1], "tau": [1], "effects": [f"{module}:draw"]}})
    finally:
        sys.modules.pop(module, None)
    assert re.search(message, str(info.value)), str(info.value)
    assert signal.getsignal(signal.SIGALRM) is before and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
