"""The detector image: counts per pixel id, optionally only events in a time window.

One compiled pass per call (:func:`~livedata.workflows.compiled_loops.count_pixels`,
ADR 0012) checks each event's id (and time) and adds it to the caller's histogram;
:mod:`.mapped_counts` counts views with it when a call brings many events per pixel.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from livedata.workflows.compiled_warm_up import start_warm_up
from livedata.workflows.histogram import (
    INT32_MAX,
    INT32_MIN,
    Chunk,
    CountsArray,
    Events,
    IntArray,
    PixelRange,
    RejectedEvents,
    check_out,
    event_parts,
)


def check_time_window(time_window: tuple[int, int] | None) -> None:
    if time_window is not None and not (
        INT32_MIN <= time_window[0] < time_window[1] <= INT32_MAX + 1
    ):
        raise ValueError(f"time window {time_window} is empty or beyond int32")


class PixelCounts:
    """Counts per pixel (a detector image), optionally only events in a time window.

    Parameters
    ----------
    pixels:
        The detector's pixel ids; events of other ids are rejected.
    time_window:
        If given, ``(start, stop)`` in ns: only events with ``start <= toa < stop``
        count, the others are rejected as ``time_out_of_range``.
    """

    def __init__(self, pixels: PixelRange, *, time_window: tuple[int, int] | None = None) -> None:
        check_time_window(time_window)
        start_warm_up()  # the compiled loop, by the first window (see compiled_warm_up)
        self.pixels = pixels
        self.time_window = time_window
        self.rejected = RejectedEvents()

    @property
    def n_bins(self) -> int:
        return self.pixels.count

    def add(
        self,
        out: CountsArray,
        pixel_id: Events,
        time_of_arrival: Events | None = None,
    ) -> int:
        """Add events to ``out`` (``n_bins`` int64 counts); return how many were added.
        The events may come in parts (sequences of arrays, see :data:`Events`): one
        compiled pass per part (:func:`~livedata.workflows.compiled_loops.count_pixels`)."""
        parts, n_events = checked_parts(pixel_id, time_of_arrival, self.time_window)
        flat = check_out(out, self.n_bins)
        if not n_events:
            return 0
        # Imported here, not at the top: numba costs 0.5 s and 110 MB to import, and the
        # dashboard imports this module (for workflow specs) but never counts.
        from livedata.workflows.compiled_loops import count_pixels

        added = 0
        for ids, times in loop_parts(parts):
            bad_pixel, bad_time = count_pixels(
                ids, times, *id_range_and_window(self.pixels, self.time_window), flat
            )
            self.rejected.pixel_out_of_range += bad_pixel
            self.rejected.time_out_of_range += bad_time
            added += len(ids) - bad_pixel - bad_time
        return added


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
