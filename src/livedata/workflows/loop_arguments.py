"""What the compiled event loops (:mod:`.compiled_loops`) are given, checked first.

The loops index without bounds checks (ADR 0012), so everything that sizes or indexes
them is checked here, once, by the kernels that call them: the per-pixel tables they
look events up in, the time window, the events in parts with their times where a
window needs them, and the id range and window as the flat scalars numba takes.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from livedata.workflows.histogram import (
    INT32_MAX,
    INT32_MIN,
    Chunk,
    Events,
    IntArray,
    PixelRange,
    event_parts,
)


def checked_pixel_table(
    table: npt.ArrayLike, pixels: PixelRange, largest: int, noun: str
) -> npt.NDArray[np.integer]:
    """``table`` as one integer per pixel, each in ``[0, largest]``, or ValueError."""
    checked = np.asarray(table)
    if checked.shape != (pixels.count,) or checked.dtype.kind not in "iu":
        raise ValueError(
            f"need one integer {noun} per pixel ({pixels.count}), "
            f"got {checked.dtype} of shape {checked.shape}"
        )
    if checked.size and (int(checked.min()) < 0 or int(checked.max()) > largest):
        raise ValueError(f"pixel {noun}s must lie in [0, {largest}]")
    return checked


def check_time_window(time_window: tuple[int, int] | None) -> None:
    if time_window is not None and not (
        INT32_MIN <= time_window[0] < time_window[1] <= INT32_MAX + 1
    ):
        raise ValueError(f"time window {time_window} is empty or beyond int32")


def checked_parts(
    pixel_id: Events, time_of_arrival: Events | None, time_window: tuple[int, int] | None
) -> tuple[list[Chunk], int]:
    """The events in parts (see ``event_parts``), with their times if there is a time
    window (then every part must have them), without them otherwise."""
    if time_window is None:
        return event_parts(pixel_id, None)
    parts, n_events = event_parts(pixel_id, time_of_arrival)
    if time_of_arrival is None or any(times is None for _, times in parts):
        raise ValueError("a time window needs the events' time of arrival")
    return parts, n_events


def loop_parts(parts: list[Chunk]) -> Iterator[tuple[IntArray, IntArray]]:
    """Per part, the ids and times a compiled loop takes: in the machine's byte order,
    and the ids again for times that are absent (a loop without a window reads none)."""
    for ids, times in parts:
        assert ids is not None
        yield native(ids), native(ids if times is None else times)


def id_range_and_window(
    pixels: PixelRange, time_window: tuple[int, int] | None
) -> tuple[np.int64, np.uint64, bool, np.int64, np.uint64]:
    """The compiled loops' id range and window: first id, id count, whether there is a
    window, its start and width."""
    start, stop = time_window or (0, 1)
    return (
        np.int64(pixels.first),
        np.uint64(pixels.count),
        time_window is not None,
        np.int64(start),
        np.uint64(stop - start),
    )


def native(events: IntArray) -> IntArray:
    """The array in the machine's byte order (compiled loops cannot read another)."""
    return events if events.dtype.isnative else events.astype(events.dtype.newbyteorder("="))
