"""The Kafka message source: a consumer thread feeding a bounded, latest-wins queue.

The thread consumes, decodes and routes (decoding is cheap: arrays are views into the
message buffers) and appends each poll's messages as one chunk to a ``SourceQueue``.
When the queued data passes its byte budget, or the processor is falling behind and
data waited longer than the age limit, the OLDEST chunks' data is dropped and counted,
so a slow processor sees fresh data instead of a growing backlog. A processor that
keeps up loses nothing, however long its steps; control messages (commands, ROIs, run
transitions) and log samples are never dropped.

The consumer is an ``AssignedConsumer``: it keeps its assignment through topics that
are missing at start, deleted and recreated, or rotated by the embedded broker.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError

from livedata.core.message import Message
from livedata.kafka.assigned_consumer import AssignedConsumer
from livedata.kafka.client_defaults import RECONNECT_BACKOFF_MAX_MS
from livedata.kafka.ingress import Ingress
from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings
from livedata.kafka.source_queue import SourceQueue

logger = structlog.get_logger(__name__)

QUEUE_MAX_BYTES = 1 << 30
"""Data waiting for the processor, at most 1 GiB: two seconds at 5e7 events/s. More
would only make results staler; less would drop data at normal peak bursts."""

QUEUE_MAX_AGE_S = 1.0
"""Data that waited this long is dropped while the processor is falling behind (see
``SourceQueue``), never while it keeps up. Without an age limit the byte budget alone
would let a slow service at a modest rate fall minutes behind (1 GiB is minutes at 1e6
events/s); with it, a step of an overloaded processor takes at most this much data, so
at F times its capacity a step lasts ~F seconds and results stay a few seconds fresh
(QUALITY.md). A processor that keeps up takes data as old as its longest step."""

CONSUME_BATCH = 1000
"""Messages per consume call: large enough to amortise the call, small enough that a
chunk is never a large fraction of the queue budget at normal message sizes."""

CONSUME_TIMEOUT_S = 0.1
GET_TIMEOUT_S = 0.1
"""How long ``get_messages`` waits for data; bounds the loop's reaction to a stop."""

ERROR_LOG_INTERVAL_S = 10.0
"""Consumer errors repeat while a broker is away; each kind is logged once per interval."""


class KafkaSource:
    """A ``MessageSource`` reading an instrument's topics from the newest offset."""

    def __init__(
        self,
        *,
        settings: KafkaSettings,
        ingress: Ingress,
        group_id: str,
        max_queue_bytes: int = QUEUE_MAX_BYTES,
        max_queue_age_s: float = QUEUE_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._ingress = ingress
        control = ingress.control_topics()
        # Data is read from the newest offset. Control topics are small and read from
        # their start, filtered by timestamp below: a command sent while the newest
        # offset was still being looked up is not missed (ADR 0002).
        self._consumer = AssignedConsumer(
            {
                **settings.client_config(),
                "group.id": group_id,
                "enable.auto.commit": False,
                # Never replay a backlog: an out-of-range offset jumps to the end.
                "auto.offset.reset": "latest",
                "fetch.max.bytes": MAX_MESSAGE_BYTES,
                "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
                "receive.message.max.bytes": MAX_MESSAGE_BYTES + 1_000_000,
                "topic.metadata.refresh.interval.ms": 5000,
                "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
            },
            {t: OFFSET_BEGINNING if t in control else OFFSET_END for t in ingress.topics()},
            # Before the service announces itself: what is sent after that is read.
            assign_now=True,
            # Past an oversized message only live data is skipped, never a command.
            skippable_topics=[t for t in ingress.topics() if t not in control],
        )
        self._started_ms = time.time_ns() // 1_000_000
        self._queue = SourceQueue(max_bytes=max_queue_bytes, max_age_s=max_queue_age_s, clock=clock)
        self._stop = threading.Event()
        self.counters: Counter[str] = Counter()
        """consumed, before_start, consumer_errors (the queue counts what it sheds)."""
        self._last_error_log: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="kafka-source", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()

    # -- MessageSource -----------------------------------------------------------

    def get_messages(self) -> Sequence[Message[Any]]:
        return self._queue.take(GET_TIMEOUT_S)

    def pending_messages(self) -> int:
        """Messages queued for the next ``get_messages`` (for tests and diagnostics)."""
        return self._queue.pending_messages()

    def buffered_bytes(self) -> int:
        """Bytes queued for the processor (``ReportsBufferedBytes``, for the memory guard)."""
        return self._queue.buffered_bytes()

    def stats(self) -> Mapping[str, Any]:
        return {
            **dict(self.counters),
            # dropped_chunks, dropped_messages = dropped_by_age + dropped_by_bytes
            **dict(self._queue.counters),
            # rotations_followed, topics_lost, topics_reassigned, partitions_added
            **dict(self._consumer.counters),
            "assigned_topics": len(self._consumer.assigned_topics()),
            "rejected": self._ingress.stats(),
        }

    # -- consumer thread -----------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                polled = self._consumer.consume(CONSUME_BATCH, CONSUME_TIMEOUT_S)
                self._take(polled)
            except Exception:  # the thread must outlive any single bad poll
                logger.exception("consumer_loop_failed")
                time.sleep(CONSUME_TIMEOUT_S)

    def _take(self, polled: list[Any]) -> None:
        messages: list[Message[Any]] = []
        nbytes = 0
        for kafka_message in polled:
            error = kafka_message.error()
            if error is not None:
                self._on_error(kafka_message, error)
                continue
            self.counters["consumed"] += 1
            _, timestamp_ms = kafka_message.timestamp()
            if timestamp_ms < self._started_ms:
                # Brokers may re-deliver from before our start (the embedded one's high
                # watermark can lag one batch); only what was sent after start counts.
                self.counters["before_start"] += 1
                continue
            value = kafka_message.value()
            message = self._ingress.route(kafka_message.topic(), value, timestamp_ms * 1_000_000)
            if message is not None:
                messages.append(message)
                nbytes += len(value)
        if messages:
            self._queue.put(messages, nbytes)

    def _on_error(self, kafka_message: Any, error: KafkaError) -> None:
        # Lost topics are unassigned and taken again by the AssignedConsumer itself.
        self.counters["consumer_errors"] += 1
        now = time.monotonic()
        if now - self._last_error_log.get(error.name(), -ERROR_LOG_INTERVAL_S) >= (
            ERROR_LOG_INTERVAL_S
        ):
            self._last_error_log[error.name()] = now
            logger.warning(
                "consumer_error",
                error=str(error),
                topic=kafka_message.topic(),
                count=self.counters["consumer_errors"],
            )
