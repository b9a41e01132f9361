"""Data-time batching: group messages into windows placed by their own timestamps.

The data is the clock. A window ``[start, start + length)`` closes when a message
stamped at or after its end arrives, or, when data stops, after the wall-clock
backstop. Windows are aligned to multiples of the window length so that every
service cuts the same stream into the same windows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from livedata.core.clock import Clock
from livedata.core.memory import estimate_nbytes
from livedata.core.message import Message

NS_PER_S = 1_000_000_000

DEFAULT_WINDOW_NS = NS_PER_S
"""One user-visible update per second is the norm for live displays."""

DEFAULT_MAX_FUTURE_NS = 2 * NS_PER_S
"""Instrument clocks are PTP/NTP-synchronised to well under a second and data is
published after it is taken, so a stamp ahead of our wall clock by more than a couple
of seconds is wrong. A trusted stamp drags the windows forward (later, correct data
then lands in them as late), so the slack is kept small: at most ~2 windows of drag."""

EARLIEST_PLAUSIBLE_NS = 946_684_800 * NS_PER_S
"""2000-01-01T00:00Z. Anything older is a zero, a pre-epoch or an uninitialised stamp,
not data from a running instrument."""

DEFAULT_BACKSTOP_SLACK_NS = NS_PER_S // 2
"""How long past a window's nominal length we wait for late data before the wall clock
closes it; half a window keeps data age under ~2 s when data stops."""

DEFAULT_MAX_PENDING_BYTES = 1 << 30
"""Data the open window may hold before it is handed out early, in parts (as ``flush``
does). The processor drains the source's queue every step while a window is open, so
the source's byte budget does not bound a window: its length times the input rate
does. 1 GiB holds a whole second at DREAM's planned peak (7.5e7 events/s, 600 MB);
past it a long window or a flood costs extra results, not unbounded memory."""

MESSAGE_SIZE_OBJECTS = 64
"""Objects visited to size one message (an event batch is five): ~5 us each."""


class TimestampIssue(StrEnum):
    """Why a message's timestamp was not used to place windows."""

    NEGATIVE = "negative_timestamp"
    TOO_OLD = "pre_epoch_timestamp"
    FAR_FUTURE = "far_future_timestamp"


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """Messages of one data-time window ``[start, end)`` (ns since epoch)."""

    start: int
    end: int
    messages: Sequence[Message[Any]]


@dataclass(slots=True)
class BatcherStats:
    """Counters a service reports in its heartbeat; nothing is dropped silently."""

    batches: int = 0
    empty_batches: int = 0
    closed_by_backstop: int = 0
    late_messages: int = 0
    """Stamped before the open window; processed in it."""
    split_windows: int = 0
    """Parts of a window handed out early because it held ``max_pending_bytes``."""
    skipped_windows: int = 0
    """Windows without data jumped over when data resumed after a gap."""
    timestamp_issues: Counter[str] = field(default_factory=Counter)
    """Messages whose stamp was ignored for placement, by reason; they are still processed."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "empty_batches": self.empty_batches,
            "closed_by_backstop": self.closed_by_backstop,
            "late_messages": self.late_messages,
            "split_windows": self.split_windows,
            "skipped_windows": self.skipped_windows,
            "timestamp_issues": dict(self.timestamp_issues),
        }


class Batcher(Protocol):
    """Turns a stream of messages into windows; the processor only needs this much."""

    @property
    def window_ns(self) -> int: ...

    def add(self, messages: Sequence[Message[Any]]) -> list[Batch]:
        """Take messages; return the windows they closed, oldest first."""
        ...

    def poll(self) -> list[Batch]:
        """Return windows closed by the wall-clock backstop (called when idle)."""
        ...

    def flush(self) -> list[Batch]:
        """Hand out the open window's messages now; the window stays open.

        Used before a command changes jobs (so data sent before it is processed
        before it) and at shutdown (so no partial window is lost).
        """
        ...

    def stats(self) -> Mapping[str, Any]:
        """Counters for the heartbeat."""
        ...


class DataTimeBatcher:
    """Windows placed by message timestamps, with a wall-clock backstop.

    - A message in the open window joins it; one stamped earlier (late or out of
      order) also joins it and is counted as late, so accumulators never go back.
    - A message at or past the window's end closes it (and, after a gap, jumps to
      the aligned window holding the message; the skipped windows are counted).
    - A stamp that is negative, before 2000, or far ahead of the wall clock is not
      used for placement: the message joins the open window and the issue is counted.
    - When no message closes the window, the wall clock does once the window's
      length plus a slack has passed since it opened; the window is published even
      if empty, so time advances for jobs waiting on it.
    - ``flush`` splits the open window: what is pending goes out now, later
      messages of the same window follow in a second batch. The batcher does the same
      itself when the open window holds ``max_pending_bytes`` of data.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        window_ns: int = DEFAULT_WINDOW_NS,
        max_future_ns: int = DEFAULT_MAX_FUTURE_NS,
        backstop_slack_ns: int = DEFAULT_BACKSTOP_SLACK_NS,
        earliest_ns: int = EARLIEST_PLAUSIBLE_NS,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
    ) -> None:
        if window_ns <= 0:
            raise ValueError(f"window length must be positive, got {window_ns} ns")
        if max_pending_bytes <= 0:
            raise ValueError(f"max_pending_bytes must be positive, got {max_pending_bytes}")
        self._clock = clock
        self._window_ns = window_ns
        self._max_future_ns = max_future_ns
        self._backstop_ns = window_ns + backstop_slack_ns
        self._earliest_ns = earliest_ns
        self._start: int | None = None
        self._opened_at_wall = 0
        self._pending: list[Message[Any]] = []
        self._pending_bytes = 0
        self._max_pending_bytes = max_pending_bytes
        self.counters = BatcherStats()

    @property
    def window_ns(self) -> int:
        return self._window_ns

    def stats(self) -> Mapping[str, Any]:
        return self.counters.as_dict()

    def buffered_bytes(self) -> int:
        """Bytes of the open window's data, not yet handed out (for the memory guard)."""
        return self._pending_bytes

    @property
    def open_window(self) -> tuple[int, int] | None:
        """The window now collecting messages, or None before the first datum."""
        if self._start is None:
            return None
        return self._start, self._start + self._window_ns

    def add(self, messages: Sequence[Message[Any]]) -> list[Batch]:
        closed: list[Batch] = []
        now = self._clock.now_ns()
        for message in messages:
            issue = self._timestamp_issue(message.timestamp, now)
            if issue is not None:
                self.counters.timestamp_issues[issue] += 1
                if self._start is None:
                    # Without any trusted stamp yet, the wall clock places the window.
                    self._open(self._align(now), now)
                self._hold(message, closed)
                continue
            if self._start is None:
                self._open(self._align(message.timestamp), now)
            assert self._start is not None
            end = self._start + self._window_ns
            if message.timestamp >= end:
                closed.append(self._close())
                next_start = self._align(message.timestamp)
                self.counters.skipped_windows += (next_start - end) // self._window_ns
                self._open(next_start, now)
            elif message.timestamp < self._start:
                self.counters.late_messages += 1
            self._hold(message, closed)
        return closed

    def _hold(self, message: Message[Any], closed: list[Batch]) -> None:
        """Add to the open window; hand its data out early once it holds too much."""
        self._pending.append(message)
        # A value that knows its size (event batches, arrays: nearly every message) is
        # not walked: this runs for every message of every window.
        size = getattr(message.value, "nbytes", None)
        if not isinstance(size, int):
            size = estimate_nbytes(message.value, MESSAGE_SIZE_OBJECTS)
        self._pending_bytes += size
        if self._pending_bytes >= self._max_pending_bytes:
            self.counters.split_windows += 1
            closed.append(self._close())

    def poll(self) -> list[Batch]:
        if self._start is None:
            return []
        now = self._clock.now_ns()
        if now - self._opened_at_wall < self._backstop_ns:
            return []
        self.counters.closed_by_backstop += 1
        batch = self._close()
        self._open(batch.end, now)
        return [batch]

    def flush(self) -> list[Batch]:
        if self._start is None or not self._pending:
            return []
        return [self._close()]

    def _timestamp_issue(self, timestamp: int, now: int) -> TimestampIssue | None:
        if timestamp < 0:
            return TimestampIssue.NEGATIVE
        if timestamp < self._earliest_ns:
            return TimestampIssue.TOO_OLD
        if timestamp > now + self._max_future_ns:
            return TimestampIssue.FAR_FUTURE
        return None

    def _align(self, timestamp: int) -> int:
        return timestamp - timestamp % self._window_ns

    def _open(self, start: int, now: int) -> None:
        self._start = start
        self._opened_at_wall = now

    def _close(self) -> Batch:
        assert self._start is not None
        batch = Batch(
            start=self._start,
            end=self._start + self._window_ns,
            messages=self._pending,
        )
        self._pending = []
        self._pending_bytes = 0
        self.counters.batches += 1
        if not batch.messages:
            self.counters.empty_batches += 1
        return batch
