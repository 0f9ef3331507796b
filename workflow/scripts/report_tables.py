"""The study's tables as pages of the Snakemake report (it shows images and HTML inline)."""

from pathlib import Path

from shrinkstudy.report.figures import summary_html, text_html
from shrinkstudy.store.smkio import logged, read_checked
from shrinkstudy.report.tables import read_summary


def main(smk):
    # each table as aggregate wrote it (its checksum), else one line naming the file
    summary = read_summary(smk.input.summary)
    texts = {name: read_checked(smk.input[name]).decode("utf-8") for name in ("headline", "replication")}
    Path(smk.output.summary).parent.mkdir(parents=True, exist_ok=True)
    Path(smk.output.summary).write_text(summary_html(summary))
    for name, title in (("headline", "Headline results"), ("replication", "Monte Carlo error by cell")):
        text = texts[name]
        Path(smk.output[name]).write_text(text_html(text, title))


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
