"""The Status tab's jobs table shows the events each job's workflow left out, by reason
(from the service heartbeat's ``stream_stats["jobs"]``)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

from livedata.core.identity import JobId, WorkflowId
from livedata.core.status import JobState, JobStatus
from livedata.dashboard.contract import JobRow, Liveness, ServiceRow
from livedata.dashboard.ui.left_out import events_left_out_by_job, left_out_html
from livedata.dashboard.ui.status_tab import StatusTab, jobs_html
from livedata.testing.dashboard import FakeStatus, service_row_via_store
from livedata.testing.messages import T0

PANEL = JobId(source_name="panel_0", job_number=uuid.UUID(int=1))
MONITOR = JobId(source_name="monitor1", job_number=uuid.UUID(int=2))
CLEAN = JobId(source_name="panel_1", job_number=uuid.UUID(int=3))

JOBS_STATS = {
    str(PANEL): {"events_left_out": {"pixel_out_of_range": 6, "outside_toa_window": 12_000}},
    str(MONITOR): {"events_left_out": {"time_out_of_range": 3}},
}


def service_row(stream_stats: dict[str, Any], *, worker: str = "w1", seen: int = T0) -> ServiceRow:
    return service_row_via_store(stream_stats, worker_id=worker, seen_ns=seen)


def job_row(job_id: JobId) -> JobRow:
    status = JobStatus(
        job_id=job_id,
        workflow_id=WorkflowId(instrument="dummy", name="view", version=1),
        state=JobState.ACTIVE,
    )
    return JobRow(status=status, last_seen_ns=T0, liveness=Liveness.LIVE)


def test_counts_are_read_per_job_from_the_service_heartbeats() -> None:
    left_out = events_left_out_by_job([service_row({"jobs": JOBS_STATS})])
    assert left_out == {
        str(PANEL): {"pixel_out_of_range": 6, "outside_toa_window": 12_000},
        str(MONITOR): {"time_out_of_range": 3},
    }


def test_the_jobs_table_shows_the_total_with_the_reasons_as_tooltip() -> None:
    left_out = events_left_out_by_job([service_row({"jobs": JOBS_STATS})])
    html = jobs_html([job_row(PANEL), job_row(MONITOR), job_row(CLEAN)], T0, left_out)
    assert ">left out</th>" in html
    assert "title='Events the job" in html  # the header explains the column
    panel = left_out_html(PANEL, left_out)
    assert panel == (
        "<span class='ld-left-out' title='outside_toa_window: 12000, pixel_out_of_range: 6'>"
        "12.0 k</span>"
    )
    assert panel in html
    assert left_out_html(MONITOR, left_out) in html
    assert left_out_html(CLEAN, left_out) == "—"  # nothing reported for it


def test_the_freshest_service_heartbeat_wins() -> None:
    old = service_row({"jobs": JOBS_STATS}, worker="old", seen=T0)
    new = service_row(
        {"jobs": {str(PANEL): {"events_left_out": {"pixel_out_of_range": 1}}}},
        worker="new",
        seen=T0 + 10,
    )
    left_out = events_left_out_by_job([new, old])
    assert left_out[str(PANEL)] == {"pixel_out_of_range": 1}
    assert left_out[str(MONITOR)] == {"time_out_of_range": 3}


def test_odd_shapes_of_untrusted_stats_are_skipped() -> None:
    def row(stats: dict[str, Any]) -> ServiceRow:
        return ServiceRow(
            service_id="dummy:detector_data:w1",
            status=SimpleNamespace(stream_stats=stats),  # type: ignore[arg-type]
            software_version="1",
            host_name="h",
            last_seen_ns=T0,
            liveness=Liveness.LIVE,
        )

    assert events_left_out_by_job([row({})]) == {}
    assert events_left_out_by_job([row({"jobs": [1, 2]})]) == {}
    odd = {
        "a": 5,
        "b": {"events_left_out": [1]},
        "c": {"events_left_out": {"x": "7", "y": -1, "z": True, "w": 2}},
    }
    assert events_left_out_by_job([row({"jobs": odd})]) == {"c": {"w": 2}}


def test_reason_names_from_the_wire_are_escaped() -> None:
    cell = left_out_html(PANEL, {str(PANEL): {"<b>evil</b>": 2}})
    assert "<b>" not in cell
    assert "&lt;b&gt;evil&lt;/b&gt;: 2" in cell


def test_the_status_tab_puts_the_counts_in_its_jobs_table() -> None:
    status = FakeStatus()
    status.set_service(service_row({"jobs": JOBS_STATS}))
    status.set_job(job_row(PANEL))
    notifications = SimpleNamespace(version=0, entries=list)
    ctx = SimpleNamespace(backend=SimpleNamespace(status=status, notifications=notifications))
    tab = StatusTab(ctx)  # type: ignore[arg-type]
    tab.refresh(T0)
    assert "pixel_out_of_range: 6" in tab.jobs.html
