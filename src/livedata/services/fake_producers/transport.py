"""Where a fake producer's messages go: Kafka, or a list in a test."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

import structlog
from confluent_kafka import KafkaError, KafkaException, Producer

from livedata.kafka.settings import KafkaSettings
from livedata.kafka.sink import producer_config

logger = structlog.get_logger(__name__)

FULL_QUEUE_RETRIES = 5
FULL_QUEUE_WAIT_S = 0.02
"""Up to 0.1 s (under two pulses) serving delivery reports while librdkafka's queue is
full; then the message is dropped and counted: a stalled broker makes the producer
shed data, never block (it keeps its pulse grid and counts what it lost)."""

ERROR_LOG_INTERVAL_S = 10.0
"""Errors repeat at the message rate; log them at most this often, with counts."""


class Transport(Protocol):
    def send(self, topic: str, payload: bytes, timestamp_ns: int) -> bool:
        """Queue one message; False if it was dropped (and counted)."""
        ...

    def poll(self) -> None:
        """Serve delivery reports without blocking."""
        ...

    def flush(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for queued messages; return how many are left."""
        ...

    def counters(self) -> Mapping[str, int]: ...


class KafkaTransport:
    """Produces to Kafka; counts queue-full drops, produce errors and failed deliveries."""

    def __init__(self, producer: Any) -> None:
        self._producer = producer
        self._counters: Counter[str] = Counter()
        self._last_error_log = -ERROR_LOG_INTERVAL_S

    @staticmethod
    def from_settings(settings: KafkaSettings) -> KafkaTransport:
        return KafkaTransport(Producer(producer_config(settings)))

    def send(self, topic: str, payload: bytes, timestamp_ns: int) -> bool:
        for _ in range(FULL_QUEUE_RETRIES):
            try:
                self._producer.produce(
                    topic, payload, timestamp=timestamp_ns // 1_000_000, on_delivery=self._delivered
                )
            except BufferError:
                self._producer.poll(FULL_QUEUE_WAIT_S)
                continue
            except KafkaException as err:  # e.g. message too large, unknown topic
                self._counters["produce_failed"] += 1
                self._log_error("produce_failed", topic=topic, error=str(err))
                return False
            self._counters["produced"] += 1
            return True
        self._counters["dropped_queue_full"] += 1
        self._log_error("producer_queue_full", topic=topic)
        return False

    def poll(self) -> None:
        self._producer.poll(0)

    def flush(self, timeout_s: float) -> int:
        remaining: int = self._producer.flush(timeout_s)
        return remaining

    def counters(self) -> Mapping[str, int]:
        return dict(self._counters)

    def _delivered(self, error: KafkaError | None, _message: Any) -> None:
        if error is None:
            self._counters["delivered"] += 1
        else:
            self._counters["delivery_failed"] += 1
            self._log_error("delivery_failed", error=str(error))

    def _log_error(self, event: str, **fields: Any) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= ERROR_LOG_INTERVAL_S:
            self._last_error_log = now
            logger.error(event, counters=dict(self._counters), **fields)
