"""The study's tables as standalone HTML pages of the Snakemake report (it shows images and
HTML inline)."""

from __future__ import annotations

import html

import pandas as pd

__all__ = ["REPORT_COLUMNS", "summary_html", "text_html"]

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; font-size: 13px; margin: 1em; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; }}
th {{ position: sticky; top: 0; background: #f4f4f4; }}
td:nth-child(-n+3), th:nth-child(-n+3) {{ text-align: left; }}
pre {{ font-size: 12px; }}
</style></head>
<body><h3>{title}</h3>
{body}
</body></html>
"""

#: Columns of the summary shown in the report (the CSV holds them all).
REPORT_COLUMNS = (
    "cell", "estimator", "groups", "reps", "failures", "mse", "mse_mcse", "rel_mse", "rel_mse_mcse",
    "bias", "spread", "coverage", "coverage_mcse", "boundary_share", "p_boundary_theory",
)  # fmt: skip


def summary_html(summary: pd.DataFrame, title: str = "Summary of the study") -> str:
    """The summary table as a standalone HTML page (4 significant digits, NaN left blank)."""
    cols = [c for c in REPORT_COLUMNS if c in summary]
    body = summary[cols].to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)
    note = "<p>Every column, at full precision: <code>results/tables/summary.csv</code>.</p>"
    return _PAGE.format(title=title, body=note + body)


def text_html(text: str, title: str) -> str:
    """A text file (such as ``headline.md``) as a standalone HTML page, shown verbatim."""
    return _PAGE.format(title=html.escape(title), body=f"<pre>{html.escape(text)}</pre>")
