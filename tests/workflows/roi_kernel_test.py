"""The ROI path of the pixel-group kernel: a skipped group ("in no ROI") whose events
are checked but not histogrammed, on every membership path (byte table, bit table,
counting everything), against an independent reference."""

import itertools

import numpy as np
import pytest

from livedata.workflows.histogram import (
    CHUNK_EVENTS,
    INT32_MAX,
    INT32_MIN,
    INTP_TABLE_PIXELS,
    MEMBER_BYTE_PIXELS,
    MEMBER_SELECTION_SHARE,
    SMALL_HISTOGRAM_BINS,
    PixelGroupTimeOfArrivalCounts,
    PixelRange,
    UniformBins,
)

SENTINEL = 7


def reference(pid, toa, pixels: PixelRange, groups, n_groups, bins: UniformBins):
    """Counts per (group, bin) of accepted events, rejections by reason, by masks and
    exact int64 arithmetic (no shared code with the kernel)."""
    pid, toa = pid.astype(np.int64), toa.astype(np.int64)
    pixel_ok = (pid >= pixels.first) & (pid < pixels.first + pixels.count)
    time_ok = (toa >= bins.start) & (toa < bins.stop)
    ok = pixel_ok & time_ok
    group = groups[pid[ok] - pixels.first]
    time_bin = (toa[ok] - bins.start) * bins.count // bins.width
    expected = np.zeros((n_groups, bins.count), dtype=np.int64)
    np.add.at(expected, (group, time_bin), 1)
    return expected, int((~pixel_ok).sum()), int((pixel_ok & ~time_ok).sum())


def hostile_events(rng, n, pixels: PixelRange, bins: UniformBins):
    pid = rng.integers(pixels.first - 3, pixels.first + pixels.count + 3, n).astype(np.int32)
    toa = rng.integers(bins.start - 50, bins.stop + 50, n).astype(np.int32)
    pid[:3] = (INT32_MAX, INT32_MIN, -1)
    toa[3:5] = (INT32_MAX, INT32_MIN)
    return pid, toa


def groups_with_coverage(rng, n_pixels, n_groups, share):
    """Counted groups ``0 .. n_groups - 2`` on ``share`` of the pixels, in blocks (as ROIs
    are); the rest in the skipped group ``n_groups - 1``."""
    groups = np.full(n_pixels, n_groups - 1)
    block = max(1, n_pixels // 200)
    for start in range(0, n_pixels, block):
        if rng.random() < share:
            groups[start : start + block] = rng.integers(0, n_groups - 1)
    return groups


# (pixels, first id, counted share, groups, bins): which path each case takes is
# asserted below, so a change of thresholds cannot silently leave a path untested.
CASES = {
    "byte table, few counted": (5000, 1, 0.1, 4, 100),
    "byte table, ids from 0": (5000, 0, 0.05, 3, 7),
    "count all, restore skipped row": (5000, 3, 0.8, 5, 100),
    "bit table, megapixel": (MEMBER_BYTE_PIXELS + 1001, 11, 0.2, 8, 100),
    "bit table, mostly counted": (MEMBER_BYTE_PIXELS + 5, 1, 0.9, 3, 50),
    "whole-call bincount": (INTP_TABLE_PIXELS + 17, 2, 0.3, 700, 1000),
}


@pytest.mark.parametrize("case", CASES)
def test_skipped_group_is_checked_but_not_counted(case) -> None:
    n_pixels, first, share, n_groups, n_bins = CASES[case]
    rng = np.random.default_rng(n_pixels + n_groups)
    pixels = PixelRange(first, n_pixels)
    bins = UniformBins(-100, 71_428_571, n_bins)
    groups = groups_with_coverage(rng, n_pixels, n_groups, share)
    skipped = n_groups - 1
    kernel = PixelGroupTimeOfArrivalCounts(pixels, groups, n_groups, bins, skipped_group=skipped)
    selects = kernel._select_members
    assert selects == (case != "count all, restore skipped row"), case
    assert kernel._member_bits == case.startswith("bit table"), case
    assert (kernel.n_bins > SMALL_HISTOGRAM_BINS) == (case == "whole-call bincount"), case
    # Parts across chunk boundaries, an empty one, and a second call.
    pid, toa = hostile_events(rng, 2 * CHUNK_EVENTS + 300, pixels, bins)
    cuts = [0, 5, 5, CHUNK_EVENTS + 17, len(pid)]
    parts = [(pid[a:b], toa[a:b]) for a, b in itertools.pairwise(cuts)]
    out = np.full(kernel.shape, SENTINEL, dtype=np.int64)
    added = kernel.add(out, [p for p, _ in parts[:2]], [t for _, t in parts[:2]])
    added += kernel.add(out, [p for p, _ in parts[2:]], [t for _, t in parts[2:]])

    expected, bad_pixels, bad_times = reference(pid, toa, pixels, groups, n_groups, bins)
    np.testing.assert_array_equal(out[:skipped], SENTINEL + expected[:skipped])
    np.testing.assert_array_equal(out[skipped], SENTINEL)  # left as it was
    assert added == expected[:skipped].sum()
    # Every event was checked, whether in a counted group or not.
    assert kernel.rejected.pixel_out_of_range == bad_pixels
    assert kernel.rejected.time_out_of_range == bad_times
    assert bad_pixels >= 3
    assert bad_times >= 2


def test_share_threshold_picks_the_path() -> None:
    n = 1000
    bins = UniformBins(0, 10, 2)
    few = np.where(np.arange(n) < MEMBER_SELECTION_SHARE * n, 0, 1)
    many = np.where(np.arange(n) <= MEMBER_SELECTION_SHARE * n, 0, 1)
    assert PixelGroupTimeOfArrivalCounts(
        PixelRange(1, n), few, 2, bins, skipped_group=1
    )._select_members
    assert not PixelGroupTimeOfArrivalCounts(
        PixelRange(1, n), many, 2, bins, skipped_group=1
    )._select_members


@pytest.mark.parametrize("counted", [0.0, 0.01, 0.09, 0.11, 1.0])
def test_every_density_of_counted_events_selects_exactly(counted) -> None:
    """Around the density where numpy's ``nonzero`` changes loops, and the extremes."""
    rng = np.random.default_rng(int(counted * 100))
    n_pixels = 4000
    groups = (rng.random(n_pixels) >= counted).astype(np.int64)  # 1: skipped
    pixels, bins = PixelRange(1, n_pixels), UniformBins(0, 1000, 10)
    kernel = PixelGroupTimeOfArrivalCounts(pixels, groups, 2, bins, skipped_group=1)
    pid = rng.integers(1, n_pixels + 1, CHUNK_EVENTS + 9).astype(np.int32)
    toa = rng.integers(0, 1000, len(pid)).astype(np.int32)
    out = np.zeros(kernel.shape, dtype=np.int64)
    added = kernel.add(out, pid, toa)
    expected, _, _ = reference(pid, toa, pixels, groups, 2, bins)
    np.testing.assert_array_equal(out[0], expected[0])
    assert added == expected[0].sum()


def test_skipped_group_must_be_a_group() -> None:
    with pytest.raises(ValueError, match="skipped group"):
        PixelGroupTimeOfArrivalCounts(
            PixelRange(1, 4), np.zeros(4, dtype=np.int64), 2, UniformBins(0, 10, 2), skipped_group=2
        )


def test_callers_arrays_are_not_written() -> None:
    rng = np.random.default_rng(4)
    pixels, bins = PixelRange(0, 100), UniformBins(0, 1000, 10)
    pid = rng.integers(-10, 110, 2 * CHUNK_EVENTS).astype(np.int32)
    toa = rng.integers(-10, 1100, 2 * CHUNK_EVENTS).astype(np.int32)
    kept = pid.copy(), toa.copy()
    kernel = PixelGroupTimeOfArrivalCounts(pixels, np.arange(100) // 90, 2, bins, skipped_group=1)
    kernel.add(np.zeros(kernel.shape, dtype=np.int64), pid, toa)
    np.testing.assert_array_equal(pid, kept[0])
    np.testing.assert_array_equal(toa, kept[1])
