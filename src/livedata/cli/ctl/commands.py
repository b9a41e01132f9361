"""``ctl start`` and ``ctl stop|reset|pause|resume``: build commands, send, report answers.

Building and reporting are pure; ``send_start`` and ``send_job_command`` are the only
parts that talk to Kafka. A report is an ``Outcome``: lines for people, one JSON
document for scripts, error lines for stderr, and whether it all went well.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from livedata.cli.ctl.answers import ResponseCollector
from livedata.cli.ctl.errors import EXIT_FAILED, EXIT_OK, UsageError
from livedata.core.control import (
    Command,
    CommandResponse,
    JobAction,
    JobCommand,
    RunPolicy,
    Schedule,
    WorkflowConfig,
)
from livedata.core.identity import JobId, WorkflowId
from livedata.core.workflow import WorkflowSpec
from livedata.kafka.command_client import Answers, CommandClient
from livedata.kafka.settings import KafkaSettings
from livedata.protocol.commands import encode_command


@dataclass(frozen=True, slots=True)
class Outcome:
    lines: list[str]
    document: dict[str, Any]
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.document["ok"])

    def emit(self, *, as_json: bool) -> int:
        if as_json:
            print(json.dumps(self.document), flush=True)
        else:
            for line in self.lines:
                print(line, flush=True)
        for line in self.errors:
            print(f"error: {line}", file=sys.stderr, flush=True)
        return EXIT_OK if self.ok else EXIT_FAILED


def _verdict(response: CommandResponse | None) -> tuple[str | None, str | None]:
    if response is None:
        return None, None
    return ("ACK", None) if response.ok else ("ERR", response.error)


def check_wire(commands: Sequence[Command]) -> None:
    """Encode each command as the client will, so a bound the wire enforces fails here."""
    for command in commands:
        try:
            encode_command(command)
        except ValueError as err:
            raise UsageError(f"cannot send this command: {err}") from None


# -- start ---------------------------------------------------------------------------


def build_start(
    spec: WorkflowSpec,
    sources: Sequence[str],
    *,
    params: Mapping[str, Any],
    aux: Mapping[str, str],
    schedule: Schedule,
    run_policy: RunPolicy,
) -> list[WorkflowConfig]:
    """One ``workflow_config`` per source, sharing one job number and message id."""
    message_id = str(uuid.uuid4())
    job_number = uuid.uuid4()
    return [
        WorkflowConfig(
            message_id=message_id,
            workflow_id=spec.workflow_id,
            job_id=JobId(source_name=source, job_number=job_number),
            schedule=schedule,
            aux_source_names=dict(aux),
            params=dict(params),
            run_policy=run_policy,
        )
        for source in sources
    ]


def start_outcome(
    spec: WorkflowSpec, commands: Sequence[WorkflowConfig], answers: Answers, *, timeout_s: float
) -> Outcome:
    by_source = {r.device: r for r in answers.responses}
    first = commands[0]
    lines = [
        f"start {spec.workflow_id} for {len(commands)} source(s), "
        f"job number {first.job_id.job_number}"
    ]
    jobs = []
    refused: list[str] = []
    for command in commands:
        source = command.job_id.source_name
        response, message = _verdict(by_source.get(source))
        if response == "ERR":
            refused.append(source)
        jobs.append(
            {
                "source_name": source,
                "job_id": str(command.job_id),
                "response": response,
                "message": message,
            }
        )
        shown = {"ACK": f"ACK  job {command.job_id}", "ERR": f"ERR  {message}"}
        lines.append(f"  {source}: {shown.get(response or '', 'no answer')}")
    errors = []
    if answers.missing:
        errors.append(
            f"no answer for {', '.join(answers.missing)} within {timeout_s:g} s: no "
            f"{spec.service} service owning {spec.workflow_id} seems to be running "
            f"(check: livedata ctl status --instrument {spec.workflow_id.instrument})"
        )
    if refused:
        errors.append(f"{spec.workflow_id} refused for {', '.join(refused)}")
    document = {
        "ok": answers.ok,
        "workflow_id": str(spec.workflow_id),
        "message_id": first.message_id,
        "job_number": str(first.job_id.job_number),
        "jobs": jobs,
    }
    return Outcome(lines=lines, document=document, errors=errors)


def send_start(
    settings: KafkaSettings, commands: Sequence[WorkflowConfig], *, timeout_s: float
) -> Answers:
    instrument = commands[0].workflow_id.instrument
    with CommandClient(settings=settings, instrument=instrument) as client:
        client.send(commands)
        return client.wait_for(
            commands[0].message_id,
            [c.job_id.source_name for c in commands],
            timeout_s=timeout_s,
        )


# -- stop / reset / pause / resume -----------------------------------------------------


def parse_job(text: str) -> JobId:
    """``SOURCE/JOB_NUMBER`` as ``ctl status`` and ``ctl start`` print it."""
    source, sep, number = text.strip().rpartition("/")
    try:
        if not sep or not source:
            raise ValueError
        return JobId(source_name=source, job_number=uuid.UUID(number))
    except ValueError:
        raise UsageError(
            f"--job {text!r}: expected SOURCE/JOB_NUMBER, e.g. panel_0/{uuid.UUID(int=0)}"
        ) from None


def build_job_commands(
    action: JobAction,
    *,
    jobs: Sequence[JobId] = (),
    workflow_id: WorkflowId | None = None,
) -> list[JobCommand]:
    """One command per job (sharing a message id), or one broadcast command."""
    message_id = str(uuid.uuid4())
    if jobs:
        unique = list(dict.fromkeys(jobs))
        return [JobCommand(message_id=message_id, action=action, job_id=j) for j in unique]
    return [JobCommand(message_id=message_id, action=action, workflow_id=workflow_id)]


def job_outcome(
    commands: Sequence[JobCommand], answers: Answers, *, timeout_s: float, instrument: str
) -> Outcome:
    """Report on commands to named jobs: one answer per job expected."""
    by_device = {r.device: r for r in answers.responses}
    action = commands[0].action.value
    lines, rows, refused = [], [], []
    for command in commands:
        response, message = _verdict(by_device.get(command.device))
        if response == "ERR":
            refused.append(command.device)
        rows.append({"device": command.device, "response": response, "message": message})
        text = {"ACK": "ACK", "ERR": f"ERR  {message}"}.get(response or "", "no answer")
        lines.append(f"{action} {command.device}: {text}")
    errors = []
    if answers.missing:
        errors.append(
            f"no answer for {', '.join(answers.missing)} within {timeout_s:g} s: no running "
            "service has such a job (it may have ended, or its service is down; "
            f"check: livedata ctl status --instrument {instrument})"
        )
    if refused:
        errors.append(f"{action} refused for {', '.join(refused)}")
    document = {
        "ok": answers.ok,
        "action": action,
        "message_id": commands[0].message_id,
        "answers": rows,
        "missing": list(answers.missing),
    }
    return Outcome(lines=lines, document=document, errors=errors)


def broadcast_outcome(
    command: JobCommand,
    responses: Sequence[CommandResponse],
    *,
    timeout_s: float,
    instrument: str,
    service: str | None = None,
) -> Outcome:
    """Report on a command to all jobs of a workflow (or all jobs): count the answers."""
    action = command.action.value
    target = f"all jobs of {command.workflow_id}" if command.workflow_id else "all jobs"
    acks = sum(1 for r in responses if r.ok)
    refusals = [r.error for r in responses if not r.ok]
    lines = [f"{action} {target}: {len(responses)} service(s) answered, {acks} ACK"]
    lines += [f"  ERR  {error}" for error in refusals]
    errors = []
    if not responses:
        owner = f"{service} service owning {command.workflow_id}" if service else "service"
        errors.append(
            f"no answer within {timeout_s:g} s: no {owner} of instrument {instrument} seems "
            f"to be running (check: livedata ctl status --instrument {instrument})"
        )
    elif refusals:
        errors.append(f"{action} refused by {len(refusals)} service(s)")
    document = {
        "ok": bool(responses) and not refusals,
        "action": action,
        "message_id": command.message_id,
        "workflow_id": None if command.workflow_id is None else str(command.workflow_id),
        "answers": [
            {"device": r.device, "response": _verdict(r)[0], "message": r.error} for r in responses
        ],
        "missing": [],
    }
    return Outcome(lines=lines, document=document, errors=errors)


def send_job_commands(
    settings: KafkaSettings, instrument: str, commands: Sequence[JobCommand], *, timeout_s: float
) -> Answers | list[CommandResponse]:
    """Send; then wait for each job's answer, or collect every answer to a broadcast."""
    if commands[0].job_id is not None:
        with CommandClient(settings=settings, instrument=instrument) as client:
            client.send(commands)
            return client.wait_for(
                commands[0].message_id, [c.device for c in commands], timeout_s=timeout_s
            )
    with (
        ResponseCollector(settings, instrument) as collector,
        CommandClient(settings=settings, instrument=instrument) as client,
    ):
        client.send(commands)
        return collector.collect(commands[0].message_id, timeout_s=timeout_s)
