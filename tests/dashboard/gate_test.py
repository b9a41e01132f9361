"""The per-session gate: viewers are refused on the server, and everything is audited."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from livedata.config.registry import load_instrument
from livedata.core.control import JobAction, Roi
from livedata.core.identity import WorkflowId
from livedata.dashboard.access import CommandRefusedError, Role, User
from livedata.dashboard.audit import AuditLog, read_audit_log
from livedata.dashboard.contract import CommandOutcome, InvalidParams
from livedata.dashboard.gate import CommandGate, GatedGridLibrary, outcome_result
from livedata.dashboard.policy.grid import Grid, Tab
from livedata.dashboard.policy.grid_files import GridLibrary
from livedata.testing.dashboard import FakeBackend

ALICE = User("alice", Role.OPERATOR, client="10.0.0.5", authenticated=True)
BOB = User("bob", Role.VIEWER, client="10.0.0.6", authenticated=True)
MONITOR = WorkflowId(instrument="dummy", name="monitor_histogram", version=1)
DETECTOR = WorkflowId(instrument="dummy", name="panel_0_xy", version=1)
OPERATORS_GRID = Grid(title="alice's", tabs=(Tab(title="main", rows=2, cols=2),))
SQUARE = Roi(shape="rectangle", x=(1.0, 5.0), y=(2.0, 6.0))


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(load_instrument("dummy"))


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl")


def test_a_viewers_start_is_refused_audited_and_not_sent(
    backend: FakeBackend, audit: AuditLog
) -> None:
    gate = CommandGate(backend, BOB, audit)
    with pytest.raises(CommandRefusedError, match="viewers cannot"):
        gate.start_workflow(MONITOR, ["monitor1"], {"bins": 20})
    assert backend.status.jobs(0) == [], "nothing started"
    (record,) = read_audit_log(audit.path)
    assert record["event"] == "command"
    assert record["result"] == "refused: viewer"
    assert (record["user"], record["role"], record["client"]) == ("bob", "viewer", "10.0.0.6")
    assert (record["kind"], record["action"], record["workflow"]) == (
        "workflow_config",
        "start",
        str(MONITOR),
    )
    assert record["params"] == {"bins": 20}
    assert record["sources"] == ["monitor1"]


def test_a_viewers_stop_and_rois_are_refused_and_audited(
    backend: FakeBackend, audit: AuditLog
) -> None:
    (job,) = CommandGate(backend, ALICE, audit).start_workflow(DETECTOR, ["panel_0"], {})
    gate = CommandGate(backend, BOB, audit)
    with pytest.raises(CommandRefusedError):
        gate.job_action(JobAction.STOP, job_id=job)
    with pytest.raises(CommandRefusedError):
        gate.publish_rois(job, "rectangle", {0: SQUARE})
    assert backend.actions == []
    assert backend.sent_rois == []
    refused = [r for r in read_audit_log(audit.path) if r.get("user") == "bob"]
    assert [(r["event"], r["kind"], r["result"]) for r in refused] == [
        ("command", "job_command", "refused: viewer"),
        ("roi", "roi_update", "refused: viewer"),
    ]
    assert refused[0]["job_id"] == str(job)
    assert refused[1]["rois"] == {"0": {"x": [1.0, 5.0], "y": [2.0, 6.0]}}


def test_an_operators_start_is_audited_before_sending_and_its_ack_after(
    backend: FakeBackend, audit: AuditLog
) -> None:
    outcomes: list[CommandOutcome] = []
    gate = CommandGate(backend, ALICE, audit)
    (job,) = gate.start_workflow(MONITOR, ["monitor1"], {"bins": 20}, on_outcome=outcomes.append)
    assert [o.ok for o in outcomes] == [True], "the caller still gets its outcome"
    request, result = read_audit_log(audit.path)
    assert (request["event"], request["result"], request["user"]) == (
        "command",
        "requested",
        "alice",
    )
    assert (result["event"], result["id"], result["result"]) == ("result", request["id"], "ACK")
    assert result["job_ids"] == [str(job)]
    assert result["acked"] == ["monitor1"]


def test_an_unanswered_command_is_audited_as_timeout(audit: AuditLog) -> None:
    backend = FakeBackend(load_instrument("dummy"), answering=False)
    CommandGate(backend, ALICE, audit).start_workflow(MONITOR, ["monitor1"], {})
    _, result = read_audit_log(audit.path)
    assert result["result"] == "timeout"
    assert result["unanswered"] == ["monitor1"]


def test_invalid_params_are_audited_as_invalid(backend: FakeBackend, audit: AuditLog) -> None:
    with pytest.raises(InvalidParams):
        CommandGate(backend, ALICE, audit).start_workflow(MONITOR, ["monitor1"], {"bins": 0})
    request, result = read_audit_log(audit.path)
    assert result["id"] == request["id"]
    assert result["result"].startswith("invalid: ")


def test_an_operators_rois_are_sent_and_audited(backend: FakeBackend, audit: AuditLog) -> None:
    gate = CommandGate(backend, ALICE, audit)
    (job,) = gate.start_workflow(DETECTOR, ["panel_0"], {})
    gate.publish_rois(job, "rectangle", {0: SQUARE})
    assert len(backend.sent_rois) == 1
    roi = read_audit_log(audit.path)[-1]
    assert (roi["event"], roi["result"], roi["job_id"], roi["shape"]) == (
        "roi",
        "sent",
        str(job),
        "rectangle",
    )


def test_nothing_is_sent_when_the_audit_log_cannot_be_written(
    backend: FakeBackend, audit: AuditLog
) -> None:
    audit.close()
    with pytest.raises(CommandRefusedError, match="audit log"):
        CommandGate(backend, ALICE, audit).start_workflow(MONITOR, ["monitor1"], {})
    assert backend.status.jobs(0) == []


def test_reads_pass_through(backend: FakeBackend) -> None:
    gate = CommandGate(backend, BOB, None)
    assert gate.results is backend.results
    assert gate.status is backend.status
    assert gate.notifications is backend.notifications
    assert gate.instrument == "dummy"


@pytest.mark.parametrize(
    ("outcome", "result"),
    [
        (CommandOutcome(acked=["a"], refused={}, unanswered=[]), "ACK"),
        (CommandOutcome(acked=["a"], refused={"b": "no"}, unanswered=[]), "ERR"),
        (CommandOutcome(acked=[], refused={}, unanswered=["a"]), "timeout"),
    ],
)
def test_outcomes_are_summarised(outcome: CommandOutcome, result: str) -> None:
    assert outcome_result(outcome) == result


def test_a_user_demoted_while_their_page_is_open_is_refused_at_once(
    backend: FakeBackend, audit: AuditLog
) -> None:
    now: list[User | None] = [ALICE]
    gate = CommandGate(backend, ALICE, audit, current=lambda: now[0])
    gate.start_workflow(MONITOR, ["monitor1"], {})
    now[0] = User("alice", Role.VIEWER, client="10.0.0.5", authenticated=True)
    with pytest.raises(CommandRefusedError, match="viewer"):
        gate.start_workflow(MONITOR, ["monitor2"], {})
    now[0] = None
    with pytest.raises(CommandRefusedError, match="no longer a user"):
        gate.publish_rois(backend.status.jobs(0)[0].status.job_id, "rectangle", {0: SQUARE})
    results = [r["result"] for r in read_audit_log(audit.path) if r["event"] != "result"]
    assert results == ["requested", "refused: viewer", "refused: not a user"]
    assert backend.sent_rois == []
    assert len(backend.status.jobs(0)) == 1


def test_a_viewers_grid_save_and_delete_are_refused_audited_and_not_done(
    backend: FakeBackend, audit: AuditLog, tmp_path: Path
) -> None:
    shared = GridLibrary(tmp_path / "grids")
    shared.save("dummy", "beamtime", OPERATORS_GRID)
    grids = GatedGridLibrary(shared, CommandGate(backend, BOB, audit))
    with pytest.raises(CommandRefusedError, match="viewers cannot save grids"):
        grids.save(
            "dummy", "beamtime", Grid(title="chosen by bob", tabs=(Tab(title="x", rows=1, cols=1),))
        )
    with pytest.raises(CommandRefusedError, match="viewers cannot delete grids"):
        grids.delete("dummy", "beamtime")
    assert shared.load("dummy", "beamtime") == OPERATORS_GRID, "the operator's grid is intact"
    assert grids.names("dummy") == ["beamtime"], "reading is for everyone"
    records = read_audit_log(audit.path)
    assert [(r["event"], r["action"], r["grid"], r["result"]) for r in records] == [
        ("grid", "save", "beamtime", "refused: viewer"),
        ("grid", "delete", "beamtime", "refused: viewer"),
    ]
    assert {(r["user"], r["role"], r["client"]) for r in records} == {("bob", "viewer", "10.0.0.6")}


def test_an_operators_grid_save_and_delete_are_audited(
    backend: FakeBackend, audit: AuditLog, tmp_path: Path
) -> None:
    shared = GridLibrary(tmp_path / "grids")
    grids = GatedGridLibrary(shared, CommandGate(backend, ALICE, audit))
    grids.save("dummy", "beamtime", OPERATORS_GRID)
    assert shared.names("dummy") == ["beamtime"]
    assert grids.delete("dummy", "beamtime")
    assert not grids.delete("dummy", "beamtime")
    records = read_audit_log(audit.path)
    assert [(r["event"], r.get("action"), r["result"]) for r in records] == [
        ("grid", "save", "requested"),
        ("result", None, "saved"),
        ("grid", "delete", "requested"),
        ("result", None, "deleted"),
        ("grid", "delete", "requested"),
        ("result", None, "not found"),
    ]
    assert records[0]["user"] == "alice"
    assert records[1]["id"] == records[0]["id"]


def test_an_operator_demoted_while_the_page_is_open_can_no_longer_write_grids(
    backend: FakeBackend, audit: AuditLog, tmp_path: Path
) -> None:
    shared = GridLibrary(tmp_path / "grids")
    gate = CommandGate(backend, ALICE, audit, current=lambda: replace(ALICE, role=Role.VIEWER))
    with pytest.raises(CommandRefusedError):
        GatedGridLibrary(shared, gate).save("dummy", "beamtime", OPERATORS_GRID)
    assert shared.names("dummy") == []
