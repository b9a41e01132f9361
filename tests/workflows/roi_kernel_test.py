"""The ROI path of the pixel-group kernel: a skipped group ("in no ROI") whose events go
to a spectrum nobody reads and whose times are not checked, for every shape of its
tables (pixels looked up one by one or by blocks, few or many patterns, row offsets
below 2**16 or beyond), ids from 1 or elsewhere, and ids and times of every width, against an
independent reference."""

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

from livedata.workflows.group_histogram import MAX_BLOCKS, PixelGroupTimeOfArrivalCounts
from livedata.workflows.histogram import (
    CHUNK_EVENTS,
    INT32_MAX,
    INT32_MIN,
    PixelRange,
    UniformBins,
)

SENTINEL = 7


def reference(pid, toa, pixels: PixelRange, groups, n_groups, bins: UniformBins, skipped):
    """Counts per (group, bin) of accepted events and rejections by reason, by masks and
    exact int64 arithmetic (no shared code with the kernel). Every event's pixel id is
    checked; a time only on a pixel of a counted group."""
    pid, toa = pid.astype(np.int64), toa.astype(np.int64)
    pixel_ok = (pid >= pixels.first) & (pid < pixels.first + pixels.count)
    group = np.full(len(pid), -1)
    group[pixel_ok] = groups[pid[pixel_ok] - pixels.first]
    counted = pixel_ok & (group != skipped)
    time_ok = (toa >= bins.start) & (toa < bins.stop)
    ok = counted & time_ok
    time_bin = (toa[ok] - bins.start) * bins.count // bins.width
    expected = np.zeros((n_groups, bins.count), dtype=np.int64)
    np.add.at(expected, (group[ok], time_bin), 1)
    return expected, int((~pixel_ok).sum()), int((counted & ~time_ok).sum())


def count_and_check(pid, toa, pixels: PixelRange, groups, n_groups, bins: UniformBins, skipped):
    """Count the events with a fresh kernel; check its spectra and rejections against
    ``reference``; return its histogram."""
    kernel = PixelGroupTimeOfArrivalCounts(pixels, groups, n_groups, bins, skipped_group=skipped)
    out = np.zeros(kernel.shape, dtype=np.int64)
    added = kernel.add(out, pid, toa)
    expected, bad_pixels, bad_times = reference(pid, toa, pixels, groups, n_groups, bins, skipped)
    expected[skipped] = 0
    np.testing.assert_array_equal(out, expected)
    assert added == expected.sum()
    assert kernel.rejected.pixel_out_of_range == bad_pixels
    assert kernel.rejected.time_out_of_range == bad_times
    return out


def hostile_events(rng, n, pixels: PixelRange, bins: UniformBins, dtype=np.int32):
    pid = rng.integers(pixels.first - 3, pixels.first + pixels.count + 3, n)
    toa = rng.integers(bins.start - 50, bins.stop + 50, n).astype(np.int32)
    late = rng.random(n) < 0.02  # on pixels of counted and skipped groups alike
    toa[late] = rng.choice([bins.start - 1, bins.stop, INT32_MIN, INT32_MAX], late.sum())
    if dtype == np.int32:
        pid[:3] = (INT32_MAX, INT32_MIN, -1)
    toa[3:5] = (INT32_MAX, INT32_MIN)
    return pid.astype(dtype), toa


def groups_with_coverage(rng, n_pixels, n_groups, share):
    """Counted groups ``0 .. n_groups - 2`` on ``share`` of the pixels, in runs (as ROIs
    are) and a few single pixels (so many blocks of a block table are mixed); the
    rest in the skipped group ``n_groups - 1``."""
    groups = np.full(n_pixels, n_groups - 1)
    run = max(1, n_pixels // 200)
    for start in range(0, n_pixels, run):
        if rng.random() < share:
            groups[start : start + run] = rng.integers(0, n_groups - 1)
    single = rng.random(n_pixels) < 0.01
    groups[single] = rng.integers(0, n_groups, single.sum())
    return groups


# (pixels, first id, counted share, groups, bins): the shape of the tables each case
# gets is asserted below, so a change of thresholds cannot silently leave one untested.
CASES = {
    "per pixel, ids from 1": (5000, 1, 0.1, 4, 100),
    "per pixel, ids from 0": (5000, 0, 0.05, 3, 7),
    "per pixel, mostly counted": (5000, 3, 0.8, 5, 100),
    "per pixel, negative ids": (3000, -1500, 0.5, 3, 50),
    "per pixel, 32-bit offsets": (5000, 1, 0.3, 60, 10_000),
    "per pixel, wide patterns": (30_000, 1, 0.5, 600, 10),
    # Scattered single pixels make thousands of distinct mixed blocks.
    "blocks, megapixel, wide patterns": (20 * MAX_BLOCKS + 1001, 11, 0.2, 8, 100),
    "blocks, ids from 0": (MAX_BLOCKS, 0, 0.5, 4, 10),
    "blocks, wide patterns, 32-bit offsets": (4 * MAX_BLOCKS + 17, -7, 0.6, 600, 1000),
}


@pytest.mark.parametrize("case", CASES)
def test_skipped_group_is_neither_counted_nor_time_checked(case) -> None:
    n_pixels, first, share, n_groups, n_bins = CASES[case]
    rng = np.random.default_rng(n_pixels + n_groups)
    pixels = PixelRange(first, n_pixels)
    bins = UniformBins(-100, 71_428_571, n_bins)
    groups = groups_with_coverage(rng, n_pixels, n_groups, share)
    skipped = n_groups - 1
    kernel = PixelGroupTimeOfArrivalCounts(pixels, groups, n_groups, bins, skipped_group=skipped)
    tables = kernel.tables
    assert (tables.block_bits > 0) == case.startswith("blocks"), case
    n_patterns = len(tables.patterns) >> tables.block_bits
    assert (n_patterns > 256) == ("wide patterns" in case), case
    assert (int(tables.patterns.max()) > 0xFFFF) == ("32-bit offsets" in case), case
    if tables.block_bits:  # blocks at the groups' edges: patterns of their own
        assert len(tables.patterns) >> tables.block_bits > n_groups + 1
    # Parts across chunk boundaries, an empty one, and a second call.
    pid, toa = hostile_events(rng, 2 * CHUNK_EVENTS + 300, pixels, bins)
    cuts = [0, 5, 5, CHUNK_EVENTS + 17, len(pid)]
    parts = [(pid[a:b], toa[a:b]) for a, b in itertools.pairwise(cuts)]
    out = np.full(kernel.shape, SENTINEL, dtype=np.int64)
    added = kernel.add(out, [p for p, _ in parts[:2]], [t for _, t in parts[:2]])
    added += kernel.add(out, [p for p, _ in parts[2:]], [t for _, t in parts[2:]])

    expected, bad_pixels, bad_times = reference(pid, toa, pixels, groups, n_groups, bins, skipped)
    np.testing.assert_array_equal(out[:skipped], SENTINEL + expected[:skipped])
    np.testing.assert_array_equal(out[skipped], SENTINEL)  # left as it was
    assert added == expected[:skipped].sum()
    assert kernel.rejected.pixel_out_of_range == bad_pixels
    assert kernel.rejected.time_out_of_range == bad_times
    assert bad_pixels >= 3
    assert bad_times >= 2
    # Bad times of the skipped group's events were there, and are not counted.
    offset = pid.astype(np.int64) - first
    on_skipped = (offset >= 0) & (offset < n_pixels)
    on_skipped[on_skipped] = groups[offset[on_skipped]] == skipped
    assert (on_skipped & ((toa < bins.start) | (toa >= bins.stop))).sum() >= 2


@pytest.mark.parametrize("dtype", [np.uint32, np.int16, np.uint16, np.int8, np.uint8])
def test_other_id_widths_are_checked_exactly(dtype) -> None:
    """uint32 ids of 2**31 and more are outside every detector, not wrapped onto
    negative ids; narrower ids are exact too."""
    rng = np.random.default_rng(3)
    first = 0 if np.dtype(dtype).kind == "u" else -20
    pixels, bins = PixelRange(first, 100), UniformBins(0, 1000, 10)
    pid, toa = hostile_events(rng, 5000, pixels, bins, dtype=dtype)
    if dtype == np.uint32:
        pid[:3] = (2**32 - 1, 2**31, 2**32 - 20)  # -1, -2**31, -20 if read as int32
    count_and_check(pid, toa, pixels, np.arange(100) % 3, 3, bins, 2)


def test_a_bad_time_counts_only_on_a_counted_pixel_and_a_bad_id_always() -> None:
    # Pixels 1, 2 counted (groups 0, 1), 3 and 4 in the skipped group 2.
    groups = np.array([0, 1, 2, 2])
    bins = UniformBins(0, 10, 2)
    kernel = PixelGroupTimeOfArrivalCounts(PixelRange(1, 4), groups, 3, bins, skipped_group=2)
    out = np.zeros(kernel.shape, dtype=np.int64)
    pid = np.array([1, 2, 3, 4, 3, 1, 0, 5, -1, 2**31 - 1, -(2**31)], dtype=np.int32)
    toa = np.array([0, 9, 10, -1, 4, 10, 5, 5, 99, 5, -1], dtype=np.int32)
    assert kernel.add(out, pid, toa) == 2
    np.testing.assert_array_equal(out, [[1, 0], [0, 1], [0, 0]])
    # Pixel 1 at 10 is left out for its time; pixels 3 and 4 at 10 and -1 are not
    # histogrammed at all, so not left out of anything for their time.
    assert kernel.rejected.time_out_of_range == 1
    # Ids 0, 5, -1, 2**31 - 1 and -2**31, whatever their time.
    assert kernel.rejected.pixel_out_of_range == 5


def test_times_on_bin_edges_and_empty_batches() -> None:
    groups = np.array([1, 0, 1])
    bins = UniformBins(-30, 30, 3)  # edges -30, -10, 10, 30
    kernel = PixelGroupTimeOfArrivalCounts(PixelRange(7, 3), groups, 2, bins, skipped_group=1)
    out = np.zeros(kernel.shape, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int32)
    assert kernel.add(out, empty, empty) == 0
    assert kernel.add(out, [empty, empty], [empty, empty]) == 0
    toa = np.array([-31, -30, -11, -10, 9, 10, 29, 30], dtype=np.int32)
    assert kernel.add(out, np.full(len(toa), 8, dtype=np.int32), toa) == 6
    np.testing.assert_array_equal(out, [[2, 2, 2], [0, 0, 0]])
    assert kernel.rejected.time_out_of_range == 2
    assert kernel.rejected.pixel_out_of_range == 0


@pytest.mark.parametrize("counted", [0.0, 0.01, 0.09, 0.11, 1.0])
def test_every_density_of_counted_events_selects_exactly(counted) -> None:
    """No events, few, many and all in the counted group, on scattered pixels."""
    rng = np.random.default_rng(int(counted * 100))
    n_pixels = 4000
    groups = (rng.random(n_pixels) >= counted).astype(np.int64)  # 1: skipped
    pixels, bins = PixelRange(1, n_pixels), UniformBins(0, 1000, 10)
    pid = rng.integers(1, n_pixels + 1, CHUNK_EVENTS + 9).astype(np.int32)
    toa = rng.integers(0, 1000, len(pid)).astype(np.int32)
    count_and_check(pid, toa, pixels, groups, 2, bins, 1)


def test_any_group_may_be_the_skipped_one() -> None:
    rng = np.random.default_rng(8)
    pixels, bins = PixelRange(1, 300), UniformBins(0, 1000, 5)
    groups = rng.integers(0, 4, 300)
    pid, toa = hostile_events(rng, 3000, pixels, bins)
    for skipped in range(4):
        kernel = PixelGroupTimeOfArrivalCounts(pixels, groups, 4, bins, skipped_group=skipped)
        out = np.full(kernel.shape, SENTINEL, dtype=np.int64)
        kernel.add(out, pid, toa)
        expected, _, bad_times = reference(pid, toa, pixels, groups, 4, bins, skipped)
        expected += SENTINEL
        expected[skipped] = SENTINEL
        np.testing.assert_array_equal(out, expected)
        assert kernel.rejected.time_out_of_range == bad_times


def test_skipped_group_must_be_a_group() -> None:
    with pytest.raises(ValueError, match="skipped group"):
        PixelGroupTimeOfArrivalCounts(
            PixelRange(1, 4), np.zeros(4, dtype=np.int64), 2, UniformBins(0, 10, 2), skipped_group=2
        )


@pytest.mark.parametrize("first", [0, 1])
def test_callers_arrays_are_not_written(first: int) -> None:
    rng = np.random.default_rng(5)
    pixels, bins = PixelRange(first, 100), UniformBins(0, 1000, 10)
    pid = rng.integers(-10, 110, 2 * CHUNK_EVENTS).astype(np.int32)
    toa = rng.integers(-10, 1100, 2 * CHUNK_EVENTS).astype(np.int32)
    kept = pid.copy(), toa.copy()
    kernel = PixelGroupTimeOfArrivalCounts(pixels, np.arange(100) // 90, 2, bins, skipped_group=1)
    kernel.add(np.zeros(kernel.shape, dtype=np.int64), pid, toa)
    np.testing.assert_array_equal(pid, kept[0])
    np.testing.assert_array_equal(toa, kept[1])


@pytest.mark.parametrize("dtype", [np.uint32, np.int16, np.uint16, np.int8, np.uint8])
def test_other_time_widths_are_checked_exactly(dtype) -> None:
    """Times of every width are exact (a negative offset is read as huge, so outside the
    range)."""
    rng = np.random.default_rng(6)
    info = np.iinfo(dtype)
    start = 0 if info.min == 0 else int(info.min) // 2
    stop = int(info.max) // 2
    pixels, bins = PixelRange(1, 200), UniformBins(start, stop, 7)
    groups = np.arange(200) % 4
    pid = rng.integers(-5, 210, 20_000).astype(np.int32)
    toa = rng.integers(int(info.min), int(info.max) + 1, 20_000).astype(dtype)
    count_and_check(pid, toa, pixels, groups, 4, bins, 3)
    assert ((toa < start) | (toa >= stop)).any()


@pytest.mark.parametrize(
    ("first", "count"),
    [(INT32_MIN, 5000), (INT32_MAX - 4999, 5000), (INT32_MIN, 2 * MAX_BLOCKS + 5)],
)
def test_ranges_at_the_ends_of_int32(first: int, count: int) -> None:
    rng = np.random.default_rng(7)
    pixels, bins = PixelRange(first, count), UniformBins(0, 1000, 10)
    groups = groups_with_coverage(rng, count, 3, 0.3)
    low, high = max(INT32_MIN, first - 50), min(INT32_MAX, first + count + 50)
    pid = rng.integers(low, high + 1, 3 * CHUNK_EVENTS, dtype=np.int64).astype(np.int32)
    pid[:4] = (INT32_MIN, INT32_MAX, 0, -1)
    toa = rng.integers(-10, 1100, len(pid)).astype(np.int32)
    count_and_check(pid, toa, pixels, groups, 3, bins, 2)


def test_area_groups_share_few_patterns_that_stay_in_cache() -> None:
    """ROIs are areas: on a 3.2 M-pixel plane, a rectangle, a disc and a triangle need a
    few hundred patterns (the disc's edge differs from row to row), and the tables stay
    in L2, where a table of every pixel (6.4 MB) would not."""
    ny = nx = 1792
    yy, xx = np.mgrid[:ny, :nx]
    groups = np.full((ny, nx), 3)
    groups[400:900, 200:700] = 0
    groups[((yy - 900) ** 2 + (xx - 900) ** 2) < 300**2] = 1
    groups[yy + xx < 500] = 2
    kernel = PixelGroupTimeOfArrivalCounts(
        PixelRange(1, ny * nx), groups.reshape(-1), 4, UniformBins(0, 1000, 100), skipped_group=3
    )
    tables = kernel.tables
    assert len(tables.blocks) <= MAX_BLOCKS
    assert len(tables.patterns) >> tables.block_bits < 1000
    assert tables.blocks.nbytes + tables.patterns.nbytes < 256 * 1024


def test_the_compiler_is_imported_only_by_processes_that_count() -> None:
    """numba costs 0.3 s and ~110 MB to import: the dashboard, which imports the
    workflow specs (and so this kernel's module), must not pay for it."""
    code = (
        "import sys; import livedata.config.instruments.dummy.specs; "
        "import livedata.workflows.group_histogram, livedata.workflows.mapped_counts; "
        "import livedata.workflows.pixel_counts; "
        "assert 'numba' not in sys.modules, 'numba imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_read_only_and_strided_event_arrays() -> None:
    """ev44 ids and times are read-only views into the message; a window's parts may be
    slices. Both are counted as a contiguous copy would be."""
    rng = np.random.default_rng(9)
    pixels, bins = PixelRange(1, 500), UniformBins(0, 1000, 10)
    groups = np.arange(500) % 3
    pid, toa = hostile_events(rng, 4000, pixels, bins)
    read_only = [np.frombuffer(a.tobytes(), dtype=a.dtype) for a in (pid, toa)]
    assert not read_only[0].flags.writeable
    whole = count_and_check(pid, toa, pixels, groups, 3, bins, 2)
    np.testing.assert_array_equal(count_and_check(*read_only, pixels, groups, 3, bins, 2), whole)
    count_and_check(pid[::2], toa[::2], pixels, groups, 3, bins, 2)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16])
def test_narrow_group_tables_do_not_wrap_their_row_offsets(dtype) -> None:
    """A group of an int8 table times 101 columns is beyond int8: a row offset computed
    in the table's type sent events to another row, or past the histogram."""
    n_groups = min(int(np.iinfo(dtype).max), 300)
    bins = UniformBins(0, 1000, 100 if np.dtype(dtype).itemsize == 1 else 1000)
    assert (n_groups - 1) * (bins.count + 1) > np.iinfo(dtype).max
    pixels = PixelRange(1, 2 * n_groups)
    groups = (np.arange(2 * n_groups) % n_groups).astype(dtype)
    rng = np.random.default_rng(10)
    pid, toa = hostile_events(rng, 20_000, pixels, bins)
    count_and_check(pid, toa, pixels, groups, n_groups, bins, n_groups - 1)


def test_a_call_that_fails_midway_leaves_nothing_for_the_next() -> None:
    pixels, bins = PixelRange(1, 4), UniformBins(0, 10, 2)
    kernel = PixelGroupTimeOfArrivalCounts(pixels, np.array([0, 1, 2, 2]), 3, bins, skipped_group=2)
    pid, toa = np.array([1, 2], dtype=np.int32), np.array([1, 6], dtype=np.int32)
    out = np.zeros(kernel.shape, dtype=np.int64)
    with pytest.raises(TypeError, match="32 bits"):
        kernel.add(out, [pid, pid.astype(np.int64)], [toa, toa])
    with pytest.raises(ValueError, match="times of arrival"):
        kernel.add(out, [pid, pid], [toa, None])
    np.testing.assert_array_equal(out, 0)
    assert kernel.add(out, pid, toa) == 2
    np.testing.assert_array_equal(out, [[1, 0], [0, 1], [0, 0]])


def test_events_in_the_other_byte_order_are_counted() -> None:
    rng = np.random.default_rng(12)
    pixels, bins = PixelRange(1, 300), UniformBins(0, 1000, 10)
    pid, toa = hostile_events(rng, 3000, pixels, bins)
    swapped = [a.astype(a.dtype.newbyteorder("S")) for a in (pid, toa)]
    groups = np.arange(300) % 3
    whole = count_and_check(pid, toa, pixels, groups, 3, bins, 2)
    np.testing.assert_array_equal(count_and_check(*swapped, pixels, groups, 3, bins, 2), whole)


@pytest.mark.parametrize("n_bins", [7, 16_000])
def test_a_time_range_over_all_of_int32(n_bins) -> None:
    """Width 2**32: every int32 time is in range; with many bins the loop divides."""
    rng = np.random.default_rng(13)
    pixels, bins = PixelRange(1, 100), UniformBins(INT32_MIN, INT32_MAX + 1, n_bins)
    pid, toa = hostile_events(rng, 5000, pixels, bins)
    toa[:2] = (INT32_MIN, INT32_MAX)
    count_and_check(pid, toa, pixels, np.arange(100) % 3, 3, bins, 2)


def test_another_set_of_rois_needs_no_new_compilation() -> None:
    """The tables' types are fixed, so the loop compiled for the first ROIs serves every
    later set (a compilation stalls the service's loop for about a second)."""
    from livedata.workflows.compiled_loops import count_pixel_groups

    rng = np.random.default_rng(14)
    pixels, bins = PixelRange(1, 5000), UniformBins(0, 1000, 10)
    pid, toa = hostile_events(rng, 1000, pixels, bins)
    one_roi = np.arange(5000) // 4000
    many_regions = groups_with_coverage(rng, 5000, 600, 0.5)
    count_and_check(pid, toa, pixels, one_roi, 2, bins, 1)
    compiled = len(count_pixel_groups.signatures)
    count_and_check(pid, toa, pixels, many_regions, 600, UniformBins(0, 1000, 1000), 599)
    assert len(count_pixel_groups.signatures) == compiled


def test_without_a_writable_cache_the_loop_is_compiled_per_process(tmp_path) -> None:
    """A hardened systemd unit may leave numba no directory to cache in: the kernel
    still counts, and says once that its code is not cached."""
    code = """
import tempfile
def refuse(*args, **kwargs):
    raise PermissionError("read-only file system")
tempfile.TemporaryFile = refuse  # numba checks a cache directory by writing a file
import numpy as np
from livedata.workflows.group_histogram import PixelGroupTimeOfArrivalCounts
from livedata.workflows.histogram import PixelRange, UniformBins
kernel = PixelGroupTimeOfArrivalCounts(
    PixelRange(1, 4), np.array([0, 1, 2, 2]), 3, UniformBins(0, 10, 2), skipped_group=2
)
out = np.zeros(kernel.shape, dtype=np.int64)
ids = np.array([1, 2, 3], dtype=np.int32)
assert kernel.add(out, ids, np.array([1, 6, 1], dtype=np.int32)) == 2, out
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert done.returncode == 0, done.stderr
    assert "compiled_code_not_cached" in done.stdout + done.stderr
