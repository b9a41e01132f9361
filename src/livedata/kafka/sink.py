"""The Kafka sink: results as da00, responses as JSON, status as x5f2 heartbeats.

Production is asynchronous; delivery reports count failures. When librdkafka's local
queue is full the sink serves delivery reports briefly and retries, and if the queue
stays full it drops the message and counts it, so a slow broker never blocks the
processing loop for long. Results and heartbeats the broker has not confirmed within a
few seconds are dropped and counted rather than delivered late (no replay of stale
results after an outage); command responses and job snapshots go through a second
producer that keeps trying for a minute, so a broker blip never loses the answer to a
command that was applied. A result too large for its topic (``TopicSizeLimits``) is
downsampled until it fits, and dropped and counted only when it cannot be.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import scipp as sc
import structlog
from confluent_kafka import KafkaError, KafkaException, Producer

from livedata import __version__
from livedata.config.topics import Topic, topic_name
from livedata.core.control import CommandResponse
from livedata.core.message import Message, StreamKind
from livedata.core.processor import STATUS_INTERVAL_NS
from livedata.core.results import Result
from livedata.core.snapshot import JobSnapshot
from livedata.core.status import JobStatus, ServiceStatus
from livedata.kafka.client_defaults import RECONNECT_BACKOFF_MAX_MS
from livedata.kafka.downsample import downsample_to_fit
from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings
from livedata.kafka.size_limits import TopicSizeLimits
from livedata.protocol.da00 import MAX_ELEMENTS, MAX_UNIT_BYTES, encode_da00
from livedata.protocol.errors import EncodeError
from livedata.protocol.heartbeats import encode_job_heartbeat, encode_service_heartbeat
from livedata.protocol.job_snapshot import encode_job_snapshot
from livedata.protocol.responses import encode_response
from livedata.protocol.result_key import encode_result_key

logger = structlog.get_logger(__name__)

FULL_QUEUE_RETRIES = 5
FULL_QUEUE_WAIT_S = 0.05
"""Up to 0.25 s spent waiting on a full producer queue before a message is dropped."""

LINGER_MS = 5
"""Batch what one processing step publishes without adding visible latency."""

ERROR_LOG_INTERVAL_S = 10.0

DELIVERY_TIMEOUT_S = 5.0
"""librdkafka's ``message.timeout.ms`` for data: what the broker has not confirmed within
this long is dropped and counted (``delivery_failed``) instead of being delivered later.
Live results, heartbeats and raw pulses are stale after a few seconds; librdkafka's
default (5 minutes) would replay minutes of them after a broker outage."""

CONTROL_DELIVERY_TIMEOUT_S = 60.0
"""``message.timeout.ms`` for command responses and job snapshots: they are not stale
after a blip. An ACK dropped after 5 s would make the dashboard report a job that runs
as failed; a late one corrects it. A minute covers a broker restart (services resume
within ~15 s) and stays within what a sender waits for before it gives up."""

CONTROL_KINDS = frozenset({StreamKind.RESPONSES, StreamKind.JOBS})
"""What goes through the control producer."""


def producer_config(settings: KafkaSettings) -> dict[str, Any]:
    """Settings of every livedata producer: large messages, bounded local queue."""
    return {
        **settings.client_config(),
        "message.max.bytes": MAX_MESSAGE_BYTES,
        "linger.ms": LINGER_MS,
        "queue.buffering.max.kbytes": 1024 * 1024,  # 1 GiB of pending results at most
        "enable.idempotence": False,
        "compression.type": "none",
        "message.timeout.ms": int(DELIVERY_TIMEOUT_S * 1000),
        "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
    }


def control_producer_config(settings: KafkaSettings) -> dict[str, Any]:
    """``producer_config`` for command responses and job snapshots: kept for a minute."""
    return {
        **producer_config(settings),
        "message.timeout.ms": int(CONTROL_DELIVERY_TIMEOUT_S * 1000),
    }


class KafkaSink:
    """A ``MessageSink`` publishing one instrument's service outputs."""

    def __init__(
        self,
        *,
        settings: KafkaSettings,
        instrument: str,
        producer: Producer | None = None,
        control_producer: Producer | None = None,
    ) -> None:
        """``producer`` and ``control_producer`` replace the ones built from ``settings``
        (tests); a given ``producer`` serves both unless ``control_producer`` is given."""
        # ``is None``: a Producer with nothing queued is falsy (it has a ``__len__``).
        self._producer = producer if producer is not None else Producer(producer_config(settings))
        if control_producer is None:
            control_producer = (
                producer if producer is not None else Producer(control_producer_config(settings))
            )
        self._control_producer = control_producer
        self._producers = (
            (self._producer,)
            if self._control_producer is self._producer
            else (self._producer, self._control_producer)
        )
        self._topics = {
            StreamKind.RESULTS: topic_name(instrument, Topic.DATA),
            StreamKind.RESPONSES: topic_name(instrument, Topic.RESPONSES),
            StreamKind.STATUS: topic_name(instrument, Topic.HEARTBEAT),
            StreamKind.JOBS: topic_name(instrument, Topic.JOBS),
        }
        self._host = socket.gethostname()
        self._pid = os.getpid()
        # Only results grow large. A given producer (a test's fake) has no broker to ask.
        self._limits = TopicSizeLimits(
            settings if producer is None else None, [self._topics[StreamKind.RESULTS]]
        )
        self.counters: Counter[str] = Counter()
        """produced, delivery_failed, dropped_queue_full, encode_failed, rejected_by_producer,
        downsampled, oversized_dropped."""
        self._last_error_log = 0.0
        self._last_downsample_log = 0.0
        self._queued_bytes = 0
        """Payload bytes handed to the producers and not yet delivered or dropped."""

    def publish(self, messages: Sequence[Message[Any]]) -> None:
        for message in messages:
            topic = self._topics.get(message.stream.kind)
            if topic is None:
                self.counters["unroutable"] += 1
                continue
            try:
                encoded = self._encode(message.value, message.timestamp)
                payload = (
                    self._fit(topic, message.value, message.timestamp, encoded)
                    if isinstance(message.value, Result)
                    else encoded
                )
            except (EncodeError, ValueError, TypeError) as err:
                self.counters["encode_failed"] += 1
                self._log_error("encode_failed", error=str(err))
                continue
            if payload is not None:
                producer = (
                    self._control_producer
                    if message.stream.kind in CONTROL_KINDS
                    else self._producer
                )
                self._produce(producer, topic, payload, message.timestamp)
        for producer in self._producers:
            producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        remaining = 0
        for producer in self._producers:
            remaining += producer.flush(max(0.0, deadline - time.monotonic()))
        if remaining:
            logger.warning("sink_flush_incomplete", undelivered=remaining)

    def stats(self) -> Mapping[str, int]:
        return dict(self.counters)

    def buffered_bytes(self) -> int:
        """Payload bytes waiting in the producers' queues (``ReportsBufferedBytes``): up
        to 1 GiB each while a broker is away, and no job's doing."""
        return self._queued_bytes

    def _encode(self, value: Any, timestamp: int) -> bytes:
        if isinstance(value, Result):
            return _encode_result(value, value.data, timestamp, value.title)
        if isinstance(value, CommandResponse):
            return encode_response(value)
        if isinstance(value, JobSnapshot):
            return encode_job_snapshot(value)
        if isinstance(value, ServiceStatus | JobStatus):
            encode = (
                encode_service_heartbeat
                if isinstance(value, ServiceStatus)
                else encode_job_heartbeat
            )
            return encode(
                value,  # type: ignore[arg-type]  # paired with its encoder just above
                software_version=__version__,
                host_name=self._host,
                process_id=self._pid,
                update_interval_ms=STATUS_INTERVAL_NS // 1_000_000,
            )
        raise TypeError(f"no wire format for {type(value).__name__}")

    def _fit(self, topic: str, result: Result, timestamp: int, payload: bytes) -> bytes | None:
        """``payload``, or the result downsampled to fit the topic and what our readers
        decode (``MAX_ELEMENTS`` per variable); None if it cannot be."""
        limit = self._limits.limit(topic)
        if len(payload) <= limit and _largest_variable(result.data) <= MAX_ELEMENTS:
            return payload
        full_size, full_bins = len(payload), max(result.data.size, 1)

        def fits(data: sc.DataArray) -> bool:
            # Most of a large payload is its bins: skip encoding what cannot fit yet.
            if full_size * data.size / full_bins > limit:
                return False
            if _largest_variable(data) > MAX_ELEMENTS:
                return False
            return len(_encode_result(result, data, timestamp, result.title)) <= limit

        try:
            shrunk = downsample_to_fit(result.data, fits)
        except Exception:  # an odd result must cost that result only, never the service
            logger.exception("result_downsampling_failed", output=str(result.key))
            shrunk = None
        if shrunk is None:
            self.counters["oversized_dropped"] += 1
            self._log_error("result_too_large", output=str(result.key), size=full_size, limit=limit)
            return None
        self.counters["downsampled"] += 1
        now = time.monotonic()
        if now - self._last_downsample_log >= ERROR_LOG_INTERVAL_S:
            self._last_downsample_log = now
            logger.warning(
                "result_downsampled",
                output=str(result.key),
                size=full_size,
                limit=limit,
                factors=shrunk.describe(),
                count=self.counters["downsampled"],
            )
        note = f"(downsampled {shrunk.describe()})"
        room = MAX_UNIT_BYTES - len(note) - 1  # readers refuse longer labels
        title = result.title.encode()[:room].decode(errors="ignore")
        return _encode_result(result, shrunk.data, timestamp, f"{title} {note}".lstrip())

    def _produce(self, producer: Producer, topic: str, payload: bytes, timestamp_ns: int) -> None:
        for _ in range(FULL_QUEUE_RETRIES):
            try:
                producer.produce(
                    topic,
                    payload,
                    timestamp=timestamp_ns // 1_000_000,
                    on_delivery=self._on_delivery,
                )
                self.counters["produced"] += 1
                self._queued_bytes += len(payload)
                return
            except BufferError:
                producer.poll(FULL_QUEUE_WAIT_S)
            except KafkaException as err:  # e.g. MSG_SIZE_TOO_LARGE: this message only
                self.counters["rejected_by_producer"] += 1
                if err.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE:
                    self._limits.refused(topic, len(payload))
                self._log_error("produce_failed", topic=topic, size=len(payload), error=str(err))
                return
        self.counters["dropped_queue_full"] += 1
        self._log_error("producer_queue_full", topic=topic)

    def _on_delivery(self, error: KafkaError | None, message: Any) -> None:
        # Served by ``poll``/``flush``, on the processing loop's thread like ``publish``.
        self._queued_bytes = max(0, self._queued_bytes - len(message.value() or b""))
        if error is not None:
            self.counters["delivery_failed"] += 1
            self._log_error("delivery_failed", error=str(error))
            if error.code() == KafkaError.MSG_SIZE_TOO_LARGE:  # the broker's limit is lower
                self._limits.refused(message.topic(), len(message.value() or b""))

    def _log_error(self, event: str, **fields: Any) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= ERROR_LOG_INTERVAL_S:
            self._last_error_log = now
            logger.error(event, counters=dict(self.counters), **fields)


def _encode_result(result: Result, data: Any, timestamp: int, label: str) -> bytes:
    return encode_da00(encode_result_key(result.key), data, timestamp_ns=timestamp, label=label)


def _largest_variable(data: sc.DataArray) -> int:
    return max([data.size, *(coord.size for coord in data.coords.values())])
