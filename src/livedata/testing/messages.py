"""Builders of domain messages for tests."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from livedata.core.control import JobAction, JobCommand, RunPolicy, Schedule, WorkflowConfig
from livedata.core.identity import JobId, WorkflowId
from livedata.core.message import Message, StreamId, StreamKind
from livedata.core.status import ServiceState, ServiceStatus
from livedata.core.values import EventBatch, LogSample
from livedata.protocol.heartbeats import (
    ServiceHeartbeat,
    decode_heartbeat,
    encode_service_heartbeat,
)

T0 = 1_700_000_000_000_000_000
"""A plausible data time (2023-11-14) that tests count windows from."""

COMMANDS = StreamId(kind=StreamKind.COMMANDS, name="commands")


def events(count: int, *, n_pixels: int = 128 * 128, seed: int = 0) -> EventBatch:
    """``count`` events on random pixels (ids 1..n, as ESS panels number them) with times
    of arrival within one ESS frame."""
    rng = np.random.default_rng(seed)
    return EventBatch(
        time_of_arrival=rng.integers(0, 71_000_000, count, dtype=np.int32),
        pixel_id=rng.integers(1, n_pixels + 1, count, dtype=np.int32),
        reference_time=np.array([T0], dtype=np.int64),
        reference_time_index=np.array([0], dtype=np.int32),
    )


def event_message(
    timestamp: int, count: int, *, source: str = "panel_0", seed: int = 0
) -> Message[EventBatch]:
    return Message(
        timestamp=timestamp,
        stream=StreamId(kind=StreamKind.DETECTOR_EVENTS, name=source),
        value=events(count, seed=seed),
    )


def log_message(timestamp: int, value: float, *, source: str = "motion1") -> Message[LogSample]:
    return Message(
        timestamp=timestamp,
        stream=StreamId(kind=StreamKind.LOG, name=source),
        value=LogSample(time=timestamp, value=value),
    )


def start_command(
    workflow_id: WorkflowId,
    source: str,
    *,
    params: dict[str, Any] | None = None,
    schedule: Schedule | None = None,
    aux: dict[str, str] | None = None,
    job_number: uuid.UUID | None = None,
    message_id: str | None = None,
    timestamp: int = T0,
    run_policy: RunPolicy = RunPolicy.KEEP,
) -> Message[WorkflowConfig]:
    config = WorkflowConfig(
        message_id=message_id or str(uuid.uuid4()),
        workflow_id=workflow_id,
        job_id=JobId(source_name=source, job_number=job_number or uuid.uuid4()),
        schedule=schedule or Schedule(),
        aux_source_names=aux or {},
        params=params or {},
        run_policy=run_policy,
    )
    return Message(timestamp=timestamp, stream=COMMANDS, value=config)


def job_command(
    action: JobAction,
    *,
    job_id: JobId | None = None,
    workflow_id: WorkflowId | None = None,
    message_id: str | None = None,
    timestamp: int = T0,
) -> Message[JobCommand]:
    command = JobCommand(
        message_id=message_id or str(uuid.uuid4()),
        action=action,
        job_id=job_id,
        workflow_id=workflow_id,
    )
    return Message(timestamp=timestamp, stream=COMMANDS, value=command)


def service_status(
    stream_stats: Mapping[str, Any],
    *,
    instrument: str = "dummy",
    worker_id: str = "w1",
    active_job_count: int = 1,
) -> ServiceStatus:
    """A running detector_data service reporting ``stream_stats``."""
    return ServiceStatus(
        instrument=instrument,
        service_name="detector_data",
        worker_id=worker_id,
        state=ServiceState.RUNNING,
        started_at=T0,
        active_job_count=active_job_count,
        batch_interval_s=1.0,
        stream_stats=stream_stats,
    )


def heartbeat_via_wire(status: ServiceStatus) -> ServiceHeartbeat:
    """``status`` as a consumer reads it: encoded to x5f2 bytes and decoded again, so a
    test sees what survives the wire's bounds."""
    wire = encode_service_heartbeat(
        status, software_version="1.0", host_name="host", process_id=42, update_interval_ms=2000
    )
    heartbeat = decode_heartbeat(wire)
    assert isinstance(heartbeat, ServiceHeartbeat)
    return heartbeat
