"""The orchestrating processor, end to end on fakes."""

import uuid

import pytest

from livedata.core.batching import NS_PER_S
from livedata.core.control import JobAction, Schedule
from livedata.core.identity import JobId
from livedata.core.message import Message, StreamId, StreamKind
from livedata.core.status import JobState, ServiceState
from livedata.core.values import RunStart
from livedata.testing.messages import T0, event_message, job_command, log_message, start_command

S = NS_PER_S


def start(rig, source="panel_0", **kwargs) -> JobId:
    message = start_command(rig.spec.workflow_id, source, **kwargs)
    rig.step(message)
    return message.value.job_id


def test_n_events_in_give_a_total_of_exactly_n(rig) -> None:
    start(rig)
    counts = [1000, 2345, 17, 0, 999]
    sent = 0
    for i, count in enumerate(counts):
        # 14 pulses per second: several messages in each window
        rig.step(*[event_message(T0 + i * S + k * S // 14, count, seed=k) for k in range(14)])
        sent += 14 * count
    rig.step(event_message(T0 + 10 * S, 5))  # closes the last window with data
    cumulative = rig.sink.outputs("cumulative")
    assert cumulative[-1].data.value == sent
    current = [r.data.value for r in rig.sink.outputs("current")]
    assert current == [14 * c for c in counts]


def test_results_name_their_job_and_window(rig) -> None:
    job_id = start(rig)
    rig.step(event_message(T0 + 5, 3), event_message(T0 + S, 1))
    (result,) = rig.sink.outputs("current")
    assert result.key.job_id == job_id
    assert result.key.workflow_id == rig.spec.workflow_id
    assert result.data.coords["start_time"].value == T0
    assert result.data.coords["time"].value == T0 + S


def test_workflow_config_is_acknowledged_once_per_source(rig) -> None:
    number = uuid.uuid4()
    message_id = str(uuid.uuid4())
    for source in ("panel_0", "panel_1"):
        rig.step(
            start_command(rig.spec.workflow_id, source, job_number=number, message_id=message_id)
        )
    assert [(r.message_id, r.device, r.ok) for r in rig.sink.responses] == [
        (message_id, "panel_0", True),
        (message_id, "panel_1", True),
    ]
    assert len(rig.jobs.jobs) == 2


def test_duplicate_command_is_applied_once(rig) -> None:
    message = start_command(rig.spec.workflow_id, "panel_0")
    rig.step(message)
    rig.step(message)
    assert len(rig.sink.responses) == 1
    assert len(rig.jobs.jobs) == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"source": "panel_9"}, "not accepted"),
        ({"params": {"no_such_param": 1}}, "invalid params"),
        ({"params": {"fail_finalize": "maybe"}}, "invalid params"),
    ],
)
def test_bad_workflow_config_gets_err(rig, kwargs, error) -> None:
    source = kwargs.pop("source", "panel_0")
    rig.step(start_command(rig.spec.workflow_id, source, **kwargs))
    (response,) = rig.sink.responses
    assert not response.ok
    assert error in (response.error or "")
    assert rig.jobs.jobs == []


def test_bad_aux_source_gets_err(rig) -> None:
    rig.step(start_command(rig.aux_spec.workflow_id, "panel_0", aux={"position": "motion9"}))
    (response,) = rig.sink.responses
    assert "not allowed" in (response.error or "")


def test_existing_job_id_gets_err(rig) -> None:
    number = uuid.uuid4()
    rig.step(start_command(rig.spec.workflow_id, "panel_0", job_number=number))
    rig.step(start_command(rig.spec.workflow_id, "panel_0", job_number=number))
    assert [r.ok for r in rig.sink.responses] == [True, False]


def test_commands_for_other_services_or_instruments_get_no_answer(rig) -> None:
    from livedata.core.identity import WorkflowId

    other = WorkflowId(instrument="test", name="monitor_histogram", version=1)
    foreign = WorkflowId(instrument="loki", name="event_count", version=1)
    rig.step(start_command(other, "monitor1"), start_command(foreign, "panel_0"))
    rig.step(job_command(JobAction.STOP, job_id=JobId(source_name="x", job_number=uuid.uuid4())))
    rig.step(job_command(JobAction.STOP, workflow_id=other))
    assert rig.sink.responses == []


def test_job_command_targets(rig) -> None:
    a = start(rig, "panel_0")
    b = start(rig, "panel_1")
    rig.step(event_message(T0, 1, source="panel_1"), event_message(T0 + S, 1, source="panel_1"))
    rig.step(job_command(JobAction.PAUSE, job_id=a))
    states = {s.job_id: s.warning for s in rig.jobs.statuses()}
    assert states[a] is not None
    assert states[b] is None
    rig.step(job_command(JobAction.STOP, workflow_id=rig.spec.workflow_id))
    devices = [r.device for r in rig.sink.responses[-2:]]
    assert devices == [str(a), "all"]
    assert [j.job_id for j in rig.jobs.jobs] == [b]  # a (paused) stopped at once
    rig.step(advance_s=2)  # b finishes with the open window (closed by the backstop)
    assert rig.jobs.jobs == []
    rig.processor.process()
    rig.clock.advance(2)
    rig.processor.process()
    stopped = {s.job_id for s in rig.sink.job_statuses if s.state is JobState.STOPPED}
    assert stopped == {a, b}


def test_broadcast_reset_applies_to_all_jobs(rig) -> None:
    start(rig, "panel_0")
    start(rig, "panel_1")
    rig.step(event_message(T0, 10, source="panel_0"), event_message(T0, 7, source="panel_1"))
    rig.step(job_command(JobAction.RESET))
    rig.step(event_message(T0 + S, 2, source="panel_0"), event_message(T0 + S, 3, source="panel_1"))
    rig.step(event_message(T0 + 2 * S, 1, source="panel_0"))
    last = {r.key.job_id.source_name: r.data.value for r in rig.sink.outputs("cumulative")}
    assert last == {"panel_0": 2, "panel_1": 3}
    assert rig.sink.responses[-1].device == "all"


def test_reset_in_the_middle_of_one_poll_keeps_arrival_order(rig) -> None:
    start(rig)
    rig.step(
        event_message(T0, 10),
        job_command(JobAction.RESET),
        event_message(T0 + 1, 3),
        event_message(T0 + S, 1),
    )
    assert [r.data.value for r in rig.sink.outputs("cumulative")] == [10, 3]


def test_scheduled_job_ignores_data_before_its_start(rig) -> None:
    start(rig, schedule=Schedule(start_time=T0 + 2 * S))
    for i in range(4):
        rig.step(event_message(T0 + i * S, 10))
    assert [r.data.value for r in rig.sink.outputs("cumulative")] == [10]


def test_only_jobs_with_new_primary_data_compute(rig) -> None:
    start(rig, "panel_0")
    start(rig, "panel_1")
    rig.step(event_message(T0, 5, source="panel_0"), event_message(T0 + S, 1, source="panel_0"))
    assert {r.key.job_id.source_name for r in rig.sink.results} == {"panel_0"}


def test_context_sent_before_the_job_started_is_used(rig) -> None:
    rig.step(log_message(T0 + 1, 2.5), event_message(T0 + S, 1))  # no job reads motion1 yet
    rig.step(start_command(rig.aux_spec.workflow_id, "panel_0"))
    rig.step(event_message(T0 + S + 5, 4), event_message(T0 + 2 * S, 1))
    (result,) = rig.sink.outputs("current")
    assert result.data.value == 4  # only what came after the start command
    assert rig.jobs.statuses()[0].state is JobState.ACTIVE


def test_commands_for_others_do_not_split_the_window(rig) -> None:
    from livedata.core.identity import WorkflowId

    start(rig)
    rig.step(event_message(T0, 3))
    other = WorkflowId(instrument="test", name="monitor_histogram", version=1)
    rig.step(start_command(other, "monitor1"), event_message(T0 + 5, 4))
    rig.step(event_message(T0 + S, 1))
    assert [r.data.value for r in rig.sink.outputs("current")] == [7]


def test_aux_source_latest_value_reaches_the_workflow(rig) -> None:
    rig.step(start_command(rig.aux_spec.workflow_id, "panel_0"))
    rig.step(event_message(T0, 5), event_message(T0 + S, 5))
    assert rig.sink.outputs("current") == []  # pending: no position yet
    statuses = {s.state for s in rig.jobs.statuses()}
    assert statuses == {JobState.PENDING_CONTEXT}
    rig.step(log_message(T0 + S + 1, 3.5), event_message(T0 + 2 * S, 5))
    (result,) = rig.sink.outputs("current")
    assert result.data.value == 5  # the window before the position arrived is not computed


def test_failing_workflow_does_not_stop_the_service(rig) -> None:
    start(rig, params={"fail_accumulate": True})
    start(rig, "panel_1", params={"fail_finalize": True})
    rig.step(event_message(T0, 5), event_message(T0, 5, source="panel_1"))
    rig.step(event_message(T0 + S, 5))
    assert rig.processor.state is ServiceState.RUNNING
    states = {s.job_id.source_name: s.state for s in rig.jobs.statuses()}
    assert states == {"panel_0": JobState.WARNING, "panel_1": JobState.ERROR}


def test_status_is_reported_every_two_seconds(rig) -> None:
    start(rig)
    assert [s.state for s in rig.sink.service_statuses] == [ServiceState.STARTING]
    rig.step(advance_s=1.0)
    assert len(rig.sink.service_statuses) == 1
    rig.step(advance_s=1.0)
    assert len(rig.sink.service_statuses) == 2
    status = rig.sink.service_statuses[-1]
    assert (status.state, status.active_job_count) == (ServiceState.RUNNING, 1)
    assert status.batch_interval_s == 1.0
    assert len(rig.sink.job_statuses) == 1  # the job did not exist at the first report


def test_stream_stats_count_messages_control_and_timestamp_issues(rig) -> None:
    start(rig)
    rig.source.rejected["garbage"] += 2
    rig.step(event_message(T0, 1), event_message(-1, 1), event_message(T0 + S, 1), advance_s=2)
    stats = rig.sink.service_statuses[-1].stream_stats
    assert stats["messages"] == {"panel_0": 3}
    assert stats["control"] == {"commands": 1}
    assert stats["batching"]["timestamp_issues"] == {"negative_timestamp": 1}
    assert stats["ingress"]["rejected"] == {"garbage": 2}


def test_rois_and_run_transitions_are_control(rig) -> None:
    from livedata.core.control import RoiUpdate

    job_id = start(rig)
    roi = RoiUpdate(job_id=job_id, shape="rectangle", rois={})
    stream = StreamId(kind=StreamKind.ROI, name="roi")
    run = StreamId(kind=StreamKind.RUN_CONTROL, name="run")
    rig.step(
        Message(timestamp=0, stream=stream, value=roi),
        Message(timestamp=T0, stream=run, value=RunStart(run_name="r1", start_time=T0)),
    )
    assert rig.processor.control_counts["rois"] == 1
    assert rig.processor.control_counts["RunStart"] == 1


def test_shutdown_publishes_the_partial_window_and_final_stopped_reports(rig) -> None:
    start(rig)
    rig.step(event_message(T0 + 5, 42))
    assert rig.sink.results == []
    rig.processor.shutdown()
    assert rig.sink.outputs("cumulative")[-1].data.value == 42
    assert rig.sink.service_statuses[-1].state is ServiceState.STOPPED
    assert [s.state for s in rig.sink.job_statuses][-1] is JobState.STOPPED
    assert rig.sink.flushed == 1


def test_shutdown_on_error_reports_the_error(rig) -> None:
    rig.processor.shutdown(error="boom")
    status = rig.sink.service_statuses[-1]
    assert (status.state, status.error) == (ServiceState.ERROR, "boom")


def test_job_snapshots_follow_every_change_and_repeat_each_minute(rig) -> None:
    from livedata.core.message import StreamKind

    def snapshots():
        return [m.value for m in rig.sink.messages if m.stream.kind is StreamKind.JOBS]

    rig.processor.process()
    assert [len(s.jobs) for s in snapshots()] == [0]
    job_id = start(rig)
    assert [len(s.jobs) for s in snapshots()] == [0, 1]
    assert snapshots()[-1].jobs[0].job_id == job_id
    assert snapshots()[-1].worker_id == "w1"
    rig.step(advance_s=30)
    assert len(snapshots()) == 2
    rig.step(advance_s=31)
    assert len(snapshots()) == 3
    rig.step(job_command(JobAction.STOP, job_id=job_id))
    assert [len(s.jobs) for s in snapshots()][-1] == 0


def test_shutdown_does_not_publish_an_empty_snapshot(rig) -> None:
    from livedata.core.message import StreamKind

    start(rig)
    rig.processor.shutdown()
    last = [m.value for m in rig.sink.messages if m.stream.kind is StreamKind.JOBS][-1]
    assert len(last.jobs) == 1  # a planned restart brings the job back


def test_run_start_with_reset_policy_restarts_accumulation(rig) -> None:
    from livedata.core.control import RunPolicy
    from livedata.core.values import RunStart

    start(rig, run_policy=RunPolicy.RESET_AT_START)
    run = StreamId(kind=StreamKind.RUN_CONTROL, name="run")
    rig.step(
        event_message(T0, 10),
        Message(timestamp=T0 + 5, stream=run, value=RunStart(run_name="r1", start_time=T0 + 5)),
        event_message(T0 + 6, 3),
        event_message(T0 + S, 1),
    )
    assert [r.data.value for r in rig.sink.outputs("cumulative")] == [10, 3]


def test_held_snapshots_wait_for_the_first_change(rig) -> None:
    from livedata.core.batching import DataTimeBatcher
    from livedata.core.message import StreamKind
    from livedata.core.processor import OrchestratingProcessor, ServiceIdentity

    processor = OrchestratingProcessor(
        identity=ServiceIdentity(instrument="test", service_name="detector_data", worker_id="w"),
        source=rig.source,
        sink=rig.sink,
        batcher=DataTimeBatcher(clock=rig.clock),
        job_manager=rig.jobs,
        clock=rig.clock,
        publish_snapshots=False,
    )

    def snapshots():
        return [m.value for m in rig.sink.messages if m.stream.kind is StreamKind.JOBS]

    processor.process()
    rig.clock.advance(120)
    processor.process()
    assert snapshots() == []  # the unread old snapshot stays the newest
    rig.source.push(start_command(rig.spec.workflow_id, "panel_0"))
    processor.process()
    assert [len(s.jobs) for s in snapshots()] == [1]


def test_sink_counters_reach_the_heartbeat(rig) -> None:
    rig.step(advance_s=2)
    assert "produced" in rig.sink.service_statuses[-1].stream_stats["egress"]
