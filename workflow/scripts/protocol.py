"""The study's protocol (results/protocol.md) and its page of the report."""

from pathlib import Path

from shrinkstudy.study.protocol import protocol_job


def main(smk):
    protocol_job(
        smk.log[0],
        smk.input.summary,
        smk.input.replication,
        smk.input.provenance,
        smk.input.seed_fit,
        smk.params.config,
        smk.params.config_file,
        Path(smk.scriptdir).resolve().parents[1],  # the project: user estimators' files are relative to it
        smk.output.protocol,
        smk.output.page,
    )


if "snakemake" in globals():
    main(snakemake)
