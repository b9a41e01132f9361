"""Counts per bin of a detector view whose bins are not the pixels themselves.

A view (``livedata.workflows.pixel_views``) maps every pixel to one output bin or to
none; this kernel histograms events through that map, in one of two ways per call:

**Pixels first**, when a call brings at least ``PIXELS_FIRST_EVENTS_PER_PIXEL`` events
per pixel: the events are counted per pixel with the plain image kernel
(:class:`~livedata.workflows.pixel_counts.PixelCounts`, which needs no lookup at all), and
the per-pixel counts are then folded into the view's bins with one ``np.bincount`` over
the pixels (exact: integer counts in float64 stay exact below ``2**53``). The per-event
work is that of the bank's own image; the fold costs one pass over the pixels per call,
which the events per pixel pay for. Weighted views fold with the weights, so weights
cost nothing per event either. Unweighted views use it for banks of up to
``PIXELS_FIRST_MAX_PIXELS`` pixels, whose counts stay near the cache; beyond, the
lookup's smaller table and histogram miss the cache less.

**Lookup per event** otherwise: one compiled pass (ADR 0012) checks each event's id,
looks its bin up in the table and adds one (and, weighted, its pixel's weight and
that weight's square) into the kernel's own histogram, which has two more bins: the
bin of pixels the view leaves out (``n_bins``, from the table) and that of events
whose time is outside the window (``n_bins + 1``), so that the time only selects a bin
(:func:`~livedata.workflows.compiled_loops.count_through_table`). The table is as
small as the bins allow (uint16 for views of up to ``UINT16_BINS`` bins, uint32
beyond), as it is read at random; weights are float32 for the same reason. Nothing is
ever sized or indexed by an event's raw value: an id outside the bank is rejected
before the lookup.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from livedata.workflows.histogram import (
    INT32_MAX,
    Chunk,
    CountsArray,
    Events,
    IndexArray,
    IntArray,
    PixelRange,
    RejectedEvents,
)
from livedata.workflows.loop_arguments import (
    check_time_window,
    checked_parts,
    checked_pixel_table,
    id_range_and_window,
    loop_parts,
)
from livedata.workflows.pixel_counts import PixelCounts

FloatArray = npt.NDArray[np.float64]
UINT16_BINS = int(np.iinfo(np.uint16).max)
"""Views of up to this many bins get a uint16 table (its values run to ``n_bins``, the
bin of pixels left out of the view)."""

WEIGHT_LIMIT = 1e30
"""Pixel weights are kept as float32 (7 significant digits): well inside its range."""

PIXELS_FIRST_EVENTS_PER_PIXEL = 2
"""Events per pixel in one call from which counting per pixel and folding (one pass
over the pixels, ~2 ns each) is cheaper than a lookup per event (~1 ns more each)."""

PIXELS_FIRST_MAX_PIXELS = 1 << 19
"""Largest bank (4 MiB of per-pixel counts) an unweighted view counts pixels first."""


class MappedPixelCounts:
    """Counts per output bin of a view, each pixel mapped to one bin (or none) by a table.

    ``bin_of_pixel[i]`` is the bin of pixel ``first + i`` in ``[0, n_bins]``; the value
    ``n_bins`` leaves the pixel out of the view (sliced away). Pixels outside the range,
    and times outside ``time_window``, are rejected and counted in ``rejected`` as in
    :class:`~livedata.workflows.pixel_counts.PixelCounts`; events on pixels left out of the
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
        if not 0 < n_bins <= INT32_MAX - 2:
            raise ValueError(f"a view needs 1 to {INT32_MAX - 2} bins, got {n_bins}")
        table = checked_pixel_table(bin_of_pixel, pixels, n_bins, "bin")
        check_time_window(time_window)
        # Read-only (properties): the compiled loops trust them with unchecked indices.
        self._pixels, self._n_bins, self._time_window = pixels, n_bins, time_window
        self.rejected = RejectedEvents()
        self._table: IntArray = table.astype(np.uint16 if n_bins <= UINT16_BINS else np.uint32)
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
            self._weights = w.astype(np.float32)
            # The same float32 values (and their exact squares) for the pixels-first fold.
            w32 = self._weights.astype(np.float64)
            self._fold_weights = (w32, w32 * w32)
        # Pixels first: the plain image kernel (sharing our rejection counts) and the
        # table as intp for the fold, both made on first use.
        self._pixel_kernel = PixelCounts(pixels, time_window=time_window)
        self._pixel_kernel.rejected = self.rejected
        self._fold_table: IndexArray | None = None
        self._pixel_counts: CountsArray | None = None
        # Lookup per event: the compiled loop's own histogram (module docstring).
        self._histogram: CountsArray = np.zeros(n_bins + 2, dtype=np.int64)

    @property
    def pixels(self) -> PixelRange:
        return self._pixels

    @property
    def n_bins(self) -> int:
        return self._n_bins

    @property
    def time_window(self) -> tuple[int, int] | None:
        return self._time_window

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
            self._fold_table = self._table.astype(np.intp)
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

    def add(self, out: CountsArray, pixel_id: Events, time_of_arrival: Events | None = None) -> int:
        """Add events to ``out`` (``n_bins`` int64 counts); return how many were added.
        The events may come in parts (see ``histogram.Events``)."""
        parts, n_events = checked_parts(pixel_id, time_of_arrival, self.time_window)
        if out.dtype != np.int64 or out.size != self.n_bins or not out.flags.c_contiguous:
            raise ValueError(f"histogram must be a C-contiguous int64 array of {self.n_bins}")
        if not n_events:
            return 0
        flat = out.reshape(-1)
        if self._pixels_first(n_events):
            folded = self._fold(self._count_pixels(pixel_id, time_of_arrival))
            np.add(flat, folded, out=flat, casting="unsafe")  # exact: integers below 2**53
            return int(folded.sum())
        return self._book(self._count_per_event(parts), flat)

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
        parts, n_events = checked_parts(pixel_id, time_of_arrival, self.time_window)
        for array in (out, out_squared):
            if (
                array.dtype != np.float64
                or array.size != self.n_bins
                or not array.flags.c_contiguous
            ):
                raise ValueError(
                    f"weighted sums must be C-contiguous float64 arrays of {self.n_bins} bins"
                )
        if not n_events:
            return 0
        if self._pixels_first(n_events):
            counts = self._count_pixels(pixel_id, time_of_arrival)
            w, w_squared = self._fold_weights
            out.reshape(-1)[...] += self._fold(counts * w)
            out_squared.reshape(-1)[...] += self._fold(counts * w_squared)
            return int(self._fold(counts).sum())
        n = self.n_bins
        sums, squares = np.zeros(n + 2), np.zeros(n + 2)
        counts = self._count_per_event(parts, (weights, sums, squares))
        out.reshape(-1)[...] += sums[:n]
        out_squared.reshape(-1)[...] += squares[:n]
        return self._book(counts, None)

    def _count_per_event(
        self,
        parts: list[Chunk],
        weighted: tuple[npt.NDArray[np.float32], FloatArray, FloatArray] | None = None,
    ) -> CountsArray:
        """Our own histogram, counted with a lookup per event (and, with ``weighted`` =
        the pixel weights, the sums and the squares to add them into, weighted too)."""
        from livedata.workflows.compiled_loops import count_through_table  # numba: ADR 0012

        counts = self._histogram
        counts[...] = 0
        weights = weighted or (np.zeros(0, dtype=np.float32), np.zeros(0), np.zeros(0))
        window = id_range_and_window(self.pixels, self.time_window)
        for ids, times in loop_parts(parts):
            self.rejected.pixel_out_of_range += count_through_table(
                ids, times, *window, self._table, counts, weighted is not None, *weights
            )
        return counts

    def _book(self, histogram: CountsArray, out: CountsArray | None) -> int:
        """Add the view's bins of our own histogram to ``out``, count the events outside
        the window; return the events in the view."""
        n = self.n_bins
        if out is not None:
            out += histogram[:n]
        self.rejected.time_out_of_range += int(histogram[n + 1])
        return int(histogram[:n].sum())
