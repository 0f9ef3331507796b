"""environment.yml pins the same versions as pyproject.toml."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for dep in project["dependencies"]:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", dep).groups()
        pins[name.lower()] = version
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and "=" in dep and ">=" not in dep:
            name, version = dep.split("=", 1)
            conda[name.lower()] = version
    assert conda == pins
    py = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert py == "python" + project["requires-python"]


def test_rule_environment_matches_pyproject():
    """The rules' conda environment pins the library's run-time dependencies at the same versions."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", d).groups() for d in project["dependencies"])
    pins = {k.lower(): v for k, v in pins.items() if k.lower() not in ("snakemake", "pygments")}
    env = yaml.safe_load((ROOT / "workflow" / "envs" / "shrinkstudy.yaml").read_text())
    conda = dict(d.split("=", 1) for d in env["dependencies"] if "=" in d and ">=" not in d)
    assert conda == pins


def test_scripts_see_the_library():
    link = ROOT / "workflow" / "scripts" / "shrinkstudy"
    assert link.is_symlink() and (link / "__init__.py").resolve() == (ROOT / "src" / "shrinkstudy" / "__init__.py")
