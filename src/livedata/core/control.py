"""Control values: what commands, ROIs and run transitions mean once decoded.

The wire models (pydantic, in ``livedata.protocol``) validate the bytes and convert
into these; the processor never sees JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from livedata.core.identity import JobId, WorkflowId


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """When a job runs, in data time (ns since epoch); ``None`` means now / forever."""

    start_time: int | None = None
    end_time: int | None = None


class RunPolicy(StrEnum):
    """What a job does when the file writer starts or stops a run."""

    KEEP = "keep"
    """Ignore run transitions: accumulate across runs."""
    RESET_AT_START = "reset_at_start"
    """Forget accumulated data when a run starts."""
    PUBLISH_AND_RESET = "publish_and_reset"
    """At a run stop, publish the run's final result (tagged with the run) and reset."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowConfig:
    """Start one job of ``workflow_id`` for ``job_id.source_name`` with ``params``."""

    message_id: str
    workflow_id: WorkflowId
    job_id: JobId
    schedule: Schedule = field(default_factory=Schedule)
    aux_source_names: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    run_policy: RunPolicy = RunPolicy.KEEP


class JobAction(StrEnum):
    STOP = "stop"
    RESET = "reset"
    PAUSE = "pause"
    RESUME = "resume"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobCommand:
    """Act on one job, on all jobs of a workflow, or (neither set) on all jobs here."""

    message_id: str
    action: JobAction
    job_id: JobId | None = None
    workflow_id: WorkflowId | None = None

    def __post_init__(self) -> None:
        if self.job_id is not None and self.workflow_id is not None:
            raise ValueError("a job command targets a job_id or a workflow_id, not both")

    @property
    def device(self) -> str:
        """What the response names: the job, or ``"all"`` for a broadcast."""
        return str(self.job_id) if self.job_id is not None else "all"


Command = WorkflowConfig | JobCommand


@dataclass(frozen=True, slots=True, kw_only=True)
class InvalidCommand:
    """A command that broke the wire schema but still names its message id and device.

    No service can own what none can read, so the instrument's designated responder
    refuses it with ERR (``error`` says why) instead of leaving the sender to time out.
    """

    message_id: str
    device: str
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandResponse:
    """The owner's answer to one command for one device (ACK when ``error`` is None)."""

    message_id: str
    device: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


RoiShape = Literal["rectangle", "polygon"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Roi:
    """One region of interest: a rectangle as (min, max) corners or a polygon's vertices.

    ``unit`` is ``None`` when ``x``/``y`` are pixel indices.
    """

    shape: RoiShape
    x: tuple[float, ...]
    y: tuple[float, ...]
    unit: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RoiUpdate:
    """The full set of ROIs of one shape for one job; an empty mapping clears them."""

    job_id: JobId
    shape: RoiShape
    rois: Mapping[int, Roi]
