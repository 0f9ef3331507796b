"""The protocol job: the study's protocol, written by the workflow from the study itself."""

from __future__ import annotations

import json
from pathlib import Path

from ..config import load_study
from ..report.figures import text_html
from ..report.protocol import protocol_markdown
from ..report.tables import read_replication, read_summary
from ..store.smkio import job, read_checked

__all__ = ["protocol_job"]


@job
def protocol_job(
    summary_in, replication_in, provenance_in, seed_fit_in, config: dict, config_file, root,
    protocol_out, page_out,
) -> None:
    """The protocol (Markdown to ``protocol_out``, its page to ``page_out``) from the study's
    ``config`` (user estimators' files relative to the project ``root``), its tables, provenance
    and seed example's fit as written (checksums; else one line naming the file)."""
    summary, replication = read_summary(summary_in), read_replication(replication_in)
    provenance = read_checked(provenance_in)
    seed_fit = read_checked(seed_fit_in) if seed_fit_in else None
    study = load_study(config, root=root)
    text = protocol_markdown(
        study.config,
        study.cells,
        study.estimators,
        summary,
        replication,
        json.loads(provenance),
        seed_fit=json.loads(seed_fit) if seed_fit is not None else None,
        config_file=config_file,
    )
    Path(protocol_out).write_text(text, encoding="utf-8")
    Path(page_out).parent.mkdir(parents=True, exist_ok=True)
    Path(page_out).write_text(text_html(text, "Protocol of the study"), encoding="utf-8")
    print(f"wrote {protocol_out} ({len(text.splitlines())} lines)")
