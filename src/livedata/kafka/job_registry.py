"""Reading back a worker's newest job snapshot, to restore its jobs after a restart."""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from livedata.config.topics import Topic, topic_name
from livedata.core.snapshot import JobSnapshot
from livedata.kafka.client_errors import ClientErrors
from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings
from livedata.protocol.errors import DecodeError
from livedata.protocol.job_snapshot import decode_job_snapshot

logger = structlog.get_logger(__name__)

READ_TIMEOUT_S = 10.0
"""Longest a starting service spends looking for its jobs before it starts empty."""

METADATA_ATTEMPT_S = 1.0
"""The topic is looked up in attempts this long: between them the consumer's callbacks
are served, which is where a refused login is reported (``ClientErrors``)."""

IDLE_AFTER_END_S = 0.5
"""Quiet time after the reported end of the topic before we trust we saw everything
(the embedded broker's high watermark can lag one producer batch)."""


class RegistryUnreadableError(RuntimeError):
    """The job registry could not be read (broker down): we do not know our jobs."""


def latest_snapshot(
    settings: KafkaSettings,
    instrument: str,
    *,
    service_name: str,
    worker_id: str,
    timeout_s: float = READ_TIMEOUT_S,
) -> JobSnapshot | None:
    """The newest snapshot this worker published, or None if it never published one.

    Raises ``RegistryUnreadableError`` when the broker cannot be asked, so the caller can
    tell "no jobs" from "unknown", and ``KafkaRefusedError`` when it refused our login or
    TLS settings, which no retry mends.
    """
    topic = topic_name(instrument, Topic.JOBS)
    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": f"livedata-recovery-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.max.bytes": MAX_MESSAGE_BYTES,
            "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
            "receive.message.max.bytes": MAX_MESSAGE_BYTES + 1_000_000,
        }
    )
    deadline = time.monotonic() + timeout_s
    newest: JobSnapshot | None = None
    try:
        metadata = _look_up(consumer, topic, deadline, settings.client_errors)
        partitions = metadata.topics.get(topic)
        if partitions is None or partitions.error is not None:
            return None
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions.partitions])
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)[1]
            for p in partitions.partitions
        }
        read_to: dict[int, int] = dict.fromkeys(ends, -1)
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            messages = consumer.consume(500, 0.2)
            settings.client_errors.raise_if_refused()
            for message in messages:
                if message.error() is not None:
                    continue
                partition, offset = message.partition(), message.offset()
                if partition is not None and offset is not None:
                    read_to[partition] = offset
                try:
                    snapshot = decode_job_snapshot(message.value() or b"")
                except DecodeError:
                    continue
                if (snapshot.service_name, snapshot.worker_id) == (service_name, worker_id):
                    newest = snapshot if newest is None or snapshot.time >= newest.time else newest
            if messages:
                quiet_since = time.monotonic()
            at_end = all(read_to[p] + 1 >= end for p, end in ends.items())
            if at_end and time.monotonic() - quiet_since >= IDLE_AFTER_END_S:
                break
    except KafkaException as err:
        raise RegistryUnreadableError(str(err)) from err
    finally:
        consumer.close()
    return newest


def _look_up(consumer: Consumer, topic: str, deadline: float, errors: ClientErrors) -> Any:
    """``topic``'s metadata, asked for until ``deadline``; raises ``KafkaRefusedError``
    as soon as a refusal is reported, ``KafkaException`` when the time is up."""
    while True:
        attempt_s = max(0.0, min(METADATA_ATTEMPT_S, deadline - time.monotonic()))
        try:
            return consumer.list_topics(topic, timeout=attempt_s)
        except KafkaException:
            # Serves error_cb (nothing is assigned: no message is taken), and keeps a
            # lookup that fails at once from spinning.
            consumer.poll(0.1)
            errors.raise_if_refused()
            if time.monotonic() >= deadline:
                raise
