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


@dataclass(frozen=True, slots=True, kw_only=True)
class EventBatch:
    """Neutron events of one ev44 message (or several, concatenated).

    ``time_of_arrival`` is in ns relative to the pulse the event belongs to;
    ``reference_time`` holds the pulse times (ns since epoch) and
    ``reference_time_index`` the index of the first event of each pulse.
    ``pixel_id`` is ``None`` for sources without pixels (most beam monitors).
    """

    time_of_arrival: Int32Array
    pixel_id: Int32Array | None
    reference_time: Int64Array
    reference_time_index: Int32Array

    def __post_init__(self) -> None:
        if self.pixel_id is not None and len(self.pixel_id) != len(self.time_of_arrival):
            raise ValueError(
                f"pixel_id has {len(self.pixel_id)} entries but time_of_arrival has "
                f"{len(self.time_of_arrival)}"
            )
        if len(self.reference_time) != len(self.reference_time_index):
            raise ValueError("reference_time and reference_time_index differ in length")

    def __len__(self) -> int:
        return len(self.time_of_arrival)

    @staticmethod
    def concatenate(batches: Sequence[EventBatch]) -> EventBatch:
        """Join batches in order, shifting pulse indices so they stay valid."""
        if len(batches) == 1:
            return batches[0]
        if not batches:
            return EventBatch.empty()
        offsets = np.cumsum([0] + [len(b) for b in batches[:-1]], dtype=np.int64)
        has_pixels = all(b.pixel_id is not None for b in batches)
        return EventBatch(
            time_of_arrival=np.concatenate([b.time_of_arrival for b in batches]),
            pixel_id=(
                np.concatenate([b.pixel_id for b in batches if b.pixel_id is not None])
                if has_pixels
                else None
            ),
            reference_time=np.concatenate([b.reference_time for b in batches]),
            reference_time_index=np.concatenate(
                [
                    (b.reference_time_index + off).astype(np.int32)
                    for b, off in zip(batches, offsets, strict=True)
                ]
            ),
        )

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
