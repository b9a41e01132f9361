"""The dashboard's one consumer thread: the single writer of results and status.

It reads ``{inst}_livedata_data`` from the newest offset (results published before the
dashboard started are never replayed; messages stamped before the start, which the
embedded broker may re-deliver, are dropped), ``_heartbeat`` from a minute back (so
jobs running before the dashboard started are adopted at once) and ``_responses`` from
the dashboard's start (answers to its commands go to ``on_response``).

Latest value wins: of the results of one output in a consumed batch only the newest is
decoded (0-d results, a few hundred bytes, are all decoded, for their history), so a
dashboard that falls behind reads fewer, fresher frames instead of building a backlog.

The Kafka consumer is an ``AssignedConsumer``: it keeps the assignment through a broker
that is down, restarts empty, recreates topics or (the embedded one) rotates them; a
plain consumer reading a rotated topic crashes the process (ADR 0006). The start offsets
above are looked up once, when the topics are first seen; a topic lost or rotated later
is fresh when it comes back and is read from its beginning.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka import Message as KafkaMessage

from livedata.config.topics import Topic, topic_name
from livedata.core.control import CommandResponse
from livedata.core.identity import ResultKey
from livedata.dashboard.status_store import StatusStore
from livedata.dashboard.stores import ResultStore
from livedata.kafka.assigned_consumer import AssignedConsumer
from livedata.kafka.rotation import marker_name
from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings
from livedata.protocol.da00 import decode_da00
from livedata.protocol.errors import DecodeError, DecodeReason
from livedata.protocol.flatbuffer_table import FlatTable
from livedata.protocol.heartbeats import decode_heartbeat
from livedata.protocol.responses import decode_response
from livedata.protocol.result_key import MAX_RESULT_KEY_BYTES, decode_result_key

logger = structlog.get_logger(__name__)

HEARTBEAT_LOOKBACK_S = 60.0
"""Heartbeats read from before the start: a job is stale after 60 s (WIRE.md), so this
finds every job still alive, and the recently stopped ones."""

MAX_HEARTBEAT_BACKLOG = 20_000
"""Bound on the heartbeats read from the past: 100 jobs beat 3000 times a minute; this
caps the cost if a broker answers a time lookup with an old offset."""

CONSUME_BATCH = 500
"""Messages per consume call: enough to see several results of one output in a burst
(so only the newest is decoded), few enough that a batch of images stays ~100 MB."""

CONSUME_TIMEOUT_S = 0.1
"""Bounds the thread's reaction to ``close()`` and the resolution of command timeouts."""

ASSIGN_RETRY_S = 2.0
"""How often the first lookup of the topics is retried (broker down at start)."""

METADATA_TIMEOUT_S = 5.0

LIST_TOPICS_TIMEOUT_S = 1.0
"""A metadata request answers in milliseconds; with the broker down it is retried every
``ASSIGN_RETRY_S`` anyway, and a short wait keeps ``close()`` quick."""

CLOCK_SKEW_S = 30.0
"""Responses are read from this long before the start: services stamp them with their
own clocks, and an answer to a command sent at once must not fall before the lookup.
Answers to commands we never sent are ignored, so reading a few more costs nothing."""

FETCH_WAIT_MS = 50
"""How long the broker may hold a fetch waiting for more data (librdkafka: 500 ms). Data
age on screen is what operators judge "live" by; a results stream is ~1 Hz per output, so
the broker rarely has a full fetch's worth and would otherwise hold every frame back."""

SMALL_RESULT_BYTES = 4096
"""Results up to this size (0-d totals: ~700 bytes) are all decoded, even when a newer
one of the same output is in the batch, so their history has every point."""

MAX_KEY_CACHE = 8192
"""Result keys remembered by source name (decoding the JSON key costs ~20 us)."""

PRUNE_INTERVAL_S = 10.0
"""How often status rows silent for ten minutes are dropped."""

ERROR_LOG_INTERVAL_S = 10.0


def peek_source_name(value: bytes) -> str:
    """The da00 ``source_name`` (a result key's JSON) without decoding the arrays.

    Raises
    ------
    DecodeError
        If ``value`` is not a da00 table with a source name.
    """
    name = FlatTable.root(value, "da00").string(0, name="source_name", limit=MAX_RESULT_KEY_BYTES)
    if name is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "da00 without source_name")
    return name


class DashboardConsumer:
    """Consumes results, heartbeats and responses into the stores (thread started here).

    Parameters
    ----------
    on_response:
        Called on this thread with every decoded response.
    on_tick:
        Called on this thread after every poll (at least every ``CONSUME_TIMEOUT_S``).
    """

    def __init__(
        self,
        settings: KafkaSettings,
        instrument: str,
        *,
        results: ResultStore,
        status: StatusStore,
        on_response: Callable[[CommandResponse], Any],
        on_tick: Callable[[], Any],
        heartbeat_lookback_s: float = HEARTBEAT_LOOKBACK_S,
    ) -> None:
        self._results = results
        self._status = status
        self._on_response = on_response
        self._on_tick = on_tick
        self._lookback_ms = int(heartbeat_lookback_s * 1000)
        self._data = topic_name(instrument, Topic.DATA)
        self._heartbeat = topic_name(instrument, Topic.HEARTBEAT)
        self._responses = topic_name(instrument, Topic.RESPONSES)
        self._topics = (self._data, self._heartbeat, self._responses)
        self._started_ms = time.time_ns() // 1_000_000
        self._heartbeats_since_ms = self._started_ms - self._lookback_ms
        self._keys: dict[str, ResultKey] = {}
        self._placed = False
        """True once the start offsets were looked up and assigned."""
        self._next_assign = 0.0
        self._next_prune = 0.0
        self._last_log: dict[str, float] = {}
        self._lock = threading.Lock()
        self.counters: Counter[str] = Counter()
        """consumed, decoded, superseded, before_start, heartbeats, responses,
        decode_failed.<what>.<reason>, consumer_errors, ... (see ``stats``)."""
        self._consumer = AssignedConsumer(
            {
                **settings.client_config(),
                "group.id": f"livedata-dashboard-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                # An offset out of range (topic recreated, broker restarted empty) jumps
                # to the end: never replay a backlog.
                "auto.offset.reset": "latest",
                "fetch.max.bytes": MAX_MESSAGE_BYTES,
                "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
                "receive.message.max.bytes": MAX_MESSAGE_BYTES + 1_000_000,
                "fetch.wait.max.ms": FETCH_WAIT_MS,
            },
            # Where a topic starts when it appears after the first lookup, or comes back
            # after a loss or rotation: results at the end; heartbeats and responses at
            # the beginning (such a topic is fresh: reading it all is cheap, misses none).
            {
                self._data: OFFSET_END,
                self._heartbeat: OFFSET_BEGINNING,
                self._responses: OFFSET_BEGINNING,
            },
            assign_now=False,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dashboard-consumer", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 5.0) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        self._consumer.close()

    def stats(self) -> dict[str, int]:
        with self._lock:
            out = dict(self.counters)
        out.update({f"kafka.{k}": v for k, v in list(self._consumer.counters.items())})
        out["assigned_topics"] = len(self._consumer.assigned_topics())
        return out

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    # -- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._placed or self._place():
                    self._take(self._consumer.consume(CONSUME_BATCH, CONSUME_TIMEOUT_S))
                else:
                    self._stop.wait(CONSUME_TIMEOUT_S)
                self._on_tick()
                now = time.monotonic()
                if now >= self._next_prune:
                    self._next_prune = now + PRUNE_INTERVAL_S
                    self._status.prune(time.time_ns())
            except Exception:  # the thread must outlive any single bad poll
                self._count("loop_failed")
                logger.exception("dashboard_consumer_failed")
                self._stop.wait(CONSUME_TIMEOUT_S)

    def _place(self) -> bool:
        """Assign the topics present at their start offsets; False to retry later."""
        if time.monotonic() < self._next_assign:
            return False
        self._next_assign = time.monotonic() + ASSIGN_RETRY_S
        try:
            metadata = self._consumer.list_topics(timeout=LIST_TOPICS_TIMEOUT_S)
            present = [
                topic
                for topic in self._topics
                if (meta := metadata.topics.get(topic)) is not None
                and meta.error is None
                and meta.partitions
                # Being rotated: the AssignedConsumer takes it once it is back.
                and marker_name(topic) not in metadata.topics
            ]
            if not present:
                self._log("topics_missing", topics=list(self._topics))
                return False
            placed = [
                self._start_offset(topic, partition)
                for topic in present
                for partition in sorted(metadata.topics[topic].partitions)
            ]
        except KafkaException as err:  # broker down: keep running, retry later
            self._count("broker_unreachable")
            self._log("broker_unreachable", error=str(err))
            return False
        # Topics missing now are assigned by the AssignedConsumer once they appear.
        self._consumer.assign(placed)
        self._placed = True
        logger.info("dashboard_topics_assigned", topics=present)
        return True

    def _start_offset(self, topic: str, partition: int) -> TopicPartition:
        low, high = self._consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=METADATA_TIMEOUT_S
        )
        if topic == self._data:
            # The concrete end, looked up now: a result published before the first fetch
            # is still read (OFFSET_END would be resolved only at that fetch).
            return TopicPartition(topic, partition, high)
        if topic == self._heartbeat:
            self._heartbeats_since_ms = time.time_ns() // 1_000_000 - self._lookback_ms
            since_ms, backlog = self._heartbeats_since_ms, MAX_HEARTBEAT_BACKLOG
        else:
            since_ms, backlog = self._started_ms - int(CLOCK_SKEW_S * 1000), 0
        found = self._consumer.offsets_for_times(
            [TopicPartition(topic, partition, since_ms)], timeout=METADATA_TIMEOUT_S
        )[0].offset
        start = high if found < 0 or found > high else found
        if backlog:
            start = max(start, high - backlog, low)
        return TopicPartition(topic, partition, start)

    def _take(self, polled: list[KafkaMessage]) -> None:
        data: list[KafkaMessage] = []
        for message in polled:
            error = message.error()
            if error is not None:
                self._on_error(message, error)
                continue
            topic = message.topic()
            if topic == self._data:
                data.append(message)
            elif topic == self._heartbeat:
                self._take_heartbeat(message)
            elif topic == self._responses:
                self._take_response(message)
        if data:
            self._take_results(data)

    def _take_results(self, messages: list[KafkaMessage]) -> None:
        received_ns = time.time_ns()
        peeked: list[tuple[int, str, bytes]] = []
        newest: dict[str, int] = {}
        for i, message in enumerate(messages):
            if message.timestamp()[1] < self._started_ms:
                # The embedded broker may re-deliver its last batch from before our start.
                self._count("before_start")
                continue
            value = message.value() or b""
            try:
                name = peek_source_name(value)
            except DecodeError as err:
                self._decode_failed("result", err)
                continue
            newest[name] = i
            peeked.append((i, name, value))
        for i, name, value in peeked:
            if newest[name] != i and len(value) > SMALL_RESULT_BYTES:
                self._count("superseded")  # a newer result of this output is in the batch
                continue
            try:
                key = self._result_key(name)
                _, published_ns, data = decode_da00(value)
            except DecodeError as err:
                self._decode_failed("result", err)
                continue
            self._results.put(key, data, received_ns=received_ns, published_ns=published_ns)
            self._count("decoded")
        self._count("consumed", len(messages))  # after storing: "consumed" means done

    def _result_key(self, source_name: str) -> ResultKey:
        key = self._keys.get(source_name)
        if key is None:
            key = decode_result_key(source_name)
            if len(self._keys) >= MAX_KEY_CACHE:
                self._keys.clear()
            self._keys[source_name] = key
        return key

    def _take_heartbeat(self, message: KafkaMessage) -> None:
        sent_ms = message.timestamp()[1]
        if sent_ms < self._heartbeats_since_ms:
            self._count("heartbeats_too_old")
            return
        try:
            heartbeat = decode_heartbeat(message.value() or b"")
        except DecodeError as err:
            self._decode_failed("heartbeat", err)
            return
        self._count("heartbeats")
        self._status.observe(heartbeat, sent_ms * 1_000_000)

    def _take_response(self, message: KafkaMessage) -> None:
        try:
            response = decode_response(message.value() or b"")
        except DecodeError as err:
            self._decode_failed("response", err)
            return
        self._count("responses")
        self._on_response(response)

    def _on_error(self, message: KafkaMessage, error: KafkaError) -> None:
        # Lost topics are unassigned and taken again by the AssignedConsumer itself.
        self._count("consumer_errors")
        self._log("consumer_error", error=error.str(), topic=message.topic())

    def _decode_failed(self, what: str, err: DecodeError) -> None:
        self._count(f"decode_failed.{what}.{err.reason.value}")
        self._log(f"undecodable_{what}", reason=err.reason.value, error=err.message)

    def _log(self, event: str, **fields: Any) -> None:
        now = time.monotonic()
        if now - self._last_log.get(event, -ERROR_LOG_INTERVAL_S) >= ERROR_LOG_INTERVAL_S:
            self._last_log[event] = now
            logger.warning(event, **fields)
