import json
import uuid

import pytest

from livedata.cli.ctl.board import (
    JOB_STALE_S,
    SERVICE_STALE_S,
    StatusBoard,
    render_status,
    status_document,
)
from livedata.core.identity import JobId, WorkflowId
from livedata.core.status import JobState, JobStatus, ServiceState, ServiceStatus, count_total
from livedata.protocol.heartbeats import (
    JOB_STATUS_CODES,
    SERVICE_STATUS_CODES,
    JobHeartbeat,
    ServiceHeartbeat,
)

S = 1_000_000_000
T0 = 1_800_000_000 * S
NUMBER = uuid.UUID("0d954c09-5103-465d-b370-0b12ad6700df")


def service(
    name: str = "monitor_data",
    worker: str = "vm-1",
    state: ServiceState = ServiceState.RUNNING,
    **stats: object,
) -> ServiceHeartbeat:
    return ServiceHeartbeat(
        software_name="livedata",
        software_version="0.1.0",
        service_id=f"dummy:{name}:{worker}",
        host_name="vm",
        process_id=42,
        update_interval_ms=2000,
        code=SERVICE_STATUS_CODES[state],
        status=ServiceStatus(
            instrument="dummy",
            service_name=name,
            worker_id=worker,
            state=state,
            started_at=T0 - 3725 * S,
            active_job_count=1,
            batch_interval_s=1.0,
            stream_stats=stats
            or {
                "messages": {"monitor1": 9000, "monitor2": 3456},
                "control": {"RunStart": 1},
                "ingress": {
                    "consumed": 12500,
                    "dropped_messages": 7,
                    "rejected": {"monitor3": {"not_wanted": 500}, "monitor1": {"truncated": 2}},
                },
            },
        ),
    )


def job(
    source: str = "monitor1",
    state: JobState = JobState.ACTIVE,
    warning: str | None = None,
    error: str | None = None,
) -> JobHeartbeat:
    job_id = JobId(source_name=source, job_number=NUMBER)
    return JobHeartbeat(
        software_name="livedata",
        software_version="0.1.0",
        service_id=f"{source}:{NUMBER}",
        host_name="vm",
        process_id=42,
        update_interval_ms=2000,
        code=JOB_STATUS_CODES[state],
        status=JobStatus(
            job_id=job_id,
            workflow_id=WorkflowId(instrument="dummy", name="monitor_histogram", version=1),
            state=state,
            warning=warning,
            error=error,
        ),
    )


def test_rows_summarise_the_newest_heartbeat() -> None:
    board = StatusBoard()
    board.observe(service(), T0)
    board.observe(job(), T0)
    snap = board.snapshot(T0 + 2 * S)
    (row,) = snap.services
    assert (row.service, row.worker, row.host, row.state, row.code) == (
        "monitor_data",
        "vm-1",
        "vm",
        "running",
        200,
    )
    assert row.age_s == 2.0
    assert row.uptime_s == 3725.0  # as of the heartbeat
    assert (row.messages, row.dropped, row.rejected) == (12456, 7, 2)  # not_wanted is routine
    assert not row.stale
    (job_row,) = snap.jobs
    assert job_row.job == f"monitor1/{NUMBER}"
    assert (job_row.state, job_row.code, job_row.stale) == ("active", 200, False)


def test_an_older_heartbeat_does_not_replace_a_newer_one() -> None:
    board = StatusBoard()
    board.observe(job(state=JobState.STOPPED), T0 + S)
    board.observe(job(state=JobState.ACTIVE), T0)
    assert board.snapshot(T0 + S).jobs[0].state == "stopped"


def test_silence_makes_services_stale_after_30_s_and_jobs_after_60_s() -> None:
    board = StatusBoard()
    board.observe(service(), T0)
    board.observe(job(), T0)
    just = board.snapshot(T0 + int(SERVICE_STALE_S * S))
    assert not just.services[0].stale
    later = board.snapshot(T0 + int(SERVICE_STALE_S * S) + 1)
    assert later.services[0].stale
    assert not later.jobs[0].stale
    assert board.snapshot(T0 + int(JOB_STALE_S * S) + 1).jobs[0].stale


def test_stopped_entries_are_never_stale() -> None:
    board = StatusBoard()
    board.observe(service(state=ServiceState.STOPPED), T0)
    board.observe(job(state=JobState.STOPPED), T0)
    snap = board.snapshot(T0 + 120 * S)
    assert not snap.services[0].stale
    assert not snap.jobs[0].stale
    assert snap.jobs[0].code == 235


def test_forget_older_than_drops_silent_rows() -> None:
    board = StatusBoard()
    board.observe(service(worker="old"), T0)
    board.observe(service(worker="new"), T0 + 10 * S)
    board.forget_older_than(T0 + S)
    assert [r.worker for r in board.snapshot(T0 + 10 * S).services] == ["new"]


def test_rows_are_sorted() -> None:
    board = StatusBoard()
    for name, worker in [("timeseries", "b"), ("detector_data", "z"), ("detector_data", "a")]:
        board.observe(service(name, worker), T0)
    rows = board.snapshot(T0).services
    assert [(r.service, r.worker) for r in rows] == [
        ("detector_data", "a"),
        ("detector_data", "z"),
        ("timeseries", "b"),
    ]


@pytest.mark.parametrize(
    ("value", "total"),
    [
        (None, 0),
        (5, 5),
        (True, 0),
        ("7", 0),
        ({"a": 1, "b": {"c": 2, "d": [3]}}, 3),
        ({"a": {"b": 100, "c": -1}}, 99),
    ],
)
def test_count_total_tolerates_any_shape(value, total) -> None:
    # Routine rejections are left out by ``core.rejections.rejected_total``.
    assert count_total(value) == total


def test_status_table_shows_stale_entries_and_messages() -> None:
    board = StatusBoard()
    board.observe(service("monitor_data", "vm-1"), T0)
    board.observe(service("timeseries", "vm-2", messages={"motion1": 123456}), T0 + 40 * S)
    board.observe(job("monitor1", JobState.WARNING, warning="late data\nfrom monitor1"), T0)
    board.observe(job("monitor2", JobState.ERROR, error="boom " * 30), T0 + 40 * S)
    text = render_status("dummy", board.snapshot(T0 + 45 * S))
    lines = text.splitlines()
    assert lines[0] == "services (2)"
    assert lines[1].split() == [
        "SERVICE",
        "WORKER",
        "HOST",
        "STATE",
        "SEEN",
        "UPTIME",
        "JOBS",
        "BATCH",
        "MSGS",
        "DROPPED",
        "REJECTED",
        "ERROR",
    ]
    assert lines[2].split() == [
        "monitor_data", "vm-1", "vm", "STALE", "45s", "ago", "1h02m", "1", "1s",
        "12.5k", "7", "2", "-",
    ]  # fmt: skip
    assert lines[3].split()[:4] == ["timeseries", "vm-2", "vm", "running"]
    assert "123k" in lines[3].split()
    assert "jobs (2)" in lines
    job_lines = [line for line in lines if str(NUMBER) in line]
    assert job_lines[0].split()[:5] == [
        f"monitor1/{NUMBER}", "dummy/monitor_histogram/1", "warning", "210", "45s",
    ]  # fmt: skip
    assert job_lines[0].endswith("late data from monitor1")  # one line, even if it had two
    assert job_lines[1].split()[2:4] == ["error", "240"]
    assert job_lines[1].endswith("...")  # long errors are cut in the table


def test_stale_job_shows_as_stale() -> None:
    board = StatusBoard()
    board.observe(job(), T0)
    text = render_status("dummy", board.snapshot(T0 + 61 * S))
    assert f"monitor1/{NUMBER}  dummy/monitor_histogram/1  STALE  200" in text
    assert "services (0)" in text


def test_empty_board_says_nothing_is_running() -> None:
    text = render_status("loki", StatusBoard().snapshot(T0))
    assert text == "no heartbeats on instrument loki: no livedata service seems to be running"


def test_status_document_is_one_json_object_with_every_field() -> None:
    board = StatusBoard()
    board.observe(service(), T0)
    board.observe(job(error="bad"), T0 - 100 * S)
    doc = json.loads(json.dumps(status_document("dummy", board.snapshot(T0), T0)))
    assert doc["instrument"] == "dummy"
    assert doc["time"] == T0
    assert doc["services"] == [
        {
            "service_id": "dummy:monitor_data:vm-1",
            "service": "monitor_data",
            "worker": "vm-1",
            "host": "vm",
            "pid": 42,
            "version": "0.1.0",
            "state": "running",
            "code": 200,
            "stale": False,
            "age_s": 0.0,
            "uptime_s": 3725.0,
            "active_jobs": 1,
            "batch_interval_s": 1.0,
            "messages": 12456,
            "dropped": 7,
            "rejected": 2,
            "rejected_by_reason": {"truncated": 2},
            "error": None,
        }
    ]
    assert doc["jobs"] == [
        {
            "job": f"monitor1/{NUMBER}",
            "source_name": "monitor1",
            "job_number": str(NUMBER),
            "workflow_id": "dummy/monitor_histogram/1",
            "state": "active",
            "code": 200,
            "stale": True,
            "age_s": 100.0,
            "warning": None,
            "error": "bad",
            "start_time": None,
            "end_time": None,
        }
    ]


def rejecting(worker: str = "vm-1", **rejected: dict[str, object]) -> ServiceHeartbeat:
    return service("detector_data", worker, ingress={"consumed": 100, "rejected": rejected})


def test_rejections_are_counted_by_reason_most_frequent_first_without_routine_ones() -> None:
    board = StatusBoard()
    board.observe(
        rejecting(
            monitor1={"truncated": 3, "not_wanted": 900, "unknown_schema": 40},
            monitor2={"truncated": 50, "bad_pixel_ids": 3},
            monitor3={"odd": "7", "flag": True},  # untrusted JSON: skipped
        ),
        T0,
    )
    (row,) = board.snapshot(T0).services
    assert row.rejected == 96
    assert list(row.rejected_by_reason.items()) == [
        ("truncated", 53),
        ("unknown_schema", 40),
        ("bad_pixel_ids", 3),  # ties would go by name
    ]


def test_the_status_table_lists_each_services_rejections_by_reason() -> None:
    board = StatusBoard()
    board.observe(service("monitor_data", "vm-1"), T0)  # truncated 2, not_wanted 500
    board.observe(rejecting(panel_0={"unknown_source": 12000, "truncated": 4}), T0)
    board.observe(service("timeseries", "vm-2", messages={"motion1": 5}), T0)  # none
    text = render_status("dummy", board.snapshot(T0))
    section = text.split("\nrejected messages by reason (not_wanted left out)\n")[1]
    lines = section.split("\n\n")[0].splitlines()
    assert lines[0].split() == ["SERVICE", "WORKER", "REASONS"]
    assert lines[1:] == [
        "  detector_data  vm-1    unknown_source 12k, truncated 4",
        "  monitor_data   vm-1    truncated 2",
    ]


def test_no_reasons_section_without_rejections() -> None:
    board = StatusBoard()
    board.observe(rejecting(monitor1={"not_wanted": 10}), T0)
    text = render_status("dummy", board.snapshot(T0))
    assert "rejected messages" not in text
