"""Histogram kernels against naive references, including hostile ids and edges."""

import tracemalloc
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livedata.workflows.group_histogram import MAX_BLOCKS, PixelGroupTimeOfArrivalCounts
from livedata.workflows.histogram import (
    CHUNK_EVENTS,
    SMALL_HISTOGRAM_BINS,
    PixelRange,
    PixelTimeOfArrivalCounts,
    TimeBinning,
    TimeOfArrivalSpectrum,
    UniformBins,
)
from livedata.workflows.mapped_counts import MappedPixelCounts
from livedata.workflows.pixel_counts import PixelCounts

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
HOSTILE_IDS = [INT32_MAX, INT32_MIN, -1, 0, -(2**31) + 1, 2**30]


def ids(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int32)


def ref_bin(t: int, bins: UniformBins) -> int | None:
    """Exact bin of ``t`` by rational arithmetic, None outside the range."""
    if not bins.start <= t < bins.stop:
        return None
    return int(Fraction(t - bins.start) * bins.count // bins.width)


def ref_image(pixel_id, pixels: PixelRange, toa=None, window=None) -> np.ndarray:
    out = np.zeros(pixels.count, dtype=np.int64)
    for i, p in enumerate(pixel_id.tolist()):
        if not pixels.first <= p < pixels.first + pixels.count:
            continue
        if window is not None and not window[0] <= toa[i] < window[1]:
            continue
        out[p - pixels.first] += 1
    return out


# -- pixel counts ------------------------------------------------------------------


def test_pixel_counts_match_a_naive_count() -> None:
    pixels = PixelRange(first=1, count=16)
    kernel = PixelCounts(pixels)
    pid = ids(1, 1, 16, 5, 5, 5, 8)
    out = np.zeros(16, dtype=np.int64)
    assert kernel.add(out, pid) == 7
    expected = np.zeros(16, dtype=np.int64)
    for p, n in Counter(pid.tolist()).items():
        expected[p - 1] = n
    np.testing.assert_array_equal(out, expected)
    assert kernel.rejected.total == 0


def test_out_of_range_pixel_ids_are_dropped_and_counted() -> None:
    kernel = PixelCounts(PixelRange(first=1, count=16))
    out = np.zeros(16, dtype=np.int64)
    pid = ids(*HOSTILE_IDS, 17, 3, 16, 1)
    assert kernel.add(out, pid) == 3
    assert out.sum() == 3
    assert out[0] == out[2] == out[15] == 1
    assert kernel.rejected.pixel_out_of_range == len(HOSTILE_IDS) + 1
    assert kernel.rejected.time_out_of_range == 0


@pytest.mark.parametrize("n_pixels", [16_384, 1_500_000])
def test_huge_ids_allocate_nothing_sized_by_the_id(n_pixels: int) -> None:
    kernel = PixelCounts(PixelRange(first=1, count=n_pixels))
    out = np.zeros(n_pixels, dtype=np.int64)
    pid = np.full(100_000, INT32_MAX, dtype=np.int32)
    pid[::2] = INT32_MIN
    kernel.add(out, pid[:10])  # warm up: the kernel's reusable scratch
    tracemalloc.start()
    try:
        kernel.add(out, pid)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Bounded by the event count (and the histogram for large ones), never by 2**31.
    assert peak < 4 * 1024**2 + 8 * n_pixels
    assert out.sum() == 0
    assert kernel.rejected.pixel_out_of_range == 100_010


def test_empty_input_changes_nothing() -> None:
    kernel = PixelCounts(PixelRange(first=1, count=4), time_window=(0, 10))
    out = np.zeros(4, dtype=np.int64)
    assert kernel.add(out, ids(), ids()) == 0
    assert not out.any()
    spectrum = TimeOfArrivalSpectrum(UniformBins(0, 10, 2))
    out2 = np.zeros(2, dtype=np.int64)
    assert spectrum.add(out2, ids()) == 0
    assert not out2.any()
    assert kernel.rejected.total == spectrum.rejected.total == 0


def test_time_window_selects_events_and_counts_the_rest() -> None:
    pixels = PixelRange(first=10, count=4)
    kernel = PixelCounts(pixels, time_window=(100, 200))
    pid = ids(10, 11, 12, 13, 99, 10, 13)
    toa = ids(99, 100, 199, 200, 150, -5, INT32_MAX)
    out = np.zeros(4, dtype=np.int64)
    assert kernel.add(out, pid, toa) == 2
    np.testing.assert_array_equal(out, ref_image(pid, pixels, toa, (100, 200)))
    np.testing.assert_array_equal(out, [0, 1, 1, 0])
    # The bad pixel is counted as a pixel problem, not (also) as a time problem.
    assert kernel.rejected.pixel_out_of_range == 1
    assert kernel.rejected.time_out_of_range == 4


def test_time_window_needs_times() -> None:
    kernel = PixelCounts(PixelRange(first=0, count=4), time_window=(0, 10))
    with pytest.raises(ValueError, match="time of arrival"):
        kernel.add(np.zeros(4, dtype=np.int64), ids(1))


@pytest.mark.parametrize("n_pixels", [1000, SMALL_HISTOGRAM_BINS + 1])
def test_many_chunks_small_and_large_histograms(n_pixels: int) -> None:
    """Both fill strategies, across chunk boundaries, with rejects in some chunks."""
    rng = np.random.default_rng(42)
    n = 3 * CHUNK_EVENTS + 7
    pid = rng.integers(-50, n_pixels + 50, n, dtype=np.int32)
    pid[CHUNK_EVENTS - 1] = INT32_MAX
    pixels = PixelRange(first=0, count=n_pixels)
    kernel = PixelCounts(pixels)
    out = np.zeros(n_pixels, dtype=np.int64)
    added = kernel.add(out, pid)
    added += kernel.add(out, pid[: n // 2])  # a second, smaller call reuses the scratch
    valid = (pid >= 0) & (pid < n_pixels)
    expected = np.bincount(pid[valid], minlength=n_pixels) + np.bincount(
        pid[: n // 2][valid[: n // 2]], minlength=n_pixels
    )
    np.testing.assert_array_equal(out, expected)
    assert added == expected.sum()
    assert kernel.rejected.pixel_out_of_range == (~valid).sum() + (~valid[: n // 2]).sum()


@settings(max_examples=60, deadline=None)
@given(
    first=st.integers(-1000, 1000),
    count=st.integers(1, 64),
    pid=st.lists(st.integers(INT32_MIN, INT32_MAX) | st.integers(-1100, 1100), max_size=200),
)
def test_pixel_counts_property(first: int, count: int, pid: list[int]) -> None:
    pixels = PixelRange(first=first, count=count)
    kernel = PixelCounts(pixels)
    out = np.zeros(count, dtype=np.int64)
    arr = np.array(pid, dtype=np.int32)
    added = kernel.add(out, arr)
    expected = ref_image(arr, pixels)
    np.testing.assert_array_equal(out, expected)
    assert added == expected.sum()
    assert kernel.rejected.pixel_out_of_range == len(pid) - expected.sum()


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.float32])
def test_refuses_wide_or_non_integer_events(dtype) -> None:
    """ev44 sends int32; wider ids could overflow the exact index arithmetic."""
    kernel = PixelCounts(PixelRange(first=1, count=4))
    with pytest.raises(TypeError, match="at most 32 bits"):
        kernel.add(np.zeros(4, dtype=np.int64), np.array([1], dtype=dtype))


def test_accepts_narrow_and_unsigned_ids() -> None:
    kernel = PixelCounts(PixelRange(first=1, count=4))
    out = np.zeros(4, dtype=np.int64)
    assert kernel.add(out, np.array([1, 4, 2**32 - 1], dtype=np.uint32)) == 2
    assert kernel.add(out, np.array([1, -1], dtype=np.int16)) == 1
    np.testing.assert_array_equal(out, [2, 0, 0, 1])


@pytest.mark.parametrize(
    ("out", "error"),
    [
        (np.zeros(3, dtype=np.int64), "4 bins"),
        (np.zeros(4, dtype=np.float64), "int64"),
        (np.zeros((4, 2), dtype=np.int64)[:, 0], "C-contiguous"),
    ],
)
def test_refuses_a_wrong_histogram(out: np.ndarray, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        PixelCounts(PixelRange(first=1, count=4)).add(out, ids(1))


def test_refuses_bad_event_arrays() -> None:
    kernel = PixelCounts(PixelRange(first=1, count=4), time_window=(0, 10))
    out = np.zeros(4, dtype=np.int64)
    with pytest.raises(ValueError, match="differ in length"):
        kernel.add(out, ids(1, 2), ids(1))
    with pytest.raises(TypeError, match="integers"):
        kernel.add(out, np.array([1.0]), ids(1))
    with pytest.raises(ValueError, match="time window"):
        PixelCounts(PixelRange(first=1, count=4), time_window=(5, 5))


# -- time-of-arrival spectrum ------------------------------------------------------


@pytest.mark.parametrize(
    ("bins", "times", "expected_bins"),
    [
        # Integer bin width 10: each edge opens its bin.
        (UniformBins(0, 100, 10), [0, 9, 10, 11, 89, 90, 99], [0, 0, 1, 1, 8, 9, 9]),
        # Fractional edges 0, 3.33, 6.67, 10.
        (UniformBins(0, 10, 3), [0, 3, 4, 6, 7, 9], [0, 0, 1, 1, 2, 2]),
        # Offset start; edges 5, 5.5, 6, ...: a time exactly on an edge.
        (UniformBins(5, 10, 10), [5, 6, 7, 9], [0, 2, 4, 8]),
    ],
)
def test_uniform_bin_index_at_edges(bins, times, expected_bins) -> None:
    spectrum = TimeOfArrivalSpectrum(bins)
    out = np.zeros(bins.count, dtype=np.int64)
    spectrum.add(out, ids(*times))
    np.testing.assert_array_equal(out, np.bincount(expected_bins, minlength=bins.count))
    assert [ref_bin(t, bins) for t in times] == expected_bins


@pytest.mark.parametrize("count", [1, 7, 100, 333, 10_000])
def test_every_edge_of_an_ess_frame_is_exact(count: int) -> None:
    """Times just below, on and above every edge of an ESS frame, against exact bins."""
    bins = UniformBins(0, 71_428_571, count)
    edges = [Fraction(bins.width * k, count) for k in range(count + 1)]
    times = sorted({int(e) + d for e in edges for d in (-1, 0, 1)})
    spectrum = TimeOfArrivalSpectrum(bins)
    out = np.zeros(count, dtype=np.int64)
    added = spectrum.add(out, np.array(times, dtype=np.int32))
    expected = Counter(b for t in times if (b := ref_bin(t, bins)) is not None)
    np.testing.assert_array_equal(out, [expected.get(i, 0) for i in range(count)])
    assert added == sum(expected.values())
    assert spectrum.rejected.time_out_of_range == len(times) - added


def test_times_out_of_range_are_dropped_and_counted() -> None:
    spectrum = TimeOfArrivalSpectrum(UniformBins(1000, 2000, 10))
    out = np.zeros(10, dtype=np.int64)
    times = ids(INT32_MIN, -1, 0, 999, 2000, INT32_MAX, 1000, 1999)
    assert spectrum.add(out, times) == 2
    assert out[0] == out[9] == 1
    assert spectrum.rejected.time_out_of_range == 6
    assert spectrum.rejected.pixel_out_of_range == 0


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(-10_000, 10_000),
    width=st.integers(1, 80_000_000),
    count=st.integers(1, 200),
    times=st.lists(
        st.integers(INT32_MIN, INT32_MAX) | st.integers(-20_000, 80_020_000), max_size=200
    ),
)
def test_spectrum_property(start: int, width: int, count: int, times: list[int]) -> None:
    bins = UniformBins(start, start + width, count)
    spectrum = TimeOfArrivalSpectrum(bins)
    out = np.zeros(count, dtype=np.int64)
    added = spectrum.add(out, np.array(times, dtype=np.int32))
    expected = Counter(b for t in times if (b := ref_bin(t, bins)) is not None)
    np.testing.assert_array_equal(out, [expected.get(i, 0) for i in range(count)])
    assert added == sum(expected.values())


def test_spectrum_across_chunks() -> None:
    rng = np.random.default_rng(1)
    bins = UniformBins(0, 71_428_571, 100)
    times = rng.integers(-1000, 72_000_000, 2 * CHUNK_EVENTS + 3, dtype=np.int32)
    spectrum = TimeOfArrivalSpectrum(bins)
    out = np.zeros(100, dtype=np.int64)
    spectrum.add(out, times)
    valid = (times >= 0) & (times < bins.stop)
    expected = np.bincount(times[valid].astype(np.int64) * 100 // bins.width, minlength=100)
    np.testing.assert_array_equal(out, expected)
    assert spectrum.rejected.time_out_of_range == (~valid).sum()


def test_edges_span_the_range() -> None:
    edges = UniformBins(0, 10, 3).edges()
    np.testing.assert_allclose(edges, [0, 10 / 3, 20 / 3, 10])


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((0, 10, 0), "1 to"),
        ((0, 10, 2**31), "1 to"),
        ((5, 5, 1), "empty"),
        ((0, 2**40, 10), "beyond int32"),
        ((-(2**31) - 1, 0, 10), "beyond int32"),
    ],
)
def test_uniform_bins_refuse_nonsense(args, error) -> None:
    with pytest.raises(ValueError, match=error):
        UniformBins(*args)


# -- pixel x time of arrival -------------------------------------------------------


@pytest.mark.parametrize("n_pixels", [16, SMALL_HISTOGRAM_BINS // 4 + 1])
def test_pixel_time_cube_matches_a_naive_count(n_pixels: int) -> None:
    rng = np.random.default_rng(7)
    n = CHUNK_EVENTS + 100
    pixels = PixelRange(first=1, count=n_pixels)
    bins = UniformBins(0, 1000, 4)
    pid = rng.integers(-2, n_pixels + 3, n, dtype=np.int32)
    toa = rng.integers(-10, 1010, n, dtype=np.int32)
    pid[0], toa[1] = INT32_MAX, INT32_MIN
    kernel = PixelTimeOfArrivalCounts(pixels, bins)
    out = np.zeros(kernel.shape, dtype=np.int64)
    added = kernel.add(out, pid, toa)
    expected = np.zeros(kernel.shape, dtype=np.int64)
    pixel_ok = (pid >= 1) & (pid <= n_pixels)
    ok = pixel_ok & (toa >= 0) & (toa < 1000)
    np.add.at(expected, (pid[ok] - 1, toa[ok] // 250), 1)
    np.testing.assert_array_equal(out, expected)
    assert added == ok.sum()
    assert kernel.rejected.pixel_out_of_range == (~pixel_ok).sum()
    assert kernel.rejected.time_out_of_range == (pixel_ok & ~ok).sum()


def test_nonzero_start_and_whole_number_bin_width() -> None:
    """The four index forms: start zero or not, bin width whole or fractional."""
    times = ids(-7, 0, 5, 99, 100, 101, 149, 150, 299, 300, 301, INT32_MAX, INT32_MIN)
    for bins in (
        UniformBins(0, 300, 3),
        UniformBins(0, 301, 3),
        UniformBins(100, 300, 4),
        UniformBins(100, 301, 4),
        UniformBins(-(2**31), 2**31, 7),
    ):
        spectrum = TimeOfArrivalSpectrum(bins)
        out = np.zeros(bins.count, dtype=np.int64)
        spectrum.add(out, times)
        expected = Counter(b for t in times.tolist() if (b := ref_bin(t, bins)) is not None)
        np.testing.assert_array_equal(out, [expected.get(i, 0) for i in range(bins.count)])


# -- pixel groups x time of arrival ------------------------------------------------


@pytest.mark.parametrize(
    ("n_pixels", "n_groups", "n_bins"),
    [(16, 3, 4), (3000, 7, 100), (5000, 20, SMALL_HISTOGRAM_BINS // 10)],
)
def test_pixel_group_spectra_match_a_naive_count(n_pixels, n_groups, n_bins) -> None:
    """Small and large (whole-call bincount) histograms, hostile ids and times."""
    rng = np.random.default_rng(11)
    n = 2 * CHUNK_EVENTS + 100
    pixels = PixelRange(first=5, count=n_pixels)
    bins = UniformBins(-100, 1_000_000, n_bins)
    groups = rng.integers(0, n_groups, n_pixels)
    pid = rng.integers(0, n_pixels + 10, n, dtype=np.int32)
    toa = rng.integers(-200, 1_000_100, n, dtype=np.int32)
    pid[:3] = (INT32_MAX, INT32_MIN, -1)
    toa[3:5] = (INT32_MAX, INT32_MIN)
    kernel = PixelGroupTimeOfArrivalCounts(pixels, groups, n_groups, bins)
    out = np.zeros(kernel.shape, dtype=np.int64)
    added = kernel.add(out, pid, toa)
    expected = np.zeros(kernel.shape, dtype=np.int64)
    for p, t in zip(pid.tolist(), toa.tolist(), strict=True):
        if pixels.first <= p < pixels.first + n_pixels and (b := ref_bin(t, bins)) is not None:
            expected[groups[p - pixels.first], b] += 1
    np.testing.assert_array_equal(out, expected)
    assert added == expected.sum()
    pixel_ok = (pid >= 5) & (pid < 5 + n_pixels)
    assert kernel.rejected.pixel_out_of_range == (~pixel_ok).sum()
    assert kernel.rejected.time_out_of_range == pixel_ok.sum() - added


def test_pixel_groups_add_up_across_calls_and_ignore_empty_input() -> None:
    kernel = PixelGroupTimeOfArrivalCounts(
        PixelRange(1, 4), np.array([1, 0, 1, 0], dtype=np.uint8), 2, UniformBins(0, 10, 2)
    )
    out = np.zeros((2, 2), dtype=np.int64)
    assert kernel.add(out, ids(1, 2, 3, 4), ids(0, 5, 9, 4)) == 4
    assert kernel.add(out, ids(), ids()) == 0
    assert kernel.add(out, ids(3), ids(1)) == 1
    np.testing.assert_array_equal(out, [[1, 1], [2, 1]])


@pytest.mark.parametrize(
    ("groups", "n_groups", "error"),
    [
        (np.zeros(3, dtype=np.int64), 2, "one integer group per pixel"),
        (np.zeros(4, dtype=np.float64), 2, "one integer group per pixel"),
        (np.array([0, 1, 2, 0]), 2, r"\[0, 1\]"),
        (np.array([0, -1, 0, 0]), 2, r"\[0, 1\]"),
        (np.zeros(4, dtype=np.int64), 0, "empty or too large"),
        (np.zeros(4, dtype=np.int64), 2**30, "empty or too large"),
    ],
)
def test_pixel_groups_refuse_bad_tables(groups, n_groups, error) -> None:
    with pytest.raises(ValueError, match=error):
        PixelGroupTimeOfArrivalCounts(PixelRange(1, 4), groups, n_groups, UniformBins(0, 10, 2))


# -- exact time bins without division ------------------------------------------------


@pytest.mark.parametrize(
    ("width", "count", "multiplies"),
    [
        (71_428_571, 100, True),
        (71_428_571, 1000, True),
        (71_428_571, 10_000, False),  # the product would overflow: exact division
        (2**32, 7, False),
        (2**20, 7, True),
        (2**32 - 1, 2**30 - 1, False),
        (2**32, 2**30, True),  # reduces to 1 / 4
        (1000, 1000, True),
        (1, 1, True),
    ],
)
def test_time_binning_is_floor_of_the_exact_quotient(width, count, multiplies) -> None:
    """Every edge (and its neighbours), the range's ends and random offsets."""
    bins = UniformBins(-(2**31), -(2**31) + width, count)
    binning = TimeBinning(bins)
    assert binning.exact_multiply is multiplies
    rng = np.random.default_rng(count)
    edges = [width * k // count for k in range(0, count + 1, max(1, count // 2000))]
    offsets = {e + d for e in edges for d in (-1, 0, 1)} | {0, width - 1}
    offsets |= set(rng.integers(0, width, 5000).tolist())
    u = np.array(sorted(o for o in offsets if 0 <= o < width), dtype=np.uint32)
    out = np.empty(len(u), dtype=np.intp)
    binning.index(u.view(np.int32), out)
    expected = [o * count // width for o in u.tolist()]
    assert out.tolist() == expected


@pytest.mark.parametrize(
    ("width", "count"),
    [(71_428_571, 100), (71_428_571, 1000), (2**32, 2**30), (2**32, 7), (1, 1), (1000, 3)],
)
def test_time_binning_through_stop_puts_the_width_in_bin_count(width, count) -> None:
    """For kernels that clamp every time outside the range to its width and count those
    in one extra bin: exact up to and including the width."""
    binning = TimeBinning(UniformBins(-(2**31), -(2**31) + width, count), through_stop=True)
    rng = np.random.default_rng(width % 1000 + count)
    offsets = [0, width - 1, width, *rng.integers(0, width, 2000).tolist()]
    edges = [width * k // count for k in range(1, min(count, 500))]
    offsets += [e + d for e in edges for d in (-1, 0, 1)]
    wide = np.array(offsets, dtype=np.uint64)
    binning.index_wide(wide)
    assert wide.tolist() == [o * count // width for o in offsets]
    assert wide[2] == count


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(1, 2**32),
    count=st.integers(1, 2**30),
    fraction=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=50),
)
def test_time_binning_property(width: int, count: int, fraction: list[float]) -> None:
    binning = TimeBinning(UniformBins(-(2**31), -(2**31) + width, count))
    u = np.array([min(width - 1, int(f * width)) for f in fraction], dtype=np.uint32)
    out = np.empty(len(u), dtype=np.intp)
    binning.index(u.view(np.int32), out)
    assert out.tolist() == [o * count // width for o in u.tolist()]


# -- unsigned events and ranges below zero -----------------------------------------


def test_unsigned_values_beyond_int32_never_wrap_onto_a_negative_range() -> None:
    """As int32, 2**32 - 3 would read as -3, inside these ranges; it must not count."""
    huge = np.array([2**32 - 3, 2**31, 0], dtype=np.uint32)
    image = PixelCounts(PixelRange(first=-5, count=10))
    out = np.zeros(10, dtype=np.int64)
    assert image.add(out, huge) == 1
    assert out[5] == 1
    assert image.rejected.pixel_out_of_range == 2
    windowed = PixelCounts(PixelRange(first=0, count=4), time_window=(-5, 1))
    out = np.zeros(4, dtype=np.int64)
    assert windowed.add(out, ids(0, 1, 2), huge) == 1
    assert windowed.rejected.time_out_of_range == 2
    spectrum = TimeOfArrivalSpectrum(UniformBins(-5, 1, 2))
    out = np.zeros(2, dtype=np.int64)
    assert spectrum.add(out, huge) == 1
    np.testing.assert_array_equal(out, [0, 1])


def test_pixel_ranges_stay_within_int32_ids() -> None:
    with pytest.raises(ValueError, match="int32"):
        PixelRange(first=2**31 - 10, count=11)
    with pytest.raises(ValueError, match="int32"):
        PixelRange(first=-(2**31) - 1, count=1)
    assert PixelRange(first=2**31 - 10, count=10).count == 10


# -- rejects: a few (masked copy) or many (multiplication by the mask) --------------


@pytest.mark.parametrize("bad_fraction", [0.001, 0.05, 0.5, 1.0])
@pytest.mark.parametrize("n_pixels", [1000, SMALL_HISTOGRAM_BINS + 1])
def test_dense_and_sparse_rejects_in_both_scatter_paths(bad_fraction, n_pixels) -> None:
    rng = np.random.default_rng(5)
    n = 2 * CHUNK_EVENTS + 11
    pid = rng.integers(1, n_pixels + 1, n, dtype=np.int32)
    toa = rng.integers(0, 1000, n, dtype=np.int32)
    bad = rng.random(n) < bad_fraction
    pid[bad] = rng.choice(np.array(HOSTILE_IDS, dtype=np.int32), int(bad.sum()))
    late = rng.random(n) < bad_fraction
    toa[late] = 5000
    pixels = PixelRange(first=1, count=n_pixels)
    kernel = PixelCounts(pixels, time_window=(0, 1000))
    out = np.zeros(n_pixels, dtype=np.int64)
    added = kernel.add(out, pid, toa)
    ok = ~bad & ~late
    np.testing.assert_array_equal(out, np.bincount(pid[ok] - 1, minlength=n_pixels))
    assert added == ok.sum()
    assert kernel.rejected.pixel_out_of_range == bad.sum()
    assert kernel.rejected.time_out_of_range == (~bad & late).sum()
    spectrum = TimeOfArrivalSpectrum(UniformBins(0, 1000, 10))
    counts = np.zeros(10, dtype=np.int64)
    assert spectrum.add(counts, toa) == (~late).sum()
    np.testing.assert_array_equal(counts, np.bincount(toa[~late] // 100, minlength=10))


@pytest.mark.parametrize("n_pixels", [MAX_BLOCKS + 1, 300])
@pytest.mark.parametrize("n_groups", [3, 700])
def test_pixel_group_tables_of_every_width(n_pixels, n_groups) -> None:
    """Detectors looked up pixel by pixel and by blocks, few and many groups."""
    rng = np.random.default_rng(n_pixels + n_groups)
    bins = UniformBins(0, 71_428_571, 100)
    groups = rng.integers(0, n_groups, n_pixels)
    n = CHUNK_EVENTS + 5
    pid = rng.integers(-3, n_pixels + 4, n, dtype=np.int32)
    toa = rng.integers(-10, 72_000_000, n, dtype=np.int32)
    kernel = PixelGroupTimeOfArrivalCounts(PixelRange(1, n_pixels), groups, n_groups, bins)
    out = np.zeros(kernel.shape, dtype=np.int64)
    added = kernel.add(out, pid, toa)
    ok = (pid >= 1) & (pid <= n_pixels) & (toa >= 0) & (toa < bins.stop)
    expected = np.zeros(kernel.shape, dtype=np.int64)
    np.add.at(expected, (groups[pid[ok] - 1], toa[ok].astype(np.int64) * 100 // bins.width), 1)
    np.testing.assert_array_equal(out, expected)
    assert added == ok.sum()


# -- events in parts (a window's messages, never joined) -----------------------------


def test_every_kernel_takes_events_in_parts() -> None:
    rng = np.random.default_rng(21)
    n_pixels, bins = 3000, UniformBins(0, 1000, 200)  # a cube past SMALL_HISTOGRAM_BINS
    assert n_pixels * bins.count > SMALL_HISTOGRAM_BINS
    sizes = [5, CHUNK_EVENTS + 3, 0, 1000]  # parts across and within chunks, an empty one
    pid = [rng.integers(-5, n_pixels + 5, k, dtype=np.int32) for k in sizes]
    toa = [rng.integers(-50, 1050, k, dtype=np.int32) for k in sizes]
    whole_pid, whole_toa = np.concatenate(pid), np.concatenate(toa)
    groups = rng.integers(0, 4, n_pixels)
    for make, args, whole in (
        (lambda: PixelCounts(PixelRange(1, n_pixels)), (pid,), (whole_pid,)),
        (
            lambda: PixelCounts(PixelRange(1, n_pixels), time_window=(100, 900)),
            (pid, toa),
            (whole_pid, whole_toa),
        ),
        (lambda: TimeOfArrivalSpectrum(bins), (toa,), (whole_toa,)),
        (
            lambda: PixelTimeOfArrivalCounts(PixelRange(1, n_pixels), bins),
            (pid, toa),
            (whole_pid, whole_toa),
        ),
        (
            lambda: PixelGroupTimeOfArrivalCounts(PixelRange(1, n_pixels), groups, 4, bins),
            (pid, toa),
            (whole_pid, whole_toa),
        ),
        (
            lambda: MappedPixelCounts(PixelRange(1, n_pixels), np.arange(n_pixels) % 7, 6),
            (pid,),
            (whole_pid,),
        ),
        (
            lambda: MappedPixelCounts(
                PixelRange(1, n_pixels), np.arange(n_pixels) % 7, 6, time_window=(100, 900)
            ),
            (pid, toa),
            (whole_pid, whole_toa),
        ),
    ):
        in_parts, joined = make(), make()
        a = np.zeros(in_parts.n_bins, dtype=np.int64)
        b = np.zeros(joined.n_bins, dtype=np.int64)
        assert in_parts.add(a, *args) == joined.add(b, *whole)
        np.testing.assert_array_equal(a, b)
        assert in_parts.rejected == joined.rejected


def test_parts_must_match() -> None:
    kernel = PixelCounts(PixelRange(1, 4), time_window=(0, 10))
    out = np.zeros(4, dtype=np.int64)
    with pytest.raises(ValueError, match="numbers of parts"):
        kernel.add(out, [ids(1), ids(2)], [ids(1)])
    with pytest.raises(ValueError, match="differ in length"):
        kernel.add(out, [ids(1), ids(2)], [ids(1), ids(2, 3)])
    with pytest.raises(TypeError, match="32 bits"):
        kernel.add(out, [ids(1), np.array([2], dtype=np.int64)], [ids(1), ids(2)])


def test_kernels_never_write_to_the_callers_arrays() -> None:
    """With ids and times from 0 the kernels read the caller's arrays directly (no
    offset to subtract); rejected events must still be discarded in the kernel's own
    scratch, not in them."""
    rng = np.random.default_rng(2)
    n = 2 * CHUNK_EVENTS
    pid = rng.integers(-10, 110, n, dtype=np.int32)
    toa = rng.integers(-10, 1100, n, dtype=np.int32)
    kept = pid.copy(), toa.copy()
    bins = UniformBins(0, 1000, 10)
    pixels = PixelRange(0, 100)
    for kernel, args in (
        (PixelCounts(pixels), (pid,)),
        (PixelCounts(pixels, time_window=(0, 1000)), (pid, toa)),
        (TimeOfArrivalSpectrum(bins), (toa,)),
        (PixelTimeOfArrivalCounts(pixels, bins), (pid, toa)),
        (PixelGroupTimeOfArrivalCounts(pixels, np.arange(100) % 3, 3, bins), (pid, toa)),
    ):
        kernel.add(np.zeros(kernel.n_bins, dtype=np.int64), *args)
        np.testing.assert_array_equal(pid, kept[0])
        np.testing.assert_array_equal(toa, kept[1])


@pytest.mark.parametrize("window", [None, (100, 900)])
def test_images_of_read_only_and_byte_swapped_events(window) -> None:
    """ev44 arrays are read-only views into a message; another byte order is converted
    (the compiled loop reads only the machine's own)."""
    rng = np.random.default_rng(31)
    pid = rng.integers(-5, 105, 5000, dtype=np.int32)
    toa = rng.integers(0, 1000, 5000, dtype=np.int32)
    results = []
    for ids, times in (
        (pid, toa),
        tuple(np.frombuffer(a.tobytes(), dtype=a.dtype) for a in (pid, toa)),
        tuple(a.astype(a.dtype.newbyteorder("S")) for a in (pid, toa)),
    ):
        kernel = PixelCounts(PixelRange(1, 100), time_window=window)
        out = np.zeros(100, dtype=np.int64)
        added = kernel.add(out, ids, times)
        results.append((out, added, kernel.rejected))
    ok = (pid >= 1) & (pid <= 100)
    if window is not None:
        ok &= (toa >= window[0]) & (toa < window[1])
    expected = np.bincount(pid[ok] - 1, minlength=100)
    for out, added, rejected in results:
        np.testing.assert_array_equal(out, expected)
        assert added == ok.sum()
        assert rejected == results[0][2]
