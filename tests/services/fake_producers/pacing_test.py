from __future__ import annotations

from typing import Any

import pytest

from livedata.services.fake_producers.pacing import (
    FRAME_LENGTH_NS,
    NS_PER_S,
    Pulse,
    PulsePacer,
    pulse_at,
    pulse_time,
)


@pytest.mark.parametrize("index", [0, 1, 13, 14, 15, 23_800_000_000, 23_800_000_007])
def test_pulse_at_inverts_pulse_time(index: int) -> None:
    assert pulse_at(pulse_time(index)) == index
    assert pulse_at(pulse_time(index) - 1) == index - 1
    assert pulse_at(pulse_time(index + 1) - 1) == index


def test_fourteen_pulses_span_exactly_one_second() -> None:
    k = 23_800_000_000  # 14 * 1.7e9 s: a whole second on the grid
    assert pulse_time(k + 14) - pulse_time(k) == NS_PER_S
    periods = {pulse_time(k + i + 1) - pulse_time(k + i) for i in range(14)}
    assert periods <= {FRAME_LENGTH_NS, FRAME_LENGTH_NS + 1}


def test_pulses_come_in_order_after_their_frame_ends(clock: Any) -> None:
    pacer = PulsePacer(clock)
    pulses = [pacer.next_pulse() for _ in range(30)]
    indices = [p.index for p in pulses if p is not None]
    assert indices == list(range(indices[0], indices[0] + 30))
    assert pacer.skipped == 0
    assert pacer.sent == 30
    # Data time is real time: the last pulse was handed out when its frame ended.
    assert pulses[-1] is not None
    assert clock.now_ns() >= pulses[-1].end_ns
    assert clock.now_ns() - pulses[-1].end_ns < FRAME_LENGTH_NS
    # 30 frames took 30 frames of (fake) sleeping, never more: no drift.
    assert sum(clock.sleeps) == pytest.approx(30 * FRAME_LENGTH_NS / NS_PER_S, abs=0.08)


def test_first_pulse_is_the_one_in_progress(clock: Any) -> None:
    in_progress = pulse_at(clock.now_ns())
    pulse = PulsePacer(clock).next_pulse()
    assert pulse == Pulse(in_progress)
    assert pulse.time_ns == pulse_time(in_progress)


def test_falling_behind_skips_pulses_and_counts_them(clock: Any) -> None:
    pacer = PulsePacer(clock)
    first = pacer.next_pulse()
    assert first is not None
    clock.advance(0.5)  # a stall of seven frames
    late = pacer.next_pulse()
    assert late is not None
    # The latest complete pulse comes next, not a burst of the missed ones.
    assert late.index == pulse_at(clock.now_ns()) - 1
    assert pacer.skipped == late.index - first.index - 1
    assert pacer.skipped == 6
    after = pacer.next_pulse()
    assert after is not None
    assert after.index == late.index + 1
    assert pacer.skipped == 6


def test_a_little_lateness_skips_nothing(clock: Any) -> None:
    pacer = PulsePacer(clock)
    for _ in range(20):
        pacer.next_pulse()
        clock.advance(0.05)  # work taking 70 % of a frame
    assert pacer.skipped == 0


def test_clock_stepping_back_rejoins_the_grid(clock: Any) -> None:
    pacer = PulsePacer(clock)
    pacer.next_pulse()
    clock.advance(-3600.0)
    pulse = pacer.next_pulse()
    assert pulse is not None
    assert pacer.resyncs == 1
    assert clock.now_ns() - pulse.end_ns < FRAME_LENGTH_NS
    assert max(clock.sleeps) <= 0.1


def test_stop_request_ends_the_wait(clock: Any) -> None:
    pacer = PulsePacer(clock)
    assert pacer.next_pulse(should_stop=lambda: True) is None
