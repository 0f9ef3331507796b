"""The numbers the README's findings quote, from the study's tables (results/tables/findings.json)."""

from shrinkstudy.study.findings import findings_job


def main(smk):
    findings_job(
        smk.log[0],
        smk.input.summary,
        smk.input.replication,
        smk.input.seed_fit,
        smk.params.seed,
        smk.params.level,
        smk.output.findings,
    )


if "snakemake" in globals():
    main(snakemake)
