"""Accumulators with explicit semantics: what reading them returns, and what it resets.

- ``WindowAccumulator``: everything added since the last read; reading clears it.
- ``CumulativeAccumulator``: everything added since the last ``clear()``.
- ``LatestValue``: the newest value added; reading does not clear it.
- ``LogSeries``: every (time, value) added, in order, up to a bounded capacity.

Values are combined with ``+`` (numpy arrays, scipp variables and data arrays) unless
a ``combine`` function is given (e.g. concatenating event batches).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Accumulator(Protocol[T]):
    def add(self, value: T) -> None: ...

    def get(self) -> T:
        """The accumulated value; raises ``LookupError`` when nothing was added."""
        ...

    @property
    def is_empty(self) -> bool: ...

    def clear(self) -> None: ...


def _sum(values: Sequence[Any]) -> Any:
    total = values[0].copy() if hasattr(values[0], "copy") else values[0]
    for value in values[1:]:
        total += value
    return total


class WindowAccumulator(Generic[T]):
    """Collects values until read; ``get`` returns their combination and clears."""

    def __init__(self, combine: Callable[[Sequence[T]], T] = _sum) -> None:
        self._combine = combine
        self._values: list[T] = []

    def add(self, value: T) -> None:
        self._values.append(value)

    def get(self) -> T:
        if not self._values:
            raise LookupError("window accumulator is empty")
        # Combine lazily at read time: one concatenation or sum per window, not per add.
        result = self._combine(self._values)
        self._values = []
        return result

    @property
    def is_empty(self) -> bool:
        return not self._values

    def clear(self) -> None:
        self._values = []


class CumulativeAccumulator(Generic[T]):
    """Sums every value since the last ``clear``; reading does not reset it."""

    def __init__(self) -> None:
        self._total: Any = None

    def add(self, value: T) -> None:
        if self._total is None:
            # Own a copy, so later in-place adds never write into the caller's array.
            self._total = value.copy() if hasattr(value, "copy") else value
        else:
            self._total += value

    def get(self) -> T:
        """The running total itself (no copy, reads are cheap): do not modify it."""
        if self._total is None:
            raise LookupError("cumulative accumulator is empty")
        result: T = self._total
        return result

    @property
    def is_empty(self) -> bool:
        return self._total is None

    def clear(self) -> None:
        self._total = None


class LatestValue(Generic[T]):
    """Keeps only the newest value (context such as a motor position or ROI set)."""

    def __init__(self) -> None:
        self._value: T | None = None
        self._has_value = False

    def add(self, value: T) -> None:
        self._value = value
        self._has_value = True

    def get(self) -> T:
        if not self._has_value:
            raise LookupError("no value yet")
        return self._value  # type: ignore[return-value]

    @property
    def is_empty(self) -> bool:
        return not self._has_value

    def clear(self) -> None:
        self._value = None
        self._has_value = False


DEFAULT_LOG_CAPACITY = 100_000
"""A day of a 1 Hz log; at most a few MB per series, so many logs stay cheap."""


class LogSeries:
    """Time-stamped samples in arrival order, keeping the newest ``capacity`` of them.

    Repeated identical values (a forwarder re-publishing an unchanged PV) are not new
    samples and are skipped, so the series shows changes, not heartbeats.
    """

    def __init__(self, capacity: int = DEFAULT_LOG_CAPACITY) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._times: deque[int] = deque(maxlen=capacity)
        self._values: deque[Any] = deque(maxlen=capacity)
        self.dropped = 0
        """Oldest samples pushed out by the capacity bound."""
        self.repeats = 0
        """Samples skipped because they repeated the previous value."""

    @property
    def capacity(self) -> int:
        assert self._times.maxlen is not None
        return self._times.maxlen

    def add(self, time: int, value: Any) -> None:
        if self._values and _same(self._values[-1], value):
            self.repeats += 1
            return
        if len(self._times) == self._times.maxlen:
            self.dropped += 1
        self._times.append(time)
        self._values.append(value)

    def __len__(self) -> int:
        return len(self._times)

    @property
    def is_empty(self) -> bool:
        return not self._times

    def times(self) -> npt.NDArray[np.int64]:
        return np.fromiter(self._times, dtype=np.int64, count=len(self._times))

    def values(self) -> npt.NDArray[Any]:
        return np.asarray(list(self._values))

    def clear(self) -> None:
        self._times.clear()
        self._values.clear()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(a == b or (a != a and b != b))  # NaN repeats count as repeats too
