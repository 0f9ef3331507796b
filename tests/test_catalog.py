"""Each figure declared once (shrinkstudy.report.figures.catalog): the rules' figure outputs and rules, the
figures package's functions and the captions all come from its entries."""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, dry_run_jobs, dry_run_outputs, run_snakemake
from shrinkstudy.report import captions, figures
from shrinkstudy.config import load_study
from shrinkstudy.report.figures import catalog

STUDY = {
    "base_seed": 3,
    "replications": 20,
    "chunk_size": 20,
    "results": "results/cat",
    "grid": {
        "balanced": {"J": [3], "sizes": [4], "sigma": [1], "tau": [1]},
        "worlds": {"J": [3], "sizes": [4], "sigma": [1], "tau": [1], "effects": ["t"]},
    },
}


def dry_run(tmp_path: Path, config: dict) -> tuple[set[str], dict[str, int]]:
    """The output files (below results/cat) and the jobs per rule of a dry run of ``config``."""
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump(config))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    res = run_snakemake(ROOT, tmp_path, "-n", "--configfile", str(cfg), env=env)
    return dry_run_outputs(res.stdout), {rule: len(jobs) for rule, jobs in dry_run_jobs(res.stdout).items()}


@pytest.mark.parametrize("seed_example", [True, False])
def test_rule_outputs_are_the_catalogs(tmp_path, seed_example):
    config = dict(STUDY)
    if seed_example:
        config["seed_example"] = {"seed": 1, "sizes": "4x3", "sigma": 1, "tau": 1}
    outputs, jobs = dry_run(tmp_path, config)
    drawn = {p for p in outputs if p.startswith("results/cat/figures/")}
    expected = catalog.figure_outputs("results/cat/figures", seed_example=seed_example)
    assert drawn == set(expected)
    assert len(expected) == 2 * (len(catalog.SUMMARY_FIGURES) + seed_example * len(catalog.SEED_FIGURES)) == (
        22 if seed_example else 18
    )
    # one job draws the summary figures; one rule per seed-example figure, named by its entry
    assert jobs["summary_figures"] == 1
    seed_rules = {f.rule for f in catalog.SEED_FIGURES}
    assert seed_rules == {"fig_seed_shrinkage", "fig_seed_blup_bayesglm"}
    assert {r for r in jobs if r in seed_rules} == (seed_rules if seed_example else set())


def test_each_entrys_functions_and_files():
    names = [f.name for f in catalog.FIGURES]
    assert len(set(names)) == len(names)
    for fig in catalog.FIGURES:
        for ref in (fig.draw, fig.data):
            if ref is None:
                continue
            module, _, func = ref.partition(":")
            assert getattr(figures, func) is getattr(importlib.import_module(module), func)
        assert fig.draw.endswith(f":plot_{fig.name}")
        if fig.summary:
            assert fig.data.endswith(f":{fig.name}_data")
            assert fig.cells in catalog.CELL_SETS
            assert callable(fig.caption_writer())
        else:
            assert fig.rule == f"fig_{fig.name}" and set(fig.inputs) <= {"data", "estimates", "fit"}
            assert fig.cells is None and fig.caption is None
        assert (ROOT / "workflow" / "report" / f"{fig.name}.rst").is_file()
        assert fig.outputs("f") == {"png": f"f/{fig.name}.png", "pdf": f"f/{fig.name}.pdf"}
    assert captions.FIGURES == tuple(f.name for f in catalog.SUMMARY_FIGURES) == (
        "relmse_by_n", "nested_loop", "group_size_mse", "spread", "boundary", "coverage",
        "worlds_relmse", "worlds_w1", "worlds_coverage",
    )
    assert catalog.figure("coverage").option_values({"level": 0.9}) == {"level": 0.9}
    assert catalog.figure("spread").option_values({"level": 0.9}) == {}


def test_captions_read_the_entries():
    study = load_study(dict(STUDY, estimators=["raw", "blup", "pooled", "oracle"]), root=ROOT)
    text = captions.figure_captions(study)
    assert list(text) == list(captions.FIGURES)
    # the cells of each entry's set
    assert [c.name for c in captions.drawn_cells("relmse_by_n", study.cells)] == ["J3_n4_sigma1_tau1_mu0"]
    assert [c.name for c in captions.drawn_cells("worlds_w1", study.cells)] == [
        "J3_n4_sigma1_tau1_mu0", "J3_n4_sigma1_tau1_mu0_eff-t3"
    ]
    # the estimators of each entry
    cells = study.cells
    assert captions.drawn_estimators("relmse_by_n", study.estimators, cells) == ["pooled", "blup", "oracle"]
    assert captions.drawn_estimators("spread", study.estimators, cells) == ["raw", "blup", "oracle"]
    assert captions.drawn_estimators("boundary", study.estimators, cells) == []
    assert captions.drawn_estimators("worlds_relmse", study.estimators, cells) == ["blup", "oracle"]
    # a study without the entry's cells is told which it lacks
    assert text["group_size_mse"].startswith(
        f"This study has no {catalog.CELL_SETS['unbalanced']}, so this figure is empty."
    )


@pytest.mark.parametrize(
    "sizes, phrase",
    [
        ((100,) * 6 + (2,) * 6, "12 groups, groups 1-6 with 100 observations and groups 7-12 with 2"),
        ((5,) * 12, "12 groups of 5 observations"),
        ((3, 4, 4, 500), "4 groups, group 1 with 3 observations, groups 2-3 with 4 and group 4 with 500"),
        ((1, 2), "2 groups, group 1 with 1 observation and group 2 with 2"),
    ],
)
def test_design_phrase(sizes, phrase):
    assert captions.design_phrase(sizes) == phrase


@pytest.mark.parametrize("sizes", [(100,) * 6 + (2,) * 6, (4,) * 3, (2, 30, 30)])
def test_the_seed_figures_caption_is_the_seed_examples_design(sizes):
    """The caption of the seed answer's figure 1 names the seed example's own design (it named
    the answer's 100x6+2x6 whatever the config said), rendered as Snakemake's report renders it
    (Jinja2, with the rule's params and the config); the line on small groups only where the
    groups differ in size."""
    from types import SimpleNamespace

    import jinja2

    template = jinja2.Template((ROOT / "workflow" / "report" / "seed_shrinkage.rst").read_text())
    params = SimpleNamespace(design=captions.design_phrase(sizes), balanced=len(set(sizes)) == 1)
    config = {"results": "results", "seed_example": {"tau": 1, "mu": 0, "sigma": 5, "seed": 7}}
    text = " ".join(template.render(snakemake=SimpleNamespace(params=params, config=config)).split())
    assert f"one dataset of its design ({captions.design_phrase(sizes)}; true means drawn with SD 1 around 0" in text
    assert ("Small groups are pulled in much more than large ones." in text) == (len(set(sizes)) > 1)
    assert "{" not in text and "}" not in text


def test_report_captions_name_the_studys_results_directory():
    """Every caption that names a file names it in the study's own results directory (they said
    results/ whatever ``results:`` was), rendered as Snakemake's report renders them."""
    from collections import defaultdict
    from types import SimpleNamespace

    import jinja2

    config = {"results": "results/mine/", "replications": 20,
              "seed_example": {"tau": 1, "mu": 0, "sigma": 5, "seed": 7}}
    params = SimpleNamespace(captions=defaultdict(str), design="3 groups of 4 observations", balanced=True)
    named = 0
    for path in sorted((ROOT / "workflow" / "report").glob("*.rst")):
        text = jinja2.Template(path.read_text()).render(snakemake=SimpleNamespace(params=params, config=config))
        files = re.findall(r"``(results/[^`]*)``", text)
        assert all(f.startswith("results/mine/") and "//" not in f for f in files), (path.name, files)
        named += len(files)
    assert named == 5  # the summary, headline and replication tables, the protocol, the seed example

