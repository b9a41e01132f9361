"""The orchestrating processor: one step of a service's loop.

Each step takes what the source has, applies control messages at once (commands,
ROIs, run transitions), batches data by data time, runs the jobs on every closed
window, publishes their results, and reports status every two seconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import structlog

from livedata.core.batching import Batch, Batcher
from livedata.core.clock import Clock
from livedata.core.control import InvalidCommand, JobCommand, RoiUpdate, WorkflowConfig
from livedata.core.endpoints import MessageSink, MessageSource, ReportsBufferedBytes
from livedata.core.job_manager import JobManager
from livedata.core.job_stats import jobs_section
from livedata.core.memory_guard import MemoryGuard
from livedata.core.message import Message, StreamId, StreamKind
from livedata.core.snapshot import JobSnapshot
from livedata.core.status import ServiceState, ServiceStatus
from livedata.core.stream_accumulators import StreamAccumulators
from livedata.core.values import RunStart, RunStop

logger = structlog.get_logger(__name__)

STATUS_INTERVAL_NS = 2_000_000_000
"""Heartbeat period (WIRE.md): often enough that a dashboard notices a dead worker
within a few seconds, rare enough to cost nothing."""

SNAPSHOT_INTERVAL_NS = 60_000_000_000
"""A job snapshot is published at every change and at least once a minute, so the
newest one survives any retention longer than that."""

FLUSH_TIMEOUT_S = 3.0
"""Part of the ~5 s clean-exit budget spent delivering the last results."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceIdentity:
    instrument: str
    service_name: str
    worker_id: str


RESULTS_STREAM = StreamId(kind=StreamKind.RESULTS, name="results")
RESPONSES_STREAM = StreamId(kind=StreamKind.RESPONSES, name="responses")
STATUS_STREAM = StreamId(kind=StreamKind.STATUS, name="status")
JOBS_STREAM = StreamId(kind=StreamKind.JOBS, name="jobs")


class OrchestratingProcessor:
    def __init__(
        self,
        *,
        identity: ServiceIdentity,
        source: MessageSource,
        sink: MessageSink,
        batcher: Batcher,
        job_manager: JobManager,
        clock: Clock,
        publish_snapshots: bool = True,
        memory_guard: MemoryGuard | None = None,
    ) -> None:
        """``publish_snapshots=False`` holds back job snapshots until the job set first
        changes: used when the previous snapshot could not be read at start, so an empty
        one does not overwrite the jobs a later restart should restore. ``memory_guard``
        is checked every step (it reads memory once a second) and may stop a job."""
        self._identity = identity
        self._source = source
        self._sink = sink
        self._batcher = batcher
        # Those that say what their bounded buffers hold: the memory guard blames no job
        # for it. Fixed at construction, so not looked for at every check.
        self._buffers = [
            part for part in (source, batcher, sink) if isinstance(part, ReportsBufferedBytes)
        ]
        self._jobs = job_manager
        self._clock = clock
        self._memory_guard = memory_guard
        self._accumulators = StreamAccumulators()
        self._started_at = clock.now_ns()
        self._state = ServiceState.STARTING
        self._error: str | None = None
        self._next_status = 0
        self._next_snapshot = 0
        self._snapshot_changes = -1 if publish_snapshots else job_manager.changes
        self._snapshots_held = not publish_snapshots
        self.message_counts: Counter[str] = Counter()
        """Data messages per stream since start, whether or not a job read them."""
        self.control_counts: Counter[str] = Counter()
        """Control messages by kind, and ones no job here wanted."""

    @property
    def state(self) -> ServiceState:
        return self._state

    def process(self) -> None:
        """One step: take messages, steer, batch, compute, publish, report."""
        if self._state is ServiceState.STARTING:
            self._report_status(force=True)  # tell the world we exist before any work
        data: list[Message[Any]] = []
        for message in self._source.get_messages():
            if message.stream.is_control:
                # Keep arrival order: data that came before a command is batched first.
                self._add_data(data)
                data = []
                self._apply_control(message)
            else:
                self.message_counts[message.stream.name] += 1
                data.append(message)
        self._add_data(data)
        for batch in self._batcher.poll():
            self._run_window(batch)
        if self._state is ServiceState.STARTING:
            self._state = ServiceState.RUNNING
        # A job stopped by the memory guard has its error published at once.
        job_halted = self._memory_guard is not None and self._memory_guard.check(
            self._clock.now_ns(), self._jobs, self._buffered_bytes
        )
        self._report_status(force=job_halted)
        self._publish_snapshot()

    def shutdown(self, *, error: str | None = None) -> None:
        """Publish the open window's data and final ``stopped``/``error`` reports."""
        if error is None:
            for batch in self._batcher.flush():
                self._run_window(batch)
        self._jobs.stop_all()
        self._state = ServiceState.STOPPED if error is None else ServiceState.ERROR
        self._error = error
        self._report_status(force=True)
        self._sink.flush(FLUSH_TIMEOUT_S)

    def _add_data(self, data: list[Message[Any]]) -> None:
        if data:
            for batch in self._batcher.add(data):
                self._run_window(batch)

    def _apply_control(self, message: Message[Any]) -> None:
        value = message.value
        if isinstance(value, WorkflowConfig | JobCommand | InvalidCommand):
            self.control_counts["commands"] += 1
            if self._jobs.will_act_on(value):
                # Data that arrived before the command is processed before it: a reset
                # must not count it, a new job must not see it.
                for batch in self._batcher.flush():
                    self._run_window(batch)
            responses = self._jobs.handle(value)
            self._sink.publish([self._out(RESPONSES_STREAM, response) for response in responses])
        elif isinstance(value, RoiUpdate):
            self.control_counts["rois"] += 1
            if not self._jobs.apply_roi(value):
                self.control_counts["rois_for_unknown_jobs"] += 1
        elif isinstance(value, RunStart | RunStop):
            self.control_counts[type(value).__name__] += 1
            logger.info("run_transition", kind=type(value).__name__, run=value.run_name)
            # Data that came before the transition belongs to the run it ends or precedes.
            for batch in self._batcher.flush():
                self._run_window(batch)
            if isinstance(value, RunStart):
                self._jobs.on_run_start(value)
            else:
                results = self._jobs.on_run_stop(value)
                self._sink.publish([self._out(RESULTS_STREAM, r) for r in results])
        else:
            self.control_counts["unrecognised"] += 1
            logger.warning("unrecognised_control", stream=str(message.stream))

    def _run_window(self, batch: Batch) -> None:
        wanted = self._jobs.streams()
        for message in batch.messages:
            # Windows of streams no job reads are not kept: they would only cost memory.
            self._accumulators.add(message, keep_window=message.stream.name in wanted)
        results = self._jobs.process_window(
            start=batch.start,
            end=batch.end,
            data=self._accumulators.take_window(),
            latest=self._accumulators.latest(),
        )
        self._sink.publish([self._out(RESULTS_STREAM, result) for result in results])

    def _buffered_bytes(self) -> int:
        """Bytes the source, the batcher and the sink hold in their bounded buffers."""
        return sum(part.buffered_bytes() for part in self._buffers)

    def _report_status(self, *, force: bool) -> None:
        now = self._clock.now_ns()
        if not force and now < self._next_status:
            return
        self._next_status = now + STATUS_INTERVAL_NS
        reports: list[Message[Any]] = [self._out(STATUS_STREAM, self.status())]
        reports.extend(self._out(STATUS_STREAM, s) for s in self._jobs.statuses())
        self._sink.publish(reports)

    def _publish_snapshot(self) -> None:
        now = self._clock.now_ns()
        unchanged = self._jobs.changes == self._snapshot_changes
        if unchanged and (self._snapshots_held or now < self._next_snapshot):
            return
        self._snapshots_held = False
        self._snapshot_changes = self._jobs.changes
        self._next_snapshot = now + SNAPSHOT_INTERVAL_NS
        snapshot = JobSnapshot(
            instrument=self._identity.instrument,
            service_name=self._identity.service_name,
            worker_id=self._identity.worker_id,
            time=now,
            jobs=tuple(self._jobs.configs()),
        )
        self._sink.publish([self._out(JOBS_STREAM, snapshot)])

    def status(self) -> ServiceStatus:
        guard = self._memory_guard
        stats: dict[str, Any] = {
            "messages": dict(self.message_counts),
            "control": dict(self.control_counts),
            "batching": dict(self._batcher.stats()),
            "ingress": dict(self._source.stats()),
            "egress": dict(self._sink.stats()),
        }
        if guard is not None:
            stats["memory"] = guard.stats()
        jobs = jobs_section(self._jobs.events_left_out())
        if jobs:
            stats["jobs"] = jobs
        return ServiceStatus(
            instrument=self._identity.instrument,
            service_name=self._identity.service_name,
            worker_id=self._identity.worker_id,
            state=self._state,
            started_at=self._started_at,
            active_job_count=self._jobs.active_job_count,
            batch_interval_s=self._batcher.window_ns / 1e9,
            error=self._error or (guard.problem if guard is not None else None),
            stream_stats=stats,
        )

    def _out(self, stream: StreamId, value: Any) -> Message[Any]:
        return Message(timestamp=self._clock.now_ns(), stream=stream, value=value)
