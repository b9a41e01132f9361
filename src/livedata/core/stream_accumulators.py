"""Per-stream accumulation of one window's messages, and each stream's latest value."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from livedata.core.accumulators import LatestValue, WindowAccumulator
from livedata.core.message import Message, StreamKind
from livedata.core.values import EventBatch

Combine = Callable[[Sequence[Any]], Any]


def _as_list(values: Sequence[Any]) -> list[Any]:
    return list(values)


DEFAULT_COMBINERS: Mapping[StreamKind, Combine] = {
    # One contiguous event array per window: the histogram kernels run once per window.
    StreamKind.DETECTOR_EVENTS: EventBatch.concatenate,
    StreamKind.MONITOR_EVENTS: EventBatch.concatenate,
}
"""How a window's values of a kind become one; kinds not listed keep the list of
values in arrival order (log samples, camera frames, monitor histograms)."""


class StreamAccumulators:
    """A window accumulator and a latest-value slot per stream, made on first sight."""

    def __init__(self, combiners: Mapping[StreamKind, Combine] = DEFAULT_COMBINERS) -> None:
        self._combiners = combiners
        self._window: dict[str, WindowAccumulator[Any]] = {}
        self._latest: dict[str, LatestValue[Any]] = {}

    def add(self, message: Message[Any], *, keep_window: bool = True) -> None:
        """Record a message; ``keep_window=False`` only updates the stream's latest value.

        Streams no job reads now still keep their latest value (a reference, no copy),
        so a job started later finds the context (a motor position) that came before it.
        """
        name = message.stream.name
        latest = self._latest.get(name)
        if latest is None:
            latest = self._latest[name] = LatestValue()
        latest.add(message.value)
        if not keep_window:
            return
        window = self._window.get(name)
        if window is None:
            window = WindowAccumulator(self._combiners.get(message.stream.kind, _as_list))
            self._window[name] = window
        window.add(message.value)

    def take_window(self) -> dict[str, Any]:
        """This window's combined value per stream that got data; clears the windows."""
        return {name: window.get() for name, window in self._window.items() if not window.is_empty}

    def latest(self) -> dict[str, Any]:
        """The newest value of every stream seen so far."""
        return {name: slot.get() for name, slot in self._latest.items()}
