"""Rotations of the embedded broker's topics under running services (ADR 0006)."""

import dataclasses
import threading
import time

import pytest
from confluent_kafka.admin import AdminClient

from livedata.cli.broker import start_broker
from livedata.config.registry import load_instrument
from livedata.config.topics import Topic
from livedata.kafka.broker_guard import MIN_BUDGET, rotation_tiers
from livedata.kafka.embedded_broker import free_port
from livedata.kafka.rotation import TopicRotator, marker_name
from livedata.kafka.settings import KafkaSettings
from livedata.protocol.ev44 import encode_ev44
from livedata.protocol.heartbeats import ServiceHeartbeat
from livedata.services.runner import ServiceOptions, build_service
from livedata.testing.stack import (
    HeartbeatReader,
    RawProducer,
    ResultReader,
    RunningService,
    pulses,
    start_job,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def total(job_id, output: str, value: float):
    return lambda key, data: (
        key.job_id == job_id and key.output_name == output and float(data.sum().value) == value
    )


def send_pulses(raw: RawProducer, count: int, events: int, *, seed: int) -> int:
    sent = 0
    for i, batch in enumerate(pulses(count, events, seed=seed)):
        raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
        raw.send(Topic.BEAM_MONITOR, encode_ev44("monitor1", i, batch))
        sent += len(batch)
    raw.flush()
    return sent


def wait_for_marker(settings: KafkaSettings, topic: str, timeout_s: float = 5.0) -> None:
    with AdminClient(settings.client_config()) as admin:
        deadline = time.monotonic() + timeout_s
        while marker_name(topic) not in admin.list_topics(timeout=5).topics:
            assert time.monotonic() < deadline, "the rotation was never announced"
            time.sleep(0.05)


def test_after_a_raw_rotation_services_count_exactly_what_follows(
    dummy, start_service, results, raw, kafka_settings
) -> None:
    start_service("detector_data", dummy)
    start_service("monitor_data", dummy)
    detector_job = start_job(kafka_settings, dummy, "panel_0_xy", "panel_0")
    monitor_job = start_job(kafka_settings, dummy, "monitor_histogram", "monitor1")
    beats = HeartbeatReader(kafka_settings, dummy.name)
    try:
        before = send_pulses(raw, 14, 100, seed=1)
        results.wait_for(total(detector_job, "counts_total_cumulative", before))
        results.wait_for(total(monitor_job, "counts_total_cumulative", before))

        raw_tier = rotation_tiers([dummy.name])[0]
        rotation = threading.Thread(
            target=TopicRotator(kafka_settings, grace_s=2.0).rotate, args=(raw_tier.plans,)
        )
        rotation.start()
        wait_for_marker(kafka_settings, f"{dummy.name}_detector")
        time.sleep(1.0)  # the services have let go of the raw topics by now
        doomed = send_pulses(raw, 7, 1000, seed=2)  # into topics about to be deleted
        rotation.join()

        after = send_pulses(raw, 14, 300, seed=3)
        results.wait_for(total(detector_job, "counts_total_cumulative", before + after))
        results.wait_for(total(monitor_job, "counts_total_cumulative", before + after))
        time.sleep(2.0)  # any result counting the doomed events would have come by now
        totals = [
            float(data.sum().value)
            for key, data in results.seen
            if key.output_name == "counts_total_cumulative"
        ]
        assert max(totals) == before + after
        assert doomed > 0

        def followed(h) -> bool:  # the source counts it, and the heartbeat says so
            if not isinstance(h, ServiceHeartbeat) or h.status.service_name != "detector_data":
                return False
            return h.status.stream_stats.get("ingress", {}).get("rotations_followed", 0) >= 1

        beat = beats.wait_for(followed, timeout_s=10)
        assert beat.status.stream_stats["ingress"]["topics_reassigned"] >= 1
    finally:
        beats.close()


def test_results_keep_flowing_to_a_reader_through_a_results_rotation(
    dummy, start_service, results, raw, kafka_settings
) -> None:
    start_service("detector_data", dummy)
    job_id = start_job(kafka_settings, dummy, "panel_0_xy", "panel_0")
    first = send_pulses(raw, 14, 100, seed=1)
    results.wait_for(total(job_id, "counts_total_cumulative", first))

    results_tier = rotation_tiers([dummy.name])[1]
    assert TopicRotator(kafka_settings, grace_s=1.0).rotate(results_tier.plans)

    second = send_pulses(raw, 14, 100, seed=2)
    results.wait_for(total(job_id, "counts_total_cumulative", first + second))


def test_the_guard_keeps_the_broker_under_its_budget_while_results_continue(
    instrument_name: str,
) -> None:
    """A 256 MiB budget filled at ~24 MB/s: a rotation every few seconds, the broker's
    memory stays under the budget, and the detector service counts on throughout."""
    budget = MIN_BUDGET
    dummy = dataclasses.replace(load_instrument("dummy"), name=instrument_name)
    running = start_broker(free_port(), [dummy.name], memory_budget=budget)
    settings = KafkaSettings(bootstrap_servers=running.bootstrap)
    options = ServiceOptions(service_name="detector_data", instrument=dummy.name)
    service = RunningService(build_service(options, settings=settings, instrument=dummy))
    reader = ResultReader(settings, dummy.name)
    try:
        job_id = start_job(settings, dummy, "panel_0_xy", "panel_0")
        raw = RawProducer(settings, dummy.name)
        events = 250_000  # 2 MB of ev44 per pulse, 12 pulses a second
        peak = 0
        started = time.monotonic()
        for second in range(25):
            for i, batch in enumerate(pulses(12, events, seed=second)):
                raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
            raw.flush()
            peak = max(peak, running.broker.rss_bytes())
            time.sleep(max(0.0, started + second + 1 - time.monotonic()))
        stats = running.guard.stats()
        assert stats.rotations.get("raw", 0) >= 2, stats
        assert peak <= budget, f"peak {peak / 2**20:.0f} MiB"
        assert stats.peak_rss_bytes <= budget
        assert stats.over_budget_polls == 0
        assert stats.last_rotation is not None
        assert stats.last_rotation.rss_after < stats.last_rotation.rss_before

        def cumulative(key, data) -> bool:
            return key.job_id == job_id and key.output_name == "counts_total_cumulative"

        reader.wait_for(cumulative)
        while running.guard.stats().rotating:  # what is sent meanwhile is dropped
            time.sleep(0.1)
        so_far = max(float(d.sum().value) for k, d in reader.seen if cumulative(k, d))
        for i, batch in enumerate(pulses(14, 100)):  # after the last rotation: counted
            raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
        raw.flush()
        reader.wait_for(lambda k, d: cumulative(k, d) and float(d.sum().value) > so_far)
        assert service.exit_code is None
    finally:
        reader.close()
        service.stop()
        running.stop()
