"""Service and job heartbeats on ``{inst}_livedata_heartbeat`` (x5f2 with JSON status).

The x5f2 envelope carries who sent it (``software_name="livedata"``, ``service_id``,
host, pid, interval); ``status_json`` is ``{"status": <NICOS code>, "message": {...}}``
where the message is a service or job heartbeat as WIRE.md lists it. NICOS reads the
code alone, so the code is derived from the state in exactly one place here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    model_validator,
)
from streaming_data_types.status_x5f2 import deserialise_x5f2, serialise_x5f2

from livedata.core.status import JobState, JobStatus, ServiceState, ServiceStatus
from livedata.protocol.errors import Buffer, DecodeReason, guard_decoder, require_schema
from livedata.protocol.json_values import JsonLimits, checked_json_object, parse_json_object
from livedata.protocol.wire_errors import WireFormatError, describe_validation_error, truncate
from livedata.protocol.wire_ids import (
    JobIdModel,
    Name,
    SourceName,
    TimeNs,
    WorkflowIdModel,
    WorkflowIdString,
    parse_workflow_id_string,
)

SCHEMA = "x5f2"
SOFTWARE_NAME = "livedata"
"""What every livedata heartbeat puts in x5f2 ``software_name``; others are refused."""


class NicosStatus(IntEnum):
    """NICOS device status codes, as carried in ``status_json["status"]``."""

    OK = 200
    WARNING = 210
    BUSY = 220
    NOTREACHED = 230
    DISABLED = 235
    ERROR = 240
    UNKNOWN = 999


SERVICE_STATUS_CODES: Mapping[ServiceState, NicosStatus] = MappingProxyType(
    {
        ServiceState.RUNNING: NicosStatus.OK,
        ServiceState.STARTING: NicosStatus.DISABLED,
        ServiceState.STOPPED: NicosStatus.DISABLED,
        ServiceState.ERROR: NicosStatus.ERROR,
    }
)
"""WIRE.md's mapping from service state to NICOS code."""

JOB_STATUS_CODES: Mapping[JobState, NicosStatus] = MappingProxyType(
    {
        JobState.ACTIVE: NicosStatus.OK,
        JobState.FINISHING: NicosStatus.OK,
        JobState.WARNING: NicosStatus.WARNING,
        JobState.PENDING_CONTEXT: NicosStatus.WARNING,
        JobState.SCHEDULED: NicosStatus.DISABLED,
        JobState.ERROR: NicosStatus.ERROR,
        # WIRE.md gives no code for a stopped job. DISABLED, like a stopped service:
        # the job ended on purpose; it is neither healthy (OK) nor failed (ERROR).
        JobState.STOPPED: NicosStatus.DISABLED,
    }
)
"""WIRE.md's mapping from job state to NICOS code (``stopped`` is our choice)."""

MAX_HEARTBEAT_BYTES = 256 * 1024
"""Largest heartbeat accepted or produced: the x5f2 envelope is ~200 bytes and the
status JSON a few kB even with per-stream stats; this stays far below Kafka's 1 MiB."""

MAX_STATUS_TEXT_CHARS = 2000
"""Longest warning/error text in a heartbeat; a longer one (a traceback) is cut on
encoding so a heartbeat never fails because of what it reports."""

MAX_ACTIVE_JOBS = 100_000
"""Sanity bound on a worker's job count; real workers run tens."""

MAX_BATCH_INTERVAL_S = 3600.0
"""Batch windows are ~1 s; anything above an hour is a unit mistake."""

MAX_UPDATE_INTERVAL_MS = 3_600_000
"""Heartbeats come every 2 s; an interval above an hour would never be seen as stale."""

MAX_PROCESS_ID = 2**32 - 1
"""x5f2 stores ``process_id`` as uint32."""

MAX_ENVELOPE_TEXT = 255
"""Longest software version or host name (a DNS name is at most 253 characters)."""

MAX_SERVICE_ID_LENGTH = 310
"""Three names joined by ``:`` (3 x 100 + 2), or a source name and a uuid (100 + 37)."""

STREAM_STATS_LIMITS = JsonLimits(
    # stream -> counter group -> reason -> count, with one spare level.
    max_depth=4,
    # A few hundred streams with a dozen counters each.
    max_nodes=5000,
    # Keys are stream names ("kind/name") or counter names.
    max_key_length=256,
    max_string_length=256,
)

_CONFIG = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

StatusText = Annotated[str, Strict(), StringConstraints(max_length=MAX_STATUS_TEXT_CHARS)]
EnvelopeText = Annotated[str, Strict(), StringConstraints(max_length=MAX_ENVELOPE_TEXT)]


def _check_stream_stats(value: Any) -> dict[str, Any]:
    return checked_json_object(value, STREAM_STATS_LIMITS)


class ServiceHeartbeatMessage(BaseModel):
    """``message`` of a service heartbeat."""

    model_config = _CONFIG

    message_type: Literal["service"]
    instrument: Name
    service_name: Name
    # Last part of "inst:service_name:worker_id", so a ':' in it cannot confuse a split.
    worker_id: SourceName
    state: ServiceState
    started_at: TimeNs
    active_job_count: Annotated[int, Strict(), Field(ge=0, le=MAX_ACTIVE_JOBS)]
    error: StatusText | None
    batch_interval_s: Annotated[float, Strict(), Field(ge=0, le=MAX_BATCH_INTERVAL_S)]
    stream_stats: Annotated[dict[str, Any], BeforeValidator(_check_stream_stats)]

    @property
    def service_id(self) -> str:
        return f"{self.instrument}:{self.service_name}:{self.worker_id}"

    @property
    def code(self) -> NicosStatus:
        return SERVICE_STATUS_CODES[self.state]

    def to_domain(self) -> ServiceStatus:
        return ServiceStatus(
            instrument=self.instrument,
            service_name=self.service_name,
            worker_id=self.worker_id,
            state=self.state,
            started_at=self.started_at,
            active_job_count=self.active_job_count,
            batch_interval_s=self.batch_interval_s,
            error=self.error,
            stream_stats=self.stream_stats,
        )

    @classmethod
    def from_domain(cls, status: ServiceStatus) -> ServiceHeartbeatMessage:
        return cls(
            message_type="service",
            instrument=status.instrument,
            service_name=status.service_name,
            worker_id=status.worker_id,
            state=status.state,
            started_at=status.started_at,
            active_job_count=status.active_job_count,
            error=_cut(status.error),
            batch_interval_s=float(status.batch_interval_s),
            stream_stats=dict(status.stream_stats),
        )


class JobHeartbeatMessage(BaseModel):
    """``message`` of a job heartbeat."""

    model_config = _CONFIG

    message_type: Literal["job"]
    state: JobState
    warning: StatusText | None
    error: StatusText | None
    job_id: JobIdModel
    workflow_id: WorkflowIdString
    start_time: TimeNs | None
    end_time: TimeNs | None

    @property
    def service_id(self) -> str:
        return f"{self.job_id.source_name}:{self.job_id.job_number}"

    @property
    def code(self) -> NicosStatus:
        return JOB_STATUS_CODES[self.state]

    def to_domain(self) -> JobStatus:
        return JobStatus(
            job_id=self.job_id.to_domain(),
            workflow_id=parse_workflow_id_string(self.workflow_id).to_domain(),
            state=self.state,
            start_time=self.start_time,
            end_time=self.end_time,
            warning=self.warning,
            error=self.error,
        )

    @classmethod
    def from_domain(cls, status: JobStatus) -> JobHeartbeatMessage:
        # Validate the parts first: str() of an id with a '/' in a name would re-split
        # into a different id.
        workflow_id = WorkflowIdModel.from_domain(status.workflow_id).to_domain()
        return cls(
            message_type="job",
            state=status.state,
            warning=_cut(status.warning),
            error=_cut(status.error),
            job_id=JobIdModel.from_domain(status.job_id),
            workflow_id=str(workflow_id),
            start_time=status.start_time,
            end_time=status.end_time,
        )


class StatusJson(BaseModel):
    """x5f2 ``status_json``: the NICOS code and the heartbeat message it summarises."""

    model_config = _CONFIG

    status: Literal[200, 210, 220, 230, 235, 240, 999]
    message: Annotated[
        ServiceHeartbeatMessage | JobHeartbeatMessage,
        Field(discriminator="message_type"),
    ]

    @model_validator(mode="after")
    def _code_matches_state(self) -> StatusJson:
        # NICOS shows only the code, so a code that disagrees with the state would
        # show operators something the service did not mean. WIRE.md leaves the code
        # of a stopped job open, so any NICOS code is accepted there.
        message = self.message
        if isinstance(message, JobHeartbeatMessage) and message.state is JobState.STOPPED:
            return self
        expected = message.code
        if self.status != expected:
            raise ValueError(
                f"status {self.status} does not match state "
                f"{message.state.value!r} (want {expected.value})"
            )
        return self


class EnvelopeModel(BaseModel):
    """The x5f2 fields around ``status_json``."""

    model_config = _CONFIG

    software_name: Literal["livedata"]
    software_version: EnvelopeText
    service_id: Annotated[
        str, Strict(), StringConstraints(min_length=1, max_length=MAX_SERVICE_ID_LENGTH)
    ]
    host_name: EnvelopeText
    process_id: Annotated[int, Strict(), Field(ge=0, le=MAX_PROCESS_ID)]
    update_interval_ms: Annotated[int, Strict(), Field(ge=1, le=MAX_UPDATE_INTERVAL_MS)]


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatEnvelope:
    """x5f2 fields common to both heartbeats, plus the NICOS code they carried."""

    software_name: str
    software_version: str
    service_id: str
    host_name: str
    process_id: int
    update_interval_ms: int
    code: NicosStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceHeartbeat(HeartbeatEnvelope):
    """A decoded service heartbeat."""

    status: ServiceStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class JobHeartbeat(HeartbeatEnvelope):
    """A decoded job heartbeat."""

    status: JobStatus


def _cut(text: str | None) -> str | None:
    return None if text is None else truncate(text, MAX_STATUS_TEXT_CHARS)


def _encode(
    message: ServiceHeartbeatMessage | JobHeartbeatMessage,
    *,
    software_version: str,
    host_name: str,
    process_id: int,
    update_interval_ms: int,
) -> bytes:
    envelope = EnvelopeModel(
        software_name=SOFTWARE_NAME,
        software_version=software_version,
        service_id=message.service_id,
        host_name=host_name,
        process_id=process_id,
        update_interval_ms=update_interval_ms,
    )
    status_json = StatusJson(status=message.code.value, message=message).model_dump_json()
    buf: bytes = serialise_x5f2(
        envelope.software_name,
        envelope.software_version,
        envelope.service_id,
        envelope.host_name,
        envelope.process_id,
        envelope.update_interval_ms,
        status_json,
    )
    if len(buf) > MAX_HEARTBEAT_BYTES:
        raise ValueError(f"heartbeat of {len(buf)} bytes exceeds {MAX_HEARTBEAT_BYTES}")
    return buf


def encode_service_heartbeat(
    status: ServiceStatus,
    *,
    software_version: str,
    host_name: str,
    process_id: int,
    update_interval_ms: int,
) -> bytes:
    """Serialise a service's status as an x5f2 heartbeat.

    ``service_id`` is ``"inst:service_name:worker_id"``; the NICOS code follows
    :data:`SERVICE_STATUS_CODES`. Error text longer than ``MAX_STATUS_TEXT_CHARS`` is
    cut.

    Raises
    ------
    ValueError
        If a field breaks a bound (unsafe name, NaN in ``stream_stats``, ...).
    """
    return _encode(
        ServiceHeartbeatMessage.from_domain(status),
        software_version=software_version,
        host_name=host_name,
        process_id=process_id,
        update_interval_ms=update_interval_ms,
    )


def encode_job_heartbeat(
    status: JobStatus,
    *,
    software_version: str,
    host_name: str,
    process_id: int,
    update_interval_ms: int,
) -> bytes:
    """Serialise a job's status as an x5f2 heartbeat.

    ``service_id`` is ``"source_name:job_number"``; the NICOS code follows
    :data:`JOB_STATUS_CODES`. Warning and error texts are cut to
    ``MAX_STATUS_TEXT_CHARS``.

    Raises
    ------
    ValueError
        If a field breaks a bound (unsafe name, negative time, ...).
    """
    return _encode(
        JobHeartbeatMessage.from_domain(status),
        software_version=software_version,
        host_name=host_name,
        process_id=process_id,
        update_interval_ms=update_interval_ms,
    )


@guard_decoder
def decode_heartbeat(buf: Buffer) -> ServiceHeartbeat | JobHeartbeat:
    """Read one x5f2 heartbeat and validate it against WIRE.md.

    Raises
    ------
    DecodeError
        The only exception raised: ``too_large``, ``empty``, ``truncated``,
        ``wrong_schema``, ``malformed`` (the flatbuffer or ``status_json`` does not
        parse) or ``invalid_value`` (a field, the NICOS code or the ``service_id``
        disagrees with the contract).
    """
    if len(buf) > MAX_HEARTBEAT_BYTES:
        raise WireFormatError(
            DecodeReason.TOO_LARGE,
            f"heartbeat of {len(buf)} bytes exceeds {MAX_HEARTBEAT_BYTES}",
        )
    require_schema(buf, SCHEMA)
    # Anything the flatbuffers runtime raises on garbage becomes MALFORMED through
    # guard_decoder; fields that are absent come back as None and fail below.
    raw = deserialise_x5f2(bytes(buf))
    try:
        envelope = EnvelopeModel(
            software_name=raw.software_name,
            software_version=raw.software_version,
            service_id=raw.service_id,
            host_name=raw.host_name,
            process_id=raw.process_id,
            update_interval_ms=raw.update_interval,
        )
    except ValidationError as error:
        raise WireFormatError(
            DecodeReason.INVALID_VALUE, describe_validation_error(error)
        ) from None
    try:
        status_obj = parse_json_object(raw.status_json)
    except ValueError as error:
        raise WireFormatError(DecodeReason.MALFORMED, f"status_json: {error}") from None
    try:
        status = StatusJson.model_validate(status_obj)
    except ValidationError as error:
        raise WireFormatError(
            DecodeReason.INVALID_VALUE, describe_validation_error(error)
        ) from None
    message = status.message
    if envelope.service_id != message.service_id:
        raise WireFormatError(
            DecodeReason.INVALID_VALUE,
            f"service_id {envelope.service_id!r} does not match the message "
            f"(want {message.service_id!r})",
        )
    code = NicosStatus(status.status)
    if isinstance(message, ServiceHeartbeatMessage):
        return ServiceHeartbeat(
            software_name=envelope.software_name,
            software_version=envelope.software_version,
            service_id=envelope.service_id,
            host_name=envelope.host_name,
            process_id=envelope.process_id,
            update_interval_ms=envelope.update_interval_ms,
            code=code,
            status=message.to_domain(),
        )
    return JobHeartbeat(
        software_name=envelope.software_name,
        software_version=envelope.software_version,
        service_id=envelope.service_id,
        host_name=envelope.host_name,
        process_id=envelope.process_id,
        update_interval_ms=envelope.update_interval_ms,
        code=code,
        status=message.to_domain(),
    )
