"""Job lifecycle in data time, driven window by window."""

import uuid
from collections.abc import Mapping
from typing import Any

import pytest
import scipp as sc

from livedata.core.batching import NS_PER_S
from livedata.core.control import Schedule
from livedata.core.identity import JobId, WorkflowId
from livedata.core.job import PAUSED_NOTE, PROBLEM_HOLD_NS, Job
from livedata.core.status import JobState
from livedata.testing.messages import T0, events

S = NS_PER_S
WID = WorkflowId(instrument="test", name="flaky", version=1)


class ScriptedWorkflow:
    """Counts events; fails in accumulate/finalize when told to."""

    def __init__(self) -> None:
        self.total = 0
        self.fail_accumulate = False
        self.fail_finalize = False
        self.seen: list[Mapping[str, Any]] = []

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        if self.fail_accumulate:
            raise RuntimeError("bad data")
        self.seen.append(data)
        self.total += len(data["panel_0"])

    def finalize(self) -> Mapping[str, sc.DataArray]:
        if self.fail_finalize:
            raise ValueError("cannot finalize")
        return {"total": sc.DataArray(sc.scalar(float(self.total)))}

    def clear(self) -> None:
        self.total = 0


def make_job(
    schedule: Schedule | None = None, required_aux: frozenset[str] = frozenset()
) -> tuple[Job, ScriptedWorkflow]:
    workflow = ScriptedWorkflow()
    job = Job(
        job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
        workflow_id=WID,
        workflow=workflow,
        schedule=schedule or Schedule(),
        aux_streams={"position": "motion1"} if required_aux else {},
        required_aux_streams=required_aux,
    )
    return job, workflow


def window(job: Job, i: int, count: int | None = 10, aux: Mapping[str, Any] | None = None):
    primary = events(count) if count is not None else None
    return job.process(start=T0 + i * S, end=T0 + (i + 1) * S, primary=primary, aux=aux or {})


def total(results: list[Any]) -> float:
    (result,) = results
    return float(result.data.value)


def test_new_job_is_scheduled_then_active_with_first_data() -> None:
    job, _ = make_job()
    assert job.state is JobState.SCHEDULED
    assert total(window(job, 0)) == 10
    assert job.state is JobState.ACTIVE


def test_results_carry_the_data_window_they_cover() -> None:
    job, _ = make_job()
    window(job, 0)
    (result,) = window(job, 1)
    assert result.data.coords["start_time"].value == T0
    assert result.data.coords["time"].value == T0 + 2 * S
    assert result.key.output_name == "total"
    assert result.key.job_id == job.job_id


def test_scheduled_start_in_data_time() -> None:
    job, workflow = make_job(Schedule(start_time=T0 + 2 * S))
    assert window(job, 0) == []
    assert window(job, 1) == []  # window ends exactly at the start time
    assert job.state is JobState.SCHEDULED
    assert total(window(job, 2)) == 10
    assert job.state is JobState.ACTIVE
    assert len(workflow.seen) == 1


def test_end_time_publishes_a_last_result_then_stops() -> None:
    job, _ = make_job(Schedule(end_time=T0 + 2 * S))
    window(job, 0)
    assert total(window(job, 1)) == 20
    assert job.state is JobState.STOPPED
    assert window(job, 2) == []


def test_no_primary_data_computes_nothing() -> None:
    job, workflow = make_job()
    assert window(job, 0, count=None) == []
    assert workflow.seen == []
    assert job.state is JobState.ACTIVE


def test_pending_context_until_required_aux_arrives() -> None:
    job, workflow = make_job(required_aux=frozenset({"motion1"}))
    assert window(job, 0) == []
    assert job.state is JobState.PENDING_CONTEXT
    assert total(window(job, 1, aux={"motion1": 1.5})) == 10
    assert job.state is JobState.ACTIVE
    assert workflow.seen[0]["motion1"] == 1.5


def test_accumulate_error_is_a_warning_and_the_job_goes_on() -> None:
    job, workflow = make_job()
    window(job, 0)
    workflow.fail_accumulate = True
    assert window(job, 1) == []
    status = job.status()
    assert status.state is JobState.WARNING
    assert status.warning is not None
    assert "bad data" in status.warning
    workflow.fail_accumulate = False
    assert total(window(job, 2)) == 20  # the failed window's data is lost, the rest counts
    assert job.state is JobState.WARNING  # still shown for a while ...
    hold_windows = PROBLEM_HOLD_NS // S
    window(job, 1 + hold_windows)
    assert job.state is JobState.ACTIVE  # ... then cleared
    assert job.status().warning is None


def test_finalize_error_is_an_error_and_recovers() -> None:
    job, workflow = make_job()
    workflow.fail_finalize = True
    assert window(job, 0) == []
    assert job.state is JobState.ERROR
    assert "cannot finalize" in (job.status().error or "")
    workflow.fail_finalize = False
    assert total(window(job, 20)) == 20
    assert job.state is JobState.ACTIVE


def test_stop_finishes_the_open_window_then_stops() -> None:
    job, _ = make_job()
    window(job, 0)
    job.stop()
    assert job.state is JobState.FINISHING
    assert total(window(job, 1)) == 20
    assert job.state is JobState.STOPPED
    assert window(job, 2) == []


def test_pause_does_not_undo_a_stop() -> None:
    job, _ = make_job()
    window(job, 0)
    job.stop()
    job.pause()
    job.resume()
    window(job, 1)
    assert job.state is JobState.STOPPED


def test_stop_of_a_job_that_never_ran_is_immediate() -> None:
    job, _ = make_job(Schedule(start_time=T0 + 100 * S))
    job.stop()
    assert job.state is JobState.STOPPED


def test_pause_and_resume() -> None:
    job, _ = make_job()
    window(job, 0)
    job.pause()
    assert window(job, 1) == []
    status = job.status()
    assert (status.state, status.warning) == (JobState.SCHEDULED, PAUSED_NOTE)
    job.resume()
    assert total(window(job, 2)) == 20
    assert job.state is JobState.ACTIVE


def test_reset_clears_data_and_problems() -> None:
    job, workflow = make_job()
    window(job, 0)
    workflow.fail_finalize = True
    window(job, 1)
    workflow.fail_finalize = False
    job.reset()
    assert job.state is JobState.ACTIVE
    assert job.status().error is None
    (result,) = window(job, 2)
    assert result.data.value == 10
    assert result.data.coords["start_time"].value == T0 + 2 * S


@pytest.mark.parametrize("stop_first", [True, False])
def test_terminate_is_immediate(stop_first: bool) -> None:
    job, _ = make_job()
    window(job, 0)
    if stop_first:
        job.stop()
    job.terminate()
    assert job.is_stopped


def test_context_is_passed_with_every_window() -> None:
    job, workflow = make_job()
    job.set_context("roi_rectangle", "rois")
    window(job, 0)
    window(job, 1)
    assert [d["roi_rectangle"] for d in workflow.seen] == ["rois", "rois"]


def test_workflow_problems_show_as_the_jobs_warning() -> None:
    class Grumbling(ScriptedWorkflow):
        problems = ("roi_rectangle refused: too many",)

    job = Job(
        job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
        workflow_id=WID,
        workflow=Grumbling(),
        schedule=Schedule(),
        aux_streams={},
    )
    window(job, 0)
    status = job.status()
    assert status.warning == "roi_rectangle refused: too many"
    assert status.state is JobState.ACTIVE  # still computing


def test_a_job_halted_while_finishing_goes_straight_to_stopped_keeping_the_reason() -> None:
    job, _ = make_job()
    window(job, 0)
    job.stop()
    assert job.state is JobState.FINISHING
    job.halt("stopped by the memory guard: too big")
    assert job.is_stopped
    assert job.status().error == "stopped by the memory guard: too big"
    assert window(job, 1) == []


def test_a_running_job_halted_stays_in_error_until_stopped() -> None:
    job, _ = make_job()
    window(job, 0)
    job.halt("stopped by the memory guard: too big")
    assert job.state is JobState.ERROR
    assert window(job, 1) == []
    job.stop()
    assert job.is_stopped
    assert job.status().error == "stopped by the memory guard: too big"
