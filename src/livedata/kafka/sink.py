"""The Kafka sink: results as da00, responses as JSON, status as x5f2 heartbeats.

Production is asynchronous; delivery reports count failures. When librdkafka's local
queue is full the sink serves delivery reports briefly and retries, and if the queue
stays full it drops the message and counts it, so a slow broker never blocks the
processing loop for long.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

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
from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings
from livedata.protocol.da00 import encode_da00
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


def producer_config(settings: KafkaSettings) -> dict[str, Any]:
    """Settings of every livedata producer: large messages, bounded local queue."""
    return {
        **settings.client_config(),
        "message.max.bytes": MAX_MESSAGE_BYTES,
        "linger.ms": LINGER_MS,
        "queue.buffering.max.kbytes": 1024 * 1024,  # 1 GiB of pending results at most
        "enable.idempotence": False,
        "compression.type": "none",
    }


class KafkaSink:
    """A ``MessageSink`` publishing one instrument's service outputs."""

    def __init__(
        self, *, settings: KafkaSettings, instrument: str, producer: Producer | None = None
    ) -> None:
        self._producer = producer or Producer(producer_config(settings))
        self._topics = {
            StreamKind.RESULTS: topic_name(instrument, Topic.DATA),
            StreamKind.RESPONSES: topic_name(instrument, Topic.RESPONSES),
            StreamKind.STATUS: topic_name(instrument, Topic.HEARTBEAT),
            StreamKind.JOBS: topic_name(instrument, Topic.JOBS),
        }
        self._host = socket.gethostname()
        self._pid = os.getpid()
        self.counters: Counter[str] = Counter()
        """produced, delivery_failed, dropped_queue_full, encode_failed."""
        self._last_error_log = 0.0

    def publish(self, messages: Sequence[Message[Any]]) -> None:
        for message in messages:
            topic = self._topics.get(message.stream.kind)
            if topic is None:
                self.counters["unroutable"] += 1
                continue
            try:
                payload = self._encode(message.value, message.timestamp)
            except (EncodeError, ValueError, TypeError) as err:
                self.counters["encode_failed"] += 1
                self._log_error("encode_failed", error=str(err))
                continue
            self._produce(topic, payload, message.timestamp)
        self._producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        remaining = self._producer.flush(timeout_s)
        if remaining:
            logger.warning("sink_flush_incomplete", undelivered=remaining)

    def stats(self) -> Mapping[str, int]:
        return dict(self.counters)

    def _encode(self, value: Any, timestamp: int) -> bytes:
        if isinstance(value, Result):
            return encode_da00(
                encode_result_key(value.key), value.data, timestamp_ns=timestamp, label=value.title
            )
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

    def _produce(self, topic: str, payload: bytes, timestamp_ns: int) -> None:
        for _ in range(FULL_QUEUE_RETRIES):
            try:
                self._producer.produce(
                    topic,
                    payload,
                    timestamp=timestamp_ns // 1_000_000,
                    on_delivery=self._on_delivery,
                )
                self.counters["produced"] += 1
                return
            except BufferError:
                self._producer.poll(FULL_QUEUE_WAIT_S)
            except KafkaException as err:  # e.g. MSG_SIZE_TOO_LARGE: this message only
                self.counters["rejected_by_producer"] += 1
                self._log_error("produce_failed", topic=topic, size=len(payload), error=str(err))
                return
        self.counters["dropped_queue_full"] += 1
        self._log_error("producer_queue_full", topic=topic)

    def _on_delivery(self, error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            self.counters["delivery_failed"] += 1
            self._log_error("delivery_failed", error=str(error))

    def _log_error(self, event: str, **fields: Any) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= ERROR_LOG_INTERVAL_S:
            self._last_error_log = now
            logger.error(event, counters=dict(self.counters), **fields)
