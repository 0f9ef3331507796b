"""The numbers the README's findings quote, from the study's tables (results/tables/findings.json)."""

import io

from shrinkstudy.report.findings import write_findings
from shrinkstudy.store.smkio import logged, read_checked
from shrinkstudy.report.tables import read_replication, read_summary


def main(smk):
    # the tables and the seed example's fit as written (checksums), else one line naming the file
    summary, replication = read_summary(smk.input.summary), read_replication(smk.input.replication)
    seed_fit = read_checked(smk.input.seed_fit) if smk.input.seed_fit else None  # none without a seed example
    path = write_findings(
        summary,
        replication,
        smk.output.findings,
        seed_fit_json=io.BytesIO(seed_fit) if seed_fit is not None else None,
        seed_design=smk.params.seed["design"],
        seed_sigma=smk.params.seed["sigma"],
        level=smk.params.level,
    )
    print(f"wrote {path}")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
