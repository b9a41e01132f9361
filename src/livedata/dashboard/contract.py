"""The seam between the dashboard's data side and its Panel UI.

The data side (``backend.py``, ``stores.py``: no Panel) consumes results, heartbeats
and responses on ONE background thread, the single writer of the stores below, and
sends commands and ROIs. The UI (``ui/``) only reads the stores (each with a version
counter, so a session renders only what changed) and calls the ``Backend`` methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import scipp as sc

from livedata.core.control import JobAction, Roi, RoiShape, RunPolicy
from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.core.status import JobStatus, ServiceStatus


@dataclass(frozen=True, slots=True)
class ResultEntry:
    """The newest result of one output, as the UI sees it."""

    key: ResultKey
    data: sc.DataArray
    received_ns: int
    """Wall clock when the dashboard got it."""
    version: int
    """Store version at which this entry was written (compare to skip re-rendering)."""


class ResultsView(Protocol):
    @property
    def version(self) -> int:
        """Bumped on every write; cheap to poll."""
        ...

    def keys(self) -> list[ResultKey]: ...

    def get(self, key: ResultKey) -> ResultEntry | None: ...

    def history(self, key: ResultKey) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """(data times ns, values) of a 0-d output, bounded, oldest first."""
        ...

    def latest(
        self, workflow_id: WorkflowId, source_name: str, output_name: str
    ) -> ResultEntry | None:
        """The most recently updated entry of this output over all jobs (a grid layer binds
        workflow, source and output, not a job number); a dict lookup, cheap to poll."""
        ...

    def windowed(
        self, workflow_id: WorkflowId, source_name: str, output_name: str, last_s: float
    ) -> ResultEntry | None:
        """The sum of this per-window output's frames of the last ``last_s`` seconds of
        data time, kept once for the server from the first ask on (``policy.windows``);
        None until there is one."""
        ...


class Liveness(StrEnum):
    LIVE = "live"
    STALE = "stale"
    """No heartbeat for 30 s (services) / 60 s (jobs)."""
    GONE = "gone"
    """Said goodbye: final ``stopped`` heartbeat."""


@dataclass(frozen=True, slots=True)
class ServiceRow:
    service_id: str
    status: ServiceStatus
    software_version: str
    host_name: str
    last_seen_ns: int
    liveness: Liveness
    process_id: int = 0
    messages: int = 0
    """Data messages the service has read since it started (all streams)."""
    message_rate_hz: float | None = None
    """Data messages per second between its last two heartbeats (None after the first)."""
    dropped: int = 0
    """Messages its consumer shed (latest-wins queue), since start."""
    rejected: int = 0
    """Messages its ingress refused (undecodable, unknown source, ...), since start;
    routine ``not_wanted`` skips excluded."""


@dataclass(frozen=True, slots=True)
class JobRow:
    status: JobStatus
    last_seen_ns: int
    liveness: Liveness


class StatusView(Protocol):
    @property
    def version(self) -> int: ...

    def services(self, now_ns: int) -> list[ServiceRow]: ...

    def jobs(self, now_ns: int) -> list[JobRow]:
        """Every job seen in heartbeats, incl. those running before the dashboard started."""
        ...


class Level(StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Notification:
    time_ns: int
    level: Level
    text: str


class NotificationsView(Protocol):
    @property
    def version(self) -> int: ...

    def entries(self) -> list[Notification]:
        """Newest last, bounded."""
        ...


class InvalidParams(ValueError):  # noqa: N818 - the UI already uses this name
    """Params that the workflow's params model refuses; nothing was sent.

    ``str()`` is a readable multi-line message; ``problems`` maps each offending field
    (dotted path, ``"<root>"`` for the model as a whole) to what is wrong with it, so a
    form can show each problem next to its field.
    """

    def __init__(self, message: str, problems: Mapping[str, str]) -> None:
        super().__init__(message)
        self.problems = dict(problems)


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What became of one command: per device ACK, ERR (with reason) or no answer.

    A broadcast (all jobs, or all jobs of a workflow) is answered by each service with
    device ``"all"``: ``acked`` then holds one ``"all"`` per acknowledging service,
    ``refused`` keys are ``"all#<n>"``, and ``unanswered`` is ``["all"]`` only if no
    service answered at all.
    """

    acked: Sequence[str]
    refused: Mapping[str, str]
    unanswered: Sequence[str]

    @property
    def ok(self) -> bool:
        return not self.refused and not self.unanswered


class Backend(Protocol):
    """What the UI may do. Sends never block the UI: outcomes arrive as notifications and
    through the optional callback (called on the backend's thread)."""

    # Read-only properties, not plain attributes: a protocol attribute is invariant, so
    # no backend holding concrete stores (ResultStore, ...) could otherwise conform.
    @property
    def instrument(self) -> str: ...

    @property
    def results(self) -> ResultsView: ...

    @property
    def status(self) -> StatusView: ...

    @property
    def notifications(self) -> NotificationsView: ...

    def start_workflow(
        self,
        workflow_id: WorkflowId,
        sources: Sequence[str],
        params: Mapping[str, Any],
        *,
        aux_source_names: Mapping[str, str] | None = None,
        run_policy: RunPolicy = RunPolicy.KEEP,
        on_outcome: Callable[[CommandOutcome], None] | None = None,
    ) -> list[JobId]:
        """Validate locally (raises ``ValueError``: ``InvalidParams`` for params the model
        refuses, plain ``ValueError`` for an unknown workflow, source or aux source), send
        one ``workflow_config`` per source sharing a job number, and return the job ids."""
        ...

    def job_action(
        self,
        action: JobAction,
        *,
        job_id: JobId | None = None,
        workflow_id: WorkflowId | None = None,
        on_outcome: Callable[[CommandOutcome], None] | None = None,
    ) -> None: ...

    def publish_rois(self, job_id: JobId, shape: RoiShape, rois: Mapping[int, Roi]) -> None:
        """Send the full ROI set of one shape for one job (empty clears)."""
        ...
