"""The view kernel: exact counts through a pixel -> bin table, bounds checks, weights."""

import numpy as np
import pytest

from livedata.workflows.histogram import CHUNK_EVENTS, PixelRange
from livedata.workflows.mapped_counts import (
    PIXELS_FIRST_EVENTS_PER_PIXEL,
    UINT16_BINS,
    MappedPixelCounts,
)
from livedata.workflows.pixel_counts import PixelCounts

HOSTILE = [0, -1, 2**31 - 1, -(2**31), 49, 50 + 1000]
"""Ids outside a bank of pixels 50 .. 1049."""


def reference(ids, table, n_bins, toa=None, window=None, weights=None):
    """Per-event loop: the obvious way, independent of the kernel."""
    out = np.zeros(n_bins)
    for i, pid in enumerate(ids):
        p = int(pid) - 50
        if not 0 <= p < len(table):
            continue
        if window is not None and not window[0] <= toa[i] < window[1]:
            continue
        if table[p] < n_bins:
            out[table[p]] += 1 if weights is None else weights[p]
    return out


@pytest.mark.parametrize("n_events", [300, 3000])  # a lookup per event; pixels first
@pytest.mark.parametrize("n_bins", [7, 40_000, UINT16_BINS, UINT16_BINS + 1])
def test_counts_match_a_per_event_loop(n_bins: int, n_events: int) -> None:
    rng = np.random.default_rng(n_bins)
    table = rng.integers(0, n_bins + 1, 1000)  # n_bins: the pixel is not in the view
    table[:3] = (n_bins, n_bins - 1, 0)  # the extremes, which a narrow table would wrap
    ids = np.concatenate([rng.integers(50, 1050, n_events), HOSTILE, [50, 51]]).astype(np.int32)
    kernel = MappedPixelCounts(PixelRange(50, 1000), table, n_bins)
    assert kernel._table.dtype == (np.uint16 if n_bins <= UINT16_BINS else np.uint32)
    out = np.zeros(n_bins, dtype=np.int64)
    added = kernel.add(out, ids)
    expected = reference(ids, table, n_bins)
    np.testing.assert_array_equal(out, expected)
    assert added == expected.sum()
    assert kernel.rejected.pixel_out_of_range == len(HOSTILE)
    assert kernel.rejected.time_out_of_range == 0


def test_time_window_and_rejection_reasons() -> None:
    table = np.arange(1000) % 10
    ids = np.array([50, 50, 50, 60, -1, -1, 2**31 - 1, 1049], dtype=np.int32)
    toa = np.array([999, 1000, 1999, 2000, 1500, 5000, -(2**31), 2**31 - 1], dtype=np.int32)
    kernel = MappedPixelCounts(PixelRange(50, 1000), table, 10, time_window=(1000, 2000))
    out = np.zeros(10, dtype=np.int64)
    assert kernel.add(out, ids, toa) == 2
    np.testing.assert_array_equal(out, reference(ids, table, 10, toa, (1000, 2000)))
    # A bad pixel is a bad pixel whatever its time; a good pixel with a bad time is late.
    assert kernel.rejected.pixel_out_of_range == 3
    assert kernel.rejected.time_out_of_range == 3
    with pytest.raises(ValueError, match="time of arrival"):
        kernel.add(out, ids)


def test_negative_time_windows_and_hostile_times() -> None:
    table = np.zeros(1000, dtype=np.int64)
    toa = np.array([-(2**31), -5, -4, 0, 2**31 - 1], dtype=np.int32)
    kernel = MappedPixelCounts(PixelRange(50, 1000), table, 1, time_window=(-5, 1))
    out = np.zeros(1, dtype=np.int64)
    kernel.add(out, np.full(5, 60, dtype=np.int32), toa)
    assert out[0] == 3


def test_large_and_small_views_agree_across_calls() -> None:
    rng = np.random.default_rng(3)
    for n_bins in (100, 100_000):
        table = rng.integers(0, n_bins, 1000)
        kernel = MappedPixelCounts(PixelRange(50, 1000), table, n_bins)
        out = np.zeros(n_bins, dtype=np.int64)
        expected = np.zeros(n_bins)
        for size in (0, 1, 70_000, 200_000):  # empty, tiny, several chunks
            ids = rng.integers(40, 1060, size).astype(np.int32)
            kernel.add(out, ids)
            expected += (
                reference(ids, table, n_bins)
                if size < 100
                else np.bincount(table[ids[(ids >= 50) & (ids < 1050)] - 50], minlength=n_bins)
            )
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("n_events", [500, 5000])  # a lookup per event; pixels first
def test_weights_and_their_squares(n_events: int) -> None:
    rng = np.random.default_rng(4)
    table = rng.integers(0, 6, 1000)
    weights = rng.uniform(0.5, 2.0, 1000)
    ids = np.concatenate([rng.integers(50, 1050, n_events), HOSTILE]).astype(np.int32)
    kernel = MappedPixelCounts(PixelRange(50, 1000), table, 5, weights=weights)
    out, squared = np.zeros(5), np.zeros(5)
    added = kernel.add_weighted(out, squared, ids)
    # Weights are kept to float32 precision.
    np.testing.assert_allclose(out, reference(ids, table, 5, weights=weights), rtol=1e-6)
    np.testing.assert_allclose(squared, reference(ids, table, 5, weights=weights**2), rtol=1e-6)
    assert added == reference(ids, table, 5).sum()
    assert kernel.rejected.pixel_out_of_range == len(HOSTILE)
    assert kernel.add_weighted(out, squared, np.zeros(0, dtype=np.int32)) == 0


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((np.zeros(5, dtype=int), 3), {}, "one integer bin per pixel"),
        ((np.zeros(1000), 3), {}, "one integer bin per pixel"),
        ((np.full(1000, 4), 3), {}, r"\[0, 3\]"),
        ((np.full(1000, -1), 3), {}, r"\[0, 3\]"),
        ((np.zeros(1000, dtype=int), 0), {}, "bins"),
        ((np.zeros(1000, dtype=int), 3), {"weights": np.full(1000, np.inf)}, "finite weight"),
        ((np.zeros(1000, dtype=int), 3), {"weights": np.full(1000, 1e31)}, "within"),
        ((np.zeros(1000, dtype=int), 3), {"time_window": (5, 5)}, "time window"),
    ],
)
def test_bad_tables_are_refused(args, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        MappedPixelCounts(PixelRange(50, 1000), *args, **kwargs)


def test_wrong_histograms_and_event_types_are_refused() -> None:
    kernel = MappedPixelCounts(PixelRange(50, 1000), np.zeros(1000, dtype=int), 3)
    ids = np.array([50], dtype=np.int32)
    with pytest.raises(ValueError, match="int64"):
        kernel.add(np.zeros(3), ids)
    with pytest.raises(TypeError, match="32 bits"):
        kernel.add(np.zeros(3, dtype=np.int64), ids.astype(np.int64))
    with pytest.raises(ValueError, match="no weights"):
        kernel.add_weighted(np.zeros(3), np.zeros(3), ids)


@pytest.mark.parametrize("pixels_first", [False, True])
def test_time_window_in_both_ways(pixels_first: bool) -> None:
    rng = np.random.default_rng(8)
    n_events = 3000 if pixels_first else 100
    assert (n_events >= PIXELS_FIRST_EVENTS_PER_PIXEL * 1000) is pixels_first
    table = rng.integers(0, 11, 1000)
    ids = np.concatenate([rng.integers(50, 1050, n_events), HOSTILE]).astype(np.int32)
    toa = rng.integers(0, 3000, len(ids)).astype(np.int32)
    kernel = MappedPixelCounts(PixelRange(50, 1000), table, 10, time_window=(1000, 2000))
    out = np.zeros(10, dtype=np.int64)
    added = kernel.add(out, ids, toa)
    expected = reference(ids, table, 10, toa, (1000, 2000))
    np.testing.assert_array_equal(out, expected)
    assert added == expected.sum()
    valid = (ids >= 50) & (ids < 1050)
    late = (toa < 1000) | (toa >= 2000)
    assert kernel.rejected.pixel_out_of_range == (~valid).sum()
    assert kernel.rejected.time_out_of_range == (valid & late).sum()


@pytest.mark.parametrize("first", [50, 50_000, 0])
@pytest.mark.parametrize("window", [None, (1000, 2000)])
def test_straw_views_are_exact(first: int, window) -> None:
    """LoKI-like straws: 4 layers summed, so bin = pixel % (n / 4), across chunks."""
    rng = np.random.default_rng(first)
    n_pixels, n_bins = 40_000, 10_000
    table = np.arange(n_pixels) % n_bins
    kernel = MappedPixelCounts(PixelRange(first, n_pixels), table, n_bins, time_window=window)
    n = CHUNK_EVENTS + 10  # several chunks, too few events per pixel for pixels first
    assert n < PIXELS_FIRST_EVENTS_PER_PIXEL * n_pixels
    ids = rng.integers(first - 20, first + n_pixels + 20, n).astype(np.int32)
    ids[:6] = [0, -1, 2**31 - 1, -(2**31), first - 1, first + n_pixels]
    toa = rng.integers(0, 3000, n).astype(np.int32)
    out = np.zeros(n_bins, dtype=np.int64)
    added = kernel.add(out, ids, toa)
    p = ids.astype(np.int64) - first
    valid = (p >= 0) & (p < n_pixels)
    ok = valid if window is None else valid & (toa >= window[0]) & (toa < window[1])
    np.testing.assert_array_equal(out, np.bincount(p[ok] % n_bins, minlength=n_bins))
    assert added == ok.sum()
    assert kernel.rejected.pixel_out_of_range == (~valid).sum()
    assert kernel.rejected.time_out_of_range == (valid & ~ok).sum()


def test_views_agree_whatever_their_bin_order() -> None:
    """The same view, once in order and once with its bins shuffled, over calls with
    many events per pixel and with few."""
    rng = np.random.default_rng(12)
    n_pixels, n_bins = 800, 200
    periodic = np.arange(n_pixels) % n_bins
    shuffle = rng.permutation(n_bins)
    ids = rng.integers(0, 1100, 3 * CHUNK_EVENTS).astype(np.int32)
    results = []
    for table in (periodic, shuffle[periodic]):
        kernel = MappedPixelCounts(PixelRange(100, n_pixels), table, n_bins)
        out = np.zeros(n_bins, dtype=np.int64)
        kernel.add(out, ids)  # pixels first
        kernel.add(out, ids[:1000])  # a lookup per event
        results.append(out)
    every = np.concatenate([ids, ids[:1000]])
    valid = every[(every >= 100) & (every < 100 + n_pixels)] - 100
    np.testing.assert_array_equal(results[0], np.bincount(valid % n_bins, minlength=n_bins))
    np.testing.assert_array_equal(results[1][shuffle], results[0])


@pytest.mark.parametrize("first", [-5, 0, 3])
def test_unsigned_ids_never_wrap_onto_the_bank(first: int) -> None:
    """As int32, 2**32 - 3 reads as -3: inside a bank starting at -5, but not an id of it."""
    table = np.arange(10) % 3
    ids = np.array([2**32 - 3, 2**31, first + 6, first + 9], dtype=np.uint32)
    for n_events in (1, 30):  # a lookup per event; pixels first
        kernel = MappedPixelCounts(PixelRange(first, 10), table[::-1].copy(), 3)
        out = np.zeros(3, dtype=np.int64)
        batch = np.resize(ids, 4 * n_events)
        assert kernel.add(out, batch) == 2 * n_events
        assert kernel.rejected.pixel_out_of_range == 2 * n_events


@pytest.mark.parametrize("order", ["native", "swapped", "read-only"])
def test_weighted_lookup_with_a_window_for_every_kind_of_array(order: str) -> None:
    """A lookup per event (few events per pixel) with weights, a time window, hostile
    ids, pixels left out of the view; ev44's read-only arrays and another byte order."""
    rng = np.random.default_rng(15)
    table = rng.integers(0, 6, 1000)  # 5: left out of a 5-bin view
    weights = rng.uniform(-2.0, 2.0, 1000)
    ids = np.concatenate([rng.integers(50, 1050, 400), HOSTILE]).astype(np.int32)
    toa = rng.integers(0, 3000, len(ids)).astype(np.int32)
    assert len(ids) < PIXELS_FIRST_EVENTS_PER_PIXEL * 1000
    if order == "swapped":
        arrays = [a.astype(a.dtype.newbyteorder("S")) for a in (ids, toa)]
    elif order == "read-only":
        arrays = [np.frombuffer(a.tobytes(), dtype=a.dtype) for a in (ids, toa)]
    else:
        arrays = [ids, toa]
    window = (1000, 2000)
    kernel = MappedPixelCounts(PixelRange(50, 1000), table, 5, time_window=window, weights=weights)
    out, squared = np.zeros(5), np.zeros(5)
    added = kernel.add_weighted(out, squared, *arrays)
    w32 = weights.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(out, reference(ids, table, 5, toa, window, w32), rtol=1e-12)
    np.testing.assert_allclose(squared, reference(ids, table, 5, toa, window, w32**2), rtol=1e-12)
    assert added == reference(ids, table, 5, toa, window).sum()
    valid = (ids >= 50) & (ids < 1050)
    late = (toa < window[0]) | (toa >= window[1])
    assert kernel.rejected.pixel_out_of_range == (~valid).sum()
    assert kernel.rejected.time_out_of_range == (valid & late).sum()
    counted = MappedPixelCounts(PixelRange(50, 1000), table, 5, time_window=window)
    counts = np.zeros(5, dtype=np.int64)
    assert counted.add(counts, *arrays) == added
    np.testing.assert_array_equal(counts, reference(ids, table, 5, toa, window))


@pytest.mark.parametrize("kernel_kind", ["view", "weighted view", "image"])
def test_a_window_needs_times_in_every_part(kernel_kind: str) -> None:
    """A part without times is refused before anything is counted (not filtered on its
    ids as if they were times)."""
    ids = np.array([50, 51, 52], dtype=np.int32)
    toa = np.array([1, 2, 3], dtype=np.int32)
    table = np.arange(1000) % 3
    if kernel_kind == "image":
        kernel = PixelCounts(PixelRange(50, 1000), time_window=(0, 5))
        out = np.zeros(1000, dtype=np.int64)
        add = lambda *events: kernel.add(out, *events)  # noqa: E731
    elif kernel_kind == "view":
        kernel = MappedPixelCounts(PixelRange(50, 1000), table, 3, time_window=(0, 5))
        out = np.zeros(3, dtype=np.int64)
        add = lambda *events: kernel.add(out, *events)  # noqa: E731
    else:
        weights = np.ones(1000)
        kernel = MappedPixelCounts(
            PixelRange(50, 1000), table, 3, time_window=(0, 5), weights=weights
        )
        out, squared = np.zeros(3), np.zeros(3)
        add = lambda *events: kernel.add_weighted(out, squared, *events)  # noqa: E731
    with pytest.raises(ValueError, match="time of arrival"):
        add([ids, ids], [toa, None])
    with pytest.raises(ValueError, match="time of arrival"):
        add(ids)
    assert not out.any()
    assert kernel.rejected.total == 0


@pytest.mark.parametrize("id_dtype", [np.int8, np.uint8, np.int16, np.uint16, np.uint32])
@pytest.mark.parametrize("time_dtype", [np.int8, np.uint16, np.uint32, np.int32])
def test_views_of_every_id_and_time_width_and_a_window_over_all_of_int32(
    id_dtype, time_dtype
) -> None:
    """Narrow and unsigned ids and times, and a window of width 2**32 (every int32 time
    inside; uint32 times of 2**31 and more outside it, as for the image)."""
    rng = np.random.default_rng(16)
    info = np.iinfo(id_dtype)
    first = max(int(info.min), -20) + 5
    n_pixels = min(int(info.max) - first - 5, 100)
    table = rng.integers(0, 8, n_pixels)  # 7: left out of the 7-bin view
    ids = rng.integers(max(int(info.min), first - 5), first + n_pixels + 5, 500)
    ids = ids.astype(id_dtype)
    tinfo = np.iinfo(time_dtype)
    toa = rng.integers(int(tinfo.min), int(tinfo.max) + 1, 500, dtype=np.int64)
    toa = toa.astype(time_dtype)
    for window in ((-(2**31), 2**31), (0, 50)):
        kernel = MappedPixelCounts(PixelRange(first, n_pixels), table, 7, time_window=window)
        image = PixelCounts(PixelRange(first, n_pixels), time_window=window)
        out = np.zeros(7, dtype=np.int64)
        per_pixel = np.zeros(n_pixels, dtype=np.int64)
        added = kernel.add(out, ids, toa)
        image.add(per_pixel, ids, toa)
        p = ids.astype(np.int64) - first
        valid = (p >= 0) & (p < n_pixels)
        t = toa.astype(np.int64)
        ok = valid & (t >= window[0]) & (t < window[1])
        in_view = ok.copy()
        in_view[ok] = table[p[ok]] < 7
        expected = np.bincount(table[p[in_view]], minlength=7)
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_array_equal(per_pixel, np.bincount(p[ok], minlength=n_pixels))
        assert added == in_view.sum()
        assert kernel.rejected.pixel_out_of_range == (~valid).sum()
        assert kernel.rejected.time_out_of_range == (valid & ~ok).sum()
        assert image.rejected == kernel.rejected
