"""JSON commands on ``{inst}_livedata_commands`` and their conversion to core commands.

A command is untrusted input that steers a service, so everything is bounded: the
payload size (checked before parsing), names (allow-listed, see ``wire_ids``), times,
the number of auxiliary sources, and the size, depth and finiteness of ``params``.
The workflow's own params model validates the params' meaning later, inside core.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from livedata.core.control import (
    Command,
    JobAction,
    JobCommand,
    RunPolicy,
    Schedule,
    WorkflowConfig,
)
from livedata.protocol.errors import Buffer, DecodeReason
from livedata.protocol.json_values import (
    JsonLimits,
    checked_json_object,
    load_json_object,
)
from livedata.protocol.wire_errors import (
    WireFormatError,
    describe_validation_error,
)
from livedata.protocol.wire_ids import (
    MAX_NAME_LENGTH,
    SOURCE_NAME_PATTERN,
    JobIdModel,
    Name,
    SourceName,
    TimeNs,
    UuidString,
    WorkflowIdModel,
    WorkflowIdString,
    is_uuid_string,
    parse_workflow_id_string,
)

MAX_COMMAND_BYTES = 256 * 1024
"""Largest command payload. Real commands are a few kB (params with explicit bin edges
maybe tens of kB); the bound is checked before parsing so a huge message costs nothing
but a length comparison, and it stays below Kafka's default 1 MiB message size."""

MAX_AUX_SOURCES = 32
"""Auxiliary sources per job (monitors, motors, choppers); workflows use a handful."""

PARAMS_LIMITS = JsonLimits(
    # Params models nest a few levels (model -> sub-model -> list of pairs); 16 is
    # ample and keeps any later recursive walk over them cheap.
    max_depth=16,
    # Enough for a few thousand explicit bin edges, far below what would slow us.
    max_nodes=10_000,
    # Keys are params-model field names.
    max_key_length=MAX_NAME_LENGTH,
    # Longest string value (a title, a unit, an expression label).
    max_string_length=4096,
)


def _check_params(value: Any) -> dict[str, Any]:
    return checked_json_object(value, PARAMS_LIMITS)


Params = Annotated[dict[str, Any], BeforeValidator(_check_params)]

_CONFIG = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ScheduleModel(BaseModel):
    """``{start_time, end_time}`` in data time; ``null`` means now / forever."""

    model_config = _CONFIG

    start_time: TimeNs | None = None
    end_time: TimeNs | None = None

    @model_validator(mode="after")
    def _start_not_after_end(self) -> ScheduleModel:
        if (
            self.start_time is not None
            and self.end_time is not None
            and self.start_time > self.end_time
        ):
            raise ValueError("schedule start_time is after end_time")
        return self

    def to_domain(self) -> Schedule:
        return Schedule(start_time=self.start_time, end_time=self.end_time)


class WorkflowConfigMessage(BaseModel):
    """``workflow_config``: start one job of a workflow for one source."""

    model_config = _CONFIG

    kind: Literal["workflow_config"]
    identifier: WorkflowIdModel
    message_id: UuidString
    job_id: JobIdModel
    schedule: ScheduleModel = ScheduleModel()
    aux_source_names: Annotated[dict[Name, SourceName], Field(max_length=MAX_AUX_SOURCES)] = Field(
        default_factory=dict
    )
    params: Params = Field(default_factory=dict)
    run_policy: RunPolicy = RunPolicy.KEEP
    """livedata extension (ADR 0004); omitted on the wire when ``keep``, so ESS clients
    that never send it get the ESS behaviour."""

    def to_domain(self) -> WorkflowConfig:
        return WorkflowConfig(
            message_id=self.message_id,
            workflow_id=self.identifier.to_domain(),
            job_id=self.job_id.to_domain(),
            schedule=self.schedule.to_domain(),
            aux_source_names=dict(self.aux_source_names),
            params=self.params,
            run_policy=self.run_policy,
        )

    @classmethod
    def from_domain(cls, config: WorkflowConfig) -> WorkflowConfigMessage:
        """Validate a core command for the wire; raises ``ValueError`` if it breaks a bound."""
        return cls(
            kind="workflow_config",
            identifier=WorkflowIdModel.from_domain(config.workflow_id),
            message_id=config.message_id,
            job_id=JobIdModel.from_domain(config.job_id),
            schedule=ScheduleModel(
                start_time=config.schedule.start_time,
                end_time=config.schedule.end_time,
            ),
            aux_source_names=dict(config.aux_source_names),
            params=dict(config.params),
            run_policy=config.run_policy,
        )


class JobCommandMessage(BaseModel):
    """``job_command``: act on one job, on all jobs of a workflow, or on all jobs."""

    model_config = _CONFIG

    kind: Literal["job_command"]
    message_id: UuidString
    action: JobAction
    job_id: JobIdModel | None = None
    workflow_id: WorkflowIdString | None = None

    @model_validator(mode="after")
    def _one_target(self) -> JobCommandMessage:
        if self.job_id is not None and self.workflow_id is not None:
            raise ValueError("give job_id or workflow_id, not both")
        return self

    def to_domain(self) -> JobCommand:
        workflow_id = (
            None
            if self.workflow_id is None
            else parse_workflow_id_string(self.workflow_id).to_domain()
        )
        return JobCommand(
            message_id=self.message_id,
            action=self.action,
            job_id=None if self.job_id is None else self.job_id.to_domain(),
            workflow_id=workflow_id,
        )

    @classmethod
    def from_domain(cls, command: JobCommand) -> JobCommandMessage:
        """Validate a core command for the wire; raises ``ValueError`` if it breaks a bound."""
        job_id = None if command.job_id is None else JobIdModel.from_domain(command.job_id)
        workflow_id = None
        if command.workflow_id is not None:
            # Validate the parts first: str() of an id with a '/' in a name would
            # otherwise re-split into a different id.
            workflow_id = str(WorkflowIdModel.from_domain(command.workflow_id).to_domain())
        return cls(
            kind="job_command",
            message_id=command.message_id,
            action=command.action,
            job_id=job_id,
            workflow_id=workflow_id,
        )


CommandMessage = Annotated[WorkflowConfigMessage | JobCommandMessage, Field(discriminator="kind")]
"""Any command, told apart by its ``kind``."""

_COMMAND_ADAPTER: TypeAdapter[WorkflowConfigMessage | JobCommandMessage] = TypeAdapter(
    CommandMessage
)


class InvalidCommandError(WireFormatError):
    """A command that breaks the schema, with what is needed to refuse it.

    ``message_id`` and ``device`` are set when both could be read from the JSON object:
    the device is the one the sender waits for an answer from (the source name of a
    ``workflow_config``; ``source_name/job_number`` or ``all`` of a ``job_command``).
    """

    def __init__(
        self, reason: DecodeReason, message: str, *, message_id: str | None, device: str | None
    ) -> None:
        super().__init__(reason, message, message_id=message_id)
        self.device = device if message_id is not None else None


_SOURCE_NAME_RE = re.compile(SOURCE_NAME_PATTERN)


def _source_name(job_id: object) -> str | None:
    if not isinstance(job_id, dict):
        return None
    name = job_id.get("source_name")
    return name if isinstance(name, str) and _SOURCE_NAME_RE.fullmatch(name) else None


def _device(raw: dict[str, Any]) -> str | None:
    """The device an invalid command would have been answered for, if it can be read."""
    kind, job_id = raw.get("kind"), raw.get("job_id")
    if kind == "workflow_config":
        return _source_name(job_id)
    if kind != "job_command":
        return None
    if job_id is None:  # a workflow or a broadcast: answered as "all"
        return "all"
    number = job_id.get("job_number") if isinstance(job_id, dict) else None
    source = _source_name(job_id)
    if source is None or not is_uuid_string(number):
        return None
    return f"{source}/{uuid.UUID(number)}"


def decode_command(buf: Buffer) -> Command:
    """Validate one command payload and turn it into a core command.

    Parameters
    ----------
    buf:
        The Kafka message value.

    Returns
    -------
    :
        A ``WorkflowConfig`` or a ``JobCommand``.

    Raises
    ------
    WireFormatError
        The only exception raised (a ``DecodeError``). ``reason`` is ``too_large``
        (checked before parsing), ``empty``, ``malformed`` (not UTF-8, not strict JSON,
        ``NaN``/``Infinity``, nested too deep, not an object) or ``invalid_value``
        (breaks the schema; the message lists pydantic's description of each problem).
        An ``invalid_value`` error is an :class:`InvalidCommandError` whose
        ``message_id`` and ``device`` are set whenever both could be read, so the
        caller can answer ERR.
    """
    raw = load_json_object(buf, max_bytes=MAX_COMMAND_BYTES, what="command")
    message_id = raw.get("message_id")
    recovered = message_id if is_uuid_string(message_id) else None
    try:
        message = _COMMAND_ADAPTER.validate_python(raw)
    except ValidationError as error:
        raise InvalidCommandError(
            DecodeReason.INVALID_VALUE,
            describe_validation_error(error),
            message_id=recovered,
            device=_device(raw),
        ) from None
    return message.to_domain()


def encode_command(command: Command) -> bytes:
    """Serialise a core command as WIRE.md JSON (compact, fields in a fixed order).

    Raises
    ------
    ValueError
        If the command breaks a bound a receiver would reject it for (unsafe name,
        non-finite param, ...), so the mistake shows where the command is built.
    """
    message: WorkflowConfigMessage | JobCommandMessage
    if isinstance(command, WorkflowConfig):
        message = WorkflowConfigMessage.from_domain(command)
    else:
        message = JobCommandMessage.from_domain(command)
    omit = {"run_policy"} if getattr(message, "run_policy", None) is RunPolicy.KEEP else None
    data = message.model_dump_json(exclude=omit).encode("utf-8")
    if len(data) > MAX_COMMAND_BYTES:
        raise ValueError(f"command of {len(data)} bytes exceeds {MAX_COMMAND_BYTES}")
    return data
