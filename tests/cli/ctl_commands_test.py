import json
import uuid

import pytest

from livedata.cli.ctl.commands import (
    broadcast_outcome,
    build_job_commands,
    build_start,
    check_wire,
    job_outcome,
    parse_job,
    start_outcome,
)
from livedata.cli.ctl.errors import EXIT_FAILED, EXIT_OK, UsageError
from livedata.config.registry import load_instrument
from livedata.core.control import CommandResponse, JobAction, RunPolicy, Schedule
from livedata.core.identity import JobId, WorkflowId
from livedata.kafka.command_client import Answers
from livedata.protocol.commands import decode_command, encode_command

NUMBER = uuid.UUID("0d954c09-5103-465d-b370-0b12ad6700df")


@pytest.fixture(scope="module")
def monitor_spec():
    dummy = load_instrument("dummy")
    return next(
        s for s in dummy.build_workflows(dummy).specs() if s.workflow_id.name == "monitor_histogram"
    )


def start(spec, sources=("monitor1", "monitor2"), **kw):
    options = {
        "params": {"bins": 5},
        "aux": {},
        "schedule": Schedule(),
        "run_policy": RunPolicy.KEEP,
        **kw,
    }
    return build_start(spec, sources, **options)


def test_one_command_per_source_sharing_job_number_and_message_id(monitor_spec) -> None:
    commands = start(
        monitor_spec,
        params={"toa_range": {"start_ns": 0, "stop_ns": 10}},
        schedule=Schedule(start_time=5, end_time=10),
        run_policy=RunPolicy.PUBLISH_AND_RESET,
    )
    assert [c.job_id.source_name for c in commands] == ["monitor1", "monitor2"]
    assert len({c.message_id for c in commands}) == 1
    assert len({c.job_id.job_number for c in commands}) == 1
    uuid.UUID(commands[0].message_id)
    # What goes on the wire is what we built.
    decoded = decode_command(encode_command(commands[1]))
    assert decoded == commands[1]
    assert decoded.params == {"toa_range": {"start_ns": 0, "stop_ns": 10}}
    assert decoded.run_policy is RunPolicy.PUBLISH_AND_RESET
    assert start(monitor_spec)[0].message_id != commands[0].message_id


def test_check_wire_refuses_what_a_service_would(monitor_spec) -> None:
    check_wire(start(monitor_spec))
    with pytest.raises(UsageError, match="cannot send this command"):
        check_wire(start(monitor_spec, params={"label": "x" * 5000}))


def test_start_report_when_all_ack(monitor_spec) -> None:
    commands = start(monitor_spec)
    mid = commands[0].message_id
    answers = Answers(
        responses=[CommandResponse(message_id=mid, device=d) for d in ("monitor2", "monitor1")],
        missing=[],
    )
    outcome = start_outcome(monitor_spec, commands, answers, timeout_s=10)
    number = commands[0].job_id.job_number
    assert outcome.lines == [
        f"start dummy/monitor_histogram/1 for 2 source(s), job number {number}",
        f"  monitor1: ACK  job monitor1/{number}",
        f"  monitor2: ACK  job monitor2/{number}",
    ]
    assert outcome.errors == []
    assert outcome.document == {
        "ok": True,
        "workflow_id": "dummy/monitor_histogram/1",
        "message_id": mid,
        "job_number": str(number),
        "jobs": [
            {
                "source_name": s,
                "job_id": f"{s}/{number}",
                "response": "ACK",
                "message": None,
            }
            for s in ("monitor1", "monitor2")
        ],
    }


def test_start_report_names_refusals_and_silent_sources(monitor_spec, capsys) -> None:
    commands = start(monitor_spec)
    mid = commands[0].message_id
    answers = Answers(
        responses=[CommandResponse(message_id=mid, device="monitor1", error="no way")],
        missing=["monitor2"],
    )
    outcome = start_outcome(monitor_spec, commands, answers, timeout_s=2.5)
    assert outcome.lines[1:] == ["  monitor1: ERR  no way", "  monitor2: no answer"]
    assert outcome.errors == [
        "no answer for monitor2 within 2.5 s: no monitor_data service owning "
        "dummy/monitor_histogram/1 seems to be running "
        "(check: livedata ctl status --instrument dummy)",
        "dummy/monitor_histogram/1 refused for monitor1",
    ]
    assert not outcome.ok
    assert [j["response"] for j in outcome.document["jobs"]] == ["ERR", None]
    assert outcome.document["jobs"][0]["message"] == "no way"
    assert outcome.emit(as_json=True) == EXIT_FAILED
    out, err = capsys.readouterr()
    assert json.loads(out) == outcome.document
    assert err.splitlines()[0].startswith("error: no answer for monitor2")


def test_parse_job() -> None:
    assert parse_job(f"monitor1/{NUMBER}") == JobId(source_name="monitor1", job_number=NUMBER)
    for bad in ("monitor1", f"/{NUMBER}", "monitor1/123", f"{NUMBER}"):
        with pytest.raises(UsageError, match="expected SOURCE/JOB_NUMBER"):
            parse_job(bad)


def test_job_commands_share_a_message_id_and_broadcasts_have_one_command() -> None:
    a, b = JobId(source_name="m1", job_number=NUMBER), JobId(source_name="m2", job_number=NUMBER)
    commands = build_job_commands(JobAction.STOP, jobs=[a, b, a])
    assert [c.job_id for c in commands] == [a, b]
    assert commands[0].message_id == commands[1].message_id
    wid = WorkflowId(instrument="dummy", name="w", version=1)
    (one,) = build_job_commands(JobAction.RESET, workflow_id=wid)
    assert (one.workflow_id, one.job_id, one.device) == (wid, None, "all")
    (everything,) = build_job_commands(JobAction.PAUSE)
    assert (everything.workflow_id, everything.job_id, everything.device) == (None, None, "all")


def test_job_report() -> None:
    a, b = JobId(source_name="m1", job_number=NUMBER), JobId(source_name="m2", job_number=NUMBER)
    commands = build_job_commands(JobAction.STOP, jobs=[a, b])
    mid = commands[0].message_id
    answers = Answers(responses=[CommandResponse(message_id=mid, device=str(a))], missing=[str(b)])
    outcome = job_outcome(commands, answers, timeout_s=10, instrument="dummy")
    assert outcome.lines == [f"stop m1/{NUMBER}: ACK", f"stop m2/{NUMBER}: no answer"]
    assert outcome.errors[0].startswith(f"no answer for m2/{NUMBER} within 10 s")
    assert outcome.document == {
        "ok": False,
        "action": "stop",
        "message_id": mid,
        "answers": [
            {"device": str(a), "response": "ACK", "message": None},
            {"device": str(b), "response": None, "message": None},
        ],
        "missing": [str(b)],
    }


def test_broadcast_report_counts_answers_and_fails_without_any(capsys) -> None:
    wid = WorkflowId(instrument="dummy", name="w", version=1)
    (command,) = build_job_commands(JobAction.RESET, workflow_id=wid)
    mid = command.message_id
    two = [CommandResponse(message_id=mid, device="all")] * 2
    outcome = broadcast_outcome(command, two, timeout_s=10, instrument="dummy", service="s")
    assert outcome.lines == ["reset all jobs of dummy/w/1: 2 service(s) answered, 2 ACK"]
    assert outcome.ok
    assert outcome.emit(as_json=False) == EXIT_OK
    assert capsys.readouterr().err == ""

    none = broadcast_outcome(command, [], timeout_s=3, instrument="dummy", service="s")
    assert not none.ok
    assert none.errors == [
        "no answer within 3 s: no s service owning dummy/w/1 of instrument dummy seems to be "
        "running (check: livedata ctl status --instrument dummy)"
    ]
    assert none.emit(as_json=False) == EXIT_FAILED

    (everything,) = build_job_commands(JobAction.STOP)
    mixed = [
        CommandResponse(message_id=everything.message_id, device="all"),
        CommandResponse(message_id=everything.message_id, device="all", error="stuck"),
    ]
    outcome = broadcast_outcome(everything, mixed, timeout_s=10, instrument="dummy")
    assert outcome.lines == ["stop all jobs: 2 service(s) answered, 1 ACK", "  ERR  stuck"]
    assert outcome.errors == ["stop refused by 1 service(s)"]
    assert outcome.document["answers"][1] == {
        "device": "all",
        "response": "ERR",
        "message": "stuck",
    }
    assert outcome.document["workflow_id"] is None
    assert not outcome.ok
