"""The findings job: the numbers the README's "what the study finds" quotes, from the tables."""

from __future__ import annotations

import io

from ..report.findings import write_findings
from ..report.tables import read_replication, read_summary
from ..store.smkio import job, read_checked

__all__ = ["findings_job"]


@job
def findings_job(summary_in, replication_in, seed_fit_in, seed: dict, level: float, findings_out) -> None:
    """The findings from the tables and the seed example's fit as written (checksums; else one
    line naming the file); ``seed_fit_in`` empty or None without a seed example."""
    summary, replication = read_summary(summary_in), read_replication(replication_in)
    seed_fit = read_checked(seed_fit_in) if seed_fit_in else None
    path = write_findings(
        summary,
        replication,
        findings_out,
        seed_fit_json=io.BytesIO(seed_fit) if seed_fit is not None else None,
        seed_design=seed["design"],
        seed_sigma=seed["sigma"],
        level=level,
    )
    print(f"wrote {path}")
