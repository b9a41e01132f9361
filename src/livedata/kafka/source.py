"""The Kafka message source: a consumer thread feeding a bounded, latest-wins queue.

The thread consumes, decodes and routes (decoding is cheap: arrays are views into the
message buffers) and appends each poll's messages as one chunk. When the queued data
passes its byte budget, or has waited longer than its age limit, the OLDEST chunks'
data is dropped and counted, so a slow processor sees fresh data instead of a growing
backlog; control messages (commands, ROIs, run transitions) are never dropped.

The consumer is an ``AssignedConsumer``: it keeps its assignment through topics that
are missing at start, deleted and recreated, or rotated by the embedded broker.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError

from livedata.core.message import Message
from livedata.kafka.assigned_consumer import AssignedConsumer
from livedata.kafka.ingress import Ingress
from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings
from livedata.kafka.sink import RECONNECT_BACKOFF_MAX_MS

logger = structlog.get_logger(__name__)

QUEUE_MAX_BYTES = 1 << 30
"""Data waiting for the processor, at most 1 GiB: two seconds at 5e7 events/s. More
would only make results staler; less would drop data at normal peak bursts."""

QUEUE_MAX_AGE_S = 1.0
"""Data that waited this long for the processor is dropped: the processor takes the whole
queue every step and a healthy step is far shorter (a window of 1e7 events is processed
in ~0.5 s), so only a processor that cannot keep up gets here. Without an age limit the
byte budget alone would let a slow service at a modest rate fall minutes behind (1 GiB
is minutes at 1e6 events/s); with it, the data a step takes is at most this old and
results stay a few seconds fresh under overload (QUALITY.md)."""

CONSUME_BATCH = 1000
"""Messages per consume call: large enough to amortise the call, small enough that a
chunk is never a large fraction of the queue budget at normal message sizes."""

CONSUME_TIMEOUT_S = 0.1
GET_TIMEOUT_S = 0.1
"""How long ``get_messages`` waits for data; bounds the loop's reaction to a stop."""

ERROR_LOG_INTERVAL_S = 10.0
"""Consumer errors repeat while a broker is away; each kind is logged once per interval."""


@dataclass(slots=True)
class _Chunk:
    messages: list[Message[Any]]
    nbytes: int
    arrived: float
    """``time.monotonic()`` when it was queued."""


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
    ) -> None:
        self._settings = settings
        self._ingress = ingress
        self._max_bytes = max_queue_bytes
        self._max_age_s = max_queue_age_s
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
        )
        self._started_ms = time.time_ns() // 1_000_000
        self._queue: deque[_Chunk] = deque()
        self._queued_bytes = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.counters: Counter[str] = Counter()
        """consumed, dropped_messages, dropped_chunks, before_start, consumer_errors."""
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
        with self._cond:
            if not self._queue:
                self._cond.wait(GET_TIMEOUT_S)
            self._shed(time.monotonic())
            chunks = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
        return [m for chunk in chunks for m in chunk.messages]

    def stats(self) -> Mapping[str, Any]:
        return {
            **dict(self.counters),
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
            self._enqueue(_Chunk(messages, nbytes, time.monotonic()))

    def _enqueue(self, chunk: _Chunk) -> None:
        with self._cond:
            self._queue.append(chunk)
            self._queued_bytes += chunk.nbytes
            self._shed(chunk.arrived)
            self._cond.notify()

    def _shed(self, now: float) -> None:
        """Drop the oldest chunks' data while the queue is over its byte budget (the
        newest chunk stays) or they waited longer than the age limit."""
        stale_before = now - self._max_age_s
        control: list[Message[Any]] = []
        while self._queue and (
            (self._queued_bytes > self._max_bytes and len(self._queue) > 1)
            or self._queue[0].arrived < stale_before
        ):
            oldest = self._queue.popleft()
            self._queued_bytes -= oldest.nbytes
            kept = [m for m in oldest.messages if m.stream.is_control]
            control.extend(kept)
            if len(kept) < len(oldest.messages):
                self.counters["dropped_chunks"] += 1
                self.counters["dropped_messages"] += len(oldest.messages) - len(kept)
        if control:  # commands are never shed: they go first, in order, as fresh
            self._queue.appendleft(_Chunk(control, 0, now))

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
