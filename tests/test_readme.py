"""The README's findings cannot drift from the study: every number of its "What the study finds"
and "When the model is wrong" sections is one of docs/findings.json's (the study's
results/tables/findings.json, copied by `make docs`), written as that file writes it, every entry
of the file is quoted, and the headline table is the one of docs/headline-seed.md (the study's
headline.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FINDINGS = ROOT / "docs" / "findings.json"
HEADLINE = ROOT / "docs" / "headline-seed.md"

#: Numerals of the section that are not results: figure numbers, the 1.96 of the error bars, the
#: boundary event tau^2 = 0 and exponents, and everything in inline code (file names, formulas).
NOT_RESULTS = (r"`[^`]*`", r"[Ff]igure \d+", r"\+-1\.96", r"tau\^2 = 0", r"\^2")
#: A number as written in the README: 1,000 / 0.925 / 41% / 12.
NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|\d+(?:\.\d+)?%?")


#: The README's sections of findings, every number of them from docs/findings.json.
SECTIONS = ("What the study finds", "When the model is wrong")


def findings_section(text: str) -> str:
    parts = []
    for title in SECTIONS:
        m = re.search(rf"^## {title}\n(.*?)(?=^## )", text, flags=re.DOTALL | re.MULTILINE)
        assert m, f"README has no '{title}' section"
        parts.append(m.group(1))
    return "\n".join(parts)


def prose(section: str) -> str:
    """The section without its tables and images, whitespace made single spaces."""
    lines = [ln for ln in section.splitlines() if not ln.startswith("|") and not ln.startswith("![")]
    return " ".join(" ".join(lines).split())


def numbers(text: str) -> list[str]:
    for pattern in NOT_RESULTS:
        text = re.sub(pattern, " ", text)
    return NUMBER.findall(text)


@pytest.fixture(scope="module")
def entries() -> dict:
    return json.loads(FINDINGS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def section() -> str:
    return findings_section(README.read_text(encoding="utf-8"))


def test_numbers_are_read_from_the_findings(entries, section):
    allowed = {n for e in entries.values() for n in numbers(e["text"])}
    stray = sorted(set(numbers(prose(section))) - allowed)
    assert not stray, f"README numbers found in no entry of docs/findings.json: {stray}"


def test_every_finding_is_quoted_as_written(entries, section):
    text = prose(section)
    missing = {k: e["text"] for k, e in entries.items() if e["text"] not in text}
    assert not missing, f"entries of docs/findings.json the README does not show as written: {missing}"


def _table(lines: list[str]) -> list[dict]:
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines if ln.startswith("|")]
    header, body = rows[0], [r for r in rows[2:]]
    return [dict(zip(header, r)) for r in body]


def test_headline_table_is_the_studys(section):
    readme = _table([ln for ln in section.splitlines() if ln.startswith("|")])
    study = {row["groups"]: row for row in _table(HEADLINE.read_text(encoding="utf-8").splitlines())}
    assert readme, "README has no headline table"
    for row in readme:
        for column, value in row.items():
            assert study[row["groups"]][column] == value, (row["groups"], column)


def test_rules_of_the_check():
    """The check itself: numbers as written, and what does not count as a result."""
    assert numbers("1,000 replications, 41% above, 0.925 to 0.977 (J = 12)") == [
        "1,000",
        "41%",
        "0.925",
        "0.977",
        "12",
    ]
    assert numbers("figure 2, +-1.96 MCSE, tau^2 = 0, sigma^2/n, `results/tables/x2.md`") == []
    assert prose("a\n| 1 | 2 |\n![x](y3.png)\nb  c") == "a b c"


def _section(text: str, title: str) -> str:
    m = re.search(rf"^## {title}\n(.*?)(?=^## )", text, flags=re.DOTALL | re.MULTILINE)
    assert m, f"README has no '{title}' section"
    return m.group(1)


def test_the_advice_running_time_is_the_recorded_run():
    """The README's running time of ``shrinkstudy advise`` on 100 groups is docs/advise-timing.json
    (``make advise-timing``, copied by ``make docs``): under a minute on two cores, and a second
    call runs no job."""
    text = _section(README.read_text(encoding="utf-8"), "Which estimator for my data\\?")
    rec = json.loads((ROOT / "docs" / "advise-timing.json").read_text())
    first, again, data = rec["first"], rec["again"], rec["data"]
    for want in (
        f"On\n{data['groups']} clinics of {data['smallest']} to {data['largest']} patients ({data['observations']} observations",
        f"`shrinkstudy advise` took {first['seconds']:.1f} s of wall time and {first['cpu_seconds']:.1f} s of\nCPU",
        f"on this project's two cores at load average\n{first['load_before']:.2f}: {first['worlds']} worlds of "
        f"{first['replications']} replications, {first['jobs']} jobs",
        f"A second call with the same data ran no job and took {again['seconds']:.1f} s.",
    ):
        assert want in text, want
    assert rec["cores"] == 2 and rec["machine"]["cores_usable"] == 2 and not rec["code"]["dirty"]
    assert data["groups"] == 100 and first["seconds"] < 60 and first["jobs"] == 2 * first["worlds"] + 1
    assert again["jobs"] == 0 and again["nothing_to_do"]


def test_running_time_and_speed_are_the_recorded_runs():
    """The README's running times and rates are those of docs/timing.json (``make timing``) and
    docs/bench.json (``make bench``), copied from results/ by ``make docs``."""
    text = README.read_text(encoding="utf-8")
    timing = json.loads((ROOT / "docs" / "timing.json").read_text())
    bench = json.loads((ROOT / "docs" / "bench.json").read_text())
    running = _section(text, "Running time and disk")
    fit = timing["full"]["rules"]["fit"]
    for want in (
        f"| {timing['full']['seconds']:.1f} | {timing['full']['job_count']} |",
        f"| {timing['one_cell']['seconds']:.1f} ({100 * timing['one_cell_over_full']:.1f}% of the full run) |",
        f"| {timing['grown_full']['seconds']:.1f} | {timing['grown_full']['job_count']} |",
        f"{timing['verify']['files']} tables, figures, report pages",
        f"({len(timing['verify']['differ'])} differ;",
        f"| {fit['jobs']} | {fit['mean']:.2f} | {fit['max']:.2f} (`{fit['max_job']}`) | {fit['total']:.0f} |",
    ):
        assert want in running, want
    assert timing["verify"]["differ"] == [] and timing["one_cell_over_full"] <= 0.10
    speed = _section(text, "Speed of the engine")
    rate, ratio = bench["datasets_per_second"], bench["ratios"]
    for want in (
        f"| {rate['cli_csv']:,.0f} ({bench['cli']['csv']['seconds']:.2f} s, peak "
        f"{bench['cli']['csv']['peak_rss_mb']:.0f} MB) | {ratio['cli_csv_over_statsmodels']:.1f} x statsmodels |",
        f"| {rate['cli_parquet']:,.0f} ({bench['cli']['parquet']['seconds']:.2f} s",
        f"| {rate['cli_csv_one_thread']:,.0f} ({bench['cli']['csv_one_thread']['seconds']:.2f} s, peak "
        f"{bench['cli']['csv_one_thread']['peak_rss_mb']:.0f} MB) | {ratio['cli_csv_one_thread_over_statsmodels']:.1f} x statsmodels |",
        f"| {rate['engine_all_estimators_threads']:,.0f} | {ratio['engine_all_threads_over_statsmodels']:.0f} x statsmodels |",

        f"| statsmodels MixedLM | {rate['statsmodels']:.2f} | engine is {ratio['engine_over_statsmodels']:,.0f} x faster |",
        f"| lme4 `lmer` | {rate['lme4']:.2f} | engine is {ratio['engine_over_lme4']:,.0f} x faster |",
        f"| {rate['engine_all_estimators']:,.0f} | {ratio['engine_all_over_statsmodels']:.0f} x statsmodels |",
        f"| {rate['npmle']:,.0f} ({bench['npmle']['ms_per_dataset']:.3f} ms per dataset) | "
        f"{bench['npmle']['over_budgeted_em']:.2f} x the time of the budgeted EM it replaced |",
        f"(code at {bench['code']['commit'][:7]};",
    ):
        assert want in speed, want
    runs = {kind: ", ".join(f"{t:.2f}" for t in bench["cli"][kind]["runs"]) for kind in ("csv", "csv_one_thread", "parquet")}
    flat = " ".join(speed.split())
    for want in (
        f"{runs['csv']} s (CSV), {runs['csv_one_thread']} s (CSV, `--jobs 1`) and {runs['parquet']} s (Parquet)",
        f"take {bench['cli']['datasets'] / rate['engine_all_estimators']:.2f} s on one thread",
        f"leaves {bench['cli']['datasets'] / (100 * rate['statsmodels']):.2f} s for everything",
        f"the whole fit on two threads is {rate['engine_all_estimators_threads'] / rate['engine_all_estimators']:.2f} times",
        f"a duality gap of at most {bench['npmle']['max_gap_per_group']:.1e} per group, "
        f"{bench['npmle']['iterations_median']:.0f} iterations at the median, {bench['npmle']['iterations_max']} at most",
        f"differ by up to {bench['npmle']['max_abs_diff_budgeted_em_over_s']:.2f} s_j",
    ):
        assert want in flat, want
    assert bench["npmle"]["converged_share"] == 1.0  # "every one of the fits certified"


#: The advice of `make advice-example` (shrinkstudy advise on tests/data/clinics_unequal.csv).
ADVICE_EXAMPLE = ROOT / "docs" / "advice-clinics.md"


def test_readme_quotes_the_advice_example_as_written():
    """The section "Which estimator for my data?" quotes docs/advice-clinics.md line for line (in
    its order), the fit, the study's replications and MCSE, the answer and a world's table among
    them; that file is the advice of the default replications."""
    from shrinkstudy.study.advise import DEFAULT_REPLICATIONS

    text = README.read_text(encoding="utf-8")
    m = re.search(r"^## Which estimator for my data\?\n(.*?)(?=^## )", text, flags=re.DOTALL | re.MULTILINE)
    assert m, "README has no 'Which estimator for my data?' section"
    quoted = [ln[2:] for ln in m.group(1).splitlines() if ln.startswith("> ")]
    advice = ADVICE_EXAMPLE.read_text(encoding="utf-8").splitlines()
    at = -1
    for q in quoted:  # each line found after the one before
        assert q in advice[at + 1 :], q
        at = advice.index(q, at + 1)
    kinds = ("- REML: mu = ", "The data's own group sizes", "- Best in every world", "| blup | ", "## World: ")
    assert all(any(q.startswith(k) for q in quoted) for k in kinds)
    assert f"worlds of {DEFAULT_REPLICATIONS} replications each" in "\n".join(quoted)


#: The known-SE advice of `make advice-example` (shrinkstudy advise --se on tests/data/eight_schools.csv).
ADVICE_SCHOOLS = ROOT / "docs" / "advice-eight-schools.md"


def test_readme_quotes_the_eight_schools_advice_as_written():
    """The paragraph on the eight schools quotes docs/advice-eight-schools.md (each code span
    that is not a file or a command is a piece of it); that file is the advice of the default
    replications, in the known-SE form."""
    from shrinkstudy.study.advise import DEFAULT_REPLICATIONS

    text = README.read_text(encoding="utf-8")
    m = re.search(r"^The eight schools, in the known-SE form(.*?)\n\n", text, flags=re.DOTALL | re.MULTILINE)
    assert m, "README has no paragraph on the eight schools' advice"
    spans = [s for s in re.findall(r"`([^`]+)`", m.group(1).replace("\n", " "))
             if not s.startswith(("make ", "docs/", "tests/"))]
    advice = ADVICE_SCHOOLS.read_text(encoding="utf-8")
    assert len(spans) >= 5
    for s in spans:
        assert s in advice, s
    assert f"worlds of {DEFAULT_REPLICATIONS} replications each" in advice
    assert "- Known standard errors: 8 groups" in advice
