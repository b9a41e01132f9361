"""The detector image: counts per pixel id, optionally only events in a time window.

One compiled pass per call (:func:`~livedata.workflows.compiled_loops.count_pixels`,
ADR 0012) checks each event's id (and time) and adds it to the caller's histogram;
:mod:`.mapped_counts` counts views with it when a call brings many events per pixel.
"""

from __future__ import annotations

from livedata.workflows.compiled_warm_up import start_warm_up
from livedata.workflows.histogram import CountsArray, Events, PixelRange, RejectedEvents, check_out
from livedata.workflows.loop_arguments import (
    check_time_window,
    checked_parts,
    id_range_and_window,
    loop_parts,
)


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
        from livedata.workflows.compiled_loops import count_pixels  # numba: ADR 0012

        window = id_range_and_window(self.pixels, self.time_window)
        added = 0
        for ids, times in loop_parts(parts):
            bad_pixel, bad_time = count_pixels(ids, times, *window, flat)
            self.rejected.pixel_out_of_range += bad_pixel
            self.rejected.time_out_of_range += bad_time
            added += len(ids) - bad_pixel - bad_time
        return added
