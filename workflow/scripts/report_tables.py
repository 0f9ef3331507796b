"""The study's tables as pages of the Snakemake report (it shows images and HTML inline)."""

from pathlib import Path

from shrinkstudy.figures import read_summary, summary_html, text_html
from shrinkstudy.smkio import logged


def main(smk):
    Path(smk.output.summary).parent.mkdir(parents=True, exist_ok=True)
    Path(smk.output.summary).write_text(summary_html(read_summary(smk.input.summary)))
    for name, title in (("headline", "Headline results"), ("replication", "Monte Carlo error by cell")):
        text = Path(smk.input[name]).read_text()
        Path(smk.output[name]).write_text(text_html(text, title))


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
