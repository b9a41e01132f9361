"""Reading what services publish: heartbeats (to see who is alive) and results."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence

from confluent_kafka import OFFSET_END, Consumer, Message, TopicPartition

from livedata.config.topics import Topic, topic_name
from livedata.core.status import ServiceState
from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings
from livedata.protocol.errors import DecodeError
from livedata.protocol.heartbeats import ServiceHeartbeat, decode_heartbeat


def tail_consumer(settings: KafkaSettings, topic: str) -> Consumer:
    """A consumer of one topic from its newest offset (no group, no commits)."""
    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": f"livedata-watch-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "latest",
            "fetch.max.bytes": MAX_MESSAGE_BYTES,
            "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
            "receive.message.max.bytes": MAX_MESSAGE_BYTES + 1_000_000,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
    return consumer


def messages(consumer: Consumer, *, until: Callable[[], bool]) -> Iterator[Message]:
    while not until():
        for message in consumer.consume(100, 0.2):
            if message.error() is None:
                yield message


def wait_for_services(
    settings: KafkaSettings,
    instrument: str,
    service_names: Sequence[str],
    *,
    timeout_s: float,
    stop: threading.Event,
    report: Callable[[str], None],
) -> bool:
    """Wait until every named service sends a ``running`` heartbeat; report progress."""
    consumer = tail_consumer(settings, topic_name(instrument, Topic.HEARTBEAT))
    deadline = time.monotonic() + timeout_s
    running: set[str] = set()
    try:
        for message in messages(
            consumer,
            until=lambda: (
                stop.is_set() or time.monotonic() > deadline or running >= set(service_names)
            ),
        ):
            try:
                heartbeat = decode_heartbeat(message.value() or b"")
            except DecodeError:
                continue
            if not isinstance(heartbeat, ServiceHeartbeat):
                continue
            status = heartbeat.status
            if status.state is ServiceState.RUNNING and status.service_name not in running:
                running.add(status.service_name)
                report(f"{status.service_name} is running ({len(running)}/{len(service_names)})")
    finally:
        consumer.close()
    missing = sorted(set(service_names) - running)
    if missing and not stop.is_set():
        report(f"error: no heartbeat from {', '.join(missing)} within {timeout_s:.0f} s")
    return not missing
