"""Creates jobs from commands, steers them, and feeds each window to the jobs that want it."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic
import structlog

from livedata.core.control import (
    CommandResponse,
    InvalidCommand,
    JobAction,
    JobCommand,
    RoiUpdate,
    WorkflowConfig,
)
from livedata.core.identity import JobId, WorkflowId
from livedata.core.job import Job
from livedata.core.results import Result
from livedata.core.status import JobStatus
from livedata.core.values import RunStart, RunStop
from livedata.core.workflow import WorkflowRegistry

logger = structlog.get_logger(__name__)

REMEMBERED_COMMANDS = 10_000
"""Message ids kept to apply a re-delivered command once; far more than any client
sends between two restarts, and only ~1 MB."""

MAX_JOBS = 1_000
"""Jobs one service runs at most; a runaway client cannot exhaust memory with jobs."""


HALTED_ERROR = "stopped by the memory guard; stop it and start a new job"
"""The answer to a reset, pause or resume of a halted job (it has no state left). A
command for several jobs acts on those not halted and is ACKed if there are any."""


class JobManager:
    """Owns the jobs of one service.

    A command for a workflow this service does not run, or for a job it does not
    have, gets no answer here (another service owns it); everything it owns gets
    exactly one ACK or ERR per command and device.
    """

    def __init__(
        self,
        *,
        instrument: str,
        registry: WorkflowRegistry,
        known_workflows: Iterable[WorkflowId] = (),
        answers_unowned: bool = False,
    ) -> None:
        """``registry`` holds this service's workflows, ``known_workflows`` every workflow
        of the instrument. The one service per instrument with ``answers_unowned`` answers
        ERR for commands no service can own (unknown workflow, wrong instrument, invalid
        on the wire)."""
        self._instrument = instrument
        self._registry = registry
        self._known = frozenset(known_workflows) | frozenset(registry)
        self._answers_unowned = answers_unowned
        self._jobs: dict[JobId, Job] = {}
        self._configs: dict[JobId, WorkflowConfig] = {}
        self.changes = 0
        """Bumped whenever the set of jobs changes (for the job registry snapshot)."""
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

    def handle(
        self, command: WorkflowConfig | JobCommand | InvalidCommand
    ) -> list[CommandResponse]:
        if isinstance(command, WorkflowConfig):
            return self._start(command)
        if isinstance(command, InvalidCommand):
            return self._refuse_invalid(command)
        return self._act(command)

    def configs(self) -> list[WorkflowConfig]:
        """The commands that created the jobs still running (what a restart restores)."""
        return [self._configs[job_id] for job_id in self._jobs if job_id in self._configs]

    def restore(self, configs: Iterable[WorkflowConfig]) -> list[JobId]:
        """Recreate jobs after a restart, without answering; returns the jobs restored."""
        restored = []
        for config in configs:
            if config.workflow_id not in self._registry or config.job_id in self._jobs:
                continue
            self._seen[(config.message_id, config.job_id.source_name)] = None
            error = self._create(config)
            if error is None:
                restored.append(config.job_id)
            else:
                logger.warning("job_not_restored", job=str(config.job_id), reason=error)
        return restored

    def on_run_start(self, run: RunStart) -> None:
        for job in self._jobs.values():
            job.on_run_start(run)

    def on_run_stop(self, run: RunStop) -> list[Result]:
        return [result for job in self._jobs.values() for result in job.on_run_stop(run)]

    def will_act_on(self, command: WorkflowConfig | JobCommand | InvalidCommand) -> bool:
        """True if ``handle`` would change a job here (owned, not a duplicate)."""
        if isinstance(command, InvalidCommand):
            return False
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
            aux = {}
            for stream in job.aux_streams.values():
                source = data if stream in job.windowed_aux_streams else latest
                if stream in source:
                    aux[stream] = source[stream]
            results.extend(
                job.process(
                    start=start,
                    end=end,
                    primary=data.get(job.source_name),
                    aux=aux,
                    seen=latest.keys(),
                )
            )
            if job.is_stopped:
                self._retire(job)
        return results

    def state_sizes(self) -> dict[JobId, int]:
        """Bytes the state of each computing job holds (for the memory guard; may walk
        each job's state, so it is called only when the service is over its limit)."""
        return {
            job_id: job.state_nbytes()
            for job_id, job in self._jobs.items()
            if not (job.is_halted or job.is_stopped)
        }

    def events_left_out(self) -> dict[JobId, dict[str, int]]:
        """Events each job's workflow left out of its histograms since the job's last
        reset, by reason; jobs that left out nothing are not listed."""
        counts = {job_id: job.events_left_out() for job_id, job in self._jobs.items()}
        return {job_id: c for job_id, c in counts.items() if c}

    def halt(self, job_id: JobId, reason: str) -> None:
        """Stop a job at once with ``reason`` as its error and drop its state; it stays
        listed (in ``error``) until a ``stop`` command ends it."""
        job = self._jobs.get(job_id)
        if job is None:
            return
        job.halt(reason)
        if job.is_stopped:  # it was finishing: it ends now, reported with the reason
            self._retire(job)
            return
        # Out of the job snapshot: a restart must not bring a runaway job back.
        if self._configs.pop(job_id, None) is not None:
            self.changes += 1

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
        device = command.job_id.source_name
        ours = workflow_id.instrument == self._instrument and workflow_id in self._registry
        orphan = self._orphan_reason(workflow_id)
        if not ours and (orphan is None or not self._answers_unowned):
            return []  # another service owns it (or the designated one refuses it)
        if self._is_duplicate(command.message_id, device):
            return []
        error = orphan if not ours else self._create(command)
        if error is not None:
            logger.warning("command_refused", workflow=str(workflow_id), reason=error)
        return [CommandResponse(message_id=command.message_id, device=device, error=error)]

    def _refuse_invalid(self, command: InvalidCommand) -> list[CommandResponse]:
        if not self._answers_unowned or self._is_duplicate(command.message_id, command.device):
            return []
        logger.warning("command_refused", device=command.device, reason=command.error)
        error = f"invalid command: {command.error}"
        return [CommandResponse(message_id=command.message_id, device=command.device, error=error)]

    def _orphan_reason(self, workflow_id: WorkflowId) -> str | None:
        """Why no service of this instrument can own the workflow; None if one can."""
        if workflow_id.instrument != self._instrument:
            return (
                f"wrong instrument: {workflow_id} was sent to the commands of {self._instrument!r}"
            )
        if workflow_id not in self._known:
            return f"unknown workflow {workflow_id}"
        return None

    def _create(self, command: WorkflowConfig) -> str | None:
        """Build and register the job; the reason it cannot be built, or None."""
        workflow_id = command.workflow_id
        device = command.job_id.source_name
        entry = self._registry[workflow_id]
        spec = entry.spec
        if device not in spec.source_names:
            return (
                f"source {device!r} is not accepted by {workflow_id}; "
                f"choose one of {list(spec.source_names)}"
            )
        if command.job_id in self._jobs:
            return f"job {command.job_id} already exists"
        if self.active_job_count >= MAX_JOBS:
            return f"this service already runs {MAX_JOBS} jobs"
        try:
            params = spec.params.model_validate(dict(command.params))
        except pydantic.ValidationError as err:
            return f"invalid params for {workflow_id}: {describe(err)}"
        if not _finite(params.model_dump()):
            # pydantic turns the string "NaN" into a float unless a model forbids it.
            return f"invalid params for {workflow_id}: numbers must be finite"
        try:
            aux = spec.resolve_aux_sources(command.aux_source_names)
        except ValueError as err:
            return str(err)
        try:
            workflow = entry.factory(source_name=device, params=params, aux_source_names=aux)
        except Exception as err:  # a factory bug is an ERR for this command, not a crash
            logger.exception("workflow_factory_failed", workflow=str(workflow_id))
            return f"could not build {workflow_id}: {type(err).__name__}: {err}"
        required = frozenset(aux[role] for role, a in spec.aux_sources.items() if a.required)
        windowed = frozenset(aux[role] for role, a in spec.aux_sources.items() if a.window)
        self._jobs[command.job_id] = Job(
            job_id=command.job_id,
            workflow_id=workflow_id,
            workflow=workflow,
            schedule=command.schedule,
            aux_streams=aux,
            required_aux_streams=required,
            windowed_aux_streams=windowed,
            output_titles={name: output.title for name, output in spec.outputs.items()},
            run_policy=command.run_policy,
        )
        self._configs[command.job_id] = command
        self.changes += 1
        logger.info("job_created", job=str(command.job_id), workflow=str(workflow_id))
        return None

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
        if command.action is not JobAction.STOP and targets and all(j.is_halted for j in targets):
            # Nothing is left to reset, pause or resume: saying ACK would be a lie.
            logger.info("job_command_refused_halted", action=command.action.value)
            return [
                CommandResponse(
                    message_id=command.message_id, device=command.device, error=HALTED_ERROR
                )
            ]
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
            self._configs.pop(job.job_id, None)
            self.changes += 1
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


def _finite(value: Any) -> bool:
    """True if no float anywhere in ``value`` (nested dicts, lists) is NaN or infinite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return True
