"""What only the wire can show: the producer's messages arrive whole through a broker."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections import Counter

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from livedata.config.registry import load_instrument
from livedata.config.topics import Topic, topic_name
from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.protocol.ev44 import decode_ev44
from livedata.protocol.f144 import decode_f144
from livedata.services.fake_producers.cli import ProducerOptions, run
from livedata.services.fake_producers.pacing import pulse_at, pulse_time
from livedata.services.fake_producers.sources import Kind, SourceOptions


def read_all(
    settings: KafkaSettings, topic: str, expected: int, timeout_s: float = 30.0
) -> list[bytes]:
    """Every message of ``topic`` from the start, once ``expected`` have arrived."""
    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": f"fake-producer-test-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.max.bytes": MAX_MESSAGE_BYTES,
            "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
            "receive.message.max.bytes": MAX_MESSAGE_BYTES + 1_000_000,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        payloads: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while len(payloads) < expected and time.monotonic() < deadline:
            for message in consumer.consume(100, 0.2):
                if message.error() is None:
                    payloads.append(message.value())
        return payloads
    finally:
        consumer.close()


@pytest.mark.integration
def test_two_seconds_of_events_arrive(kafka_settings: KafkaSettings, instrument_name: str) -> None:
    instrument = dataclasses.replace(load_instrument("dummy"), name=instrument_name)
    create_topics(kafka_settings, instrument_name)
    options = ProducerOptions(
        instrument=instrument_name,
        sources=SourceOptions(
            kinds=frozenset({Kind.DETECTOR, Kind.MONITOR, Kind.LOG}),
            event_rate=1_000_000,
            monitor_rate=10_000,
            frame_rate=1.0,
        ),
        duration_s=2.0,
        seed=7,
    )
    stats = run(instrument, options, settings=kafka_settings)
    assert stats.get("delivered") == stats.get("produced")
    assert not stats.get("delivery_failed")
    assert not stats.get("dropped_queue_full")

    pulses = stats["pulses"]
    assert pulses + stats["skipped_pulses"] >= 27
    detector = read_all(kafka_settings, topic_name(instrument_name, Topic.DETECTOR), pulses)
    assert len(detector) == pulses
    decoded = [decode_ev44(p) for p in detector]
    assert sum(len(m.events) for m in decoded) == stats["events"]["panel_0"]
    if stats["skipped_pulses"] == 0:
        # A full pulse train: 1e6 events/s for ~2 s, to the event (14 pulses = 1e6).
        assert stats["events"]["panel_0"] == pytest.approx(pulses * 1_000_000 / 14, abs=1)
    times = [m.data_time for m in decoded]
    assert times == sorted(times)
    assert all(t is not None and pulse_time(pulse_at(t)) == t for t in times)  # on the grid

    monitors = read_all(kafka_settings, topic_name(instrument_name, Topic.BEAM_MONITOR), 2 * pulses)
    per_monitor = Counter(decode_ev44(p).source_name for p in monitors)
    assert per_monitor == {"monitor1": pulses, "monitor2": pulses}

    logs = read_all(kafka_settings, topic_name(instrument_name, Topic.MOTION), 4)
    assert {decode_f144(p)[0] for p in logs} == {"motion1", "motion2"}
