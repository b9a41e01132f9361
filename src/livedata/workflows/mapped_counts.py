"""Counts per bin of a detector view whose bins are not the pixels themselves.

A view (``livedata.workflows.pixel_views``) maps every pixel to one output bin or to
none; this kernel histograms events through that map, in one of two ways per call:

**Pixels first**, when a call brings at least ``PIXELS_FIRST_EVENTS_PER_PIXEL`` events
per pixel: the events are counted per pixel with the plain image kernel
(:class:`~livedata.workflows.histogram.PixelCounts`, which needs no lookup at all), and
the per-pixel counts are then folded into the view's bins with one ``np.bincount`` over
the pixels (exact: integer counts in float64 stay exact below ``2**53``). The per-event
work is that of the bank's own image; the fold costs one pass over the pixels per call,
which the events per pixel pay for. Weighted views fold with the weights, so weights
cost nothing per event either. Unweighted views use it for banks of up to
``PIXELS_FIRST_MAX_PIXELS`` pixels, whose counts stay near the cache; beyond, the
lookup's smaller table and histogram miss the cache less.

**Lookup per event** otherwise: one subtraction, one lookup and a scatter-add per
event, where the lookup *is* the bounds check: the table is padded with a sentinel at
each end and read with ``mode="clip"``, so any pixel id below the bank (negative,
``-2**31``) lands on the first sentinel and any above it (``2**31 - 1``) on the last,
both pointing at a "bad pixel" bin past the image that is counted and discarded.
Nothing is ever sized or indexed by an event's raw value. The table is as small as the
bins allow (uint16 for views of up to 65,533 bins, int32 beyond), as it is read at
random; small views are scattered chunk by chunk with ``np.add.at``, large ones with one
``np.bincount`` per call (as in ``livedata.workflows.histogram``).

Extra bins past the image, in this order: ``n_bins`` (a pixel the view leaves out),
``n_bins + 1`` (a valid pixel whose time of arrival is outside the window), ``n_bins +
2`` (a pixel id outside the bank). A time outside the window raises an event's bin to
at least ``n_bins + 1`` with one ``np.maximum``, which leaves a bad pixel a bad pixel.
The arithmetic before the lookup runs in int32, whose wrap-around is harmless here (a
wrapped position lies outside the table for any bank whose ids fit int32, so it still
reads a sentinel).
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
    Chunk,
    CountsArray,
    Events,
    IndexArray,
    IntArray,
    PixelCounts,
    PixelRange,
    RejectedEvents,
    chunks,
    event_parts,
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

CHUNKED_SCATTER_BINS = UINT16_BINS
"""Views up to this many bins (512 KiB of counts) are scattered into chunk by chunk with
``np.add.at``; larger ones get one ``bincount`` per call over an intp index of all its
events (random increments all over a histogram beyond the cache measured faster so)."""

PERIODIC_SCATTER_BINS = 1 << 18
"""Views computed arithmetically (no table competing for the cache) are scattered into
chunk by chunk up to this many bins (2 MiB of counts)."""

PIXELS_FIRST_EVENTS_PER_PIXEL = 2
"""Events per pixel in one call from which counting per pixel and folding (one pass
over the pixels, ~2 ns each) is cheaper than a lookup per event (~1 ns more each)."""

PIXELS_FIRST_MAX_PIXELS = 1 << 19
"""Largest bank (4 MiB of per-pixel counts) an unweighted view counts pixels first."""


def periodic_form(table: npt.NDArray[np.integer], n_bins: int) -> tuple[int, int] | None:
    """``(divisor, n_bins)`` if ``table[i] == (i // divisor) % n_bins`` for every pixel.

    Summing a bank over its leading dims (LoKI's layers) or its trailing ones is such a
    view; its bins are then two integer divisions away from the pixel index, cheaper
    than a lookup in a table larger than the cache."""
    n = len(table)
    if n == 0 or int(table[0]) != 0:
        return None
    steps = np.flatnonzero(table[1:] != table[:-1])
    divisor = int(steps[0]) + 1 if len(steps) else n
    expected = np.arange(n, dtype=np.int64) // divisor % n_bins
    return (divisor, n_bins) if np.array_equal(table, expected) else None


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
        # The table is read at position ``id - shift``. Pixel ``first + p`` is at
        # ``lead + p``; the positions before it and the last one are sentinels. For a
        # bank whose ids start low, the lead covers all lower ids, so that the
        # position is the id itself and the subtraction is spared.
        lead = pixels.first if 0 <= pixels.first - 1 <= pixels.count else 1
        self._shift = pixels.first - lead
        self._lead = lead
        dtype = np.uint16 if n_bins <= UINT16_BINS else np.int32
        self._late = np.array(n_bins + 1, dtype=dtype)
        self._bad_pixel = dtype(bad_pixel)
        # Without weights, a periodic view is computed instead of looked up (int32 ids).
        self._periodic = None if weights is not None else periodic_form(table, n_bins)
        self._quotient = np.empty(CHUNK_EVENTS, dtype=np.uint32)
        self._remainder = np.empty(CHUNK_EVENTS, dtype=np.uint32)
        self._table: TableArray = np.concatenate(
            [np.full(lead, bad_pixel), table, [bad_pixel]]
        ).astype(dtype)
        self._weights: npt.NDArray[np.float32] | None = None
        self._fold_weights: tuple[FloatArray, FloatArray] | None = None
        if weights is not None:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (pixels.count,) or not np.isfinite(w).all():
                raise ValueError(f"need one finite weight per pixel ({pixels.count})")
            if np.abs(w).max(initial=0.0) > WEIGHT_LIMIT:
                raise ValueError(f"pixel weights must lie within ±{WEIGHT_LIMIT:g}")
            # float32: half the table the random lookups miss the cache on (measured
            # three times faster next to the bin table); sums stay float64.
            self._weights = np.concatenate([np.zeros(lead), w, [0.0]]).astype(np.float32)
            # The same float32 values (and their exact squares) for the pixels-first fold.
            w32 = self._weights[lead:-1].astype(np.float64)
            self._fold_weights = (w32, w32 * w32)
        # Pixels first: the plain image kernel (sharing our rejection counts) and the
        # table as intp for the fold, both made on first use.
        self._pixel_kernel = PixelCounts(pixels, time_window=time_window)
        self._pixel_kernel.rejected = self.rejected
        self._bin_of_pixel = table
        self._fold_table: IndexArray | None = None
        self._pixel_counts: CountsArray | None = None
        self._position: Int32Array = np.empty(CHUNK_EVENTS, dtype=np.int32)
        self._time: Int32Array = np.empty(CHUNK_EVENTS, dtype=np.int32)
        self._time_bad: BoolArray = np.empty(CHUNK_EVENTS, dtype=np.bool_)
        self._pixel_bad: BoolArray = np.empty(CHUNK_EVENTS, dtype=np.bool_)
        self._late_bins: TableArray = np.empty(CHUNK_EVENTS, dtype=dtype)
        self._chunk_bins: TableArray = np.empty(CHUNK_EVENTS, dtype=dtype)
        self._index: IndexArray = np.empty(CHUNK_EVENTS, dtype=np.intp)
        self._whole: IndexArray = np.empty(0, dtype=np.intp)
        self._histogram: CountsArray = np.zeros(0, dtype=np.int64)

    @property
    def weighted(self) -> bool:
        return self._weights is not None

    def _pixels_first(self, n_events: int) -> bool:
        n_pixels = self.pixels.count
        if n_events < PIXELS_FIRST_EVENTS_PER_PIXEL * n_pixels:
            return False
        return self.weighted or n_pixels <= PIXELS_FIRST_MAX_PIXELS

    def _count_pixels(self, pixel_id: Events, toa: Events | None) -> CountsArray:
        """The events' counts per pixel (rejections counted); reused between calls."""
        if self._pixel_counts is None:
            self._pixel_counts = np.zeros(self.pixels.count, dtype=np.int64)
            self._fold_table = self._bin_of_pixel.astype(np.intp)
        counts = self._pixel_counts
        counts[...] = 0
        self._pixel_kernel.add(counts, pixel_id, toa)
        return counts

    def _fold(self, weights: npt.NDArray[np.int64] | FloatArray) -> FloatArray:
        """Sum per-pixel ``weights`` into the view's bins."""
        assert self._fold_table is not None
        n = self.n_bins
        folded = np.bincount(self._fold_table, weights=weights, minlength=n + 1)[:n]
        return folded.astype(np.float64, copy=False)

    def _bins_of(self, chunk: Chunk) -> IntArray:
        """Bins of the chunk's events into ``_chunk_bins[:len(chunk)]``; return their
        table positions."""
        ids, toa = chunk
        assert ids is not None
        m = len(ids)
        out = self._chunk_bins[:m]
        position: IntArray
        if self._periodic is not None and ids.dtype == np.int32:
            position = self._periodic_bins(ids.view(np.int32), out)
        elif self._shift == 0 and ids.dtype == np.int32:
            position = ids
        else:
            position = self._position[:m]
            np.subtract(ids, np.int32(self._shift), out=position, casting="unsafe")
            if ids.dtype == np.uint32:
                # Ids of 2**31 and more lie beyond every bank; as int32 they may not
                # wrap round onto a sentinel, so send them to the last one explicitly.
                np.copyto(position, np.int32(INT32_MAX), where=ids.view(np.int32) < 0)
        if self._periodic is None or ids.dtype != np.int32:
            # 'clip' turns every out-of-range position into a sentinel (and avoids the
            # buffering of the default mode).
            np.take(self._table, position, out=out, mode="clip")
        window = self.time_window
        if toa is not None and window is not None:
            width = window[1] - window[0]
            if width >= FULL_INT32_RANGE:
                return position  # every int32 time is inside
            time, bad, late = self._time[:m], self._time_bad[:m], self._late_bins[:m]
            # Modulo 2**32, time - start < width exactly when start <= time < stop.
            np.subtract(toa, np.int32(window[0]), out=time, casting="unsafe")
            np.greater_equal(time.view(np.uint32), np.uint32(width), out=bad)
            if toa.dtype == np.uint32:
                np.logical_or(bad, toa.view(np.int32) < 0, out=bad)
            # Late events' bins rise to n_bins + 1; a bad pixel's n_bins + 2 stays.
            np.multiply(bad.view(np.uint8), self._late, out=late, casting="unsafe")
            np.maximum(out, late, out=out)
        return position

    def _periodic_bins(self, ids: Int32Array, out: TableArray) -> Int32Array:
        """``out`` = the bins of a periodic view, a bad pixel's for ids outside the bank;
        return the ids' offsets in the bank."""
        assert self._periodic is not None
        divisor, modulus = self._periodic
        m = len(ids)
        offset, bad = self._position[:m], self._pixel_bad[:m]
        np.subtract(ids, np.int32(self.pixels.first), out=offset)
        unsigned = offset.view(np.uint32)
        np.greater_equal(unsigned, np.uint32(self.pixels.count), out=bad)
        quotient, remainder = self._quotient[:m], self._remainder[:m]
        row = unsigned
        if divisor > 1:
            np.floor_divide(unsigned, np.uint32(divisor), out=quotient)
            row = quotient
        if -(-self.pixels.count // divisor) > modulus:
            np.floor_divide(row, np.uint32(modulus), out=remainder)
            np.multiply(remainder, np.uint32(modulus), out=remainder)
            np.subtract(row, remainder, out=remainder)
            row = remainder
        np.copyto(out, row, casting="unsafe")
        n_bad = int(np.count_nonzero(bad))
        if n_bad:
            # Rare (hostile ids): a masked copy, which costs little when few are set.
            np.copyto(out, self._bad_pixel, where=bad)
        return offset

    def _times(self, time_of_arrival: Events | None) -> Events | None:
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
        """Add the image part of a histogram with the extra bins to ``out``, count the
        rejections; return the events added."""
        n = self.n_bins
        out.reshape(-1)[...] += histogram[:n]
        self.rejected.time_out_of_range += int(histogram[n + 1])
        self.rejected.pixel_out_of_range += int(histogram[n + 2])
        return int(histogram[:n].sum())

    def add(self, out: CountsArray, pixel_id: Events, time_of_arrival: Events | None = None) -> int:
        """Add events to ``out`` (``n_bins`` int64 counts); return how many were added.
        The events may come in parts (see ``histogram.Events``)."""
        toa = self._times(time_of_arrival)
        parts, n_events = event_parts(pixel_id, toa)
        if out.dtype != np.int64 or out.size != self.n_bins or not out.flags.c_contiguous:
            raise ValueError(f"histogram must be a C-contiguous int64 array of {self.n_bins}")
        if not n_events:
            return 0
        if self._pixels_first(n_events):
            folded = self._fold(self._count_pixels(pixel_id, toa))
            flat = out.reshape(-1)
            np.add(flat, folded, out=flat, casting="unsafe")  # exact: integers below 2**53
            return int(folded.sum())
        length = self.n_bins + EXTRA_BINS
        chunked = PERIODIC_SCATTER_BINS if self._periodic is not None else CHUNKED_SCATTER_BINS
        if self.n_bins <= chunked:
            # Small image: scattered chunk by chunk into a histogram with the extra bins.
            if len(self._histogram) != length:
                self._histogram = np.zeros(length, dtype=np.int64)
            histogram = self._histogram
            histogram[...] = 0
            for chunk in chunks(parts):
                m = len(self._bins_of(chunk))
                index = self._index[:m]
                np.copyto(index, self._chunk_bins[:m])
                np.add.at(histogram, index, 1)
        else:
            # Large image: the whole call's bins, then one bincount.
            whole = self._whole_index(n_events)
            start = 0
            for chunk in chunks(parts):
                stop = start + len(self._bins_of(chunk))
                whole[start:stop] = self._chunk_bins[: stop - start]
                start = stop
            histogram = np.bincount(whole, minlength=length)
        return self._book(histogram, out)

    def add_weighted(
        self,
        out: FloatArray,
        out_squared: FloatArray,
        pixel_id: Events,
        time_of_arrival: Events | None = None,
    ) -> int:
        """Add each event's pixel weight to ``out`` and its square to ``out_squared``
        (float64, ``n_bins`` each); return how many events were added."""
        weights = self._weights
        if weights is None or self._fold_weights is None:
            raise ValueError("this kernel has no weights; use add()")
        toa = self._times(time_of_arrival)
        parts, n_events = event_parts(pixel_id, toa)
        for array in (out, out_squared):
            if array.dtype != np.float64 or array.size != self.n_bins:
                raise ValueError(f"weighted sums must be float64 arrays of {self.n_bins} bins")
        if not n_events:
            return 0
        if self._pixels_first(n_events):
            counts = self._count_pixels(pixel_id, toa)
            w, w_squared = self._fold_weights
            out.reshape(-1)[...] += self._fold(counts * w)
            out_squared.reshape(-1)[...] += self._fold(counts * w_squared)
            return int(self._fold(counts).sum())
        whole = self._whole_index(n_events)
        event_weight = np.empty(n_events, dtype=np.float32)
        n = self.n_bins
        added = 0
        start = 0
        for chunk in chunks(parts):
            position = self._bins_of(chunk)
            stop = start + len(position)
            bins = self._chunk_bins[: stop - start]
            whole[start:stop] = bins
            np.take(weights, position, out=event_weight[start:stop], mode="clip")
            # Counted here, in cache, rather than by a third bincount over everything.
            added += int(np.count_nonzero(bins < n))
            self.rejected.time_out_of_range += int(np.count_nonzero(bins == n + 1))
            self.rejected.pixel_out_of_range += int(np.count_nonzero(bins == n + 2))
            start = stop
        length = n + EXTRA_BINS
        out.reshape(-1)[...] += np.bincount(whole, weights=event_weight, minlength=length)[:n]
        np.square(event_weight, out=event_weight)
        squared = np.bincount(whole, weights=event_weight, minlength=length)[:n]
        out_squared.reshape(-1)[...] += squared
        return added
