"""Reading what services publish: heartbeats (to see who is alive) and results."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence

import scipp as sc
from confluent_kafka import OFFSET_END, Consumer, Message

from livedata.config.topics import Topic, topic_name
from livedata.core.identity import ResultKey
from livedata.core.status import ServiceState
from livedata.kafka.assigned_consumer import AssignedConsumer
from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings
from livedata.protocol.da00 import decode_da00
from livedata.protocol.errors import DecodeError
from livedata.protocol.heartbeats import ServiceHeartbeat, decode_heartbeat
from livedata.protocol.result_key import decode_result_key


def tail_consumer(settings: KafkaSettings, topic: str) -> AssignedConsumer:
    """A consumer of one topic from now on: from its newest offset, and only messages
    stamped after its creation (no group, no commits). An explicit ``assign`` picks
    other offsets and lifts the time filter.

    It keeps reading through the topic's deletion and recreation, and through the
    embedded broker's rotations (``AssignedConsumer``).
    """
    return AssignedConsumer(
        {
            **settings.client_config(),
            "group.id": f"livedata-watch-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "latest",
            "fetch.max.bytes": MAX_MESSAGE_BYTES,
            "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
            "receive.message.max.bytes": MAX_MESSAGE_BYTES + 1_000_000,
        },
        {topic: OFFSET_END},
        newer_than_ms=time.time_ns() // 1_000_000,
    )


def messages(consumer: Consumer, *, until: Callable[[], bool]) -> Iterator[Message]:
    while not until():
        for message in consumer.consume(100, 0.2):
            if message.error() is None:
                yield message


def decode_result(payload: bytes | None) -> tuple[ResultKey, sc.DataArray]:
    """The key and data of a message on a results topic; raises ``DecodeError``."""
    source_name, _, data = decode_da00(payload or b"")
    return decode_result_key(source_name), data


def wait_for_services(
    settings: KafkaSettings,
    instrument: str,
    service_names: Sequence[str],
    *,
    timeout_s: float,
    stop: threading.Event,
    report: Callable[[str], None],
    exited: Callable[[], Sequence[str]] = lambda: (),
) -> bool:
    """Wait until every named service sends a ``running`` heartbeat; report progress.

    ``exited`` names the processes that have already ended: waiting for them would
    only end at the timeout, minutes later, so one exit ends the wait at once."""
    consumer = tail_consumer(settings, topic_name(instrument, Topic.HEARTBEAT))
    deadline = time.monotonic() + timeout_s
    running: set[str] = set()
    dead: Sequence[str] = ()

    def done() -> bool:
        nonlocal dead
        dead = exited()
        return bool(
            dead or stop.is_set() or time.monotonic() > deadline or running >= set(service_names)
        )

    try:
        for message in messages(consumer, until=done):
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
    if dead and not stop.is_set():
        report(f"error: {', '.join(dead)} exited while starting (its log is above)")
        return False
    if missing and not stop.is_set():
        report(f"error: no heartbeat from {', '.join(missing)} within {timeout_s:.0f} s")
    return not missing
