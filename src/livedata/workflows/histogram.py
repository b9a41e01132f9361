"""Event-histogram kernels: pixel images, time-of-arrival spectra and pixel x ToA cubes;
the spectra of pixel groups (ROIs) are in :mod:`livedata.workflows.group_histogram`.

The detector image is in :mod:`livedata.workflows.pixel_counts`, one compiled loop
per call (ADR 0012). What follows is how the numpy kernels here (spectra and cubes)
are fast.

Every kernel turns events into a flat bin index and scatter-adds it into an ``int64``
array the caller owns, so one preallocated histogram can collect many windows.

**Bounds checks.** ``value - low`` in 32-bit arithmetic, read as an *unsigned* number,
is below the range width exactly when ``low <= value < low + width`` (anything below
``low`` wraps to a huge number), so one subtraction and one comparison check an event,
both on int32 arrays, where numpy is fastest. Rejected events are not removed from the
chunk (that would copy it): their index is set to bin 0 (:func:`discard`), and bin 0
is corrected by their number afterwards. A negative id, or an id of ``2**31 - 1``, thus
costs what any event costs; nothing is ever sized from an event's value. Rejections
are counted per reason in ``RejectedEvents``.

**Time bins without division.** The bin of a time ``u`` past the range start is
``floor(u * count / width)``. Rather than dividing, the kernels multiply by a
precomputed ``ceil(2**s * count / width)`` and shift right by ``s`` (the compilers'
trick for dividing by a constant); ``s`` is chosen so the result is exact for every
``u`` in the range (:class:`TimeBinning`). Where the product could overflow 64 bits
(more than ~1000 bins over an ESS frame) an exact integer division is used instead.

**Scatter.** Histograms of up to ``SMALL_HISTOGRAM_BINS`` bins are added into chunk by
chunk with ``np.add.at``, straight into the caller's array (numpy 2's fast path for one
index array: faster than ``np.bincount``, which scans its input for the maximum and
returns a new array to be added). Larger histograms (cubes) collect
the whole call's index and add one ``np.bincount`` of it: random increments all over a
histogram far beyond the cache measured faster that way.

The arithmetic runs on chunks of ``CHUNK_EVENTS`` events through scratch arrays that
stay in cache. Event arrays must be integers of at most 32 bits (ev44 sends int32).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.integer]
IndexArray = npt.NDArray[np.intp]
CountsArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Int32Array = npt.NDArray[np.int32]

Events = IntArray | Sequence[IntArray]
"""One array of an event field, or its arrays for consecutive parts (a window's
messages), which the kernels histogram as one stream without joining them."""

Chunk = tuple[IntArray | None, IntArray | None]
"""Pixel ids and times of arrival (either may be absent) of a run of events."""

CHUNK_EVENTS = 1 << 16
"""Events per arithmetic step. The step's work arrays (256 KiB per int32 array, 512 KiB
per int64 one) stay in cache between its passes, so each pass runs at cache speed
rather than memory speed; larger steps measured no faster, smaller ones slower."""

SMALL_HISTOGRAM_BINS = 1 << 19
"""Histograms up to this many bins (4 MiB of counts) are scattered into chunk by chunk
with ``np.add.at``; larger ones get one ``np.bincount`` over the whole call's index.
Measured on a 1 MiB-L2 machine: ``add.at`` is faster up to about a million bins on a
quiet machine and to a few hundred thousand under load (it reaches the next level of
cache with fewer misses in flight than ``bincount``'s tighter loop)."""

RETAINED_INDEX_EVENTS = 1 << 24
"""Largest whole-call index (16.8 M events, 128 MiB) a large-histogram kernel keeps
between calls. Reusing it spares the page faults and zeroing of a fresh allocation
in every window, which measured as costly as the histogramming itself; beyond this
size the index is allocated per call, so that one burst cannot pin memory for good."""

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
UINT32_RANGE = 1 << 32

MAX_TIME_BINS = 1 << 30
"""With 32-bit times, ``u * bins < 2**32 * 2**30`` stays exact in 64 bits even for the
most hostile time; no real spectrum comes near this."""


@dataclass(slots=True)
class RejectedEvents:
    """Events a kernel did not histogram, by reason (running totals since creation)."""

    pixel_out_of_range: int = 0
    """Pixel id outside the detector (negative, huge, or another bank's)."""
    time_out_of_range: int = 0
    """Valid pixel (or no pixel) but time of arrival outside the histogram's range. A
    kernel with a skipped pixel group checks the times of the other events only."""

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
        if not INT32_MIN <= self.first <= self.first + self.count - 1 <= INT32_MAX:
            raise ValueError(f"pixels {self.first}+{self.count} reach beyond int32 ids")


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


class TimeBinning:
    """``floor(u * count / width)`` for offsets ``0 <= u < width``, without division.

    With ``count / width`` reduced to ``c / w`` and ``2**s >= width * w``, the multiplier
    ``m = ceil(2**s * c / w)`` exceeds ``2**s * c / w`` by less than one, so
    ``u * m / 2**s`` exceeds ``u * c / w`` by less than ``u / 2**s < 1 / w``: never
    enough to reach the next integer, as ``u * c / w`` is a multiple of ``1 / w``.
    Hence ``(u * m) >> s`` is the exact bin. When ``u * m`` could overflow 64 bits, an
    exact ``u * count // width`` is used (``u * count < 2**62``).

    ``through_stop``: exact for ``u = width`` as well (the same bound holds, as
    ``width / 2**s <= 1 / w``), which gets bin ``count``: for callers that clamp every
    offset outside the range to ``width`` and so count those in one extra bin.
    """

    def __init__(self, bins: UniformBins, *, through_stop: bool = False) -> None:
        self.bins = bins
        width, count = bins.width, bins.count
        g = math.gcd(count, width)
        c, w = count // g, width // g
        shift = (width * w - 1).bit_length()
        multiplier = -(-(c << shift) // w)
        top = width if through_stop else width - 1
        self.exact_multiply = top * multiplier < 1 << 64
        self.multiplier = np.uint64(multiplier if self.exact_multiply else count)
        """``m`` when ``exact_multiply``, else the bin count (``u * count // width``)."""
        self.shift = np.uint64(shift)
        self._width = np.uint64(width)

    def index(self, offsets: Int32Array, out: IndexArray) -> None:
        """``out`` = the bin of each offset (``offsets`` from :func:`offsets_in_range`).
        Only offsets inside the range get a meaningful bin; callers discard the rest."""
        wide = out.view(np.uint64)
        np.copyto(wide, offsets.view(np.uint32))
        self.index_wide(wide)

    def index_wide(self, wide: npt.NDArray[np.uint64]) -> None:
        """Replace each offset in ``wide`` by its bin."""
        np.multiply(wide, self.multiplier, out=wide)
        if self.exact_multiply:
            np.right_shift(wide, self.shift, out=wide)
        else:
            np.floor_divide(wide, self._width, out=wide)


def offsets_in_range(
    values: IntArray, low: int, width: int, out: Int32Array, good: BoolArray
) -> tuple[Int32Array, int]:
    """The offsets ``values - low`` (modulo ``2**32``, as int32: in ``out``, or
    ``values`` itself when ``low`` is 0) and ``good = low <= values < low + width``;
    return the offsets and how many are bad. ``low .. low + width - 1`` lie in int32.

    In 32-bit arithmetic the offset of a value inside the range is exact and that of any
    other value is, read unsigned, at least ``width``: the range lies within int32, so an
    offset can only wrap round onto the range by passing ``2**32``, which no difference
    of two int32 values does.
    """
    if low == 0 and values.dtype == np.int32:
        out = values.view(np.int32)  # no subtraction needed: the usual range from 0
    else:
        np.subtract(values, np.int32(low), out=out, casting="unsafe")
    if width >= UINT32_RANGE:
        good[...] = True
    else:
        np.less(out.view(np.uint32), np.uint32(width), out=good)
    if values.dtype == np.uint32:
        # Values of 2**31 and more are beyond every int32 range but, being unsigned,
        # were not wrapped like int32 ones: reject them explicitly.
        np.logical_and(good, values.view(np.int32) >= 0, out=good)
    return out, len(good) - int(np.count_nonzero(good))


SPARSE_REJECTS = 16
"""Fewer than one rejected event in this many are zeroed by a masked copy; more by a
multiplication with the mask, which has no data-dependent branch (a masked copy of a
random half of a chunk mispredicts every other event and costs ten times as much)."""


def discard(index: IndexArray | Int32Array, good: BoolArray, n_bad: int, scratch: Scratch) -> None:
    """Send the events that are not ``good`` to bin 0, the discard bin."""
    if not n_bad:
        return
    if n_bad * SPARSE_REJECTS < len(index):
        bad = scratch.spare_mask[: len(good)]
        np.logical_not(good, out=bad)
        np.copyto(index, 0, where=bad)
    else:
        np.multiply(index, good.view(np.uint8), out=index)


class Scratch:
    """Chunk-sized work arrays, allocated once per kernel and reused for every call."""

    def __init__(self) -> None:
        self.index: IndexArray = np.empty(CHUNK_EVENTS, dtype=np.intp)
        self.time_index: IndexArray = np.empty(CHUNK_EVENTS, dtype=np.intp)
        self.position: Int32Array = np.empty(CHUNK_EVENTS, dtype=np.int32)
        self.row: Int32Array = np.empty(CHUNK_EVENTS, dtype=np.int32)
        self.time: Int32Array = np.empty(CHUNK_EVENTS, dtype=np.int32)
        self.good: BoolArray = np.empty(CHUNK_EVENTS, dtype=np.bool_)
        self.time_good: BoolArray = np.empty(CHUNK_EVENTS, dtype=np.bool_)
        self.spare_mask: BoolArray = np.empty(CHUNK_EVENTS, dtype=np.bool_)
        self._whole: IndexArray = np.empty(0, dtype=np.intp)

    def whole_index(self, n_events: int) -> IndexArray:
        """An index array for ``n_events`` events: kept and reused when not too large."""
        if n_events > RETAINED_INDEX_EVENTS:
            return np.empty(n_events, dtype=np.intp)
        if len(self._whole) < n_events:
            self._whole = np.empty(n_events, dtype=np.intp)
        return self._whole[:n_events]


class CheckedChunk(NamedTuple):
    """A chunk's events checked against a pixel range and time bins."""

    position: Int32Array
    """Each event's pixel offset in the range (meaningful where ``good``)."""
    offsets: Int32Array
    """Each event's time offset from the first bin's start (meaningful where ``good``)."""
    good: BoolArray
    """Pixel and time both in range."""
    n_bad: int


def check_chunk(
    chunk: Chunk, pixels: PixelRange, bins: UniformBins, scratch: Scratch, rejected: RejectedEvents
) -> CheckedChunk:
    """Check a chunk's pixel ids and times (in ``scratch``) and count the rejected events
    by reason: a bad pixel id counts as such whatever its time."""
    pid, toa = chunk
    assert pid is not None
    assert toa is not None
    m = len(pid)
    good, time_good = scratch.good[:m], scratch.time_good[:m]
    position, n_bad_pixel = offsets_in_range(
        pid, pixels.first, pixels.count, scratch.position[:m], good
    )
    offsets, _ = offsets_in_range(toa, bins.start, bins.width, scratch.time[:m], time_good)
    np.logical_and(good, time_good, out=good)
    n_bad = m - int(np.count_nonzero(good))
    rejected.pixel_out_of_range += n_bad_pixel
    rejected.time_out_of_range += n_bad - n_bad_pixel
    return CheckedChunk(position, offsets, good, n_bad)


ChunkFill = Callable[[Chunk, IndexArray], int]
"""``fill(chunk, out)``: write the flat bin index of the chunk's events into ``out``, 0
for rejected ones (see :func:`discard`); return how many were accepted."""


def event_parts(pixel_id: Events | None, time_of_arrival: Events | None) -> tuple[list[Chunk], int]:
    """The events as parts of matching pixel ids and times, checked; and their number.

    Raises
    ------
    ValueError
        If the fields differ in parts or a part's arrays differ in length.
    TypeError
        If an array is not integers of at most 32 bits.
    """
    fields = [
        None if f is None else [f] if isinstance(f, np.ndarray) else list(f)
        for f in (pixel_id, time_of_arrival)
    ]
    counts = {len(f) for f in fields if f is not None}
    if len(counts) > 1:
        raise ValueError(f"event fields come in different numbers of parts: {sorted(counts)}")
    n_parts = counts.pop() if counts else 0
    pixels, times = fields
    parts: list[Chunk] = []
    n_events = 0
    for i in range(n_parts):
        part = (None if pixels is None else pixels[i], None if times is None else times[i])
        n_events += check_events(*part)
        parts.append(part)
    return parts, n_events


def chunks(parts: list[Chunk]) -> Iterator[Chunk]:
    """The parts cut into runs of at most ``CHUNK_EVENTS`` events (views, no copies)."""
    for pixels, times in parts:
        n = len(pixels) if pixels is not None else len(times) if times is not None else 0
        for start in range(0, n, CHUNK_EVENTS):
            stop = min(start + CHUNK_EVENTS, n)
            yield (
                None if pixels is None else pixels[start:stop],
                None if times is None else times[start:stop],
            )


def chunk_length(chunk: Chunk) -> int:
    pixels, times = chunk
    return len(pixels) if pixels is not None else len(times) if times is not None else 0


def scatter_add(
    out: CountsArray, parts: list[Chunk], n_events: int, fill: ChunkFill, scratch: Scratch
) -> int:
    """Fill ``out`` (flat) from the ``n_events`` events of ``parts``, chunk by chunk;
    return events added. Rejected events land in bin 0 and are taken back from it."""
    n_bins = out.size
    added = discarded = 0
    if n_bins <= SMALL_HISTOGRAM_BINS:
        for chunk in chunks(parts):
            m = chunk_length(chunk)
            index = scratch.index[:m]
            k = fill(chunk, index)
            if k:
                np.add.at(out, index, 1)
                discarded += m - k
            added += k
    else:
        whole = scratch.whole_index(n_events)
        start = 0
        for chunk in chunks(parts):
            stop = start + chunk_length(chunk)
            added += fill(chunk, whole[start:stop])
            start = stop
        if added:
            out += np.bincount(whole, minlength=n_bins)
            discarded = n_events - added
    out[0] -= discarded
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


class TimeOfArrivalSpectrum:
    """Counts per time-of-arrival bin, for events with or without pixels (monitors)."""

    def __init__(self, bins: UniformBins) -> None:
        self.bins = bins
        self.rejected = RejectedEvents()
        self._binning = TimeBinning(bins)
        self._scratch = Scratch()

    @property
    def n_bins(self) -> int:
        return self.bins.count

    def add(self, out: CountsArray, time_of_arrival: Events) -> int:
        """Add events to ``out`` (``n_bins`` int64 counts); return how many were added."""
        parts, n_events = event_parts(None, time_of_arrival)
        flat = check_out(out, self.n_bins)
        bins, scratch = self.bins, self._scratch

        def fill(chunk: Chunk, index: IndexArray) -> int:
            toa = chunk[1]
            assert toa is not None
            m = len(toa)
            good = scratch.good[:m]
            offsets, n_bad = offsets_in_range(toa, bins.start, bins.width, scratch.time[:m], good)
            self._binning.index(offsets, index)
            self.rejected.time_out_of_range += n_bad
            discard(index, good, n_bad, scratch)
            return m - n_bad

        return scatter_add(flat, parts, n_events, fill, scratch)


class PixelTimeOfArrivalCounts:
    """Counts per (pixel, time-of-arrival bin): a cube flattened pixel-major."""

    def __init__(self, pixels: PixelRange, bins: UniformBins) -> None:
        self.pixels = pixels
        self.bins = bins
        self.rejected = RejectedEvents()
        self._binning = TimeBinning(bins)
        self._scratch = Scratch()

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.count, self.bins.count

    @property
    def n_bins(self) -> int:
        return self.pixels.count * self.bins.count

    def add(self, out: CountsArray, pixel_id: Events, time_of_arrival: Events) -> int:
        """Add events to ``out`` (``shape`` int64 counts); return how many were added."""
        parts, n_events = event_parts(pixel_id, time_of_arrival)
        flat = check_out(out, self.n_bins)
        pixels, bins, scratch = self.pixels, self.bins, self._scratch
        n_time_bins, n_time_bins_32 = np.intp(bins.count), np.int32(min(bins.count, INT32_MAX))
        int32_index = self.n_bins <= INT32_MAX

        def fill(chunk: Chunk, index: IndexArray) -> int:
            position, offsets, good, n_bad = check_chunk(
                chunk, pixels, bins, scratch, self.rejected
            )
            m = len(position)
            self._binning.index(offsets, index)
            if int32_index:  # pixel * bins in int32, then one widening add
                row = scratch.row[:m]
                np.multiply(position, n_time_bins_32, out=row)
                np.add(index, row, out=index)
            else:
                time_index = scratch.time_index[:m]
                np.copyto(time_index, position)
                np.multiply(time_index, n_time_bins, out=time_index)
                np.add(index, time_index, out=index)
            discard(index, good, n_bad, scratch)
            return m - n_bad

        return scatter_add(flat, parts, n_events, fill, scratch)
