"""Creates jobs from commands, steers them, and feeds each window to the jobs that want it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import pydantic
import structlog

from livedata.core.control import (
    CommandResponse,
    JobAction,
    JobCommand,
    RoiUpdate,
    WorkflowConfig,
)
from livedata.core.identity import JobId
from livedata.core.job import Job
from livedata.core.results import Result
from livedata.core.status import JobStatus
from livedata.core.workflow import WorkflowRegistry

logger = structlog.get_logger(__name__)

REMEMBERED_COMMANDS = 10_000
"""Message ids kept to apply a re-delivered command once; far more than any client
sends between two restarts, and only ~1 MB."""

MAX_JOBS = 1_000
"""Jobs one service runs at most; a runaway client cannot exhaust memory with jobs."""


class JobManager:
    """Owns the jobs of one service.

    A command for a workflow this service does not run, or for a job it does not
    have, gets no answer here (another service owns it); everything it owns gets
    exactly one ACK or ERR per command and device.
    """

    def __init__(self, *, instrument: str, registry: WorkflowRegistry) -> None:
        self._instrument = instrument
        self._registry = registry
        self._jobs: dict[JobId, Job] = {}
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._finished: list[JobStatus] = []

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    @property
    def active_job_count(self) -> int:
        return sum(1 for job in self._jobs.values() if not job.is_stopped)

    def streams(self) -> set[str]:
        """Every stream some job reads."""
        return {s for job in self._jobs.values() for s in job.streams}

    def handle(self, command: WorkflowConfig | JobCommand) -> list[CommandResponse]:
        if isinstance(command, WorkflowConfig):
            return self._start(command)
        return self._act(command)

    def will_act_on(self, command: WorkflowConfig | JobCommand) -> bool:
        """True if ``handle`` would change a job here (owned, not a duplicate)."""
        if isinstance(command, WorkflowConfig):
            owned = (
                command.workflow_id.instrument == self._instrument
                and command.workflow_id in self._registry
            )
            return owned and (command.message_id, command.job_id.source_name) not in self._seen
        if (command.message_id, command.device) in self._seen:
            return False
        return bool(self._targets(command))

    def apply_roi(self, update: RoiUpdate) -> bool:
        """Hand ROIs to their job; False if no job here has that id."""
        job = self._jobs.get(update.job_id)
        if job is None:
            return False
        job.set_context(f"roi_{update.shape}", update)
        return True

    def process_window(
        self,
        *,
        start: int,
        end: int,
        data: Mapping[str, Any],
        latest: Mapping[str, Any],
    ) -> list[Result]:
        """Run every job on one window.

        ``data`` holds this window's value per stream; ``latest`` the newest value ever
        seen per stream (for auxiliary sources). Jobs without new primary data in the
        window compute nothing but still advance their schedule.
        """
        results: list[Result] = []
        for job in list(self._jobs.values()):
            aux = {s: latest[s] for s in job.aux_streams.values() if s in latest}
            results.extend(
                job.process(start=start, end=end, primary=data.get(job.source_name), aux=aux)
            )
            if job.is_stopped:
                self._retire(job)
        return results

    def statuses(self) -> list[JobStatus]:
        """Status of every job, including each stopped one exactly once."""
        statuses = self._finished + [job.status() for job in self._jobs.values()]
        self._finished = []
        return statuses

    def stop_all(self) -> None:
        """Shut down: every job ends ``stopped`` and is reported so."""
        for job in list(self._jobs.values()):
            job.terminate()
            self._retire(job)

    # -- commands ---------------------------------------------------------------

    def _start(self, command: WorkflowConfig) -> list[CommandResponse]:
        workflow_id = command.workflow_id
        if workflow_id.instrument != self._instrument or workflow_id not in self._registry:
            return []  # not ours: the owning service answers
        device = command.job_id.source_name
        if self._is_duplicate(command.message_id, device):
            return []
        entry = self._registry[workflow_id]
        spec = entry.spec

        def refuse(reason: str) -> list[CommandResponse]:
            logger.warning("command_refused", workflow=str(workflow_id), reason=reason)
            return [CommandResponse(message_id=command.message_id, device=device, error=reason)]

        if device not in spec.source_names:
            return refuse(
                f"source {device!r} is not accepted by {workflow_id}; "
                f"choose one of {list(spec.source_names)}"
            )
        if command.job_id in self._jobs:
            return refuse(f"job {command.job_id} already exists")
        if self.active_job_count >= MAX_JOBS:
            return refuse(f"this service already runs {MAX_JOBS} jobs")
        try:
            params = spec.params.model_validate(dict(command.params))
        except pydantic.ValidationError as err:
            return refuse(f"invalid params for {workflow_id}: {describe(err)}")
        try:
            aux = spec.resolve_aux_sources(command.aux_source_names)
        except ValueError as err:
            return refuse(str(err))
        try:
            workflow = entry.factory(source_name=device, params=params, aux_source_names=aux)
        except Exception as err:  # a factory bug is an ERR for this command, not a crash
            logger.exception("workflow_factory_failed", workflow=str(workflow_id))
            return refuse(f"could not build {workflow_id}: {type(err).__name__}: {err}")
        required = frozenset(aux[role] for role, a in spec.aux_sources.items() if a.required)
        self._jobs[command.job_id] = Job(
            job_id=command.job_id,
            workflow_id=workflow_id,
            workflow=workflow,
            schedule=command.schedule,
            aux_streams=aux,
            required_aux_streams=required,
            output_titles={name: output.title for name, output in spec.outputs.items()},
        )
        logger.info("job_created", job=str(command.job_id), workflow=str(workflow_id))
        return [CommandResponse(message_id=command.message_id, device=device)]

    def _targets(self, command: JobCommand) -> list[Job] | None:
        """Jobs here a command acts on; ``None`` when another service owns it."""
        if command.job_id is not None:
            job = self._jobs.get(command.job_id)
            return [job] if job is not None else None
        if command.workflow_id is not None:
            if command.workflow_id not in self._registry:
                return None
            return [j for j in self._jobs.values() if j.workflow_id == command.workflow_id]
        return list(self._jobs.values())

    def _act(self, command: JobCommand) -> list[CommandResponse]:
        targets = self._targets(command)
        if targets is None:
            return []  # the job or workflow lives elsewhere (or nowhere): its owner answers
        if self._is_duplicate(command.message_id, command.device):
            return []
        for job in targets:
            _apply(job, command.action)
            if job.is_stopped:
                self._retire(job)
        logger.info("job_command_applied", action=command.action.value, jobs=len(targets))
        return [CommandResponse(message_id=command.message_id, device=command.device)]

    def _is_duplicate(self, message_id: str, device: str) -> bool:
        key = (message_id, device)
        if key in self._seen:
            logger.info("duplicate_command_ignored", message_id=message_id, device=device)
            return True
        self._seen[key] = None
        if len(self._seen) > REMEMBERED_COMMANDS:
            self._seen.popitem(last=False)
        return False

    def _retire(self, job: Job) -> None:
        if self._jobs.pop(job.job_id, None) is not None:
            self._finished.append(job.status())


def _apply(job: Job, action: JobAction) -> None:
    match action:
        case JobAction.STOP:
            job.stop()
        case JobAction.RESET:
            job.reset()
        case JobAction.PAUSE:
            job.pause()
        case JobAction.RESUME:
            job.resume()


def describe(error: pydantic.ValidationError) -> str:
    """Each problem as ``field: message``; never echoes the (operator-supplied) input."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'params'}: {problem['msg']}"
        for problem in error.errors(include_input=False, include_url=False)
    )
