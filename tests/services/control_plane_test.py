"""The control plane on the real embedded broker: answers, heartbeats, recovery, runs."""

import signal
import time
import uuid

import pytest

from livedata.config.topics import Topic
from livedata.core.control import RunPolicy, WorkflowConfig
from livedata.core.identity import JobId, WorkflowId
from livedata.core.status import JobState, ServiceState
from livedata.core.values import RunStart
from livedata.kafka.command_client import CommandClient
from livedata.kafka.topics import create_topics
from livedata.protocol.ev44 import encode_ev44
from livedata.protocol.heartbeats import NicosStatus, ServiceHeartbeat
from livedata.protocol.run_control import encode_pl72
from livedata.testing.stack import (
    HeartbeatReader,
    RawProducer,
    ResultReader,
    ServiceProcess,
    pulses,
    start_job,
)

pytestmark = pytest.mark.integration


def command(instrument: str, workflow: str, source: str, **kwargs) -> WorkflowConfig:
    return WorkflowConfig(
        message_id=str(uuid.uuid4()),
        workflow_id=WorkflowId(instrument=instrument, name=workflow, version=1),
        job_id=JobId(source_name=source, job_number=uuid.uuid4()),
        **kwargs,
    )


@pytest.fixture
def two_services(dummy, start_service):
    # monitor_data is the dummy's designated responder for commands nobody can own.
    start_service("monitor_data", dummy)
    start_service("detector_data", dummy)
    return dummy


def collect(settings, instrument, cmd, wait_s=8.0):
    from livedata.cli.watch import tail_consumer
    from livedata.config.topics import topic_name
    from livedata.protocol.responses import decode_response

    consumer = tail_consumer(settings, topic_name(instrument, Topic.RESPONSES))
    try:
        with CommandClient(settings=settings, instrument=instrument) as client:
            for _ in range(3):  # the services may still be starting: resend (applied once)
                client.send([cmd])
                got = []
                deadline = time.monotonic() + wait_s / 3
                while time.monotonic() < deadline:
                    for message in consumer.consume(50, 0.2):
                        if message.error() is None:
                            response = decode_response(message.value())
                            if response.message_id == cmd.message_id:
                                got.append(response)
                if got:
                    time.sleep(1.0)  # any second answer would arrive by now
                    for message in consumer.consume(50, 0.5):
                        if message.error() is None:
                            response = decode_response(message.value())
                            if response.message_id == cmd.message_id:
                                got.append(response)
                    return got
            return []
    finally:
        consumer.close()


def test_good_command_is_acked_once_by_its_owner(two_services, kafka_settings) -> None:
    cmd = command(two_services.name, "panel_0_xy", "panel_0")
    (response,) = collect(kafka_settings, two_services.name, cmd)
    assert response.ok
    assert response.device == "panel_0"


@pytest.mark.parametrize(
    ("workflow", "source", "params", "instrument", "reason"),
    [
        ("panel_0_xy", "panel_0", {"toa_range": {"start_ns": 5, "stop_ns": 1}}, None, "params"),
        ("panel_0_xy", "panel_0", {"bins": 3}, None, "invalid params"),
        ("panel_0_xy", "monitor1", {}, None, "not accepted"),
        ("no_such_view", "panel_0", {}, None, "unknown workflow"),
        ("panel_0_xy", "panel_0", {}, "loki", "wrong instrument"),
    ],
)
def test_bad_commands_get_one_err_with_the_reason(
    two_services, kafka_settings, workflow, source, params, instrument, reason
) -> None:
    cmd = WorkflowConfig(
        message_id=str(uuid.uuid4()),
        workflow_id=WorkflowId(
            instrument=instrument or two_services.name, name=workflow, version=1
        ),
        job_id=JobId(source_name=source, job_number=uuid.uuid4()),
        params=params,
    )
    (response,) = collect(kafka_settings, two_services.name, cmd)
    assert not response.ok
    assert reason in response.error


def test_a_duplicate_command_is_applied_once(two_services, kafka_settings) -> None:
    cmd = command(two_services.name, "panel_0_xy", "panel_0")
    first = collect(kafka_settings, two_services.name, cmd)
    again = collect(kafka_settings, two_services.name, cmd, wait_s=3)
    assert [r.ok for r in first] == [True]
    assert again == []


def test_heartbeats_of_services_and_jobs_carry_the_nicos_codes(
    dummy, start_service, kafka_settings
) -> None:
    beats = HeartbeatReader(kafka_settings, dummy.name)
    start_service("detector_data", dummy)
    job_id = start_job(kafka_settings, dummy, "panel_0_xy", "panel_0")
    raw = RawProducer(kafka_settings, dummy.name)
    for i, batch in enumerate(pulses(14, 10)):
        raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
    raw.flush()
    service = beats.wait_for(
        lambda h: isinstance(h, ServiceHeartbeat) and h.status.state is ServiceState.RUNNING
    )
    assert service.code is NicosStatus.OK
    assert service.service_id.startswith(f"{dummy.name}:detector_data:")
    assert "messages" in service.status.stream_stats
    job = beats.wait_for_job(job_id, JobState.ACTIVE)
    assert job.code is NicosStatus.OK
    assert job.service_id == f"panel_0:{job_id.job_number}"
    beats.close()


def test_sigterm_gives_final_stopped_heartbeats_within_5_s(kafka_settings) -> None:
    worker = f"w-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_settings, "dummy")
    beats = HeartbeatReader(kafka_settings, "dummy")
    process = ServiceProcess(
        "detector_data", instrument="dummy", settings=kafka_settings, worker_id=worker
    )
    try:
        beats.wait_for(lambda h: isinstance(h, ServiceHeartbeat) and h.status.worker_id == worker)
        from livedata.config.registry import load_instrument

        job_id = start_job(kafka_settings, load_instrument("dummy"), "panel_0_xy", "panel_0")
        sent = time.monotonic()
        process.signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert time.monotonic() - sent < 5
        stopped = beats.wait_for(
            lambda h: (
                isinstance(h, ServiceHeartbeat)
                and h.status.worker_id == worker
                and h.status.state is ServiceState.STOPPED
            ),
            timeout_s=5,
        )
        assert stopped.code is NicosStatus.DISABLED
        beats.wait_for_job(job_id, JobState.STOPPED, timeout_s=5)
    finally:
        process.close()
        beats.close()


@pytest.mark.slow
def test_sigkill_and_restart_restores_jobs_and_results_resume(kafka_settings) -> None:
    from livedata.config.registry import load_instrument

    worker = f"w-{uuid.uuid4().hex[:8]}"
    dummy = load_instrument("dummy")
    create_topics(kafka_settings, "dummy")

    def spawn() -> ServiceProcess:
        return ServiceProcess(
            "detector_data", instrument="dummy", settings=kafka_settings, worker_id=worker
        )

    process = spawn()
    try:
        job_id = start_job(kafka_settings, dummy, "panel_0_xy", "panel_0")
        time.sleep(1.0)  # the job snapshot goes out with the next loop step
        process.signal(signal.SIGKILL)
        process.wait(5)
        process.close()

        beats = HeartbeatReader(kafka_settings, "dummy")
        results = ResultReader(kafka_settings, "dummy")
        process = spawn()
        restored = beats.wait_for_job(job_id, timeout_s=30)
        assert restored.status.state is not JobState.STOPPED
        raw = RawProducer(kafka_settings, "dummy")
        for i, batch in enumerate(pulses(14, 50)):
            raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
        raw.flush()
        results.wait_for(
            lambda k, d: (
                k.job_id == job_id
                and k.output_name == "counts_total_cumulative"
                and d.value == 14 * 50
            )  # no partial results from before the kill
        )
        beats.close()
        results.close()
    finally:
        process.close()


def test_run_start_with_reset_policy_restarts_accumulation(
    dummy, start_service, results, raw, kafka_settings
) -> None:
    start_service("detector_data", dummy)
    job_id = start_job(
        kafka_settings, dummy, "panel_0_xy", "panel_0", run_policy=RunPolicy.RESET_AT_START
    )
    for i, batch in enumerate(pulses(14, 100)):
        raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
    raw.flush()
    results.wait_for(
        lambda k, d: (
            k.job_id == job_id and k.output_name == "counts_total_cumulative" and d.value == 1400
        )
    )
    raw.send(Topic.FILEWRITER, encode_pl72(RunStart(run_name="r1", start_time=time.time_ns())))
    raw.flush()
    time.sleep(1.0)
    for i, batch in enumerate(pulses(14, 7, seed=9)):
        raw.send(Topic.DETECTOR, encode_ev44("panel_0", 100 + i, batch))
    raw.flush()
    results.wait_for(
        lambda k, d: (
            k.job_id == job_id and k.output_name == "counts_total_cumulative" and d.value == 98
        )
    )
