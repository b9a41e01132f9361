"""``KafkaBackend``: the dashboard's data side for one instrument.

It owns the stores (results, status, notifications), the one consumer thread that
writes them (``consumer.py``), the sender thread that produces commands and ROIs
(``sender.py``) and the tracker that follows each command to its answers
(``commands.py``). Methods called by the UI validate and encode on the caller's thread,
so a mistake raises there with a readable message, and then only enqueue: the UI never
waits for the broker. Outcomes arrive as notifications and through the optional
``on_outcome`` callback (called on a backend thread).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from livedata.config.instrument import Instrument
from livedata.config.topics import Topic, topic_name
from livedata.core.control import (
    Command,
    JobAction,
    JobCommand,
    Roi,
    RoiShape,
    RoiUpdate,
    RunPolicy,
    WorkflowConfig,
)
from livedata.core.identity import JobId, WorkflowId
from livedata.core.workflow import WorkflowSpec
from livedata.dashboard.commands import COMMAND_TIMEOUT_S, CommandTracker, validate_params
from livedata.dashboard.consumer import HEARTBEAT_LOOKBACK_S, DashboardConsumer
from livedata.dashboard.contract import Backend, CommandOutcome, Level
from livedata.dashboard.sender import SEND_TIMEOUT_S, Sender
from livedata.dashboard.status_store import NotificationLog, StatusStore
from livedata.dashboard.stores import ResultStore
from livedata.kafka.settings import KafkaSettings
from livedata.protocol.commands import encode_command
from livedata.protocol.roi import encode_roi


class BackendClosedError(RuntimeError):
    """A command was given to a backend that is closed."""


class KafkaBackend:
    """A ``Backend`` for one instrument over Kafka; its threads start on construction.

    Parameters
    ----------
    settings:
        Kafka connection.
    instrument:
        The instrument; its workflow specs validate what the UI sends.
    command_timeout_s:
        How long the owners of a command have to answer before an error is shown.
    heartbeat_lookback_s:
        How far back heartbeats are read at start (jobs running before are adopted).
    send_timeout_s:
        How long the broker has to confirm a command or ROI before it is reported unsent.
    results:
        The results store to fill (e.g. one with other bounds); a new one by default.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        instrument: Instrument,
        *,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
        heartbeat_lookback_s: float = HEARTBEAT_LOOKBACK_S,
        send_timeout_s: float = SEND_TIMEOUT_S,
        results: ResultStore | None = None,
    ) -> None:
        self.instrument = instrument.name
        self.workflows: dict[WorkflowId, WorkflowSpec] = {
            spec.workflow_id: spec for spec in instrument.build_workflows(instrument).specs()
        }
        """Every workflow of the instrument by id: what the UI lists and its forms edit."""
        self.results = results if results is not None else ResultStore()
        self.status = StatusStore()
        self.notifications = NotificationLog()
        self.commands = CommandTracker(self.notifications, timeout_s=command_timeout_s)
        """Commands awaiting answers."""
        self._commands_topic = topic_name(instrument.name, Topic.COMMANDS)
        self._roi_topic = topic_name(instrument.name, Topic.ROI)
        self._closed = False
        self._sender = Sender(settings, send_timeout_s=send_timeout_s)
        try:
            self._consumer = DashboardConsumer(
                settings,
                instrument.name,
                results=self.results,
                status=self.status,
                on_response=self.commands.answer,
                on_tick=self.commands.expire,
                heartbeat_lookback_s=heartbeat_lookback_s,
            )
        except BaseException:
            self._sender.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop both threads and close the Kafka clients (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._sender.close()
        self._consumer.close()

    def __enter__(self) -> KafkaBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, int]:
        """Counters: the consumer's (``consumed``, ``decoded``, ``superseded``,
        ``before_start``, ``heartbeats``, ``responses``, ``decode_failed.*``,
        ``consumer_errors``, ...), the sender's (``sender.*``) and the stores'
        (``results.*``, ``status.*``)."""
        out: dict[str, int] = dict(self._consumer.stats())
        out.update({f"sender.{k}": v for k, v in self._sender.stats().items()})
        for prefix, counter in (
            ("results", self.results.counters),
            ("status", self.status.counters),
        ):
            for _ in range(3):  # the writer may add a key while we copy
                try:
                    out.update({f"{prefix}.{k}": v for k, v in list(counter.items())})
                    break
                except RuntimeError:
                    continue
        out["results.keys"] = len(self.results)
        out["results.bytes"] = self.results.nbytes
        out["commands.pending"] = len(self.commands)
        return out

    # -- what the UI may do ------------------------------------------------------------

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
        """Validate, send one ``workflow_config`` per source (one job number), return the
        job ids. Raises ``InvalidParams`` for params the model refuses and ``ValueError``
        for an unknown workflow, source or auxiliary source; nothing is sent then."""
        spec = self.workflows.get(workflow_id)
        if spec is None:
            raise ValueError(f"unknown workflow {workflow_id} on instrument {self.instrument}")
        chosen = list(dict.fromkeys(sources))
        if not chosen:
            raise ValueError(f"choose at least one source for {spec.title}")
        unknown = [s for s in chosen if s not in spec.source_names]
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))}: not a source of {spec.title}; "
                f"choose from {list(spec.source_names)}"
            )
        checked = validate_params(spec, params)
        aux = spec.resolve_aux_sources(dict(aux_source_names or {}))
        message_id = str(uuid.uuid4())
        job_number = uuid.uuid4()
        commands = [
            WorkflowConfig(
                message_id=message_id,
                workflow_id=workflow_id,
                job_id=JobId(source_name=source, job_number=job_number),
                aux_source_names=aux,
                params=checked,
                run_policy=run_policy,
            )
            for source in chosen
        ]
        self._send(
            commands,
            devices=chosen,
            what=f"start {spec.title} ({workflow_id.name})",
            owner=spec.service,
            on_outcome=on_outcome,
        )
        return [c.job_id for c in commands]

    def job_action(
        self,
        action: JobAction,
        *,
        job_id: JobId | None = None,
        workflow_id: WorkflowId | None = None,
        on_outcome: Callable[[CommandOutcome], None] | None = None,
    ) -> None:
        """Act on one job (device ``source/job_number``), on all jobs of a workflow, or
        (neither given) on all jobs; broadcasts collect answers from every service."""
        command = JobCommand(
            message_id=str(uuid.uuid4()),
            action=JobAction(action),
            job_id=job_id,
            workflow_id=workflow_id,
        )
        verb = command.action.value
        if job_id is not None:
            status = self.status.job(job_id)
            spec = None if status is None else self.workflows.get(status.workflow_id)
            what, devices = f"{verb} job {job_id}", [command.device]
            owner = spec.service if spec is not None else "a service with this job"
        elif workflow_id is not None:
            spec = self.workflows.get(workflow_id)
            what, devices = f"{verb} all jobs of {workflow_id}", []
            owner = spec.service if spec is not None else f"a service owning {workflow_id}"
        else:
            what, devices, owner = f"{verb} all jobs", [], "any livedata service"
        self._send([command], devices=devices, what=what, owner=owner, on_outcome=on_outcome)

    def publish_rois(self, job_id: JobId, shape: RoiShape, rois: Mapping[int, Roi]) -> None:
        """Send the full ROI set of one shape for one job (empty clears). Raises
        ``ValueError`` for ROIs the wire refuses; of several updates of one job's ROI
        stream still queued only the newest is sent."""
        self._check_open()
        payload = encode_roi(RoiUpdate(job_id=job_id, shape=shape, rois=dict(rois)))
        stream = f"{job_id}/roi_{shape}"

        def delivered(error: str | None) -> None:
            if error is not None:
                self.notifications.add(Level.ERROR, f"ROIs of {stream} not sent: {error}")

        self._sender.send(self._roi_topic, payload, on_delivery=delivered, coalesce=stream)

    # -- internals ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BackendClosedError("the dashboard backend is closed")

    def _send(
        self,
        commands: Sequence[Command],
        *,
        devices: Sequence[str],
        what: str,
        owner: str,
        on_outcome: Callable[[CommandOutcome], None] | None,
    ) -> None:
        self._check_open()
        payloads = [encode_command(c) for c in commands]  # ValueError if a bound is broken
        message_id = commands[0].message_id
        # Tracked before sending: an answer can never arrive before it is looked for.
        self.commands.track(
            message_id=message_id,
            what=what,
            owner=owner,
            devices=devices,
            messages=len(payloads),
            on_outcome=on_outcome,
        )
        for command, payload in zip(commands, payloads, strict=True):
            device = (
                command.job_id.source_name
                if isinstance(command, WorkflowConfig)
                else command.device
            )

            def delivered(error: str | None, device: str = device) -> None:
                self.commands.sent(message_id, device, error)

            self._sender.send(self._commands_topic, payload, on_delivery=delivered)


def _conforms(backend: KafkaBackend) -> Backend:
    """Never called: mypy checks here that ``KafkaBackend`` keeps the UI's contract."""
    return backend
