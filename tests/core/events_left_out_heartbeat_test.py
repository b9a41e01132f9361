"""The service heartbeat carries, per job, the events its workflow left out of histograms.

A processor wired to fakes runs the real detector view; what it reports under
``stream_stats["jobs"]`` must survive the x5f2 encoding the wire uses.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import scipp as sc

from livedata.core.control import JobAction, Schedule
from livedata.core.identity import JobId, WorkflowId
from livedata.core.job import Job
from livedata.core.job_stats import MAX_JOBS_LISTED, jobs_section
from livedata.core.message import Message, StreamId, StreamKind
from livedata.core.status import ServiceStatus
from livedata.core.values import EventBatch
from livedata.core.workflow import WorkflowSpec
from livedata.testing.messages import (
    T0,
    heartbeat_via_wire,
    job_command,
    service_status,
    start_command,
)
from livedata.workflows.detector_view import (
    DetectorViewParams,
    DetectorViewWorkflow,
    detector_view_outputs,
)

S = 1_000_000_000
HOSTILE_IDS = [0, -5, -(2**31), 2**31 - 1, 17]
"""Outside the 4 x 4 panel of ids 1..16."""


@dataclass(frozen=True)
class Panel:
    shape: tuple[int, ...] = (4, 4)
    dims: tuple[str, ...] = ("y", "x")
    first_pixel_id: int = 1


SPEC = WorkflowSpec(
    workflow_id=WorkflowId(instrument="test", name="panel_view", version=1),
    service="detector_data",
    title="Panel view",
    description="The panel's image.",
    source_names=("panel_0", "panel_1"),
    params=DetectorViewParams,
    outputs=detector_view_outputs(Panel()),
)


def build_view(*, source_name: str, params: Any, aux_source_names: Mapping[str, str]):
    return DetectorViewWorkflow(source_name=source_name, layout=Panel(), params=params)


def start(rig, source: str = "panel_0", **params: Any) -> JobId:
    message = start_command(SPEC.workflow_id, source, params=params)
    rig.step(message)
    return message.value.job_id


def heartbeat(rig) -> ServiceStatus:
    """The next service status, as a consumer decodes it from the wire."""
    rig.step(advance_s=2.0)
    return heartbeat_via_wire(rig.sink.service_statuses[-1]).status


def events(timestamp: int, pixel_ids: list[int], toa: list[int] | None = None, source="panel_0"):
    n = len(pixel_ids)
    batch = EventBatch(
        time_of_arrival=np.asarray([500] * n if toa is None else toa, dtype=np.int32),
        pixel_id=np.asarray(pixel_ids, dtype=np.int32),
        reference_time=np.array([timestamp], dtype=np.int64),
        reference_time_index=np.array([0], dtype=np.int32),
    )
    return Message(
        timestamp=timestamp,
        stream=StreamId(kind=StreamKind.DETECTOR_EVENTS, name=source),
        value=batch,
    )


@pytest.fixture
def rig(make_rig):
    """The conftest processor rig, running the real detector view."""
    return make_rig(workflows=[(SPEC, build_view)])


def test_the_service_heartbeat_counts_each_jobs_events_left_out_by_reason(rig) -> None:
    job = start(rig)
    windowed = start(rig, "panel_1", toa_range={"start_ns": 0, "stop_ns": 1000})
    rig.step(
        events(T0, [*HOSTILE_IDS, 1, 2]),
        events(T0, [3, 4, 99], toa=[10, 5000, 10], source="panel_1"),
        events(T0 + S, [1]),  # closes the window
    )
    stats = heartbeat(rig).stream_stats
    assert stats["jobs"] == {
        str(job): {"events_left_out": {"pixel_out_of_range": 5}},
        str(windowed): {"events_left_out": {"pixel_out_of_range": 1, "outside_toa_window": 1}},
    }
    # Cumulative: a later window adds to the count.
    rig.step(events(T0 + S, [0, 0]), events(T0 + 2 * S, [1]))
    stats = heartbeat(rig).stream_stats
    assert stats["jobs"][str(job)] == {"events_left_out": {"pixel_out_of_range": 7}}


def test_a_job_reset_starts_its_count_from_zero(rig) -> None:
    job = start(rig)
    rig.step(events(T0, HOSTILE_IDS), events(T0 + S, [1]))
    assert str(job) in heartbeat(rig).stream_stats["jobs"]
    rig.step(job_command(JobAction.RESET, job_id=job, timestamp=T0 + S))
    # Jobs that left nothing out are not listed, and without any, nor is the section.
    assert "jobs" not in heartbeat(rig).stream_stats
    rig.step(events(T0 + S, [0]), events(T0 + 2 * S, [1]))
    assert heartbeat(rig).stream_stats["jobs"] == {
        str(job): {"events_left_out": {"pixel_out_of_range": 1}}
    }


def test_clean_data_adds_no_jobs_section(rig) -> None:
    start(rig)
    rig.step(events(T0, [1, 2, 16]), events(T0 + S, [1]))
    stats = heartbeat(rig).stream_stats
    assert "jobs" not in stats
    assert stats["messages"] == {"panel_0": 2}


def job_id(i: int, source: str = "panel_0") -> JobId:
    return JobId(source_name=source, job_number=uuid.UUID(int=i))


def test_the_section_lists_the_jobs_that_left_out_most_first_and_is_bounded() -> None:
    left_out = {job_id(i): {"pixel_out_of_range": i, "time_out_of_range": 0} for i in range(80)}
    section = jobs_section(left_out)
    assert len(section) == MAX_JOBS_LISTED
    kept = [int(uuid.UUID(key.split("/")[1])) for key in section]
    assert kept == list(range(79, 79 - MAX_JOBS_LISTED, -1))  # largest first
    assert section[str(job_id(79))] == {"events_left_out": {"pixel_out_of_range": 79}}
    assert jobs_section({job_id(1): {"time_out_of_range": 0}}) == {}


def test_odd_reasons_are_bounded_too() -> None:
    counts = {f"reason_{i}": i + 1 for i in range(20)} | {"x" * 300: 10**9, "negative": -4}
    (entry,) = jobs_section({job_id(1): counts}).values()
    reasons = entry["events_left_out"]
    assert list(reasons) == [f"reason_{i}" for i in range(19, 11, -1)]  # 8, largest first


def test_a_full_section_fits_the_heartbeat_bounds() -> None:
    """50 jobs of the longest source name, each with three reasons, next to busy stats."""
    long_source = "s" * 100
    left_out = {
        job_id(i, long_source): {
            "pixel_out_of_range": 2**40 + i,
            "time_out_of_range": 3,
            "outside_toa_window": 4,
        }
        for i in range(200)
    }
    stats = {
        "messages": {f"stream_{i}": i for i in range(300)},
        "ingress": {"rejected": {f"stream_{i}": {"truncated": 1} for i in range(300)}},
        "jobs": jobs_section(left_out),
    }
    status = service_status(stats, instrument="test", active_job_count=200)
    decoded = heartbeat_via_wire(status)
    assert decoded.status.stream_stats["jobs"] == stats["jobs"]


class BrokenReport:
    """A workflow whose report fails (a bug): the heartbeat must go out regardless."""

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        pass

    def finalize(self) -> Mapping[str, sc.DataArray]:
        return {}

    def clear(self) -> None:
        pass

    def events_left_out(self) -> Mapping[str, int]:
        raise RuntimeError("bug")


def test_a_failing_report_is_an_empty_one() -> None:
    job = Job(
        job_id=job_id(1),
        workflow_id=SPEC.workflow_id,
        workflow=BrokenReport(),
        schedule=Schedule(),
        aux_streams={},
    )
    assert job.events_left_out() == {}
