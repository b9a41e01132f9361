"""Event-histogram kernels: pixel images, time-of-arrival spectra, pixel x ToA cubes and
spectra of pixel groups (ROIs).

Every kernel turns events into a flat bin index and scatter-adds it with
``np.bincount(..., minlength=...)`` into an ``int64`` array the caller owns, so one
preallocated histogram can collect many windows.

Bounds are checked before an index is used, at the cost of one comparison per event:
``value - low`` viewed as an *unsigned* number is below the range width exactly when
``low <= value < low + width`` (anything below ``low`` wraps to a huge number).
Rejected events are not removed from the chunk (that would copy it); their index is
set to one extra *overflow* bin past the end, which ``bincount`` counts and the
kernel then discards. A negative id, or an id of ``2**31 - 1``, thus costs what any
event costs; nothing is ever sized from an event's value. Rejections are counted per
reason in ``RejectedEvents``.

The arithmetic runs on chunks of ``CHUNK_EVENTS`` events through scratch arrays that
stay in cache; for small histograms each chunk's ``bincount`` stays in cache too.

Event arrays must be integers of at most 32 bits (ev44 sends int32), which keeps
every intermediate product exactly representable in int64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.integer]
IndexArray = npt.NDArray[np.intp]
CountsArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

CHUNK_EVENTS = 1 << 16
"""Events per arithmetic step. The step's scratch (two int64 arrays and two masks,
~1.2 MB) stays in L2 cache, so the subtract/compare/divide passes run at cache speed
rather than memory speed; larger steps measured no faster, smaller ones slower."""

SMALL_HISTOGRAM_BINS = 1 << 15
"""Histograms up to this many bins (256 KiB of counts) get one ``bincount`` per
chunk: its ``minlength``-sized result is small against a chunk and stays in cache.
Larger histograms (megapixel images, cubes) get one ``bincount`` over the whole
call's index instead, so that per-result cost is paid once per call."""

RETAINED_INDEX_EVENTS = 1 << 24
"""Largest whole-call index (16.8 M events, 128 MiB) a large-histogram kernel keeps
between calls. Reusing it spares the page faults and zeroing of a fresh allocation
in every window, which measured as costly as the histogramming itself; beyond this
size the index is allocated per call, so that one burst cannot pin memory for good."""

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

MAX_TIME_BINS = 1 << 30
"""With 32-bit times and an int32 range, ``(t - start) * bins < 2**32 * 2**30`` stays
exact in int64 even for the most hostile time; no real spectrum comes near this."""


@dataclass(slots=True)
class RejectedEvents:
    """Events a kernel did not histogram, by reason (running totals since creation)."""

    pixel_out_of_range: int = 0
    """Pixel id outside the detector (negative, huge, or another bank's)."""
    time_out_of_range: int = 0
    """Valid pixel (or no pixel) but time of arrival outside the histogram's range."""

    @property
    def total(self) -> int:
        return self.pixel_out_of_range + self.time_out_of_range


@dataclass(frozen=True, slots=True)
class PixelRange:
    """Pixel ids ``first .. first + count - 1``; bin ``i`` holds id ``first + i``."""

    first: int
    count: int

    def __post_init__(self) -> None:
        if self.count <= 0:
            raise ValueError(f"a pixel range needs at least one pixel, got {self.count}")


@dataclass(frozen=True, slots=True)
class UniformBins:
    """``count`` equal bins over the half-open range ``[start, stop)`` (integers, ns).

    The bin of ``t`` is ``floor((t - start) * count / (stop - start))`` in exact
    integer arithmetic (no ``searchsorted``: uniform edges need no search), so an
    event exactly on an edge always lands in the bin the edge opens, whatever the
    bin width. The edges themselves may be fractional.
    """

    start: int
    stop: int
    count: int

    def __post_init__(self) -> None:
        if not 0 < self.count <= MAX_TIME_BINS:
            raise ValueError(f"need 1 to {MAX_TIME_BINS} bins, got {self.count}")
        if not INT32_MIN <= self.start < self.stop <= INT32_MAX + 1:
            raise ValueError(f"range [{self.start}, {self.stop}) is empty or beyond int32")

    @property
    def width(self) -> int:
        return self.stop - self.start

    def edges(self) -> npt.NDArray[np.float64]:
        """The ``count + 1`` bin edges."""
        return np.linspace(self.start, self.stop, self.count + 1, dtype=np.float64)


class Scratch:
    """Chunk-sized work arrays, allocated once per kernel and reused for every call."""

    def __init__(self) -> None:
        self.index: IndexArray = np.empty(CHUNK_EVENTS, dtype=np.intp)
        self.time: IndexArray = np.empty(CHUNK_EVENTS, dtype=np.intp)
        self.bad = np.empty(CHUNK_EVENTS, dtype=np.bool_)
        self.time_bad = np.empty(CHUNK_EVENTS, dtype=np.bool_)
        self._whole: IndexArray = np.empty(0, dtype=np.intp)

    def whole_index(self, n_events: int) -> IndexArray:
        """An index array for ``n_events`` events: kept and reused when not too large."""
        if n_events > RETAINED_INDEX_EVENTS:
            return np.empty(n_events, dtype=np.intp)
        if len(self._whole) < n_events:
            self._whole = np.empty(n_events, dtype=np.intp)
        return self._whole[:n_events]


ChunkFill = Callable[[int, int, IndexArray], int]
"""``fill(start, stop, out)``: write the flat bin index of events ``[start, stop)``
into ``out`` (the overflow bin for rejected ones); return how many were accepted."""


def _out_of_range(shifted: IndexArray, width: int, bad: BoolArray) -> int:
    """``bad = not 0 <= shifted < width`` in one comparison; return how many are bad."""
    np.greater_equal(shifted.view(np.uint64), width, out=bad)
    return int(np.count_nonzero(bad))


def _time_bins(times: IntArray, bins: UniformBins, out: IndexArray) -> None:
    """``out = floor((times - start) * count / width)``; outside the range it is < 0 or >= count.

    Integer division is the costly pass, so the cheapest exact form is chosen:
    a single division when the bin width is a whole number, no subtraction when
    the range starts at zero (the usual case).
    """
    step = bins.width // bins.count if bins.width % bins.count == 0 else None
    if bins.start == 0:
        if step is not None:
            np.floor_divide(times, step, out=out, dtype=np.int64)
            return
        np.multiply(times, bins.count, out=out, dtype=np.int64)
    else:
        np.subtract(times, bins.start, out=out, dtype=np.int64)
        if step is not None:
            np.floor_divide(out, step, out=out)
            return
        np.multiply(out, bins.count, out=out)
    np.floor_divide(out, bins.width, out=out)


def scatter_add(out: CountsArray, n_events: int, fill: ChunkFill, scratch: Scratch) -> int:
    """Fill ``out`` (flat) from ``n_events`` events, chunk by chunk; return events added."""
    n_bins = out.size
    with_overflow = n_bins + 1
    added = 0
    if n_bins <= SMALL_HISTOGRAM_BINS:
        for start in range(0, n_events, CHUNK_EVENTS):
            stop = min(start + CHUNK_EVENTS, n_events)
            index = scratch.index[: stop - start]
            k = fill(start, stop, index)
            if k:
                out += np.bincount(index, minlength=with_overflow)[:n_bins]
            added += k
        return added
    whole = scratch.whole_index(n_events)
    for start in range(0, n_events, CHUNK_EVENTS):
        stop = min(start + CHUNK_EVENTS, n_events)
        added += fill(start, stop, whole[start:stop])
    if added:
        out += np.bincount(whole, minlength=with_overflow)[:n_bins]
    return added


def check_out(out: CountsArray, n_bins: int) -> CountsArray:
    if out.dtype != np.int64 or out.size != n_bins or not out.flags.c_contiguous:
        raise ValueError(
            f"histogram must be a C-contiguous int64 array of {n_bins} bins, "
            f"got {out.dtype} of {out.size} bins"
        )
    return out.reshape(-1)


def check_events(*arrays: IntArray | None) -> int:
    lengths = {len(a) for a in arrays if a is not None}
    if len(lengths) > 1:
        raise ValueError(f"event arrays differ in length: {sorted(lengths)}")
    for a in arrays:
        if a is not None and (a.dtype.kind not in "iu" or a.dtype.itemsize > 4):
            raise TypeError(f"event arrays must be integers of at most 32 bits, got {a.dtype}")
    return lengths.pop() if lengths else 0


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
        if time_window is not None and not (
            INT32_MIN <= time_window[0] < time_window[1] <= INT32_MAX + 1
        ):
            raise ValueError(f"time window {time_window} is empty or beyond int32")
        self.pixels = pixels
        self.time_window = time_window
        self.rejected = RejectedEvents()
        self._scratch = Scratch()

    @property
    def n_bins(self) -> int:
        return self.pixels.count

    def checked_time(self, time_of_arrival: IntArray | None) -> IntArray | None:
        """The times this kernel needs: those given if it has a time window, else None."""
        if self.time_window is None:
            return None
        if time_of_arrival is None:
            raise ValueError("a time window needs the events' time of arrival")
        return time_of_arrival

    def fill_index(
        self, start: int, stop: int, pixel_id: IntArray, toa: IntArray | None, index: IndexArray
    ) -> int:
        """Write the pixel index of events ``[start, stop)`` into ``index``, ``count`` (the
        overflow) for rejected ones; count the rejections; return how many were accepted.
        ``toa`` is what :meth:`checked_time` returned."""
        m = stop - start
        scratch, window = self._scratch, self.time_window
        first, count = self.pixels.first, self.pixels.count
        bad = scratch.bad[:m]
        np.subtract(pixel_id[start:stop], first, out=index, dtype=np.int64)
        n_bad = n_bad_pixel = _out_of_range(index, count, bad)
        if toa is not None and window is not None:
            time, time_bad = scratch.time[:m], scratch.time_bad[:m]
            np.subtract(toa[start:stop], window[0], out=time, dtype=np.int64)
            _out_of_range(time, window[1] - window[0], time_bad)
            np.logical_or(bad, time_bad, out=bad)
            n_bad = int(np.count_nonzero(bad))
            self.rejected.time_out_of_range += n_bad - n_bad_pixel
        self.rejected.pixel_out_of_range += n_bad_pixel
        if n_bad:
            np.copyto(index, count, where=bad)
        return m - n_bad

    def add(
        self,
        out: CountsArray,
        pixel_id: IntArray,
        time_of_arrival: IntArray | None = None,
    ) -> int:
        """Add events to ``out`` (``n_bins`` int64 counts); return how many were added."""
        toa = self.checked_time(time_of_arrival)
        n_events = check_events(pixel_id, toa)
        flat = check_out(out, self.n_bins)

        def fill(start: int, stop: int, index: IndexArray) -> int:
            return self.fill_index(start, stop, pixel_id, toa, index)

        return scatter_add(flat, n_events, fill, self._scratch)


class TimeOfArrivalSpectrum:
    """Counts per time-of-arrival bin, for events with or without pixels (monitors)."""

    def __init__(self, bins: UniformBins) -> None:
        self.bins = bins
        self.rejected = RejectedEvents()
        self._scratch = Scratch()

    @property
    def n_bins(self) -> int:
        return self.bins.count

    def add(self, out: CountsArray, time_of_arrival: IntArray) -> int:
        """Add events to ``out`` (``n_bins`` int64 counts); return how many were added."""
        n_events = check_events(time_of_arrival)
        flat = check_out(out, self.n_bins)
        bins, scratch = self.bins, self._scratch

        def fill(start: int, stop: int, index: IndexArray) -> int:
            bad = scratch.bad[: stop - start]
            # The bin number itself is the range check: it is in [0, count) exactly
            # when the time is in [start, stop).
            _time_bins(time_of_arrival[start:stop], bins, index)
            n_bad = _out_of_range(index, bins.count, bad)
            if n_bad:
                self.rejected.time_out_of_range += n_bad
                np.copyto(index, bins.count, where=bad)
            return stop - start - n_bad

        return scatter_add(flat, n_events, fill, scratch)


class PixelTimeOfArrivalCounts:
    """Counts per (pixel, time-of-arrival bin): a cube flattened pixel-major."""

    def __init__(self, pixels: PixelRange, bins: UniformBins) -> None:
        self.pixels = pixels
        self.bins = bins
        self.rejected = RejectedEvents()
        self._scratch = Scratch()

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.count, self.bins.count

    @property
    def n_bins(self) -> int:
        return self.pixels.count * self.bins.count

    def add(self, out: CountsArray, pixel_id: IntArray, time_of_arrival: IntArray) -> int:
        """Add events to ``out`` (``shape`` int64 counts); return how many were added."""
        n_events = check_events(pixel_id, time_of_arrival)
        flat = check_out(out, self.n_bins)
        pixels, bins, scratch = self.pixels, self.bins, self._scratch
        overflow = self.n_bins

        def fill(start: int, stop: int, index: IndexArray) -> int:
            m = stop - start
            bad, time_bad = scratch.bad[:m], scratch.time_bad[:m]
            time = scratch.time[:m]
            np.subtract(pixel_id[start:stop], pixels.first, out=index, dtype=np.int64)
            n_bad_pixel = _out_of_range(index, pixels.count, bad)
            _time_bins(time_of_arrival[start:stop], bins, time)
            _out_of_range(time, bins.count, time_bad)
            np.logical_or(bad, time_bad, out=bad)
            n_bad = int(np.count_nonzero(bad))
            self.rejected.pixel_out_of_range += n_bad_pixel
            self.rejected.time_out_of_range += n_bad - n_bad_pixel
            index *= bins.count
            index += time
            if n_bad:
                np.copyto(index, overflow, where=bad)
            return m - n_bad

        return scatter_add(flat, n_events, fill, scratch)


class PixelGroupTimeOfArrivalCounts:
    """Counts per (pixel group, time-of-arrival bin): one spectrum per group of pixels.

    ``groups[i]`` is the group of pixel ``first + i``, in ``[0, n_groups)``; every pixel
    is in exactly one group (a caller with overlapping selections, such as ROIs, splits
    them into disjoint groups and keeps one group for "none"). The histogram is
    ``(n_groups, bins.count)``, group-major. Per event this costs what the pixel x
    time-of-arrival cube costs plus one lookup in a table of one int32 per pixel.
    """

    def __init__(
        self,
        pixels: PixelRange,
        groups: npt.NDArray[np.integer],
        n_groups: int,
        bins: UniformBins,
    ) -> None:
        groups = np.asarray(groups)
        if groups.shape != (pixels.count,) or groups.dtype.kind not in "iu":
            raise ValueError(
                f"need one integer group per pixel ({pixels.count}), "
                f"got {groups.dtype} of shape {groups.shape}"
            )
        if not 0 < n_groups * bins.count <= INT32_MAX:
            raise ValueError(f"{n_groups} groups x {bins.count} bins is empty or too large")
        if groups.size and (int(groups.min()) < 0 or int(groups.max()) >= n_groups):
            raise ValueError(f"groups must lie in [0, {n_groups})")
        self.pixels = pixels
        self.bins = bins
        self.n_groups = n_groups
        self.rejected = RejectedEvents()
        # Pre-multiplied by the bin count, so an event's bin is one lookup and one add;
        # exact in int32, as n_groups * count was checked above.
        self._offsets = groups.astype(np.int32) * np.int32(bins.count)
        self._scratch = Scratch()
        self._group = np.empty(CHUNK_EVENTS, dtype=np.int32)

    @property
    def shape(self) -> tuple[int, int]:
        return self.n_groups, self.bins.count

    @property
    def n_bins(self) -> int:
        return self.n_groups * self.bins.count

    def add(self, out: CountsArray, pixel_id: IntArray, time_of_arrival: IntArray) -> int:
        """Add events to ``out`` (``shape`` int64 counts); return how many were added."""
        n_events = check_events(pixel_id, time_of_arrival)
        flat = check_out(out, self.n_bins)
        pixels, bins, scratch = self.pixels, self.bins, self._scratch
        offsets, overflow = self._offsets, self.n_bins

        def fill(start: int, stop: int, index: IndexArray) -> int:
            m = stop - start
            bad, time_bad = scratch.bad[:m], scratch.time_bad[:m]
            time, group = scratch.time[:m], self._group[:m]
            np.subtract(pixel_id[start:stop], pixels.first, out=index, dtype=np.int64)
            n_bad_pixel = _out_of_range(index, pixels.count, bad)
            # 'clip' keeps a bad id's lookup in bounds; its event is discarded below.
            np.take(offsets, index, out=group, mode="clip")
            _time_bins(time_of_arrival[start:stop], bins, time)
            _out_of_range(time, bins.count, time_bad)
            np.logical_or(bad, time_bad, out=bad)
            n_bad = int(np.count_nonzero(bad))
            self.rejected.pixel_out_of_range += n_bad_pixel
            self.rejected.time_out_of_range += n_bad - n_bad_pixel
            np.add(group, time, out=index)
            if n_bad:
                np.copyto(index, overflow, where=bad)
            return m - n_bad

        return scatter_add(flat, n_events, fill, scratch)
