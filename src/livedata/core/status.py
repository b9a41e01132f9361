"""What a service and its jobs report about themselves (sent as x5f2 heartbeats)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from livedata.core.identity import JobId, WorkflowId


class JobState(StrEnum):
    SCHEDULED = "scheduled"
    PENDING_CONTEXT = "pending_context"
    ACTIVE = "active"
    FINISHING = "finishing"
    WARNING = "warning"
    ERROR = "error"
    STOPPED = "stopped"


class ServiceState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobStatus:
    job_id: JobId
    workflow_id: WorkflowId
    state: JobState
    start_time: int | None = None
    end_time: int | None = None
    warning: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStatus:
    instrument: str
    service_name: str
    worker_id: str
    state: ServiceState
    started_at: int
    """Wall-clock start of the process, ns since epoch."""
    active_job_count: int
    batch_interval_s: float
    error: str | None = None
    stream_stats: Mapping[str, Any] = field(default_factory=dict)
    """Per-stream message counts, dropped batches and rejected messages by reason."""


def count_total(value: Any) -> int:
    """Sum every integer in a nested counter mapping of a heartbeat's ``stream_stats``.

    Tolerant on purpose: ``stream_stats`` is free-form JSON whose shape grows with the
    services, and a status view must not fail on a counter it does not know.
    """
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, Mapping):
        return sum(count_total(v) for v in value.values())
    return 0
