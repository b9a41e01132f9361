"""Events each job's workflow left out of its histograms, as the Status tab shows them
(pure formatting, no Panel).

Services report them per job in the service heartbeat:
``stream_stats["jobs"]["<source_name>/<job_number>"]["events_left_out"] = {reason: n}``
(``livedata.core.job_stats``), counted since the job's last reset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from livedata.core.identity import JobId
from livedata.dashboard.contract import ServiceRow
from livedata.dashboard.ui.format import MAX_REASONS_SHOWN, escape, format_count

LEFT_OUT_TIP = (
    "Events the job's workflow left out of its histograms since its last reset (a pixel id "
    "outside the detector, a time outside the range, ...); the reasons are in the tooltip"
)


def events_left_out_by_job(rows: Sequence[ServiceRow]) -> dict[str, dict[str, int]]:
    """``{"source_name/job_number": {reason: count}}`` from every service's heartbeat.

    The freshest heartbeat wins where two services list a job (a restarted worker).
    Tolerant on purpose, as ``stream_stats`` is free-form JSON: entries of an unexpected
    shape, and counts that are not positive integers, are skipped.
    """
    out: dict[str, dict[str, int]] = {}
    for row in sorted(rows, key=lambda r: r.last_seen_ns):
        jobs = row.status.stream_stats.get("jobs")
        if not isinstance(jobs, Mapping):
            continue
        for job, entry in jobs.items():
            reasons = entry.get("events_left_out") if isinstance(entry, Mapping) else None
            if not isinstance(reasons, Mapping):
                continue
            counts = {
                str(reason): count
                for reason, count in reasons.items()
                if isinstance(count, int) and not isinstance(count, bool) and count > 0
            }
            if counts:
                out[str(job)] = counts
    return out


def left_out_html(job_id: JobId, left_out: Mapping[str, Mapping[str, int]]) -> str:
    """A job's "left out" cell: the total, with the count of each reason as its tooltip;
    ``—`` when no service lists the job (nothing left out, or a workflow that histograms
    nothing)."""
    counts = left_out.get(str(job_id))
    if not counts:
        return "—"
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    tooltip = ", ".join(f"{reason}: {count}" for reason, count in ranked[:MAX_REASONS_SHOWN])
    if len(ranked) > MAX_REASONS_SHOWN:
        tooltip += f", +{len(ranked) - MAX_REASONS_SHOWN} more"
    return (
        f"<span class='ld-left-out' title='{escape(tooltip)}'>"
        f"{format_count(sum(counts.values()))}</span>"
    )
