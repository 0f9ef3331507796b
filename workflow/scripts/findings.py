"""The numbers the README's findings quote, from the study's tables (results/tables/findings.json)."""

from shrinkstudy.findings import write_findings
from shrinkstudy.smkio import logged


def main(smk):
    path = write_findings(
        smk.input.summary,
        smk.input.replication,
        smk.output.findings,
        seed_fit_json=smk.input.seed_fit or None,  # none without a seed example
        seed_design=smk.params.seed["design"],
        seed_sigma=smk.params.seed["sigma"],
        level=smk.params.level,
    )
    print(f"wrote {path}")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
