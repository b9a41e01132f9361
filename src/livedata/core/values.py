"""Domain values that ingress decodes wire payloads into.

They are plain containers of numpy arrays (views into the message buffer where the
codec allows it), so decoding stays cheap and the histogram kernels get contiguous
arrays. Scipp appears only where a value is naturally labelled (da00 histograms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Int32Array = npt.NDArray[np.int32]
Int64Array = npt.NDArray[np.int64]


class EventBatch:
    """Neutron events of one ev44 message, or of several in a row (a window's).

    ``time_of_arrival`` is in ns relative to the pulse the event belongs to;
    ``reference_time`` holds the pulse times (ns since epoch) and
    ``reference_time_index`` the index of the first event of each pulse.
    ``pixel_id`` is ``None`` for sources without pixels (most beam monitors).

    A batch made by :meth:`concatenate` keeps its :attr:`parts` and joins their arrays
    only when one of them is first read: a consumer that can work through the parts in
    turn (the histogram kernels) never pays for the copy. Do not modify the arrays.
    """

    __slots__ = (
        "_length",
        "_parts",
        "_pixel_id",
        "_reference_time",
        "_reference_time_index",
        "_time_of_arrival",
    )

    _time_of_arrival: Int32Array
    _pixel_id: Int32Array | None
    _reference_time: Int64Array
    _reference_time_index: Int32Array
    _parts: tuple[EventBatch, ...] | None
    """The batches joined, while their arrays are not; None once they are (or for a
    batch of one message)."""
    _length: int

    def __init__(
        self,
        *,
        time_of_arrival: Int32Array,
        pixel_id: Int32Array | None,
        reference_time: Int64Array,
        reference_time_index: Int32Array,
    ) -> None:
        if pixel_id is not None and len(pixel_id) != len(time_of_arrival):
            raise ValueError(
                f"pixel_id has {len(pixel_id)} entries but time_of_arrival has "
                f"{len(time_of_arrival)}"
            )
        if len(reference_time) != len(reference_time_index):
            raise ValueError("reference_time and reference_time_index differ in length")
        self._time_of_arrival = time_of_arrival
        self._pixel_id = pixel_id
        self._reference_time = reference_time
        self._reference_time_index = reference_time_index
        self._parts = None
        self._length = len(time_of_arrival)

    def __len__(self) -> int:
        return self._length

    @property
    def nbytes(self) -> int:
        """Bytes of the event arrays (of every part, while they are not joined)."""
        if self._parts is not None:
            return sum(part.nbytes for part in self._parts)
        arrays = (
            self._time_of_arrival,
            self._pixel_id,
            self._reference_time,
            self._reference_time_index,
        )
        return sum(array.nbytes for array in arrays if array is not None)

    def __repr__(self) -> str:
        parts = "" if self._parts is None else f" in {len(self._parts)} parts"
        pixels = "" if self.has_pixel_ids else ", no pixel ids"
        return f"EventBatch({self._length} events{parts}{pixels})"

    @property
    def parts(self) -> tuple[EventBatch, ...]:
        """The message batches this one is made of, in order (itself if just one)."""
        return (self,) if self._parts is None else self._parts

    @property
    def has_pixel_ids(self) -> bool:
        """Whether ``pixel_id`` is set, known without joining the parts."""
        if self._parts is None:
            return self._pixel_id is not None
        return all(part.has_pixel_ids for part in self._parts)

    @property
    def time_of_arrival(self) -> Int32Array:
        self._join()
        return self._time_of_arrival

    @property
    def pixel_id(self) -> Int32Array | None:
        self._join()
        return self._pixel_id

    @property
    def reference_time(self) -> Int64Array:
        self._join()
        return self._reference_time

    @property
    def reference_time_index(self) -> Int32Array:
        self._join()
        return self._reference_time_index

    @staticmethod
    def concatenate(batches: Sequence[EventBatch]) -> EventBatch:
        """Join batches in order (lazily: see the class), shifting pulse indices so they
        stay valid."""
        if len(batches) == 1:
            return batches[0]
        if not batches:
            return EventBatch.empty()
        joined = EventBatch.__new__(EventBatch)
        joined._parts = tuple(part for batch in batches for part in batch.parts)
        joined._length = sum(len(b) for b in batches)
        return joined

    def _join(self) -> None:
        parts = self._parts
        if parts is None:
            return
        offsets = np.cumsum([0] + [len(b) for b in parts[:-1]], dtype=np.int64)
        has_pixels = all(b.has_pixel_ids for b in parts)
        self._time_of_arrival = np.concatenate([b.time_of_arrival for b in parts])
        self._pixel_id = (
            np.concatenate([b.pixel_id for b in parts if b.pixel_id is not None])
            if has_pixels
            else None
        )
        self._reference_time = np.concatenate([b.reference_time for b in parts])
        self._reference_time_index = np.concatenate(
            [
                (b.reference_time_index + off).astype(np.int32)
                for b, off in zip(parts, offsets, strict=True)
            ]
        )
        self._parts = None

    @staticmethod
    def empty() -> EventBatch:
        return EventBatch(
            time_of_arrival=np.empty(0, dtype=np.int32),
            pixel_id=np.empty(0, dtype=np.int32),
            reference_time=np.empty(0, dtype=np.int64),
            reference_time_index=np.empty(0, dtype=np.int32),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LogSample:
    """One slow-control reading (f144): its own time (ns since epoch) and value."""

    time: int
    value: float | npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class AreaFrame:
    """One camera frame (ad00)."""

    unique_id: int
    time: int
    data: npt.NDArray[np.generic]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStart:
    """A run began (pl72). ``stop_time`` is set when the run length is known upfront."""

    run_name: str
    start_time: int
    stop_time: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStop:
    """A run ended (6s4t)."""

    run_name: str
    stop_time: int
