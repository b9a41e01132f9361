"""A histogram for the current window next to the running total since the last clear."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


class WindowedSum:
    """Two preallocated arrays: what arrived in the open window, and the total.

    A workflow adds a window's data into ``open(start_time)`` during ``accumulate``
    and calls ``close()`` in ``finalize``; the window is folded into the total once,
    however often ``finalize`` runs. Data added in several ``accumulate`` calls
    without a ``finalize`` between them belongs to one window.
    """

    def __init__(self, shape: tuple[int, ...], dtype: npt.DTypeLike = np.int64) -> None:
        self._window: npt.NDArray[Any] = np.zeros(shape, dtype=dtype)
        self._total: npt.NDArray[Any] = np.zeros(shape, dtype=dtype)
        self._window_start: int | None = None
        self._closed = True

    def open(self, start_time: int) -> npt.NDArray[Any]:
        """The window array to add into; starts a new, empty window after a ``close``."""
        if self._closed:
            self._window[...] = 0
            self._window_start = start_time
            self._closed = False
        return self._window

    def close(self) -> None:
        """End the window: its data joins the total."""
        if not self._closed:
            self._total += self._window
            self._closed = True

    @property
    def window(self) -> npt.NDArray[Any]:
        """The last (or open) window's data; do not modify."""
        return self._window

    @property
    def total(self) -> npt.NDArray[Any]:
        """Everything since the last ``clear``, including a closed window; do not modify."""
        return self._total

    @property
    def window_start(self) -> int | None:
        """Data time (ns) the last window began at; None before any data."""
        return self._window_start

    def select_rows(self, rows: Sequence[int | None]) -> WindowedSum:
        """A new sum whose row ``i`` (first axis) continues row ``rows[i]`` of this one,
        or starts from zero where that is None; an open window stays open."""
        selected = WindowedSum((len(rows), *self._window.shape[1:]), dtype=self._window.dtype)
        kept = [(new, old) for new, old in enumerate(rows) if old is not None]
        if kept:
            new_rows, old_rows = (list(t) for t in zip(*kept, strict=True))
            selected._window[new_rows] = self._window[old_rows]
            selected._total[new_rows] = self._total[old_rows]
        selected._window_start = self._window_start
        selected._closed = self._closed
        return selected

    def clear(self) -> None:
        self._window[...] = 0
        self._total[...] = 0
        self._window_start = None
        self._closed = True
