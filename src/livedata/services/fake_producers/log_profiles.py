"""Slow-control logs (f144) as the EPICS forwarder publishes them: pure Python, no Kafka.

A log's value follows a repeating cycle of ramps, holds, steps and a noisy
regulation phase, always inside the log's valid range. Changing values are sampled a
few times per second; an unchanged value is re-published periodically, as the
forwarder does: the real forwarder re-sends the cached message bytes unchanged, so
the f144 timestamp of a repeat is the time the value last changed, and only the
Kafka timestamp is new.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from livedata.config.instrument import LogSignal
from livedata.core.values import LogSample
from livedata.services.fake_producers.pacing import NS_PER_S

SAMPLE_RATE_HZ = 4.0
"""Changing values are published at 4 Hz, typical of a motor readback."""

REPUBLISH_INTERVAL_S = 1.0
"""An unchanged value is re-sent after this long, like the forwarder's periodic update."""

DEFAULT_RANGE = (0.0, 100.0)
"""Where values move when the log declares no valid range."""

TARGET_MARGIN = 0.1
"""Ramp and step targets stay this fraction of the span away from the range's ends."""

NOISE_FRACTION = 0.005
"""Standard deviation of the regulation noise as a fraction of the span."""

RESTART_GAP_S = 60.0
"""After a gap this long (a stepped clock) the profile restarts instead of replaying."""


class Phase(Enum):
    RAMP = "ramp"
    HOLD = "hold"
    STEP = "step"
    NOISE = "noise"


CYCLE = (Phase.RAMP, Phase.HOLD, Phase.STEP, Phase.HOLD, Phase.NOISE, Phase.HOLD)
DURATION_S = {Phase.RAMP: (3.0, 6.0), Phase.HOLD: (2.0, 5.0), Phase.STEP: (2.0, 4.0)}
DURATION_S[Phase.NOISE] = (3.0, 5.0)


@dataclass(frozen=True, slots=True)
class _Segment:
    phase: Phase
    start_ns: int
    end_ns: int
    start_value: float
    end_value: float


class LogProfile:
    """A log's value as a function of (non-decreasing) time."""

    def __init__(self, signal: LogSignal, *, rng: np.random.Generator, start_ns: int) -> None:
        lo, hi = signal.valid_range if signal.valid_range is not None else DEFAULT_RANGE
        if not lo < hi:
            raise ValueError(f"log {signal.name}: empty valid range {signal.valid_range}")
        self.range = (float(lo), float(hi))
        self._rng = rng
        self._position = int(rng.integers(0, len(CYCLE)))
        self._segment = self._first_segment(start_ns)

    def value_at(self, time_ns: int) -> float:
        if time_ns - self._segment.end_ns > RESTART_GAP_S * NS_PER_S:
            self._segment = self._first_segment(time_ns)
        while time_ns >= self._segment.end_ns:
            self._segment = self._next_segment()
        seg = self._segment
        lo, hi = self.range
        if seg.phase is Phase.RAMP:
            fraction = (time_ns - seg.start_ns) / (seg.end_ns - seg.start_ns)
            value = seg.start_value + (seg.end_value - seg.start_value) * fraction
        elif seg.phase is Phase.NOISE:
            value = seg.start_value + float(self._rng.normal(0.0, NOISE_FRACTION * (hi - lo)))
        else:
            value = seg.start_value
        return min(max(value, lo), hi)

    def _target(self) -> float:
        lo, hi = self.range
        margin = TARGET_MARGIN * (hi - lo)
        return float(self._rng.uniform(lo + margin, hi - margin))

    def _first_segment(self, start_ns: int) -> _Segment:
        value = self._target()
        # Start part-way through a hold, so several logs do not move in lockstep.
        return _Segment(Phase.HOLD, start_ns, start_ns + self._duration(Phase.HOLD), value, value)

    def _duration(self, phase: Phase) -> int:
        low, high = DURATION_S[phase]
        return int(self._rng.uniform(low, high) * NS_PER_S)

    def _next_segment(self) -> _Segment:
        phase = CYCLE[self._position % len(CYCLE)]
        self._position += 1
        start = self._segment.end_ns
        end = start + self._duration(phase)
        current = self._segment.end_value
        if phase is Phase.RAMP:
            return _Segment(phase, start, end, current, self._target())
        if phase is Phase.STEP:
            target = self._target()  # the value jumps at the segment's start, then holds
            return _Segment(phase, start, end, target, target)
        return _Segment(phase, start, end, current, current)


@dataclass(frozen=True, slots=True)
class LogUpdate:
    sample: LogSample
    repeat: bool
    """True for the periodic re-publish of an unchanged value (same sample, same time)."""


class LogGenerator:
    """One log's f144 updates: new values at ``sample_rate_hz``, repeats when unchanged."""

    def __init__(
        self,
        signal: LogSignal,
        *,
        rng: np.random.Generator,
        start_ns: int,
        sample_rate_hz: float = SAMPLE_RATE_HZ,
        republish_interval_s: float = REPUBLISH_INTERVAL_S,
    ) -> None:
        if not 0 < sample_rate_hz <= 1000:
            raise ValueError(f"sample rate must be in (0, 1000] Hz, not {sample_rate_hz}")
        self.signal = signal
        self._profile = LogProfile(signal, rng=rng, start_ns=start_ns)
        self._period_ns = round(NS_PER_S / sample_rate_hz)
        self._republish_ns = round(republish_interval_s * NS_PER_S)
        self._last_tick = start_ns // self._period_ns - 1
        self._last: LogSample | None = None
        self._last_sent_ns = 0

    @property
    def range(self) -> tuple[float, float]:
        return self._profile.range

    def poll(self, now_ns: int) -> LogUpdate | None:
        """The update due at ``now_ns``, if any; a late caller gets only the latest one."""
        tick = now_ns // self._period_ns
        if tick <= self._last_tick:
            return None
        self._last_tick = tick
        time = tick * self._period_ns
        value = self._profile.value_at(time)
        if self._last is None or value != self._last.value:
            self._last = LogSample(time=time, value=value)
            self._last_sent_ns = time
            return LogUpdate(self._last, repeat=False)
        if time - self._last_sent_ns >= self._republish_ns:
            self._last_sent_ns = time
            return LogUpdate(self._last, repeat=True)
        return None
