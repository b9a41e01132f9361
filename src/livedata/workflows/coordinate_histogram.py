"""Histogram kernel for a coordinate computed per event from its time and pixel: λ, Q, d.

Each event's coordinate is one arithmetic operation on its time of flight ``t`` (ns,
``time_of_arrival - time_offset_ns``) and a factor precomputed per pixel (or one factor
for a monitor)::

    x = factor[pixel] * t      (wavelength, d-spacing: ``exponent=+1``)
    x = factor[pixel] / t      (Q: ``exponent=-1``)

optionally kept only where the event's wavelength ``gate_factor[pixel] * t`` lies in a
band (SANS counts Q only within the wavelength band its monitor is normalised over).

**Per event** (in chunks of :data:`CHUNK_EVENTS` that stay in L2 cache): the pixel id
is bounds-checked (one unsigned comparison, as in ``histogram``), its factor fetched
from a float32 table (for a gate, factor and gate factor share one 8-byte entry, one
memory access), ``x`` computed, its bin estimated arithmetically, the estimate settled
against the published edges (below), and one ``bincount`` into ``count + 3`` bins:
below the range, the ``count`` bins, above the range, rejected pixel. Nothing is sized
from an event's value; an id of ``2**31 - 1`` costs what any event costs.

**Exact edges.** An event is in bin ``i`` exactly when ``edges[i] <= x < edges[i + 1]``
for the edges the output publishes (``CoordinateBins.edges()``, whose first and last are
the requested range exactly): no event on an edge is lost or double counted through
rounding. The arithmetic estimate (linear: ``(x - start) / width``; log: via ``log x``)
is biased low by ``BIN_ESTIMATE_BIAS`` of a bin, far more than its rounding error (the
bins are at least ``MIN_RELATIVE_BIN_WIDTH`` wide), so the true bin is the estimate or
the next one; one comparison with the next edge decides.

**Precision.** Factors are stored as float32 (relative 6e-8): half the memory traffic
of float64 in the table lookup that dominates the cost, and four orders of magnitude
below what pixel positions are known to. The rest is float64. A time of flight below
half a nanosecond is clamped to it where it would divide by zero or take the log of a
non-positive number; such events lie far outside any range the params allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from livedata.workflows.coordinate_bins import CoordinateBins
from livedata.workflows.histogram import BoolArray, CountsArray, IntArray, PixelRange

CHUNK_EVENTS = 1 << 14
"""Events per arithmetic step: the step's scratch arrays (~50 bytes per event, 0.8 MB)
stay in a 1 MB L2 cache; 2**12 measured 20 % slower (per-call overhead), 2**16 no
faster."""

BIN_ESTIMATE_BIAS = 1e-6
"""Bins subtracted from the arithmetic bin estimate so it is never above the true bin.
Its rounding error is below 1e-9 bins for bins at least ``MIN_RELATIVE_BIN_WIDTH`` wide."""

MIN_TIME_NS = 0.5
"""Lower clamp of the time of flight where ``t <= 0`` has no finite coordinate."""

FloatArray = npt.NDArray[np.float64]


@dataclass(slots=True)
class CoordinateRejects:
    """Events a coordinate kernel did not histogram (running totals since creation)."""

    pixel_out_of_range: int = 0
    """Pixel id outside the bank (negative, huge, or another bank's)."""
    outside_range: int = 0
    """Valid pixel, but the coordinate (or, with a gate, the wavelength) falls outside
    the histogram's range: includes every event of a pixel the factor table excludes."""

    @property
    def total(self) -> int:
        return self.pixel_out_of_range + self.outside_range


@dataclass(frozen=True, slots=True)
class Gate:
    """Keep only events with ``low <= factor * t < high`` (a wavelength band in Å)."""

    low: float
    high: float
    factor: npt.ArrayLike
    """Per pixel (a bank) or one number (a monitor)."""

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"gate [{self.low}, {self.high}) is empty or not finite")


def _factor_table(values: npt.ArrayLike, n: int, what: str) -> npt.NDArray[np.float32]:
    table = np.asarray(values, dtype=np.float64)
    if table.shape != (n,):
        raise ValueError(f"{what} needs one value per pixel ({n}), got shape {table.shape}")
    if not np.all(np.isfinite(table)) or np.any(table < 0):
        raise ValueError(f"{what} must be finite and non-negative")
    return table.astype(np.float32)


def _scalar_factor(value: npt.ArrayLike, what: str) -> float:
    number = np.asarray(value, dtype=np.float64)
    if number.shape != () or not np.isfinite(number) or number < 0:
        raise ValueError(f"{what} of a source without pixels must be one finite number >= 0")
    return float(number)


class CoordinateHistogram:
    """Counts per bin of ``x = factor * t**exponent``, for a bank or a monitor.

    Parameters
    ----------
    bins:
        The bins of ``x``; the histogram the caller passes to :meth:`add` has
        ``bins.count`` int64 entries.
    factor:
        ``(pixels.count,)`` non-negative factors, row ``i`` for pixel id
        ``pixels.first + i`` (0 excludes a pixel), or one number when ``pixels`` is
        None (a monitor; pixel ids, if sent, are ignored).
    exponent:
        ``+1`` for ``x = factor * t``, ``-1`` for ``x = factor / t``.
    time_offset_ns:
        Subtracted from each time of arrival to give ``t``.
    gate:
        Optional wavelength band events must lie in.
    """

    def __init__(
        self,
        bins: CoordinateBins,
        *,
        factor: npt.ArrayLike,
        exponent: Literal[1, -1] = 1,
        pixels: PixelRange | None = None,
        time_offset_ns: int = 0,
        gate: Gate | None = None,
    ) -> None:
        if exponent not in (1, -1):
            raise ValueError(f"exponent must be 1 or -1, got {exponent}")
        self.bins = bins
        self.pixels = pixels
        self.exponent = exponent
        self.time_offset_ns = int(time_offset_ns)
        self.gate = gate
        self.rejected = CoordinateRejects()
        n = bins.count
        self._log = bins.scale == "log"
        # Estimate of the "extended" bin k (0 below the range, 1..n the bins, n + 1
        # above) as ``x * scale - offset``, or ``log(x) * scale - offset``.
        if self._log:
            self._scale = n / np.log(bins.stop / bins.start)
            self._offset = np.log(bins.start) * self._scale - 1.0 + BIN_ESTIMATE_BIAS
        else:
            self._scale = n / (bins.stop - bins.start)
            self._offset = bins.start * self._scale - 1.0 + BIN_ESTIMATE_BIAS
        # Upper edge of extended bin k: the published edges, then +inf.
        self._upper = np.append(bins.edges(), np.inf)
        self._clamp = self._log or exponent == -1
        # A bank's factors are a table; with a gate, one 8-byte entry per pixel holds
        # both (real part the factor, imaginary the gate's), so one memory access.
        self._factor: float | npt.NDArray[np.float32] | npt.NDArray[np.complex64]
        self._gate_factor: float | None = None
        if pixels is None:
            self._factor = _scalar_factor(factor, "factor")
            if gate is not None:
                self._gate_factor = _scalar_factor(gate.factor, "gate factor")
        elif gate is None:
            self._factor = _factor_table(factor, pixels.count, "factor")
        else:
            table = _factor_table(factor, pixels.count, "factor").astype(np.complex64)
            table.imag = _factor_table(gate.factor, pixels.count, "gate factor")
            self._factor = table
        size = CHUNK_EVENTS
        self._time = np.empty(size, dtype=np.float64)
        self._x = np.empty(size, dtype=np.float64)
        self._work = np.empty(size, dtype=np.float64)
        self._bin = np.empty(size, dtype=np.intp)
        self._pixel = np.empty(size, dtype=np.intp)
        self._bad_pixel = np.empty(size, dtype=np.bool_)
        self._inside = np.empty(size, dtype=np.bool_)
        self._above = np.empty(size, dtype=np.bool_)
        self._looked_up: npt.NDArray[Any] = (
            np.empty(size, dtype=self._factor.dtype)
            if isinstance(self._factor, np.ndarray)
            else np.empty(0)
        )

    @property
    def n_bins(self) -> int:
        return self.bins.count

    def add(
        self,
        out: CountsArray,
        time_of_arrival: IntArray,
        pixel_id: IntArray | None = None,
    ) -> int:
        """Add events to ``out`` (``n_bins`` int64 counts); return how many were added."""
        if self.pixels is not None and pixel_id is None:
            raise ValueError("a bank's events need pixel ids")
        ids = pixel_id if self.pixels is not None else None
        n_events = _check_events(time_of_arrival, ids)
        n = self.bins.count
        if out.dtype != np.int64 or out.shape != (n,) or not out.flags.c_contiguous:
            raise ValueError(f"histogram must be a C-contiguous int64 array of {n} bins")
        added = outside = bad_pixels = 0
        # log(0) and 0/0 are impossible after the clamp; log of +0 in an excluded pixel
        # (factor 0) gives -inf, which lands below the range as it should.
        with np.errstate(divide="ignore"):
            for start in range(0, n_events, CHUNK_EVENTS):
                stop = min(start + CHUNK_EVENTS, n_events)
                chunk_ids = None if ids is None else ids[start:stop]
                counts = self._chunk(time_of_arrival[start:stop], chunk_ids)
                out += counts[1 : n + 1]
                added += int(counts[1 : n + 1].sum())
                outside += int(counts[0] + counts[n + 1])
                bad_pixels += int(counts[n + 2])
        self.rejected.outside_range += outside
        self.rejected.pixel_out_of_range += bad_pixels
        return added

    def _chunk(self, toa: IntArray, ids: IntArray | None) -> CountsArray:
        """Counts of one chunk in the ``count + 3`` extended bins."""
        m = len(toa)
        n = self.bins.count
        t, x, work = self._time[:m], self._x[:m], self._work[:m]
        k, inside, above = self._bin[:m], self._inside[:m], self._above[:m]
        np.subtract(toa, self.time_offset_ns, out=t, dtype=np.float64)
        if self._clamp:
            np.maximum(t, MIN_TIME_NS, out=t)
        factor, gate_factor, bad = self._look_up(ids, m)
        if self.exponent == 1:
            np.multiply(factor, t, out=x)
        else:
            np.divide(factor, t, out=x)
        if self.gate is not None and gate_factor is not None:
            # x = 0 outside the band: below any range (``start > 0``), so it is
            # counted as outside without a masked write (which measured 4x slower).
            np.multiply(gate_factor, t, out=work)  # the event's wavelength
            np.greater_equal(work, self.gate.low, out=inside)
            np.less(work, self.gate.high, out=above)
            np.logical_and(inside, above, out=inside)
            np.multiply(x, inside, out=x)
        # The bin estimate, clipped to the extended bins [0, n + 1] (casting a float
        # outside the integer range would be undefined; the clip also settles
        # everything far below or above the range).
        if self._log:
            np.log(x, out=work)
            np.multiply(work, self._scale, out=work)
        else:
            np.multiply(x, self._scale, out=work)
        np.subtract(work, self._offset, out=work)
        np.clip(work, 0, n + 1, out=work)
        np.copyto(k, work, casting="unsafe")  # truncation = floor for values >= 0
        # The estimate is the true bin or one below: step up where x reaches its
        # upper edge.
        np.take(self._upper, k, out=work)
        np.greater_equal(x, work, out=above)
        np.add(k, above, out=k)
        if bad is not None:
            np.copyto(k, n + 2, where=bad)
        return np.bincount(k, minlength=n + 3)

    def _look_up(
        self, ids: IntArray | None, m: int
    ) -> tuple[float | npt.NDArray[Any], float | npt.NDArray[Any] | None, BoolArray | None]:
        """The chunk's factors, gate factors, and its bad-pixel mask (None if none)."""
        if isinstance(self._factor, float):
            return self._factor, self._gate_factor, None
        assert ids is not None  # add() checked
        assert self.pixels is not None
        index, bad = self._pixel[:m], self._bad_pixel[:m]
        np.subtract(ids, self.pixels.first, out=index, dtype=np.int64)
        np.greater_equal(index.view(np.uint64), self.pixels.count, out=bad)
        looked_up = self._looked_up[:m]
        # 'clip' keeps a bad id's lookup in bounds; its event is discarded at the end.
        np.take(self._factor, index, out=looked_up, mode="clip")
        any_bad = bad if np.any(bad) else None
        if self.gate is None:
            return looked_up, None, any_bad
        return looked_up.real, looked_up.imag, any_bad


def _check_events(time_of_arrival: IntArray, pixel_id: IntArray | None) -> int:
    for a in (time_of_arrival, pixel_id):
        if a is not None and (a.dtype.kind not in "iu" or a.dtype.itemsize > 4):
            raise TypeError(f"event arrays must be integers of at most 32 bits, got {a.dtype}")
    n = len(time_of_arrival)
    if pixel_id is not None and len(pixel_id) != n:
        raise ValueError(f"event arrays differ in length: {len(pixel_id)} and {n}")
    return n
