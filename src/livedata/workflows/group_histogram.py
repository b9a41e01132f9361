"""The spectra of pixel groups (ROIs): a time-of-arrival spectrum per group of pixels.

Events are counted in one compiled pass (:mod:`livedata.workflows.compiled_loops`, ADR
0012) into the kernel's own histogram, which has a row per group, one more row for ids
outside the detector, and one more column for times outside the range: every event
lands somewhere, so the loop never branches on the data, and the extra row and column
are the rejections. The kernel's own is cleared before each call and its counted
groups' rows added to the caller's histogram after it.

**Row offsets by blocks.** An event's row is looked up by its pixel: a table of every
pixel's row offset (group x ``bins + 1``) would be megabytes on a megapixel detector,
and lookups all over it miss the cache. The loop looks pixels up by blocks of
``2**block_bits`` (at most ``MAX_BLOCKS`` blocks), each with a pattern of row offsets
that blocks with the same offsets share (:class:`RowTables`). ROIs are drawn as areas,
so a megapixel detector needs a few dozen to a few hundred patterns, and both tables
stay in L2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from livedata.workflows.compiled_warm_up import start_warm_up
from livedata.workflows.histogram import (
    CountsArray,
    Events,
    PixelRange,
    RejectedEvents,
    TimeBinning,
    UniformBins,
    check_out,
    event_parts,
)
from livedata.workflows.loop_arguments import checked_pixel_table, loop_parts

MAX_BLOCKS = 1 << 16
"""At most this many blocks of pixels: a megapixel detector is looked up by blocks of
``2**block_bits`` pixels (32 for 1.5 M pixels, 64 for 3.2 M), so that the table of
every block's pattern (128 KiB as uint16) stays in L2 with the patterns."""

MAX_OWN_BINS = 1 << 24
"""Bins of the kernel's own histogram ((groups + 1) x (bins + 1), 128 MiB): it is
cleared at every call, so it is meant for spectra of a few groups (ROIs), not for a
spectrum per pixel."""


@dataclass(frozen=True, slots=True)
class RowTables:
    """Where the compiled loop finds an event's row in the kernel's histogram.

    Entry ``e`` is pixel ``first + e`` for ``e < count``; entry ``count`` is every id
    outside the detector; each entry's value is its row offset: its group (``n_groups``
    for bad ids) times ``bins + 1``. Entries come in blocks of ``2**block_bits``:
    ``blocks[b]`` is the pattern of block ``b`` and ``patterns[p << block_bits | i]``
    the value of place ``i`` in pattern ``p``.
    Blocks with the same values share a pattern. ROIs are areas, so few blocks are not
    uniform (those at an ROI's edge, which repeat along it) and there are few
    patterns: both tables stay in cache where a table of every pixel would not.
    """

    blocks: npt.NDArray[np.uint16]
    patterns: npt.NDArray[np.uint32]
    block_bits: int

    @classmethod
    def build(cls, groups: npt.NDArray[np.integer], n_groups: int, stride: int) -> RowTables:
        """Tables of the row offsets of ``groups`` (one per pixel), and of the row for
        bad ids (``n_groups``) after them. Their types are fixed (uint16 blocks, as
        there are at most ``MAX_BLOCKS`` patterns; uint32 offsets), so the loop is
        compiled once per type of event arrays, never again for another set of ROIs."""
        n_entries = len(groups) + 1
        block_bits = max(0, math.ceil(math.log2(n_entries / MAX_BLOCKS)))
        size = 1 << block_bits
        # The last block is padded with the bad-id row (the loop never reads past it).
        values = np.full(-(-n_entries // size) * size, n_groups * stride, dtype=np.uint32)
        # In uint32: a narrow ``groups`` would wrap group x stride in its own type.
        np.multiply(groups.astype(np.uint32), np.uint32(stride), out=values[: len(groups)])
        per_block = values.reshape(-1, size)
        uniform = (per_block == per_block[:, :1]).all(axis=1)
        # Patterns: one per value of uniform blocks, then one per distinct mixed block.
        # (np.unique by rows is slow, so only the few mixed blocks go through it.)
        uniform_values, uniform_pattern = np.unique(per_block[uniform, 0], return_inverse=True)
        mixed_rows, mixed_pattern = np.unique(per_block[~uniform], axis=0, return_inverse=True)
        blocks = np.empty(len(per_block), dtype=np.uint16)
        blocks[uniform] = uniform_pattern
        blocks[~uniform] = len(uniform_values) + mixed_pattern.reshape(-1)
        patterns = np.concatenate([np.repeat(uniform_values, size), mixed_rows.reshape(-1)])
        return cls(blocks, patterns, block_bits)


class PixelGroupTimeOfArrivalCounts:
    """Counts per (pixel group, time-of-arrival bin): one spectrum per group of pixels.

    ``groups[i]`` is the group of pixel ``first + i``, in ``[0, n_groups)``; every pixel
    is in exactly one group (a caller with overlapping selections, such as ROIs, splits
    them into disjoint groups and keeps one group for "none"). The histogram is
    ``(n_groups, bins.count)``, group-major.

    ``skipped_group``: a group whose counts nobody reads (ROIs: "in no ROI"). Its row
    of ``out`` is left as it was and ``add`` does not count its events as added. Every
    event's pixel id is checked (``rejected.pixel_out_of_range`` counts them all), but
    only the events of counted groups have their time checked: ``time_out_of_range``
    counts those outside the time range, as an event that no spectrum would hold is
    not left out of one for its time. (The loop costs the same either way.)
    """

    def __init__(
        self,
        pixels: PixelRange,
        groups: npt.NDArray[np.integer],
        n_groups: int,
        bins: UniformBins,
        *,
        skipped_group: int | None = None,
    ) -> None:
        if n_groups <= 0 or (n_groups + 1) * (bins.count + 1) > MAX_OWN_BINS:
            raise ValueError(
                f"{n_groups} groups x {bins.count} bins is empty or too large "
                f"(at most {MAX_OWN_BINS:,} bins with a row and column for rejections)"
            )
        groups = checked_pixel_table(groups, pixels, n_groups - 1, "group")
        if skipped_group is not None and not 0 <= skipped_group < n_groups:
            raise ValueError(f"skipped group {skipped_group} not in [0, {n_groups})")
        start_warm_up()  # the compiled loop, by the first window (see compiled_warm_up)
        # Read-only (properties): the compiled loop trusts them with unchecked indices.
        self._pixels, self._bins, self._n_groups = pixels, bins, n_groups
        self.rejected = RejectedEvents()
        self._stride = bins.count + 1
        self.tables = RowTables.build(groups, n_groups, self._stride)
        self._binning = TimeBinning(bins, through_stop=True)
        self._own = np.zeros((n_groups + 1, self._stride), dtype=np.int64)
        self._counted = np.delete(
            np.arange(n_groups), [] if skipped_group is None else skipped_group
        )

    @property
    def pixels(self) -> PixelRange:
        return self._pixels

    @property
    def bins(self) -> UniformBins:
        return self._bins

    @property
    def n_groups(self) -> int:
        return self._n_groups

    @property
    def shape(self) -> tuple[int, int]:
        return self.n_groups, self.bins.count

    @property
    def n_bins(self) -> int:
        return self.n_groups * self.bins.count

    def add(self, out: CountsArray, pixel_id: Events, time_of_arrival: Events) -> int:
        """Add events to ``out`` (``shape`` int64 counts); return how many were added."""
        parts, n_events = event_parts(pixel_id, time_of_arrival)
        flat = check_out(out, self.n_bins)
        if not n_events:
            return 0
        if any(ids is None or times is None for ids, times in parts):
            raise ValueError("pixel group spectra need pixel ids and times of arrival")
        from livedata.workflows.compiled_loops import count_pixel_groups  # numba: ADR 0012

        tables, binning, own = self.tables, self._binning, self._own
        own[...] = 0  # here, not after the loop: a call that failed midway left counts
        for ids, times in loop_parts(parts):
            count_pixel_groups(
                ids,
                times,
                np.int64(self.pixels.first),
                np.uint64(self.pixels.count),
                tables.blocks,
                np.uint64(tables.block_bits),
                tables.patterns,
                np.int64(self.bins.start),
                np.uint64(self.bins.width),
                binning.multiplier,
                binning.shift,
                binning.exact_multiply,
                np.uint64(self.bins.count),
                own.reshape(-1),
            )
        counted = own[self._counted]
        spectra = counted[:, :-1]
        flat.reshape(self.shape)[self._counted] += spectra
        self.rejected.time_out_of_range += int(counted[:, -1].sum())
        self.rejected.pixel_out_of_range += int(own[-1].sum())
        return int(spectra.sum())
