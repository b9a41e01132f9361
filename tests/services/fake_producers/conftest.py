"""A stepping wall clock and a dummy-like instrument for the fake producers' tests."""

from __future__ import annotations

import pytest

from livedata.config.instrument import (
    AreaDetector,
    DetectorBank,
    Instrument,
    LogSignal,
    Monitor,
)

T0 = 1_700_000_000_000_000_000
"""A wall-clock time (ns since epoch) in 2023."""


class SteppingClock:
    """A wall clock that moves only when slept on or told to; records its sleeps."""

    def __init__(self, now_ns: int = T0) -> None:
        self._now = now_ns
        self.sleeps: list[float] = []

    def now_ns(self) -> int:
        return self._now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self._now += round(seconds * 1e9)

    def advance(self, seconds: float) -> None:
        self._now += round(seconds * 1e9)


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


def make_instrument(name: str = "fakeinst") -> Instrument:
    """Like the dummy: a 128x128 panel, two ev44 monitors, two logs, a 256x256 camera."""
    return Instrument(
        name=name,
        detectors=(
            DetectorBank(name="panel_0", shape=(128, 128), dims=("y", "x"), first_pixel_id=1),
        ),
        monitors=(Monitor(name="monitor1"), Monitor(name="monitor2")),
        logs=(
            LogSignal(name="motion1", unit="mm", valid_range=(-5.0, 5.0)),
            LogSignal(name="motion2", unit="deg"),
        ),
        area_detectors=(AreaDetector(name="area_panel", shape=(256, 256)),),
    )


@pytest.fixture
def instrument() -> Instrument:
    return make_instrument()
