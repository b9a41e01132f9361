"""The 14 Hz pulse grid in wall-clock time, and pacing a producer on it.

Pulse ``k`` starts at ``pulse_time(k) = k * 1e9 // 14`` ns since the epoch, so every
producer (and every test) agrees on the grid, and a pulse's frame ends when the next
pulse starts. A pulse is sent when its frame has ended, as a detector readout does:
its events have all arrived by then. Data time is real time, because the services
batch by data time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

NS_PER_S = 1_000_000_000

PULSE_RATE_HZ = 14
"""ESS delivers 14 neutron pulses per second."""

FRAME_LENGTH_NS = NS_PER_S // PULSE_RATE_HZ
"""71_428_571 ns: times of arrival lie in ``[0, FRAME_LENGTH_NS)``."""

MAX_SLEEP_S = 0.1
"""Longest single sleep, so a stop request is seen within a tenth of a second."""

RESYNC_AHEAD_NS = 2 * FRAME_LENGTH_NS
"""A next pulse further ahead than this means the wall clock stepped back; re-align."""


def pulse_time(index: int) -> int:
    """Start of pulse ``index`` in ns since the epoch."""
    return index * NS_PER_S // PULSE_RATE_HZ


def pulse_at(time_ns: int) -> int:
    """Index of the pulse in progress at ``time_ns``: the largest k with pulse_time(k) <= t."""
    # floor(k * 1e9 / 14) <= t  <=>  k * 1e9 < 14 * (t + 1), in exact integers.
    return (PULSE_RATE_HZ * (time_ns + 1) - 1) // NS_PER_S


@dataclass(frozen=True, slots=True)
class Pulse:
    """One neutron pulse: its index on the grid, start (reference) time and frame end."""

    index: int

    @property
    def time_ns(self) -> int:
        return pulse_time(self.index)

    @property
    def end_ns(self) -> int:
        """When the frame ends and the pulse's data is sent; also the slow sources' 'now'."""
        return pulse_time(self.index + 1)


class PacingClock(Protocol):
    """Wall-clock time and sleeping: the seam that keeps unit tests from sleeping."""

    def now_ns(self) -> int: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real wall clock (``time.time_ns``) and ``time.sleep``."""

    def now_ns(self) -> int:
        return time.time_ns()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class PulsePacer:
    """Hands out pulses in real time: waits until each frame has ended, never drifts.

    When the caller falls behind (a pulse's frame ended more than one frame ago),
    the pulses it missed are skipped and counted in ``skipped``: the next pulse handed
    out is the latest complete one, so a slow producer sends fresh data at a lower
    rate instead of bursting through a backlog.
    """

    def __init__(self, clock: PacingClock) -> None:
        self._clock = clock
        self._next = pulse_at(clock.now_ns())
        """The next pulse to hand out; the one in progress now, sent when it ends."""
        self.sent = 0
        self.skipped = 0
        """Pulses never handed out because the caller was late."""
        self.resyncs = 0
        """Times the wall clock stepped backwards and the grid was re-joined."""

    def next_pulse(self, should_stop: Callable[[], bool] = lambda: False) -> Pulse | None:
        """Wait for the next pulse's frame to end and return it; ``None`` if asked to stop."""
        while True:
            due = pulse_time(self._next + 1)
            now = self._clock.now_ns()
            if now >= due:
                break
            if should_stop():
                return None
            if due - now > RESYNC_AHEAD_NS:
                self._next = pulse_at(now)
                self.resyncs += 1
                continue
            self._clock.sleep(min(due - now, int(MAX_SLEEP_S * NS_PER_S)) / NS_PER_S)
        latest_complete = pulse_at(now) - 1
        index = max(self._next, latest_complete)
        self.skipped += index - self._next
        self.sent += 1
        self._next = index + 1
        return Pulse(index)
