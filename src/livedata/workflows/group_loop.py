"""The compiled event loop of the pixel-group (ROI) spectra: :mod:`.group_histogram`.

Why compiled (ADR 0012): ROI spectra look every event's pixel up in a table of about
a million entries. In numpy that is a chain of passes (ids to table index, ``take``,
``nonzero`` to drop the events in no ROI, gather and bin the rest) whose ``take`` and
``nonzero`` alone cost more per event than the whole ``np.bincount`` floor. One
compiled pass does it all with no branch on the data, so it costs the same whatever
share of the events lies in an ROI.

Importing numba costs about 0.5 s and 110 MB of memory (mostly LLVM's shared library),
so only the processes that build this kernel import this module. Compiled code is
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


def _compiled(loop: Callable[..., Any]) -> Any:
    try:
        return numba.njit(nogil=True, cache=True, boundscheck=False)(loop)
    except RuntimeError as err:  # numba: "cannot cache function ...: no locator available"
        logger.warning("compiled_code_not_cached", function=loop.__name__, reason=str(err))
        return numba.njit(nogil=True, boundscheck=False)(loop)


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
