"""A consumer that keeps its own assignment right while topics come and go under it.

Every livedata consumer assigns partitions itself: no consumer group, no join delay,
nothing committed (ADR 0002). ``AssignedConsumer`` is a confluent-kafka ``Consumer``
that keeps that assignment right through what a broker can do to a topic:

- **missing**: a topic that does not exist yet is looked up again every
  ``ASSIGN_RETRY_S`` and assigned once it does;
- **lost**: a topic reported unknown (deleted; a broker restarted empty) or gone from
  the metadata is unassigned, and assigned anew at its start offset once it is back;
- **grown**: partitions added to an assigned topic are assigned too;
- **rotated**: on the embedded broker, which rotates topics to bound its memory (ADR
  0006), a topic whose marker topic exists is released before the broker deletes it,
  and assigned again, from its fresh beginning, once the marker is gone;
- **oversized**: a message larger than the consumer accepts (``receive.message.max.bytes``)
  makes every fetch from its broker fail, forever, for every partition fetched with it.
  The consumer skips each partition of its ``skippable_topics`` (live data, read from
  the newest offset anyway) that has unread data to its end: live data loses a moment,
  the message is never allocated, and the skip is counted (``oversized_skips``).
  Control topics (commands, ROIs, run control, responses, heartbeats) are never
  skipped: a command queued behind an oversized data message is still read.

Every such change is counted (``counters``) and logged. The lookups run on a small
thread of the consumer's own, because librdkafka fetches in the background whether or
not anyone calls ``consume``: a reader that waits between reads must still let go of a
topic before the broker deletes it. The thread looks the topics up every
``ASSIGN_RETRY_S`` while some are missing, every ``METADATA_CHECK_S`` once all are
assigned, and every ``MARKER_POLL_S`` on the embedded broker. A consumer being read
does the lookups itself at the start of each ``consume`` (the thread then stands back);
either way they run under one lock, never during a ``consume``. So a rotation is noticed
within one consume timeout: callers must use bounded timeouts (livedata's use 0.1-0.2 s).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from livedata.kafka.rotation import EMBEDDED_CLUSTER_ID, MARKER_POLL_S, marker_name

logger = structlog.get_logger(__name__)

ASSIGN_RETRY_S = 2.0
"""How often missing topics are looked for again (broker down at start, topic recreated)."""

METADATA_CHECK_S = 10.0
"""How often a consumer with every topic assigned checks for lost topics and new
partitions on an external broker: rare events, one small metadata request."""

LOOKUP_TIMEOUT_S = 1.0
"""A metadata request answers in milliseconds; when the broker is down we do not wait
long: the lookup runs on the consuming thread, and it is retried anyway."""

FLOW_CHECK_S = 1.0
"""A topic assigned again after a rotation or a loss must deliver within this long if it
has data: librdkafka sometimes keeps such a partition idle (seen after the embedded
broker showed the deleted topic with no partitions), and assigning it once more
restarts it. A fetch of a fresh topic normally delivers within ~0.1 s."""

FLOW_RETRIES = 5
"""Assignments retried before giving up on a topic that will not deliver (logged)."""

WATCH_RECHECK_S = 0.05
"""While a lookup is due but a ``consume`` holds the consumer, the thread tries again
this often (that ``consume`` usually did the lookup itself meanwhile)."""

OVERSIZED_RESPONSE = "Invalid response size"
"""How librdkafka reports (as a ``_BAD_MSG`` client error) a fetch response larger than
``receive.message.max.bytes``: a message over our limit sits at some partition's position."""

UNREACHABLE_LOG_INTERVAL_S = 30.0
"""A broker that stays down is logged once per interval, not on every retry."""

LOST_TOPIC_ERRORS = frozenset(
    {
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.UNKNOWN_TOPIC_ID,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
    }
)
"""Consumer errors meaning that an assigned topic or partition no longer exists."""


class AssignedConsumer(Consumer):
    """A ``Consumer`` assigned to ``topics`` and kept so.

    Parameters
    ----------
    config:
        librdkafka configuration (``group.id`` is required by librdkafka, unused).
    topics:
        Each topic with the offset to start from when it is first assigned, and again
        after it was lost: ``OFFSET_END`` for data, ``OFFSET_BEGINNING`` for a small
        control topic filtered by timestamp (ADR 0002). A topic that was rotated is
        always read from its beginning: it is fresh, and holds only what was produced
        since the rotation.
    assign_now:
        Look the topics up and assign them before returning (up to
        ``LOOKUP_TIMEOUT_S``), so that nothing produced after construction is missed;
        otherwise the consumer's thread does it at once.
    newer_than_ms:
        Drop (and count as ``before_start``) messages with an older Kafka timestamp: a
        broker's end offset can lag (the embedded one's by a batch), so reading "from
        now" needs this filter as well (ADR 0002). An explicit ``assign`` lifts it: the
        caller chose the offsets.
    skippable_topics:
        Topics whose unread data may be skipped past an oversized message: live data
        only. None by default: every topic's messages are read.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        topics: Mapping[str, int],
        *,
        assign_now: bool = True,
        newer_than_ms: int | None = None,
        skippable_topics: Collection[str] = (),
    ) -> None:
        config = dict(config)
        self._error_cb = config.pop("error_cb", None)
        self._oversized = False
        super().__init__({**config, "error_cb": self._on_client_error})
        self._newer_than_ms = newer_than_ms
        self._start: dict[str, int] = dict(topics)
        self._skippable = frozenset(skippable_topics)
        self._assigned: dict[str, list[int]] = {}
        self._held: set[str] = set()
        """Released for a rotation, or never taken because a marker existed."""
        self._lost: set[str] = set()
        self._unproven: dict[str, _Unproven] = {}
        """Topics assigned again that have not delivered yet."""
        self._embedded = False
        self._next_lookup = 0.0
        self._last_unreachable_log = -UNREACHABLE_LOG_INTERVAL_S
        self._last_unskipped_log = -UNREACHABLE_LOG_INTERVAL_S
        self._logged_missing: tuple[str, ...] = ()
        self.counters: Counter[str] = Counter()
        """rotations_followed, topics_lost, topics_reassigned, partitions_added,
        reassign_retries, before_start, oversized_skips, oversized_skipped_messages."""
        self._lock = threading.RLock()
        self._closed = threading.Event()
        if assign_now:
            self.maintain()
        self._watcher = threading.Thread(target=self._watch, name="kafka-assignment", daemon=True)
        self._watcher.start()

    # -- state ---------------------------------------------------------------------

    def assigned_topics(self) -> list[str]:
        return sorted(self._assigned)  # copied in one step under the GIL

    def held_topics(self) -> list[str]:
        """Topics released for a rotation that is still under way."""
        return sorted(self._held)

    @property
    def follows_rotations(self) -> bool:
        """True once the broker turned out to be the embedded one, which rotates."""
        return self._embedded

    # -- Consumer ------------------------------------------------------------------

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        with self._lock:
            self._skip_oversized()
            self.maintain()
            messages: list[Message] = super().consume(num_messages, timeout)
            return [m for m in messages if self._keep(m)]

    def poll(self, timeout: float = -1) -> Message | None:
        with self._lock:
            self._skip_oversized()
            self.maintain()
            message: Message | None = super().poll(timeout)
            return message if message is not None and self._keep(message) else None

    def close(self) -> None:
        """Stop looking topics up, then close the consumer (safe to call twice)."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._watcher.is_alive() and self._watcher is not threading.current_thread():
            self._watcher.join(LOOKUP_TIMEOUT_S + 1.0)
        with self._lock:
            super().close()

    def _keep(self, message: Message) -> bool:
        error = message.error()
        if error is not None:
            self._on_error(message, error)
            return True  # the caller sees errors too
        if self._unproven:
            self._unproven.pop(message.topic() or "", None)
        if self._newer_than_ms is not None and message.timestamp()[1] < self._newer_than_ms:
            self.counters["before_start"] += 1
            return False
        return True

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        """Replace the assignment (e.g. at offsets looked up by the caller); topics not
        given at construction are kept from then on, restarting at ``OFFSET_END``."""
        with self._lock:
            super().assign(list(partitions))
            self._newer_than_ms = None
            self._assigned = {}
            for tp in partitions:
                self._assigned.setdefault(tp.topic, []).append(tp.partition)
                self._start.setdefault(tp.topic, OFFSET_END)
                self._held.discard(tp.topic)
                self._lost.discard(tp.topic)

    # -- keeping the assignment ----------------------------------------------------

    def _watch(self) -> None:
        """Look up for a consumer nobody reads; one being read does it in ``consume``."""
        while not self._closed.wait(self._watch_delay()):
            if time.monotonic() < self._next_lookup or not self._lock.acquire(blocking=False):
                continue  # not due, or in a consume, which looks up itself
            try:
                self.maintain()
            except Exception:  # the watcher must outlive any one bad lookup
                logger.exception("assignment_check_failed")
                self._next_lookup = time.monotonic() + ASSIGN_RETRY_S
            finally:
                self._lock.release()

    def _watch_delay(self) -> float:
        """Until the next lookup is due, at most ``WATCH_RECHECK_S``; once it is due,
        ``WATCH_RECHECK_S`` again: a ``consume`` may hold the consumer for its whole
        timeout, and waiting 0 s for it would spin."""
        until_due = self._next_lookup - time.monotonic()
        return min(WATCH_RECHECK_S, until_due) if until_due > 0 else WATCH_RECHECK_S

    def maintain(self) -> None:
        """Look the topics up if it is time to, and fix the assignment accordingly."""
        with self._lock:
            if self._closed.is_set():
                return
            now = time.monotonic()
            if now < self._next_lookup:
                return
            # A failed lookup is retried after this; soon on the embedded broker, where a
            # rotation's grace period is short.
            self._next_lookup = now + (MARKER_POLL_S if self._embedded else ASSIGN_RETRY_S)
            try:
                metadata = self.list_topics(timeout=LOOKUP_TIMEOUT_S)
            except KafkaException as err:  # broker down: keep going, look again later
                if now - self._last_unreachable_log >= UNREACHABLE_LOG_INTERVAL_S:
                    self._last_unreachable_log = now
                    logger.warning("broker_unreachable", error=str(err))
                return
            self._embedded = metadata.cluster_id == EMBEDDED_CLUSTER_ID
            self._apply(metadata.topics)
            self._check_flow()
            self._next_lookup = time.monotonic() + self._interval()

    def _interval(self) -> float:
        if self._embedded:
            return MARKER_POLL_S
        if len(self._assigned) < len(self._start):
            return ASSIGN_RETRY_S
        return METADATA_CHECK_S

    def _apply(self, broker_topics: Mapping[str, Any]) -> None:
        release: list[TopicPartition] = []
        acquire: list[TopicPartition] = []
        # One budget for all start-offset lookups: they run under the consumer's lock.
        deadline = time.monotonic() + LOOKUP_TIMEOUT_S
        for topic, start in self._start.items():
            have = self._assigned.get(topic)
            if self._embedded and marker_name(topic) in broker_topics:
                if topic not in self._held:
                    self._held.add(topic)
                    logger.info("topic_released_for_rotation", topic=topic)
                if have is not None:
                    release.extend(self._forget(topic))
                continue
            meta = broker_topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                if have is not None:  # gone from the broker without an error reaching us
                    release.extend(self._lose(topic, reason="not_in_metadata"))
                continue
            partitions = sorted(meta.partitions)
            if have is None:
                acquire.extend(self._take(topic, partitions, start, deadline))
            elif len(partitions) > len(have):
                new = [p for p in partitions if p not in have]
                offsets = self._resolve(topic, new, start, deadline)
                if offsets is None:
                    continue  # added at the next lookup
                have.extend(new)
                self.counters["partitions_added"] += len(new)
                logger.info("partitions_added", topic=topic, partitions=new)
                acquire.extend(
                    TopicPartition(topic, p, o) for p, o in zip(new, offsets, strict=True)
                )
        if release:
            self.incremental_unassign(release)
        if acquire:
            self.incremental_assign(acquire)
        self._log_missing()

    def _take(
        self, topic: str, partitions: list[int], start: int, deadline: float
    ) -> list[TopicPartition]:
        # Back after a rotation: fresh, read all of it.
        offset = OFFSET_BEGINNING if topic in self._held else start
        offsets = self._resolve(topic, partitions, offset, deadline)
        if offsets is None:
            return []  # still missing, held or lost: taken at the next lookup
        again = topic in self._held or topic in self._lost
        if topic in self._held:
            self.counters["rotations_followed"] += 1
        if again:
            self.counters["topics_reassigned"] += 1
            after = "rotation" if topic in self._held else "loss"
            logger.info("topic_reassigned", topic=topic, after=after)
            starts = dict(zip(partitions, offsets, strict=True))
            self._unproven[topic] = _Unproven(time.monotonic() + FLOW_CHECK_S, 0, starts)
        self._held.discard(topic)
        self._lost.discard(topic)
        self._assigned[topic] = partitions
        return [TopicPartition(topic, p, o) for p, o in zip(partitions, offsets, strict=True)]

    def _check_flow(self) -> None:
        """Assign once more a topic, assigned again, that has data but delivers none:
        from the offsets it was assigned at, so nothing older is read again."""
        now = time.monotonic()
        for topic, unproven in list(self._unproven.items()):
            partitions = self._assigned.get(topic)
            if partitions is None:
                del self._unproven[topic]
                continue
            if now < unproven.due:
                continue
            try:
                marks = [
                    self.get_watermark_offsets(
                        TopicPartition(topic, p), timeout=LOOKUP_TIMEOUT_S, cached=False
                    )
                    for p in partitions
                ]
            except KafkaException:
                self._unproven[topic] = unproven.later(now)
                continue
            firsts = [
                _first_offset(unproven.starts.get(p, OFFSET_BEGINNING), low, high)
                for p, (low, high) in zip(partitions, marks, strict=True)
            ]
            if all(high <= first for first, (_, high) in zip(firsts, marks, strict=True)):
                self._unproven[topic] = unproven.later(now)  # nothing to deliver
                continue
            if unproven.retries >= FLOW_RETRIES:
                logger.warning("topic_not_delivering", topic=topic, retries=unproven.retries)
                del self._unproven[topic]
                continue
            # Nothing was delivered yet, so starting over from the start loses nothing.
            self.incremental_unassign([TopicPartition(topic, p) for p in partitions])
            self.incremental_assign(
                [TopicPartition(topic, p, f) for p, f in zip(partitions, firsts, strict=True)]
            )
            self.counters["reassign_retries"] += 1
            logger.info(
                "topic_reassigned", topic=topic, after="no_delivery", retry=unproven.retries + 1
            )
            self._unproven[topic] = unproven.later(now, retried=True)

    def _resolve(
        self, topic: str, partitions: list[int], offset: int, deadline: float
    ) -> list[int] | None:
        """Each partition's start as a concrete offset, looked up now; None if a start
        at the beginning could not be looked up (the caller tries again later).

        ``OFFSET_END``: librdkafka would look it up only later, and skip what is produced
        in between (a result or an event sent right after a service announced itself).
        Where the broker's end lags (the embedded one's can lag one batch), the
        timestamp filters drop the older rest. If the lookup fails it is left to
        librdkafka, which falls back to the end anyway. ``OFFSET_BEGINNING``:
        librdkafka's own lookup can fail when a fetch on the same connection breaks it
        (a response over ``receive.message.max.bytes``), and it then falls back to
        ``auto.offset.reset``, the end: a command queued before the service started
        would be skipped. So such a partition is not assigned until its start is known."""
        if offset not in (OFFSET_END, OFFSET_BEGINNING):
            return [offset] * len(partitions)
        offsets = []
        for partition in partitions:
            try:
                low, high = self.get_watermark_offsets(
                    TopicPartition(topic, partition),
                    timeout=max(0.0, deadline - time.monotonic()),
                )
            except KafkaException:
                low = high = -1
            mark = int(high) if offset == OFFSET_END else int(low)
            if mark < 0 and offset == OFFSET_BEGINNING:
                return None
            offsets.append(mark if mark >= 0 else offset)
        return offsets

    def _forget(self, topic: str) -> list[TopicPartition]:
        partitions = self._assigned.pop(topic, [])
        return [TopicPartition(topic, p) for p in partitions]

    def _lose(self, topic: str, *, reason: str) -> list[TopicPartition]:
        self._lost.add(topic)
        self.counters["topics_lost"] += 1
        logger.warning("topic_lost", topic=topic, reason=reason)
        return self._forget(topic)

    def _on_client_error(self, error: KafkaError) -> None:
        """librdkafka's error callback, served inside ``consume``/``poll``."""
        if error.code() == KafkaError._BAD_MSG and OVERSIZED_RESPONSE in error.str():
            self._oversized = True
        if self._error_cb is not None:
            self._error_cb(error)

    def _skip_oversized(self) -> None:
        """Move each skippable partition with unread data to its end, past the oversized
        message: which partition holds it is not reported, and data is read live anyway.
        The lookups share one ``LOOKUP_TIMEOUT_S``: this runs under the consumer's lock."""
        if not self._oversized:
            return
        self._oversized = False
        deadline = time.monotonic() + LOOKUP_TIMEOUT_S
        skipped = 0
        moved = 0
        tps = [
            TopicPartition(topic, partition)
            for topic, partitions in self._assigned.items()
            if topic in self._skippable
            for partition in partitions
        ]
        try:
            positions = self.position(tps) if tps else []  # local: no request
        except KafkaException:
            positions, self._oversized = [], True
        for at in positions:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._oversized = True  # the rest next time
                break
            tp = TopicPartition(at.topic, at.partition)
            try:
                _, high = self.get_watermark_offsets(tp, timeout=remaining, cached=False)
            except KafkaException:
                self._oversized = True  # the connection comes and goes: next time
                continue
            if high < 0 or (at.offset >= 0 and at.offset >= high):
                continue
            if at.offset >= 0:
                skipped += high - at.offset
            moved += 1
            self.seek(TopicPartition(at.topic, at.partition, high))
        if not moved and not self._oversized:
            # Over the limit on a topic that is not skipped (librdkafka keeps reporting
            # it on every fetch): logged once per interval.
            now = time.monotonic()
            if now - self._last_unskipped_log >= UNREACHABLE_LOG_INTERVAL_S:
                self._last_unskipped_log = now
                logger.warning("oversized_message_not_skipped", skippable=sorted(self._skippable))
            return
        self.counters["oversized_skips"] += 1
        self.counters["oversized_skipped_messages"] += skipped
        logger.warning("oversized_message_skipped", skipped_messages=skipped)

    def _on_error(self, message: Message, error: KafkaError) -> None:
        topic = message.topic()
        if error.code() not in LOST_TOPIC_ERRORS or topic not in self._assigned:
            return
        # Deleted, or the broker came back empty: unassign now, look it up at once.
        self.incremental_unassign(self._lose(topic, reason=error.name()))
        self._next_lookup = 0.0

    def _log_missing(self) -> None:
        missing = tuple(sorted(set(self._start) - set(self._assigned) - self._held - self._lost))
        if missing and missing != self._logged_missing:
            logger.info("topics_missing", topics=list(missing))
        self._logged_missing = missing


@dataclass(frozen=True, slots=True)
class _Unproven:
    """A topic assigned again that has not delivered yet."""

    due: float
    """When to check it next."""
    retries: int
    starts: Mapping[int, int]
    """The offset each partition was assigned at (concrete, or a logical one)."""

    def later(self, now: float, *, retried: bool = False) -> _Unproven:
        return _Unproven(now + FLOW_CHECK_S, self.retries + retried, self.starts)


def _first_offset(start: int, low: int, high: int) -> int:
    """Where a partition assigned at ``start`` begins now: ``start`` itself, or for a
    logical start the offset it stands for."""
    if start >= 0:
        return start
    return low if start == OFFSET_BEGINNING else high
