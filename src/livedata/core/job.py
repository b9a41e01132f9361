"""A job: one workflow instance bound to a source, params and a data-time schedule."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import scipp as sc
import structlog

from livedata.core.control import RunPolicy, Schedule
from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.core.memory import estimate_nbytes
from livedata.core.results import Result
from livedata.core.status import JobState, JobStatus
from livedata.core.values import RunStart, RunStop
from livedata.core.workflow import (
    ReportsEventsLeftOut,
    ReportsProblems,
    ReportsStateSize,
    Workflow,
)

logger = structlog.get_logger(__name__)

PAUSED_NOTE = "paused by operator"

RUN_FINAL_SUFFIX = ".run_final"
"""Appended to output names of the result a ``publish_and_reset`` job publishes at a
run stop, so clients tell a run's final result from the live one (ADR 0004)."""

PROBLEM_HOLD_NS = 10_000_000_000
"""A warning or error stays shown for 10 s of data time after the last failure, so a
heartbeat every 2 s always reports it, even if the next window succeeds."""


class Job:
    """Runs one workflow for one source and keeps its state in data time.

    States: ``scheduled`` until data reaches the start time (or while paused),
    ``pending_context`` while a required auxiliary source has sent nothing,
    ``active`` while computing, ``warning`` after a failed ``accumulate`` (data of
    that window is lost, the job goes on), ``error`` after a failed ``finalize``
    (retried on the next window), ``finishing`` while publishing its last result
    and ``stopped`` at the end. Only ``stopped`` is terminal. A job ``halt``-ed (by the
    memory guard) stays in ``error`` and computes nothing until it is stopped (or is
    ``stopped`` at once if it was ``finishing``).
    """

    def __init__(
        self,
        *,
        job_id: JobId,
        workflow_id: WorkflowId,
        workflow: Workflow,
        schedule: Schedule,
        aux_streams: Mapping[str, str],
        required_aux_streams: frozenset[str] = frozenset(),
        windowed_aux_streams: frozenset[str] = frozenset(),
        output_titles: Mapping[str, str] | None = None,
        run_policy: RunPolicy = RunPolicy.KEEP,
    ) -> None:
        self.job_id = job_id
        self.run_policy = run_policy
        self.workflow_id = workflow_id
        self.schedule = schedule
        self.aux_streams = dict(aux_streams)
        """Role -> stream name of each auxiliary source."""
        self._required_aux = required_aux_streams
        self.windowed_aux_streams = windowed_aux_streams
        """Aux streams whose window data (not newest value) the workflow gets."""
        self._titles = dict(output_titles or {})
        self._workflow = workflow
        self._state = JobState.SCHEDULED
        self._paused = False
        self._warning: str | None = None
        self._error: str | None = None
        self._data_start: int | None = None
        self._problem_until = 0
        self._context: dict[str, Any] = {}
        self._left_out_failed = False

    @property
    def source_name(self) -> str:
        return self.job_id.source_name

    @property
    def state(self) -> JobState:
        return self._state

    @property
    def is_stopped(self) -> bool:
        return self._state is JobState.STOPPED

    @property
    def is_halted(self) -> bool:
        return self._workflow is _RELEASED

    @property
    def streams(self) -> set[str]:
        """Every stream this job reads (none once halted: no window is kept for it)."""
        if self.is_halted:
            return set()
        return {self.source_name, *self.aux_streams.values()}

    def state_nbytes(self) -> int:
        """Bytes the workflow's state holds: its own count if it gives one, else an
        estimate from walking it (milliseconds for a large state: call it rarely)."""
        if isinstance(self._workflow, ReportsStateSize):
            return self._workflow.state_nbytes()
        return estimate_nbytes(self._workflow)

    def events_left_out(self) -> dict[str, int]:
        """Events the workflow left out of its histograms since the job's last reset, by
        reason; empty for a workflow that histograms nothing (``ReportsEventsLeftOut``).
        Never raises: a failing report must not cost the service its heartbeat."""
        workflow = self._workflow
        if not isinstance(workflow, ReportsEventsLeftOut):
            return {}
        try:
            counts = {str(reason): int(n) for reason, n in workflow.events_left_out().items()}
        except Exception as err:  # noqa: BLE001 - reporting only; logged once per job
            if not self._left_out_failed:
                self._left_out_failed = True
                logger.warning("job_left_out_report_failed", job=str(self.job_id), error=str(err))
            return {}
        return {reason: n for reason, n in counts.items() if n > 0}

    def status(self) -> JobStatus:
        return JobStatus(
            job_id=self.job_id,
            workflow_id=self.workflow_id,
            state=self._state,
            start_time=self.schedule.start_time,
            end_time=self.schedule.end_time,
            warning=PAUSED_NOTE if self._paused else self._warning or self._workflow_problems(),
            error=self._error,
        )

    def _workflow_problems(self) -> str | None:
        if isinstance(self._workflow, ReportsProblems) and self._workflow.problems:
            return "; ".join(self._workflow.problems)
        return None

    def set_context(self, name: str, value: Any) -> None:
        """Context that is not a stream (e.g. ROIs), passed with every later window."""
        self._context[name] = value

    def pause(self) -> None:
        """Ignore data until resumed; a job already stopping finishes regardless."""
        if self.is_halted or self._state in (JobState.FINISHING, JobState.STOPPED):
            return
        self._paused = True
        self._state = JobState.SCHEDULED

    def resume(self) -> None:
        self._paused = False

    def reset(self) -> None:
        """Forget accumulated data; the job carries on from the next window."""
        if self.is_halted:
            return  # nothing is left to forget; its error stays until it is stopped
        self._workflow.clear()
        self._data_start = None
        self._warning = None
        self._error = None
        self._problem_until = 0
        if self._state in (JobState.WARNING, JobState.ERROR):
            self._state = JobState.ACTIVE

    def stop(self) -> None:
        """Stop after the window now being collected, so data already sent is published."""
        idle = self._state in (JobState.SCHEDULED, JobState.PENDING_CONTEXT, JobState.STOPPED)
        if idle or self._paused or self.is_halted:
            self._state = JobState.STOPPED
        else:
            self._state = JobState.FINISHING

    def on_run_start(self, run: RunStart) -> None:
        if self.run_policy is RunPolicy.RESET_AT_START and not self.is_stopped:
            logger.info("job_reset_at_run_start", job=str(self.job_id), run=run.run_name)
            self.reset()

    def on_run_stop(self, run: RunStop) -> list[Result]:
        """Under ``publish_and_reset``: the run's final result, tagged, then a reset."""
        if self.run_policy is not RunPolicy.PUBLISH_AND_RESET or self._data_start is None:
            return []
        try:
            outputs = self._workflow.finalize()
        except Exception as err:  # noqa: BLE001 - report, keep the service alive
            self._error = f"finalize at run stop failed: {type(err).__name__}: {err}"
            self._state = JobState.ERROR
            return []
        results = self._results(
            outputs,
            start=self._data_start,
            end=run.stop_time,
            suffix=RUN_FINAL_SUFFIX,
            note=f" (run {run.run_name})",
        )
        self.reset()
        return results

    def terminate(self) -> None:
        """Stop at once, without a finishing window (the service is exiting)."""
        self._state = JobState.STOPPED

    def halt(self, reason: str) -> None:
        """Stop computing at once and let go of the workflow and its state.

        The job stays listed in ``error`` with ``reason``, so operators see why it
        stopped, until a ``stop`` command ends it. Used by the memory guard: the
        workflow is dropped, not cleared, so even a ``clear`` that keeps data frees it.
        A job already ``finishing`` (its stop was ACKed) goes straight to ``stopped``,
        with the reason: it computes no last window, so it would never get there.
        """
        if self.is_stopped:
            return
        finishing = self._state is JobState.FINISHING
        self._workflow = _RELEASED
        self._context = {}
        self._paused = False
        self._data_start = None
        self._warning = None
        self._error = reason
        self._state = JobState.STOPPED if finishing else JobState.ERROR

    def process(
        self,
        *,
        start: int,
        end: int,
        primary: Any | None,
        aux: Mapping[str, Any],
        seen: Collection[str] | None = None,
    ) -> list[Result]:
        """Feed one window to the job; return the results it publishes for it.

        ``primary`` is this window's data of the job's source (None if none came);
        ``aux`` maps stream names to each auxiliary stream's value for this window (its
        newest value, or its window data for windowed aux sources); ``seen`` names the
        streams that ever sent anything (default: the keys of ``aux``).
        """
        if self.is_stopped or self._paused or self.is_halted:
            return []
        sched = self.schedule
        if sched.start_time is not None and end <= sched.start_time:
            self._state = JobState.SCHEDULED
            return []
        seen = aux.keys() if seen is None else seen
        if any(stream not in seen for stream in self._required_aux):
            self._state = JobState.PENDING_CONTEXT
            return []
        finishing = self._state is JobState.FINISHING or (
            sched.end_time is not None and end >= sched.end_time
        )
        results = self._compute(start, end, primary, aux) if primary is not None else []
        if finishing:
            logger.info("job_stopped", job=str(self.job_id), data_end=end)
            self._state = JobState.STOPPED
        elif self._state in (JobState.SCHEDULED, JobState.PENDING_CONTEXT):
            self._state = JobState.ACTIVE
        return results

    def _set_unless_finishing(self, state: JobState) -> None:
        if self._state is not JobState.FINISHING:
            self._state = state

    def _compute(self, start: int, end: int, primary: Any, aux: Mapping[str, Any]) -> list[Result]:
        data = {**aux, **self._context, self.source_name: primary}
        try:
            self._workflow.accumulate(data, start_time=start, end_time=end)
        except Exception as err:  # noqa: BLE001 - a workflow bug must not stop the service
            self._warning = f"accumulate failed: {type(err).__name__}: {err}"
            self._problem_until = end + PROBLEM_HOLD_NS
            self._set_unless_finishing(JobState.WARNING)
            logger.warning("job_accumulate_failed", job=str(self.job_id), error=str(err))
            return []
        if self._data_start is None:
            self._data_start = start
        try:
            outputs = self._workflow.finalize()
        except Exception as err:  # noqa: BLE001 - same: report, keep the service alive
            self._error = f"finalize failed: {type(err).__name__}: {err}"
            self._problem_until = end + PROBLEM_HOLD_NS
            self._set_unless_finishing(JobState.ERROR)
            logger.error("job_finalize_failed", job=str(self.job_id), error=str(err))
            return []
        if end >= self._problem_until:
            self._warning = None
            self._error = None
            self._set_unless_finishing(JobState.ACTIVE)
        return self._results(outputs, start=self._data_start, end=end)

    def _results(
        self,
        outputs: Mapping[str, sc.DataArray],
        *,
        start: int,
        end: int,
        suffix: str = "",
        note: str = "",
    ) -> list[Result]:
        return [
            Result(
                key=ResultKey(
                    workflow_id=self.workflow_id, job_id=self.job_id, output_name=name + suffix
                ),
                data=_with_time_coords(da, start=start, end=end),
                title=self._titles.get(name, name) + note,
            )
            for name, da in outputs.items()
        ]


class _ReleasedWorkflow:
    """Stands in for the workflow of a halted job: holds nothing, computes nothing."""

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        pass

    def finalize(self) -> Mapping[str, sc.DataArray]:
        return {}

    def clear(self) -> None:
        pass


_RELEASED = _ReleasedWorkflow()


def _with_time_coords(da: sc.DataArray, *, start: int, end: int) -> sc.DataArray:
    """Add the 0-d ``start_time``/``time`` coords unless the workflow set its own."""
    coords = {}
    if "start_time" not in da.coords:
        coords["start_time"] = sc.scalar(start, unit="ns", dtype="int64")
    if "time" not in da.coords:
        coords["time"] = sc.scalar(end, unit="ns", dtype="int64")
    return da.assign_coords(coords) if coords else da
