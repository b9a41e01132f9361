"""JSON of a job snapshot on ``{inst}_livedata_jobs`` (ADR 0005).

``{"instrument", "service_name", "worker_id", "time", "jobs": [<workflow_config>...]}``:
each job is the exact ``workflow_config`` command that created it, so restoring a job
is re-applying its command.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from livedata.core.snapshot import JobSnapshot
from livedata.protocol.commands import WorkflowConfigMessage
from livedata.protocol.errors import Buffer, DecodeReason
from livedata.protocol.json_values import load_json_object
from livedata.protocol.wire_errors import WireFormatError, describe_validation_error
from livedata.protocol.wire_ids import Name, SourceName

MAX_SNAPSHOT_JOBS = 1000
"""As many jobs as one service may run (core's MAX_JOBS)."""

MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024
"""1000 jobs of at most 256 KiB of command each would need more; real ones are ~1 KiB."""


class JobSnapshotMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    kind: Literal["job_snapshot"] = "job_snapshot"
    instrument: Name
    service_name: Name
    worker_id: SourceName
    time: Annotated[int, Strict(), Field(ge=0)]
    jobs: Annotated[list[WorkflowConfigMessage], Field(max_length=MAX_SNAPSHOT_JOBS)]


def encode_job_snapshot(snapshot: JobSnapshot) -> bytes:
    message = JobSnapshotMessage(
        instrument=snapshot.instrument,
        service_name=snapshot.service_name,
        worker_id=snapshot.worker_id,
        time=snapshot.time,
        jobs=[WorkflowConfigMessage.from_domain(config) for config in snapshot.jobs],
    )
    return message.model_dump_json().encode("utf-8")


def decode_job_snapshot(buf: Buffer) -> JobSnapshot:
    """Raises only ``DecodeError`` (a ``WireFormatError``) for bad input."""
    raw = load_json_object(buf, max_bytes=MAX_SNAPSHOT_BYTES, what="job snapshot")
    try:
        message = JobSnapshotMessage.model_validate(raw)
    except ValidationError as error:
        raise WireFormatError(
            DecodeReason.INVALID_VALUE, describe_validation_error(error)
        ) from None
    return JobSnapshot(
        instrument=message.instrument,
        service_name=message.service_name,
        worker_id=message.worker_id,
        time=message.time,
        jobs=tuple(job.to_domain() for job in message.jobs),
    )
