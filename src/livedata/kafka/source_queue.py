"""The Kafka source's queue: decoded messages waiting for the processor, latest wins.

The consumer thread ``put``s each poll's messages as one chunk; the processor ``take``s
the whole queue once per step. Data is shed, oldest first, in two cases only:

- **bytes**: the queue holds more than its byte budget (the newest chunk always stays);
- **age**: the processor is *falling behind* and a chunk waited longer than the age
  limit. Falling behind means that its recent steps (those whose data spans the last
  ``HORIZON_S``) took more than ``SLOW_STEP_RATIO`` times as long as the span of time
  whose data they were given: a processor that needs longer than the data took to
  arrive can only fall ever further behind. A processor that keeps up is never shed
  by age, however long its steps (a window published, an image downsampled, a busy
  machine): each take spans the step before it, so over a few seconds its steps add
  up to the span of what it took. Judging a horizon, not a single step, matters: a
  processor does its expensive work only in the steps that close a window.

Control messages (commands, ROIs, run transitions) and log samples (``StreamKind.LOG``:
small, sparse, and a motor position lost stays lost until it next changes) are never
shed: they move to the front of the queue, in order.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livedata.core.message import Message, StreamKind

SLOW_STEP_RATIO = 1.5
"""Falling behind: the recent steps took longer than this many times the span of the
data they were given. Under overload by a factor F steps take ~F times their data's span
(QUALITY.md asks for fresh results at F = 2); a processor that keeps up ~1 times, up to
one step's length over the horizon: steps of up to 2 s stay below 1.5 over 4 s."""

HORIZON_S = 4.0
"""Steps are judged together while the data they took spans this long."""

MIN_JUDGED_S = 2.0
"""A shorter history (a service just started) is judged as if it spanned this long: one
long step at start (a first window published) is not falling behind."""


@dataclass(slots=True)
class _Chunk:
    messages: list[Message[Any]]
    nbytes: int
    arrived: float
    """The clock's time when it was queued."""


def _never_shed(message: Message[Any]) -> bool:
    return message.stream.is_control or message.stream.kind is StreamKind.LOG


class SourceQueue:
    """A byte-bounded queue shedding old data only while its processor falls behind.

    ``clock`` is a monotonic clock in seconds (tests pass a fake one). Counters:
    ``dropped_chunks`` and ``dropped_messages`` (data messages) for all shedding, and
    the messages split by cause, ``dropped_by_age`` and ``dropped_by_bytes``.
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        max_age_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_bytes = max_bytes
        self._max_age_s = max_age_s
        self._clock = clock
        self._chunks: deque[_Chunk] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._last_take: float | None = None
        """When the processor last took the queue (its step started then)."""
        self._last_span: float | None = None
        """The span of time whose data the last take handed over (unknown for the first)."""
        self._history: deque[tuple[float, float]] = deque()
        """(step, span of the data the step was given) of the recent steps."""
        self._steps_s = 0.0
        self._spans_s = 0.0
        self.falling_behind = False
        self.counters: Counter[str] = Counter()

    def pending_messages(self) -> int:
        with self._cond:
            return sum(len(chunk.messages) for chunk in self._chunks)

    def buffered_bytes(self) -> int:
        """Payload bytes queued now (what the memory guard must not blame on a job)."""
        with self._cond:
            return self._bytes

    def put(self, messages: list[Message[Any]], nbytes: int) -> None:
        with self._cond:
            now = self._clock()
            self._chunks.append(_Chunk(messages, nbytes, now))
            self._bytes += nbytes
            # While falling behind, old data is shed as it comes, not only at the next
            # take: the queue then holds at most the age limit's worth of data.
            self._shed(now, by_age=self.falling_behind)
            self._cond.notify()

    def take(self, timeout_s: float) -> list[Message[Any]]:
        """Everything queued, after waiting up to ``timeout_s`` for something."""
        with self._cond:
            if not self._chunks and timeout_s > 0:
                self._cond.wait(timeout_s)
            now = self._clock()
            self._note_step(now)
            self._shed(now, by_age=self.falling_behind)
            if self._last_take is not None:
                start = self._last_take
                if self.falling_behind:
                    start = max(start, now - self._max_age_s)
                self._last_span = now - start
            self._last_take = now
            chunks = list(self._chunks)
            self._chunks.clear()
            self._bytes = 0
        return [m for chunk in chunks for m in chunk.messages]

    def _note_step(self, now: float) -> None:
        if self._last_take is None or self._last_span is None:
            return
        step = now - self._last_take
        self._history.append((step, self._last_span))
        self._steps_s += step
        self._spans_s += self._last_span
        while len(self._history) > 1 and self._spans_s - self._history[0][1] >= HORIZON_S:
            old_step, old_span = self._history.popleft()
            self._steps_s -= old_step
            self._spans_s -= old_span
        self.falling_behind = self._steps_s > SLOW_STEP_RATIO * max(self._spans_s, MIN_JUDGED_S)

    def _shed(self, now: float, *, by_age: bool) -> None:
        """Drop the oldest chunks' data while the queue is over its byte budget (the
        newest chunk stays) or, with ``by_age``, they waited longer than the age limit."""
        stale_before = now - self._max_age_s if by_age else float("-inf")
        kept: list[Message[Any]] = []
        while self._chunks:
            over_budget = self._bytes > self._max_bytes and len(self._chunks) > 1
            if not over_budget and self._chunks[0].arrived >= stale_before:
                break
            oldest = self._chunks.popleft()
            self._bytes -= oldest.nbytes
            spared = [m for m in oldest.messages if _never_shed(m)]
            kept.extend(spared)
            dropped = len(oldest.messages) - len(spared)
            if dropped:
                self.counters["dropped_chunks"] += 1
                self.counters["dropped_messages"] += dropped
                self.counters["dropped_by_bytes" if over_budget else "dropped_by_age"] += dropped
        if kept:  # never shed: they go first, in order, as fresh (tiny: counted as 0 B)
            self._chunks.appendleft(_Chunk(kept, 0, now))
