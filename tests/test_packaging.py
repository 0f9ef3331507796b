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
