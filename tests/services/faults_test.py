"""Faults injected into a running stack: the broker away or killed, signals under load,
overload, bad timestamps and oversized messages (QUALITY.md, reliability table).

Tests that stop or kill a broker, or load one with much data, start a broker of their
own: the session broker is shared by the whole suite.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
import uuid

import numpy as np
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from livedata.config.instrument import Instrument
from livedata.config.registry import load_instrument
from livedata.config.topics import Topic, topic_name
from livedata.core.batching import NS_PER_S
from livedata.core.control import WorkflowConfig
from livedata.core.identity import JobId, WorkflowId
from livedata.core.memory import process_rss_bytes
from livedata.core.service import Service
from livedata.core.status import JobState, ServiceState
from livedata.core.values import EventBatch
from livedata.kafka.embedded_broker import EmbeddedBroker, free_port
from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings
from livedata.kafka.sink import DELIVERY_TIMEOUT_S, producer_config
from livedata.kafka.topics import create_topics
from livedata.protocol.commands import encode_command
from livedata.protocol.ev44 import encode_ev44
from livedata.protocol.heartbeats import ServiceHeartbeat
from livedata.services.runner import ServiceOptions, build_service
from livedata.testing.stack import (
    EventStream,
    HeartbeatReader,
    RawProducer,
    ResultReader,
    RunningService,
    ServiceProcess,
    pulses,
    result_data_age_s,
    start_job,
)
from livedata.testing.throttled import THROTTLED, with_throttled_workflow

pytestmark = pytest.mark.integration

RESUME_WITHIN_S = 15.0
"""QUALITY.md: services resume within ~15 s of the broker returning."""


@pytest.fixture
def own_port() -> int:
    return free_port()


def settings_for(port: int) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")


def started_broker(port: int) -> EmbeddedBroker:
    broker = EmbeddedBroker(port=port)
    broker.start()
    broker.wait_ready()
    return broker


def detector_data_on_own_broker(
    port: int, instrument: Instrument
) -> tuple[KafkaSettings, EmbeddedBroker, Service]:
    """A broker of this test's on ``port``, the instrument's topics, and a detector_data
    service built (not started) for it."""
    settings = settings_for(port)
    broker = started_broker(port)
    create_topics(settings, instrument.name)
    options = ServiceOptions(service_name="detector_data", instrument=instrument.name)
    return settings, broker, build_service(options, settings=settings, instrument=instrument)


def stamped(events: int, reference_time: int) -> EventBatch:
    """One pulse of ``events`` events on the dummy panel with the given pulse time."""
    return EventBatch(
        time_of_arrival=np.zeros(events, dtype=np.int32),
        pixel_id=np.ones(events, dtype=np.int32),
        reference_time=np.array([reference_time], dtype=np.int64),
        reference_time_index=np.array([0], dtype=np.int32),
    )


def counts_of(job_id, output: str = "counts_total"):
    """Results of ``job_id``'s ``output`` (the window's count by default)."""
    return lambda key, data: key.job_id == job_id and key.output_name == output


def test_a_service_started_before_its_broker_waits_and_then_produces(own_port: int) -> None:
    settings = settings_for(own_port)
    worker = f"w-{uuid.uuid4().hex[:8]}"
    service = ServiceProcess(
        "detector_data", instrument="dummy", settings=settings, worker_id=worker
    )
    broker: EmbeddedBroker | None = None
    try:
        time.sleep(4.0)  # a few connection attempts against nothing
        assert service.running, service.output()
        broker = started_broker(own_port)
        appeared = time.monotonic()
        create_topics(settings, "dummy")
        results = ResultReader(settings, "dummy")
        job_id = start_job(settings, load_instrument("dummy"), "panel_0_xy", "panel_0")
        stream = EventStream(settings, "dummy", events_per_s=10_000).start()
        try:
            results.wait_for(
                lambda k, d: counts_of(job_id)(k, d) and d.value > 0,
                timeout_s=RESUME_WITHIN_S,
            )
        finally:
            stream.stop()
            results.close()
        assert time.monotonic() - appeared < RESUME_WITHIN_S
        assert service.running, service.output()
    finally:
        service.close()
        if broker is not None:
            broker.stop()


def test_results_resume_after_the_broker_is_killed_without_stale_replay(own_port: int) -> None:
    settings = settings_for(own_port)
    worker = f"w-{uuid.uuid4().hex[:8]}"
    broker = started_broker(own_port)
    create_topics(settings, "dummy")
    service = ServiceProcess(
        "detector_data", instrument="dummy", settings=settings, worker_id=worker
    )
    try:
        job_id = start_job(settings, load_instrument("dummy"), "panel_0_xy", "panel_0")
        results = ResultReader(settings, "dummy")
        stream = EventStream(settings, "dummy", events_per_s=100_000).start()
        results.wait_for(lambda k, d: counts_of(job_id)(k, d) and d.value > 0)
        stream.stop()
        results.close()

        os.kill(broker.pid, signal.SIGKILL)  # mid-stream: the last window is still open
        broker.stop()  # reaps it
        # Longer than the sink's delivery timeout, with room for the last window's
        # results (closed by the wall clock after the kill): what it holds then is stale.
        time.sleep(DELIVERY_TIMEOUT_S + 4.0)
        assert service.running, service.output()
        broker = started_broker(own_port)
        returned = time.monotonic()
        returned_ns = time.time_ns()
        create_topics(settings, "dummy")  # the embedded broker kept nothing
        beats = HeartbeatReader(settings, "dummy")
        results = ResultReader(settings, "dummy", from_start=True)
        stream = EventStream(settings, "dummy", events_per_s=100_000, seed=1).start()
        try:
            results.wait_for(
                lambda k, d: counts_of(job_id)(k, d) and d.value > 0, timeout_s=RESUME_WITHIN_S
            )
            resumed_after = time.monotonic() - returned
            # The sink reports what it dropped.
            beat = beats.wait_for(
                lambda h: (
                    isinstance(h, ServiceHeartbeat)
                    and h.status.worker_id == worker
                    and h.status.stream_stats["egress"].get("delivery_failed", 0) > 0
                ),
                timeout_s=5,
            )
            # A later window too: anything held back would have arrived by then.
            results.wait_for(
                lambda k, d: (
                    counts_of(job_id)(k, d) and int(d.coords["start_time"].value) > returned_ns
                ),
                timeout_s=5,
            )
        finally:
            stream.stop()
            beats.close()
            results.close()
        assert resumed_after < RESUME_WITHIN_S
        assert service.running, service.output()
        windows = [
            (key.output_name, int(data.coords["start_time"].value))
            for key, data in results.seen
            if key.job_id == job_id and key.output_name in ("counts_total", "current")
        ]
        # Only windows of data sent after the return (aligned to whole seconds), each once.
        assert windows
        assert all(start >= returned_ns - 1_000_000_000 for _, start in windows), windows
        assert len(set(windows)) == len(windows)
        assert beat.status.state is ServiceState.RUNNING
    finally:
        service.close()
        broker.stop()


SIGTERM_EVENTS_PER_S = 5e6
"""A steady high rate (40 MB/s of ev44) that the dummy panel's service keeps up with."""


def test_sigterm_under_load_exits_within_5_s_with_final_stopped_heartbeats(
    own_port: int,
) -> None:
    settings = settings_for(own_port)
    worker = f"w-{uuid.uuid4().hex[:8]}"
    broker = started_broker(own_port)
    create_topics(settings, "dummy")
    beats = HeartbeatReader(settings, "dummy")
    service = ServiceProcess(
        "detector_data", instrument="dummy", settings=settings, worker_id=worker
    )
    stream: EventStream | None = None
    try:
        results = ResultReader(settings, "dummy")
        job_id = start_job(settings, load_instrument("dummy"), "panel_0_xy", "panel_0")
        stream = EventStream(settings, "dummy", events_per_s=SIGTERM_EVENTS_PER_S).start()
        # Under load: a window full of events came out.
        results.wait_for(
            lambda k, d: counts_of(job_id)(k, d) and d.value >= 0.5 * SIGTERM_EVENTS_PER_S
        )
        results.close()
        sent = time.monotonic()
        service.signal(signal.SIGTERM)
        code = service.wait(10)
        took = time.monotonic() - sent
        assert code == 0, service.output()  # a forced exit, past the grace, gives 3
        # Measured from outside, on a loaded machine: the 5 s grace plus start-up slack.
        assert took < 8.0
        stopped = beats.wait_for(
            lambda h: (
                isinstance(h, ServiceHeartbeat)
                and h.status.worker_id == worker
                and h.status.state is ServiceState.STOPPED
            ),
            timeout_s=5,
        )
        assert stopped.status.error is None
        beats.wait_for_job(job_id, JobState.STOPPED, timeout_s=5)
    finally:
        if stream is not None:
            stream.stop()
        beats.close()
        service.close()
        broker.stop()


def test_far_future_and_pre_epoch_stamps_mid_stream_are_counted_and_output_continues(
    dummy: Instrument, start_service, results: ResultReader, raw: RawProducer, kafka_settings
) -> None:
    start_service("detector_data", dummy)
    beats = HeartbeatReader(kafka_settings, dummy.name)
    job_id = start_job(kafka_settings, dummy, "panel_0_xy", "panel_0")
    stream = EventStream(kafka_settings, dummy.name, events_per_s=14_000).start()
    try:
        results.wait_for(lambda k, d: counts_of(job_id)(k, d) and d.value > 0)
        bad = {
            "far_future_timestamp": time.time_ns() + 365 * 24 * 3600 * NS_PER_S,
            "pre_epoch_timestamp": 315_532_800 * NS_PER_S,  # 1980: a zeroed or unset clock
            "negative_timestamp": -NS_PER_S,
        }
        for i, stamp in enumerate(bad.values()):
            raw.send(Topic.DETECTOR, encode_ev44("panel_0", 10_000 + i, stamped(100, stamp)))
        raw.flush()
        sent_bad = time.time_ns()
        # Windows keep closing on the wall clock's time: none was dragged a year ahead.
        _, later = results.wait_for(
            lambda k, d: (
                counts_of(job_id)(k, d)
                and d.value > 0
                and int(d.coords["start_time"].value) > sent_bad
            ),
            timeout_s=10,
        )
        assert result_data_age_s(later) < 5
        beat = beats.wait_for(
            lambda h: (
                isinstance(h, ServiceHeartbeat)
                and all(
                    h.status.stream_stats["batching"]["timestamp_issues"].get(reason, 0) >= 1
                    for reason in bad
                )
            ),
            timeout_s=10,
        )
        assert beat.status.stream_stats["batching"]["timestamp_issues"] == dict.fromkeys(bad, 1)
    finally:
        stream.stop()
        beats.close()


OVERLOAD_CAPACITY = 1e6
"""Events per second the throttled workflow processes."""

OVERLOAD_FACTOR = 3
"""QUALITY.md asks for fresh results at twice the capacity; we feed three times."""

OVERLOAD_S = 20.0
WARM_UP_S = 4.0

MAX_AGE_UNDER_OVERLOAD_S = 8.0
"""Data age of results under overload: at 3x a step takes ~3 s for the <= 1 s of data
it gets (the source's age limit), so ages of 2-6 s are expected. Falling behind instead
climbs past this within ~15 s (measured: 13.6 s after 20 s without the age limit)."""

MAX_RSS_GROWTH_BYTES = 200 * 1024 * 1024
"""The whole test process (service, producer, readers) after warm-up; the service kept
without an age limit grows ~20 MB/s here (its queue holds all it cannot process)."""


def test_overload_sheds_counted_data_and_stays_fresh_with_flat_memory(
    own_port: int, instrument_name: str
) -> None:
    # In-process, to use a workflow of deliberately small capacity; RSS is then the
    # test process's, which holds nothing else that grows.
    instrument = with_throttled_workflow(
        dataclasses.replace(load_instrument("dummy"), name=instrument_name)
    )
    settings, broker, built = detector_data_on_own_broker(own_port, instrument)
    service = RunningService(built)
    beats = HeartbeatReader(settings, instrument.name)
    results = ResultReader(settings, instrument.name)
    stream: EventStream | None = None
    try:
        job_id = start_job(
            settings,
            instrument,
            THROTTLED,
            "panel_0",
            params={"events_per_s": OVERLOAD_CAPACITY},
        )
        stream = EventStream(
            settings, instrument.name, events_per_s=OVERLOAD_FACTOR * OVERLOAD_CAPACITY
        ).start()
        started = time.monotonic()
        rss: list[tuple[float, int]] = []
        ages: list[tuple[float, float]] = []
        while (now := time.monotonic() - started) < OVERLOAD_S:
            for key, data in results.read(1.0):
                if key.job_id == job_id and key.output_name == "current":
                    ages.append((time.monotonic() - started, result_data_age_s(data)))
            rss.append((now, process_rss_bytes(os.getpid())))
        beat = beats.latest(lambda h: isinstance(h, ServiceHeartbeat))
    finally:
        if stream is not None:
            stream.stop()
        service.stop()
        beats.close()
        results.close()
        broker.stop()
    report = (
        f"ages {[(round(t), round(a, 1)) for t, a in ages]}, rss {[r >> 20 for _, r in rss]} MiB"
    )
    assert beat.status.stream_stats["ingress"]["dropped_messages"] > 0, report
    assert service.exit_code == 0
    settled = [age for at, age in ages if at > WARM_UP_S]
    assert len(settled) >= 4, report  # results keep coming, ...
    assert max(at for at, _ in ages) > OVERLOAD_S - 5, report
    assert max(settled) < MAX_AGE_UNDER_OVERLOAD_S, report  # ... and stay fresh
    base = next(r for at, r in rss if at > WARM_UP_S)
    assert max(r for _, r in rss) - base < MAX_RSS_GROWTH_BYTES, report


OVER_LIMIT = MAX_MESSAGE_BYTES + 2_000_000
"""Over what our consumers accept (``receive.message.max.bytes``, our limit + 1 MB)."""


SMALL_TOPIC_LIMIT = 100_000
"""A results topic limit below one 128x128 image with variances (~260 kB)."""


def test_a_result_over_its_topics_size_limit_is_downsampled(
    instrument_name: str, kafka_settings: KafkaSettings, start_service
) -> None:
    dummy = dataclasses.replace(load_instrument("dummy"), name=instrument_name)
    results_topic = topic_name(instrument_name, Topic.DATA)
    with AdminClient(kafka_settings.client_config()) as admin:
        created = admin.create_topics(
            [NewTopic(results_topic, 1, config={"max.message.bytes": str(SMALL_TOPIC_LIMIT)})]
        )
        created[results_topic].result(10)
    create_topics(kafka_settings, instrument_name)  # the others, with our defaults
    results = ResultReader(kafka_settings, instrument_name)
    beats = HeartbeatReader(kafka_settings, instrument_name)
    raw = RawProducer(kafka_settings, instrument_name)
    try:
        start_service("detector_data", dummy)
        job_id = start_job(kafka_settings, dummy, "panel_0_xy", "panel_0")
        for i, batch in enumerate(pulses(14, 500)):
            raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
        raw.flush()
        _, image = results.wait_for(
            lambda k, d: (
                k.job_id == job_id and k.output_name == "cumulative" and d.sum().value == 7000
            )
        )
        assert image.sizes == {"y": 64, "x": 64}  # halved twice over: 2x2 pixels per bin
        assert image.name.endswith("(downsampled y/2, x/2)")
        # Outputs that fit are untouched.
        results.wait_for(
            lambda k, d: counts_of(job_id, "counts_total_cumulative")(k, d) and d.value == 7000
        )
        beat = beats.wait_for(
            lambda h: (
                isinstance(h, ServiceHeartbeat)
                and h.status.stream_stats["egress"].get("downsampled", 0) > 0
            ),
            timeout_s=10,
        )
        assert "oversized_dropped" not in beat.status.stream_stats["egress"]
    finally:
        results.close()
        beats.close()
        raw.flush()


def test_an_input_message_over_the_consumers_limit_is_skipped_and_reported(
    own_port: int, instrument_name: str
) -> None:
    dummy = dataclasses.replace(load_instrument("dummy"), name=instrument_name)
    settings, broker, built = detector_data_on_own_broker(own_port, dummy)
    service = RunningService(built)
    beats = HeartbeatReader(settings, instrument_name)
    results = ResultReader(settings, instrument_name)
    stream: EventStream | None = None
    try:
        job_id = start_job(settings, dummy, "panel_0_xy", "panel_0")
        # A producer that allows more than we do (our topics allow it; Tansu has no limit).
        oversized = Producer({**producer_config(settings), "message.max.bytes": 2 * OVER_LIMIT})
        oversized.produce(topic_name(instrument_name, Topic.DETECTOR), bytes(OVER_LIMIT))
        assert oversized.flush(30) == 0
        del oversized
        sent_ns = time.time_ns()
        stream = EventStream(settings, instrument_name, events_per_s=100_000).start()
        results.wait_for(
            lambda k, d: (
                counts_of(job_id)(k, d)
                and d.value > 0
                and int(d.coords["start_time"].value) > sent_ns
            ),
            timeout_s=15,
        )
        beat = beats.wait_for(
            lambda h: (
                isinstance(h, ServiceHeartbeat)
                and h.status.stream_stats["ingress"].get("oversized_skips", 0) > 0
            ),
            timeout_s=10,
        )
        assert beat.status.state is ServiceState.RUNNING
    finally:
        if stream is not None:
            stream.stop()
        exit_code = service.stop()
        beats.close()
        results.close()
        broker.stop()
    assert exit_code == 0


def test_a_command_queued_behind_an_oversized_input_message_is_still_applied(
    own_port: int, instrument_name: str
) -> None:
    dummy = dataclasses.replace(load_instrument("dummy"), name=instrument_name)
    settings, broker, built = detector_data_on_own_broker(own_port, dummy)
    beats = HeartbeatReader(settings, instrument_name)
    results = ResultReader(settings, instrument_name)
    raw = RawProducer(settings, instrument_name)
    service: RunningService | None = None
    stream: EventStream | None = None
    try:
        # Both wait for the service's first read: the oversized detector message, and a
        # command on another partition of the same fetch.
        oversized = Producer({**producer_config(settings), "message.max.bytes": 2 * OVER_LIMIT})
        oversized.produce(topic_name(instrument_name, Topic.DETECTOR), bytes(OVER_LIMIT))
        assert oversized.flush(30) == 0
        del oversized
        command = WorkflowConfig(
            message_id=str(uuid.uuid4()),
            workflow_id=WorkflowId(instrument=instrument_name, name="panel_0_xy", version=1),
            job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
        )
        raw.send(Topic.COMMANDS, encode_command(command))
        raw.flush()
        service = RunningService(built)
        stream = EventStream(settings, instrument_name, events_per_s=100_000).start()
        results.wait_for(lambda k, d: counts_of(command.job_id)(k, d) and d.value > 0, timeout_s=15)
        # The oversized message was met, and skipped.
        beats.wait_for(
            lambda h: (
                isinstance(h, ServiceHeartbeat)
                and h.status.stream_stats["ingress"].get("oversized_skips", 0) > 0
            ),
            timeout_s=10,
        )
    finally:
        if stream is not None:
            stream.stop()
        exit_code = service.stop() if service is not None else 0
        beats.close()
        results.close()
        broker.stop()
    assert exit_code == 0
