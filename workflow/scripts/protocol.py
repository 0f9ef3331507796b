"""The study's protocol (results/protocol.md) and its page of the report."""

import json
from pathlib import Path

from shrinkstudy.config import load_study
from shrinkstudy.report.figures import text_html
from shrinkstudy.report.protocol import protocol_markdown
from shrinkstudy.store.smkio import logged, read_checked
from shrinkstudy.report.tables import read_replication, read_summary


def main(smk):
    # the tables and the seed example's fit as written (checksums), else one line naming the file
    summary, replication = read_summary(smk.input.summary), read_replication(smk.input.replication)
    provenance = read_checked(smk.input.provenance)
    seed_fit = read_checked(smk.input.seed_fit) if smk.input.seed_fit else None  # none without a seed example
    project = Path(smk.scriptdir).resolve().parents[1]  # user estimators' files are relative to it
    study = load_study(smk.params.config, root=project)
    text = protocol_markdown(
        study.config,
        study.cells,
        study.estimators,
        summary,
        replication,
        json.loads(provenance),
        seed_fit=json.loads(seed_fit) if seed_fit is not None else None,
        config_file=smk.params.config_file,
    )
    Path(smk.output.protocol).write_text(text, encoding="utf-8")
    Path(smk.output.page).parent.mkdir(parents=True, exist_ok=True)
    Path(smk.output.page).write_text(text_html(text, "Protocol of the study"), encoding="utf-8")
    print(f"wrote {smk.output.protocol} ({len(text.splitlines())} lines)")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
