"""Counts per bin of a detector view whose bins are not the pixels themselves.

A view (``livedata.workflows.pixel_views``) maps every pixel to one output bin or to
none; this kernel histograms events through that map. Per event it costs one
subtraction, one lookup and the scatter-add of ``np.bincount``, and the lookup *is* the
bounds check: the table is padded with a sentinel at each end and read with
``mode="clip"``, so any pixel id below the bank (negative, ``-2**31``) lands on the
first sentinel and any above it (``2**31 - 1``) on the last, both pointing at a
"bad pixel" bin past the image that is counted and discarded. Nothing is ever sized or
indexed by an event's raw value.

Extra bins past the image, in this order: ``n_bins`` (a pixel the view leaves out),
``n_bins + 1`` (a valid pixel whose time of arrival is outside the window), ``n_bins +
2`` (a pixel id outside the bank). A time outside the window raises an event's bin to
at least ``n_bins + 1`` with one ``np.maximum``, which leaves a bad pixel a bad pixel.

The lookup is the costly step for large banks: events hit the table at random, and a
table beyond the L2 cache costs a cache miss per event. So the table is as small as the
bins allow: uint16 (2 bytes a pixel: 1.6 MiB for LoKI's 800 k pixel rear bank) for
views of up to 65,533 bins, int32 beyond; and the arithmetic before it runs in int32,
whose wrap-around is harmless here (a wrapped position lies outside the table for any
bank whose ids fit int32, so it still reads a sentinel).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from livedata.workflows.histogram import (
    CHUNK_EVENTS,
    INT32_MAX,
    INT32_MIN,
    RETAINED_INDEX_EVENTS,
    BoolArray,
    CountsArray,
    IndexArray,
    IntArray,
    PixelRange,
    RejectedEvents,
    check_events,
)

Int32Array = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]
TableArray = npt.NDArray[np.integer]

EXTRA_BINS = 3
"""Bins past the image: not in the view, bad pixel, bad time (module docstring)."""

UINT16_BINS = int(np.iinfo(np.uint16).max) + 1 - EXTRA_BINS
"""Views of up to this many bins get a uint16 table."""

FULL_INT32_RANGE = 1 << 32

WEIGHT_LIMIT = 1e30
"""Pixel weights are kept as float32 (7 significant digits): well inside its range."""

CHUNKED_BINCOUNT_BINS = 1 << 17
"""Views up to this many bins (1 MiB of counts) get one ``bincount`` per chunk of events,
straight from the small table dtype; larger ones one ``bincount`` per call over an intp
index of all its events. Measured on a 2 MiB-L2 machine: per chunk is faster up to
~100 k bins (it never writes the whole index to memory), per call beyond."""


class MappedPixelCounts:
    """Counts per output bin of a view, each pixel mapped to one bin (or none) by a table.

    ``bin_of_pixel[i]`` is the bin of pixel ``first + i`` in ``[0, n_bins]``; the value
    ``n_bins`` leaves the pixel out of the view (sliced away). Pixels outside the range,
    and times outside ``time_window``, are rejected and counted in ``rejected`` as in
    :class:`~livedata.workflows.histogram.PixelCounts`; events on pixels left out of the
    view are not rejections, they are simply not in it.

    With ``weights`` (one float per pixel, kept to float32 precision) :meth:`add_weighted`
    adds each event's pixel weight instead of 1 into a float64 sum, and its square into a
    second one (the variance of a weighted Poisson count).
    """

    def __init__(
        self,
        pixels: PixelRange,
        bin_of_pixel: npt.NDArray[np.integer],
        n_bins: int,
        *,
        time_window: tuple[int, int] | None = None,
        weights: npt.NDArray[np.floating] | None = None,
    ) -> None:
        table = np.asarray(bin_of_pixel)
        if table.shape != (pixels.count,) or table.dtype.kind not in "iu":
            raise ValueError(
                f"need one integer bin per pixel ({pixels.count}), "
                f"got {table.dtype} of shape {table.shape}"
            )
        if not 0 < n_bins <= INT32_MAX - EXTRA_BINS:
            raise ValueError(f"a view needs 1 to {INT32_MAX - EXTRA_BINS} bins, got {n_bins}")
        if table.size and (int(table.min()) < 0 or int(table.max()) > n_bins):
            raise ValueError(f"pixel bins must lie in [0, {n_bins}]")
        if time_window is not None and not (
            INT32_MIN <= time_window[0] < time_window[1] <= INT32_MAX + 1
        ):
            raise ValueError(f"time window {time_window} is empty or beyond int32")
        self.pixels = pixels
        self.n_bins = n_bins
        self.time_window = time_window
        self.rejected = RejectedEvents()
        bad_pixel = n_bins + 2
        # Position p + 1 holds pixel first + p; positions 0 and count + 1 are sentinels.
        dtype = np.uint16 if n_bins <= UINT16_BINS else np.int32
        self._late = np.array(n_bins + 1, dtype=dtype)
        self._table: TableArray = np.concatenate([[bad_pixel], table, [bad_pixel]]).astype(dtype)
        self._weights: npt.NDArray[np.float32] | None = None
        if weights is not None:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (pixels.count,) or not np.isfinite(w).all():
                raise ValueError(f"need one finite weight per pixel ({pixels.count})")
            if np.abs(w).max(initial=0.0) > WEIGHT_LIMIT:
                raise ValueError(f"pixel weights must lie within ±{WEIGHT_LIMIT:g}")
            # float32: half the table the random lookups miss the cache on (measured
            # three times faster next to the bin table); sums stay float64.
            self._weights = np.concatenate([[0.0], w, [0.0]]).astype(np.float32)
        self._position: Int32Array = np.empty(CHUNK_EVENTS, dtype=np.int32)
        self._time: Int32Array = np.empty(CHUNK_EVENTS, dtype=np.int32)
        self._time_bad: BoolArray = np.empty(CHUNK_EVENTS, dtype=np.bool_)
        self._late_bins: TableArray = np.empty(CHUNK_EVENTS, dtype=dtype)
        self._chunk_bins: TableArray = np.empty(CHUNK_EVENTS, dtype=dtype)
        self._whole: IndexArray = np.empty(0, dtype=np.intp)

    @property
    def weighted(self) -> bool:
        return self._weights is not None

    def _bins_of(self, pixel_id: IntArray, toa: IntArray | None, start: int, stop: int) -> None:
        """Bins of events ``[start, stop)`` into ``_chunk_bins[:stop - start]`` and their
        table positions into ``_position``."""
        m = stop - start
        position, out = self._position[:m], self._chunk_bins[:m]
        # 'clip' turns every out-of-range position into a sentinel (and avoids the
        # buffering of the default mode).
        np.subtract(
            pixel_id[start:stop], np.int32(self.pixels.first - 1), out=position, casting="unsafe"
        )
        np.take(self._table, position, out=out, mode="clip")
        window = self.time_window
        if toa is not None and window is not None:
            width = window[1] - window[0]
            if width >= FULL_INT32_RANGE:
                return  # every int32 time is inside
            time, bad, late = self._time[:m], self._time_bad[:m], self._late_bins[:m]
            # Modulo 2**32, time - start < width exactly when start <= time < stop.
            np.subtract(toa[start:stop], np.int32(window[0]), out=time, casting="unsafe")
            np.greater_equal(time.view(np.uint32), np.uint32(width), out=bad)
            # Late events' bins rise to n_bins + 1; a bad pixel's n_bins + 2 stays.
            np.multiply(bad.view(np.uint8), self._late, out=late, casting="unsafe")
            np.maximum(out, late, out=out)

    def _times(self, time_of_arrival: IntArray | None) -> IntArray | None:
        if self.time_window is None:
            return None
        if time_of_arrival is None:
            raise ValueError("a time window needs the events' time of arrival")
        return time_of_arrival

    def _whole_index(self, n_events: int) -> IndexArray:
        if n_events > RETAINED_INDEX_EVENTS:
            return np.empty(n_events, dtype=np.intp)
        if len(self._whole) < n_events:
            self._whole = np.empty(n_events, dtype=np.intp)
        return self._whole[:n_events]

    def _book(self, histogram: CountsArray, out: CountsArray) -> int:
        """Add the image part of a bincount to ``out``, count the rejections; return the
        events added."""
        n = self.n_bins
        out.reshape(-1)[...] += histogram[:n]
        self.rejected.time_out_of_range += int(histogram[n + 1])
        self.rejected.pixel_out_of_range += int(histogram[n + 2])
        return int(histogram[:n].sum())

    def add(
        self, out: CountsArray, pixel_id: IntArray, time_of_arrival: IntArray | None = None
    ) -> int:
        """Add events to ``out`` (``n_bins`` int64 counts); return how many were added."""
        toa = self._times(time_of_arrival)
        n_events = check_events(pixel_id, toa)
        if out.dtype != np.int64 or out.size != self.n_bins or not out.flags.c_contiguous:
            raise ValueError(f"histogram must be a C-contiguous int64 array of {self.n_bins}")
        length = self.n_bins + EXTRA_BINS
        if self.n_bins <= CHUNKED_BINCOUNT_BINS:
            # Small image: one in-cache bincount per chunk.
            histogram = np.zeros(length, dtype=np.int64)
            for start in range(0, n_events, CHUNK_EVENTS):
                stop = min(start + CHUNK_EVENTS, n_events)
                self._bins_of(pixel_id, toa, start, stop)
                histogram += np.bincount(self._chunk_bins[: stop - start], minlength=length)
        else:
            # Large image: the whole call's bins, then one bincount.
            whole = self._whole_index(n_events)
            for start in range(0, n_events, CHUNK_EVENTS):
                stop = min(start + CHUNK_EVENTS, n_events)
                self._bins_of(pixel_id, toa, start, stop)
                whole[start:stop] = self._chunk_bins[: stop - start]
            if not n_events:
                return 0
            histogram = np.bincount(whole, minlength=length)
        return self._book(histogram, out)

    def add_weighted(
        self,
        out: FloatArray,
        out_squared: FloatArray,
        pixel_id: IntArray,
        time_of_arrival: IntArray | None = None,
    ) -> int:
        """Add each event's pixel weight to ``out`` and its square to ``out_squared``
        (float64, ``n_bins`` each); return how many events were added."""
        weights = self._weights
        if weights is None:
            raise ValueError("this kernel has no weights; use add()")
        toa = self._times(time_of_arrival)
        n_events = check_events(pixel_id, toa)
        for array in (out, out_squared):
            if array.dtype != np.float64 or array.size != self.n_bins:
                raise ValueError(f"weighted sums must be float64 arrays of {self.n_bins} bins")
        if not n_events:
            return 0
        whole = self._whole_index(n_events)
        event_weight = np.empty(n_events, dtype=np.float32)
        n = self.n_bins
        added = 0
        for start in range(0, n_events, CHUNK_EVENTS):
            stop = min(start + CHUNK_EVENTS, n_events)
            self._bins_of(pixel_id, toa, start, stop)
            bins = self._chunk_bins[: stop - start]
            whole[start:stop] = bins
            position = self._position[: stop - start]
            np.take(weights, position, out=event_weight[start:stop], mode="clip")
            # Counted here, in cache, rather than by a third bincount over everything.
            added += int(np.count_nonzero(bins < n))
            self.rejected.time_out_of_range += int(np.count_nonzero(bins == n + 1))
            self.rejected.pixel_out_of_range += int(np.count_nonzero(bins == n + 2))
        length = n + EXTRA_BINS
        out.reshape(-1)[...] += np.bincount(whole, weights=event_weight, minlength=length)[:n]
        np.square(event_weight, out=event_weight)
        squared = np.bincount(whole, weights=event_weight, minlength=length)[:n]
        out_squared.reshape(-1)[...] += squared
        return added
