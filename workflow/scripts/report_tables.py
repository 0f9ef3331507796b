"""The study's tables as pages of the Snakemake report (it shows images and HTML inline)."""

from shrinkstudy.study.figures import report_tables_job


def main(smk):
    report_tables_job(
        smk.log[0],
        smk.input.summary,
        smk.input.headline,
        smk.input.replication,
        smk.output.summary,
        smk.output.headline,
        smk.output.replication,
    )


if "snakemake" in globals():
    main(snakemake)
