"""Per-job counters in the service heartbeat: ``stream_stats["jobs"]``.

The job heartbeat's fields are fixed by the wire contract; the service heartbeat's
``stream_stats`` is free-form, bounded JSON (``protocol.heartbeats.STREAM_STATS_LIMITS``:
depth 4, 5,000 values). Per-job counters therefore go there, keyed by ``str(JobId)``
(``"source_name/job_number"``), in a section bounded however many jobs run::

    {"panel_0/5b0e3c7a-...": {"events_left_out": {"pixel_out_of_range": 6}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livedata.core.identity import JobId

MAX_JOBS_LISTED = 50
"""Jobs listed, those that left out most events first: at most ~500 values of the
heartbeat's 5,000, whatever the job count (a worker runs tens)."""

MAX_REASONS_PER_JOB = 8
"""Reasons listed per job (workflows use at most three), the largest counts first."""

MAX_REASON_CHARS = 64
"""Longer reason names are not ours; they are skipped, not cut (a cut name would lie)."""


def jobs_section(
    left_out: Mapping[JobId, Mapping[str, int]], *, limit: int = MAX_JOBS_LISTED
) -> dict[str, Any]:
    """``stream_stats["jobs"]``: the ``limit`` jobs that left out most events (positive
    counts only, by reason); empty when no job left anything out."""
    bounded = {job_id: _bounded(counts) for job_id, counts in left_out.items()}
    ranked = sorted(
        ((job_id, counts) for job_id, counts in bounded.items() if counts),
        key=lambda item: (-sum(item[1].values()), str(item[0])),
    )
    return {str(job_id): {"events_left_out": counts} for job_id, counts in ranked[:limit]}


def _bounded(counts: Mapping[str, int]) -> dict[str, int]:
    kept = [
        (reason, int(n))
        for reason, n in counts.items()
        if len(reason) <= MAX_REASON_CHARS and int(n) > 0
    ]
    kept.sort(key=lambda item: (-item[1], item[0]))
    return dict(kept[:MAX_REASONS_PER_JOB])
