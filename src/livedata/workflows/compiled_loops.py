"""Compiled event loops (numba, ADR 0012): the detector image, detector views and the
pixel-group (ROI) spectra, the kernels whose numpy passes fell short of or barely met
their speed targets.

**Images and views** (:class:`~livedata.workflows.pixel_counts.PixelCounts`,
:class:`~livedata.workflows.mapped_counts.MappedPixelCounts`): numpy needs a pass for
the bounds check, one for a view's lookup, one to discard the rejected events and
``np.bincount`` (a pass for the maximum, then the scatter); beyond the cache it ran at
0.6-0.8 of bincount alone. One compiled pass checks each event, looks its bin up and
adds it.

**ROI spectra** (:mod:`.group_histogram`): every event's pixel is looked up in a table
of about a million entries. In numpy that is a chain of passes (ids to table index,
``take``, ``nonzero`` to drop the events in no ROI, gather and bin the rest) whose
``take`` and ``nonzero`` alone cost more per event than the whole ``np.bincount``
floor. One compiled pass does it all with no branch on the data, so it costs the same
whatever share of the events lies in an ROI.

Importing numba costs about 0.5 s and 110 MB of memory (mostly LLVM's shared library),
so only the processes that build these kernels import this module. Compiled code is
cached next to this file (``__pycache__``), in ``NUMBA_CACHE_DIR``, or in numba's user
cache; a process that may write none of them (a hardened systemd unit without a cache
directory) compiles once per process instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
import structlog

logger = structlog.get_logger(__name__)

ACCEPTED_RUN = 1 << 12
"""Events :func:`count_pixels` checks before it adds those it accepted (their bins: 32
KiB, in L1)."""


def _compiled(loop: Callable[..., Any]) -> Any:
    try:
        return numba.njit(nogil=True, cache=True, boundscheck=False)(loop)
    except RuntimeError as err:  # numba: "cannot cache function ...: no locator available"
        logger.warning("compiled_code_not_cached", function=loop.__name__, reason=str(err))
        return numba.njit(nogil=True, boundscheck=False)(loop)


@_compiled
def count_pixels(
    pixel_id: np.ndarray,
    time_of_arrival: np.ndarray,
    first: np.int64,
    count: np.uint64,
    has_window: bool,
    window_start: np.int64,
    window_width: np.uint64,
    counts: np.ndarray,
) -> tuple[int, int]:
    """Add one to ``counts[id - first]`` for every event of an id in the detector (and,
    ``has_window``, a time in ``[window_start, window_start + window_width)``); return
    the numbers rejected for their id and for their time. A difference below the low
    end wraps to a huge unsigned number, so one comparison checks each range. Without a
    window, ``time_of_arrival`` is not read.

    By runs of ``ACCEPTED_RUN`` events: first the accepted events' bins are gathered
    with no branch on the data (a window that keeps half the events
    would mispredict every other branch), then they are added. A histogram beyond the
    cache so misses it once per accepted event only, and those misses overlap.
    """
    accepted = np.empty(ACCEPTED_RUN, dtype=np.uint64)  # per call: no shared scratch
    bad_pixel = 0
    bad_time = 0
    n = pixel_id.shape[0]
    for run in range(0, n, ACCEPTED_RUN):
        k = 0
        for i in range(run, min(run + ACCEPTED_RUN, n)):
            entry = np.uint64(np.int64(pixel_id[i]) - first)
            pixel_ok = bool(entry < count)
            time_ok = True
            if has_window:  # the same for every event: compiled as two loops
                offset = np.uint64(np.int64(time_of_arrival[i]) - window_start)
                time_ok = bool(offset < window_width)
            accepted[k] = entry
            k += pixel_ok and time_ok
            bad_pixel += not pixel_ok
            bad_time += pixel_ok and not time_ok
        for j in range(k):
            counts[accepted[j]] += 1
    return bad_pixel, bad_time


@_compiled
def count_through_table(
    pixel_id: np.ndarray,
    time_of_arrival: np.ndarray,
    first: np.int64,
    count: np.uint64,
    has_window: bool,
    window_start: np.int64,
    window_width: np.uint64,
    bin_of_pixel: np.ndarray,
    counts: np.ndarray,
    weighted: bool,
    weight_of_pixel: np.ndarray,
    sums: np.ndarray,
    squares: np.ndarray,
) -> int:
    """Add one to ``counts[bin_of_pixel[id - first]]`` for every event of an id in the
    detector (and, ``weighted``, its pixel's weight to ``sums`` and the weight's square
    to ``squares``, at the same bin); return how many were not. The histograms have one
    bin more than any bin of the table: where, with ``has_window``, an event whose time
    is outside ``[window_start, window_start + window_width)`` is counted instead.
    Without a window ``time_of_arrival`` is not read, unweighted the weight arrays.

    One branch, on the id (rare to fail, so well predicted); the time only selects the
    bin, as a window that keeps half the events would mispredict every other branch.
    (Gathering the accepted bins first, as :func:`count_pixels` does, measured slower
    here: the table lookup sits between the two passes.)
    """
    late = np.uint64(counts.shape[0] - 1)
    bad_pixel = 0
    for i in range(pixel_id.shape[0]):
        entry = np.uint64(np.int64(pixel_id[i]) - first)
        if entry < count:
            view_bin = np.uint64(bin_of_pixel[entry])
            if has_window:  # the flags are the same for every event: the compiler
                offset = np.uint64(np.int64(time_of_arrival[i]) - window_start)
                view_bin = view_bin if offset < window_width else late
            counts[view_bin] += 1
            if weighted:  # makes a loop for each case
                weight = np.float64(weight_of_pixel[entry])
                sums[view_bin] += weight
                squares[view_bin] += weight * weight
        else:
            bad_pixel += 1
    return bad_pixel


@_compiled
def count_pixel_groups(
    pixel_id: np.ndarray,
    time_of_arrival: np.ndarray,
    first: np.int64,
    last_entry: np.uint64,
    blocks: np.ndarray,
    block_bits: np.uint64,
    patterns: np.ndarray,
    start: np.int64,
    width: np.uint64,
    multiplier: np.uint64,
    shift: np.uint64,
    exact_multiply: bool,
    n_bins: np.uint64,
    counts: np.ndarray,
) -> None:
    """Add one to ``counts[offset(pixel) + bin(time)]`` for every event.

    The entry of an id is ``id - first``, and every id outside the detector (below
    ``first`` it wraps to a huge unsigned number) is clamped to ``last_entry``, the
    entry of the row for bad ids. Its block of ``2**block_bits`` entries has a
    pattern (``blocks``), and its place in the block picks its row offset (row x
    ``(n_bins + 1)``) from that pattern's entries in ``patterns``: offsets rather than
    rows, as a multiplication between the two loads measured 20 % slower. A time's
    offset from ``start`` is clamped likewise to ``width``, which bins to the extra
    column ``n_bins`` (exactly: see ``TimeBinning(through_stop=True)``).
    """
    in_block = (np.uint64(1) << block_bits) - np.uint64(1)
    for i in range(pixel_id.shape[0]):
        entry = min(np.uint64(np.int64(pixel_id[i]) - first), last_entry)
        pattern = np.uint64(blocks[entry >> block_bits])
        row = np.uint64(patterns[(pattern << block_bits) | (entry & in_block)])
        u = min(np.uint64(np.int64(time_of_arrival[i]) - start), width)
        time_bin = (u * multiplier) >> shift if exact_multiply else u * n_bins // width
        counts[row + time_bin] += 1
