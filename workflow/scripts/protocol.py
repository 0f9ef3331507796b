"""The study's protocol (results/protocol.md) and its page of the report."""

import json
from pathlib import Path

import pandas as pd

from shrinkstudy.config import load_study
from shrinkstudy.figures import text_html
from shrinkstudy.protocol import protocol_markdown
from shrinkstudy.smkio import logged


def main(smk):
    project = Path(smk.scriptdir).resolve().parents[1]  # user estimators' files are relative to it
    study = load_study(smk.params.config, root=project)
    text = protocol_markdown(
        study.config,
        study.cells,
        study.estimators,
        pd.read_csv(smk.input.summary, dtype={"cell": str, "estimator": str, "groups": str}),
        pd.read_csv(smk.input.replication, dtype={"cell": str, "estimator": str, "groups": str}),
        json.loads(Path(smk.input.provenance).read_text()),
        seed_fit=json.loads(Path(smk.input.seed_fit).read_text()) if smk.input.seed_fit else None,
        config_file=smk.params.config_file,
    )
    Path(smk.output.protocol).write_text(text, encoding="utf-8")
    Path(smk.output.page).parent.mkdir(parents=True, exist_ok=True)
    Path(smk.output.page).write_text(text_html(text, "Protocol of the study"), encoding="utf-8")
    print(f"wrote {smk.output.protocol} ({len(text.splitlines())} lines)")


if "snakemake" in globals():
    with logged(snakemake.log[0]):
        main(snakemake)
