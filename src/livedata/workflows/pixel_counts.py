"""The detector image: counts per pixel id, optionally only events in a time window.

One compiled pass per call (:func:`~livedata.workflows.compiled_loops.count_pixels`,
ADR 0012) checks each event's id (and time) and adds it to the caller's histogram;
:mod:`.mapped_counts` counts views with it when a call brings many events per pixel.
"""

from __future__ import annotations

import numpy as np

from livedata.workflows.histogram import (
    INT32_MAX,
    INT32_MIN,
    CountsArray,
    Events,
    IntArray,
    PixelRange,
    RejectedEvents,
    check_out,
    event_parts,
)

ACCEPTED_RUN = 1 << 12
"""Events the compiled image loop checks before it adds those it accepted (32 KiB of
bins, in L1)."""


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
        self._accepted = np.empty(ACCEPTED_RUN, dtype=np.uint64)
        self.pixels = pixels
        self.time_window = time_window
        self.rejected = RejectedEvents()

    @property
    def n_bins(self) -> int:
        return self.pixels.count

    def checked_time(self, time_of_arrival: Events | None) -> Events | None:
        """The times this kernel needs: those given if it has a time window, else None."""
        if self.time_window is None:
            return None
        if time_of_arrival is None:
            raise ValueError("a time window needs the events' time of arrival")
        return time_of_arrival

    def add(
        self,
        out: CountsArray,
        pixel_id: Events,
        time_of_arrival: Events | None = None,
    ) -> int:
        """Add events to ``out`` (``n_bins`` int64 counts); return how many were added.
        The events may come in parts (sequences of arrays, see :data:`Events`): one
        compiled pass per part (:func:`~livedata.workflows.compiled_loops.count_pixels`)."""
        toa = self.checked_time(time_of_arrival)
        parts, _ = event_parts(pixel_id, toa)
        flat = check_out(out, self.n_bins)
        # Imported here, not at the top: numba costs 0.5 s and 110 MB to import, and the
        # dashboard imports this module (for workflow specs) but never counts.
        from livedata.workflows.compiled_loops import count_pixels

        start, stop = self.time_window or (0, 1)
        added = 0
        for ids, times in parts:
            assert ids is not None
            ids = native(ids)
            bad_pixel, bad_time = count_pixels(
                ids,
                ids if times is None else native(times),  # not read without a window
                np.int64(self.pixels.first),
                np.uint64(self.pixels.count),
                self.time_window is not None,
                np.int64(start),
                np.uint64(stop - start),
                flat,
                self._accepted,
            )
            self.rejected.pixel_out_of_range += bad_pixel
            self.rejected.time_out_of_range += bad_time
            added += len(ids) - bad_pixel - bad_time
        return added


def native(events: IntArray) -> IntArray:
    """The array in the machine's byte order (compiled loops cannot read another)."""
    return events if events.dtype.isnative else events.astype(events.dtype.newbyteorder("="))
