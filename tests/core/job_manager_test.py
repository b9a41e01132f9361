"""Job manager: ownership, the designated responder, recovery, run policies."""

import uuid

import pytest

from livedata.core.control import (
    InvalidCommand,
    JobAction,
    JobCommand,
    RunPolicy,
    WorkflowConfig,
)
from livedata.core.identity import JobId, WorkflowId
from livedata.core.job_manager import JobManager
from livedata.core.status import JobState
from livedata.core.values import RunStart, RunStop
from livedata.core.workflow import WorkflowRegistry
from livedata.testing.messages import T0, events
from livedata.testing.workflows import event_count_factory, event_count_spec

S = 1_000_000_000
SPEC = event_count_spec(instrument="test", service="detector_data")
OTHER = WorkflowId(instrument="test", name="monitor_histogram", version=1)


def manager(*, answers_unowned: bool = False) -> JobManager:
    registry = WorkflowRegistry()
    registry.register(SPEC, event_count_factory)
    return JobManager(
        instrument="test",
        registry=registry,
        known_workflows=[OTHER],
        answers_unowned=answers_unowned,
    )


def config(
    workflow_id: WorkflowId = SPEC.workflow_id, run_policy: RunPolicy = RunPolicy.KEEP
) -> WorkflowConfig:
    return WorkflowConfig(
        message_id=str(uuid.uuid4()),
        workflow_id=workflow_id,
        job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
        run_policy=run_policy,
    )


def window(jobs: JobManager, i: int, count: int = 10):
    return jobs.process_window(
        start=T0 + i * S, end=T0 + (i + 1) * S, data={"panel_0": events(count)}, latest={}
    )


@pytest.mark.parametrize(
    ("workflow_id", "reason"),
    [
        (WorkflowId(instrument="test", name="nope", version=1), "unknown workflow"),
        (WorkflowId(instrument="loki", name="event_count", version=1), "wrong instrument"),
    ],
)
def test_the_designated_service_refuses_what_nobody_can_own(workflow_id, reason) -> None:
    command = config(workflow_id)
    (response,) = manager(answers_unowned=True).handle(command)
    assert reason in (response.error or "")
    assert response.device == "panel_0"
    assert manager(answers_unowned=False).handle(command) == []


def test_the_designated_service_refuses_an_invalid_command_once() -> None:
    invalid = InvalidCommand(message_id=str(uuid.uuid4()), device="panel_0", error="bins: bad")
    jobs = manager(answers_unowned=True)
    assert not jobs.will_act_on(invalid)
    (response,) = jobs.handle(invalid)
    assert (response.message_id, response.device) == (invalid.message_id, "panel_0")
    assert response.error == "invalid command: bins: bad"
    assert jobs.handle(invalid) == []  # re-delivered: answered once
    assert manager(answers_unowned=False).handle(invalid) == []


def test_another_services_workflow_gets_no_answer_even_from_the_designated_one() -> None:
    assert manager(answers_unowned=True).handle(config(OTHER)) == []


def test_configs_list_the_running_jobs_and_restore_recreates_them_silently() -> None:
    jobs = manager()
    first, second = config(), config()
    jobs.handle(first)
    jobs.handle(second)
    stop = JobCommand(message_id=str(uuid.uuid4()), action=JobAction.STOP, job_id=second.job_id)
    jobs.handle(stop)
    assert jobs.configs() == [first]

    restarted = manager()
    assert restarted.restore(jobs.configs()) == [first.job_id]
    assert [j.job_id for j in restarted.jobs] == [first.job_id]
    assert restarted.handle(first) == []  # a re-delivered original is a duplicate
    (result, _) = window(restarted, 0)
    assert result.data.value == 10


def test_restore_skips_what_it_cannot_build() -> None:
    bad = WorkflowConfig(
        message_id=str(uuid.uuid4()),
        workflow_id=SPEC.workflow_id,
        job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
        params={"unknown": 1},
    )
    assert manager().restore([bad, config(OTHER)]) == []


def test_changes_count_job_set_changes() -> None:
    jobs = manager()
    before = jobs.changes
    command = config()
    jobs.handle(command)
    assert jobs.changes == before + 1
    jobs.handle(JobCommand(message_id=str(uuid.uuid4()), action=JobAction.STOP))
    assert jobs.changes == before + 2


def test_reset_at_run_start() -> None:
    jobs = manager()
    jobs.handle(config(run_policy=RunPolicy.RESET_AT_START))
    keep = config()
    jobs.handle(keep)
    window(jobs, 0)
    jobs.on_run_start(RunStart(run_name="r1", start_time=T0 + S))
    results = window(jobs, 1, count=3)
    cumulative = {r.key.job_id: r.data.value for r in results if r.key.output_name == "cumulative"}
    assert sorted(cumulative.values()) == [3, 13]
    assert cumulative[keep.job_id] == 13


def test_publish_and_reset_at_run_stop() -> None:
    jobs = manager()
    jobs.handle(config(run_policy=RunPolicy.PUBLISH_AND_RESET))
    window(jobs, 0)
    window(jobs, 1)
    final = jobs.on_run_stop(RunStop(run_name="r7", stop_time=T0 + 2 * S))
    by_name = {r.key.output_name: r for r in final}
    assert set(by_name) == {"current.run_final", "cumulative.run_final"}
    run_total = by_name["cumulative.run_final"]
    assert run_total.data.value == 20
    assert run_total.data.coords["start_time"].value == T0
    assert run_total.data.coords["time"].value == T0 + 2 * S
    assert "r7" in run_total.title
    (_, cumulative) = window(jobs, 2, count=4)
    assert cumulative.data.value == 4  # reset after the run
    assert jobs.on_run_stop(RunStop(run_name="r8", stop_time=T0 + 4 * S)) != []


def test_run_transitions_leave_keep_jobs_alone() -> None:
    jobs = manager()
    jobs.handle(config())
    window(jobs, 0)
    assert jobs.on_run_stop(RunStop(run_name="r1", stop_time=T0 + S)) == []
    jobs.on_run_start(RunStart(run_name="r2", start_time=T0 + S))
    (_, cumulative) = window(jobs, 1)
    assert cumulative.data.value == 20


def test_non_finite_params_are_refused_even_when_the_model_allows_them() -> None:
    import pydantic

    from livedata.core.workflow import WorkflowSpec

    class Loose(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        scale: float = 1.0
        nested: dict[str, float] = {}

    spec = WorkflowSpec(
        workflow_id=WorkflowId(instrument="test", name="loose", version=1),
        service="detector_data",
        title="Loose",
        description="",
        source_names=("panel_0",),
        params=Loose,
    )
    registry = WorkflowRegistry()
    registry.register(spec, event_count_factory)
    jobs = JobManager(instrument="test", registry=registry)
    for params in ({"scale": "NaN"}, {"nested": {"a": "-inf"}}):
        command = WorkflowConfig(
            message_id=str(uuid.uuid4()),
            workflow_id=spec.workflow_id,
            job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
            params=params,
        )
        (response,) = jobs.handle(command)
        assert "finite" in (response.error or "")


# -- jobs halted by the memory guard -------------------------------------------------


def command(action: JobAction, **target) -> JobCommand:
    return JobCommand(message_id=str(uuid.uuid4()), action=action, **target)


@pytest.mark.parametrize("action", [JobAction.RESET, JobAction.PAUSE, JobAction.RESUME])
def test_a_halted_job_answers_err_to_reset_pause_and_resume(action: JobAction) -> None:
    jobs = manager()
    start = config()
    jobs.handle(start)
    window(jobs, 0)
    jobs.halt(start.job_id, "stopped by the memory guard: too big")
    (answer,) = jobs.handle(command(action, job_id=start.job_id))
    assert not answer.ok
    assert answer.error == "stopped by the memory guard; stop it and start a new job"
    (job,) = jobs.jobs
    assert job.status().error == "stopped by the memory guard: too big"
    (stopped,) = jobs.handle(command(JobAction.STOP, job_id=start.job_id))
    assert stopped.ok  # stop still ends it
    assert jobs.jobs == []


def test_a_command_for_several_jobs_acts_on_those_not_halted_and_is_acked() -> None:
    jobs = manager()
    halted, running = config(), config()
    jobs.handle(halted)
    jobs.handle(running)
    window(jobs, 0)
    jobs.halt(halted.job_id, "stopped by the memory guard: too big")
    (answer,) = jobs.handle(command(JobAction.PAUSE, workflow_id=SPEC.workflow_id))
    assert answer.ok
    states = {s.job_id: s.warning for s in jobs.statuses()}
    assert states[running.job_id] == "paused by operator"
    assert states[halted.job_id] is None


def test_a_job_halted_while_finishing_ends_stopped_with_the_reason() -> None:
    jobs = manager()
    start = config()
    jobs.handle(start)
    window(jobs, 0)
    (ack,) = jobs.handle(command(JobAction.STOP, job_id=start.job_id))
    assert ack.ok
    (job,) = jobs.jobs
    assert job.state is JobState.FINISHING
    changes = jobs.changes
    jobs.halt(start.job_id, "stopped by the memory guard: too big")
    assert jobs.jobs == []
    assert jobs.configs() == []
    assert jobs.changes == changes + 1
    (status,) = jobs.statuses()
    assert status.state is JobState.STOPPED
    assert status.error == "stopped by the memory guard: too big"
