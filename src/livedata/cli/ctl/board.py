"""The status board: the newest heartbeat of every worker and job, and how stale it is.

Pure: heartbeats go in with the time they were sent, rows come out for a given "now".
Staleness follows WIRE.md: a worker silent for 30 s is gone, a job after 60 s. A
``stopped`` entry is expected to fall silent and is never called stale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from livedata.cli.ctl.render import format_count, format_duration, table
from livedata.core.rejections import ROUTINE_REJECTIONS, ranked_rejections, rejected_total
from livedata.core.status import JobState, ServiceState, count_total
from livedata.protocol.heartbeats import JobHeartbeat, ServiceHeartbeat

NS = 1_000_000_000

SERVICE_STALE_S = 30.0
"""WIRE.md: a consumer treats a worker as gone after 30 s of silence."""

JOB_STALE_S = 60.0
"""WIRE.md: ... and a job after 60 s."""

FORGET_AFTER_S = 600.0
"""``--watch`` drops rows silent for ten minutes: long enough to see what died, and the
board of a long-running watch does not grow with every job ever started."""


@dataclass(frozen=True, slots=True)
class ServiceRow:
    service_id: str
    service: str
    worker: str
    host: str
    pid: int
    version: str
    state: str
    code: int
    stale: bool
    age_s: float
    uptime_s: float | None
    active_jobs: int
    batch_interval_s: float
    messages: int
    dropped: int
    rejected: int
    rejected_by_reason: dict[str, int]
    """Each reason's count, most frequent first (routine ``not_wanted`` left out)."""
    error: str | None


@dataclass(frozen=True, slots=True)
class JobRow:
    job: str
    source_name: str
    job_number: str
    workflow_id: str
    state: str
    code: int
    stale: bool
    age_s: float
    warning: str | None
    error: str | None
    start_time: int | None
    end_time: int | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    services: list[ServiceRow]
    jobs: list[JobRow]


class StatusBoard:
    """Newest heartbeat per ``service_id``, with the time (ns) it was sent."""

    def __init__(self) -> None:
        self._services: dict[str, tuple[ServiceHeartbeat, int]] = {}
        self._jobs: dict[str, tuple[JobHeartbeat, int]] = {}

    def observe(self, heartbeat: ServiceHeartbeat | JobHeartbeat, sent_ns: int) -> None:
        entries: dict[str, Any] = (
            self._services if isinstance(heartbeat, ServiceHeartbeat) else self._jobs
        )
        previous = entries.get(heartbeat.service_id)
        if previous is None or sent_ns >= previous[1]:
            entries[heartbeat.service_id] = (heartbeat, sent_ns)

    def forget_older_than(self, cutoff_ns: int) -> None:
        self._services = {k: v for k, v in self._services.items() if v[1] >= cutoff_ns}
        self._jobs = {k: v for k, v in self._jobs.items() if v[1] >= cutoff_ns}

    def snapshot(self, now_ns: int) -> Snapshot:
        services = [service_row(hb, sent, now_ns) for hb, sent in self._services.values()]
        jobs = [job_row(hb, sent, now_ns) for hb, sent in self._jobs.values()]
        services.sort(key=lambda r: (r.service, r.worker))
        jobs.sort(key=lambda r: (r.workflow_id, r.source_name, r.job_number))
        return Snapshot(services=services, jobs=jobs)


def service_row(heartbeat: ServiceHeartbeat, sent_ns: int, now_ns: int) -> ServiceRow:
    status = heartbeat.status
    age = max(0.0, (now_ns - sent_ns) / NS)
    stats = status.stream_stats
    ingress = stats.get("ingress", {})
    return ServiceRow(
        service_id=heartbeat.service_id,
        service=status.service_name,
        worker=status.worker_id,
        host=heartbeat.host_name,
        pid=heartbeat.process_id,
        version=heartbeat.software_version,
        state=status.state.value,
        code=int(heartbeat.code),
        stale=age > SERVICE_STALE_S and status.state is not ServiceState.STOPPED,
        age_s=round(age, 1),
        # As last reported: a stale or stopped worker's uptime must not keep growing.
        uptime_s=round((sent_ns - status.started_at) / NS, 1) if status.started_at else None,
        active_jobs=status.active_job_count,
        batch_interval_s=status.batch_interval_s,
        messages=count_total(stats.get("messages")),
        dropped=count_total(ingress.get("dropped_messages") if isinstance(ingress, dict) else 0),
        rejected=rejected_total(stats),
        rejected_by_reason={c.reason: c.total for c in ranked_rejections(stats)},
        error=status.error,
    )


def job_row(heartbeat: JobHeartbeat, sent_ns: int, now_ns: int) -> JobRow:
    status = heartbeat.status
    age = max(0.0, (now_ns - sent_ns) / NS)
    return JobRow(
        job=str(status.job_id),
        source_name=status.job_id.source_name,
        job_number=str(status.job_id.job_number),
        workflow_id=str(status.workflow_id),
        state=status.state.value,
        code=int(heartbeat.code),
        stale=age > JOB_STALE_S and status.state is not JobState.STOPPED,
        age_s=round(age, 1),
        warning=status.warning,
        error=status.error,
        start_time=status.start_time,
        end_time=status.end_time,
    )


def describe_reasons(row: ServiceRow) -> str:
    """``truncated 1.2k, unknown_source 3``: most frequent first (the table cuts the rest)."""
    return ", ".join(f"{reason} {format_count(n)}" for reason, n in row.rejected_by_reason.items())


def status_document(instrument: str, snapshot: Snapshot, now_ns: int) -> dict[str, Any]:
    """What ``ctl status --json`` prints: one JSON object."""
    return {
        "instrument": instrument,
        "time": now_ns,
        "services": [asdict(row) for row in snapshot.services],
        "jobs": [asdict(row) for row in snapshot.jobs],
    }


def render_status(instrument: str, snapshot: Snapshot) -> str:
    if not snapshot.services and not snapshot.jobs:
        return f"no heartbeats on instrument {instrument}: no livedata service seems to be running"
    service_rows = [
        [
            r.service,
            r.worker,
            r.host,
            "STALE" if r.stale else r.state,
            format_duration(r.age_s) + " ago",
            format_duration(r.uptime_s),
            r.active_jobs,
            f"{r.batch_interval_s:g}s",
            format_count(r.messages),
            format_count(r.dropped),
            format_count(r.rejected),
            r.error,
        ]
        for r in snapshot.services
    ]
    headers = ["SERVICE", "WORKER", "HOST", "STATE", "SEEN", "UPTIME", "JOBS", "BATCH"]
    headers += ["MSGS", "DROPPED", "REJECTED", "ERROR"]
    parts = [f"services ({len(service_rows)})", table(headers, service_rows, indent="  ")]
    rejecting = [r for r in snapshot.services if r.rejected_by_reason]
    if rejecting:
        reason_rows = [[r.service, r.worker, describe_reasons(r)] for r in rejecting]
        parts += [
            f"\nrejected messages by reason ({', '.join(sorted(ROUTINE_REJECTIONS))} left out)",
            table(["SERVICE", "WORKER", "REASONS"], reason_rows, indent="  "),
        ]
    if snapshot.jobs:
        job_rows = [
            [
                r.job,
                r.workflow_id,
                "STALE" if r.stale else r.state,
                r.code,
                format_duration(r.age_s) + " ago",
                r.error or r.warning,
            ]
            for r in snapshot.jobs
        ]
        parts += [
            f"\njobs ({len(job_rows)})",
            table(["JOB", "WORKFLOW", "STATE", "CODE", "SEEN", "MESSAGE"], job_rows, indent="  "),
        ]
    else:
        parts.append("\nno jobs")
    return "\n".join(parts)
