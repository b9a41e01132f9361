"""Run transitions as the file writer announces them: a start, and a stop when it ends.

Without a run length there is one run, from the producer's start to its stop. With a
run length, runs follow each other back to back, each ``run_length`` long, as an
experiment script taking one measurement after another would make them.
"""

from __future__ import annotations

from livedata.core.values import RunStart, RunStop

NS_PER_MS = 1_000_000

MAX_RUN_LENGTH_S = 7 * 24 * 3600.0
"""A week: longer than any run, short enough that a typo (1e12) is refused."""

MIN_RUN_LENGTH_S = 0.5
"""Shorter runs would be shorter than a 1 s batch window; nothing useful to see."""


class RunCycle:
    """Emits ``RunStart`` on the first poll and ``RunStop`` / next ``RunStart`` on time."""

    def __init__(self, *, instrument: str, run_length_s: float | None = None) -> None:
        if run_length_s is not None and not MIN_RUN_LENGTH_S <= run_length_s <= MAX_RUN_LENGTH_S:
            raise ValueError(
                f"run length must be between {MIN_RUN_LENGTH_S} and {MAX_RUN_LENGTH_S:g} s, "
                f"not {run_length_s}"
            )
        self._instrument = instrument
        # Whole milliseconds, as pl72 / 6s4t carry them, so decoded times equal ours.
        self._length_ns = None if run_length_s is None else round(run_length_s * 1e3) * NS_PER_MS
        self._current: RunStart | None = None
        self._number = 0

    @property
    def current(self) -> RunStart | None:
        return self._current

    def poll(self, now_ns: int) -> list[RunStart | RunStop]:
        if self._current is None:
            return [self._start(now_ns)]
        if self._length_ns is None:
            return []
        stop_time = self._current.start_time + self._length_ns
        if now_ns < stop_time:
            return []
        # A late caller does not replay missed runs: the next one starts now.
        return [RunStop(run_name=self._current.run_name, stop_time=stop_time), self._start(now_ns)]

    def close(self, now_ns: int) -> list[RunStop]:
        """Stop the current run (the producer is exiting)."""
        if self._current is None:
            return []
        stop = RunStop(run_name=self._current.run_name, stop_time=_whole_ms(now_ns))
        self._current = None
        return [stop]

    def _start(self, now_ns: int) -> RunStart:
        self._number += 1
        self._current = RunStart(
            run_name=f"{self._instrument}-fake-{self._number:04d}", start_time=_whole_ms(now_ns)
        )
        return self._current


def _whole_ms(time_ns: int) -> int:
    return time_ns - time_ns % NS_PER_MS
