"""The view kernel: exact counts through a pixel -> bin table, bounds checks, weights."""

import numpy as np
import pytest

from livedata.workflows.histogram import PixelRange
from livedata.workflows.mapped_counts import UINT16_BINS, MappedPixelCounts

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


@pytest.mark.parametrize("n_bins", [7, 40_000, UINT16_BINS, UINT16_BINS + 1])
def test_counts_match_a_per_event_loop(n_bins: int) -> None:
    rng = np.random.default_rng(n_bins)
    table = rng.integers(0, n_bins + 1, 1000)  # n_bins: the pixel is not in the view
    ids = np.concatenate([rng.integers(50, 1050, 3000), HOSTILE]).astype(np.int32)
    kernel = MappedPixelCounts(PixelRange(50, 1000), table, n_bins)
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


def test_weights_and_their_squares() -> None:
    rng = np.random.default_rng(4)
    table = rng.integers(0, 6, 1000)
    weights = rng.uniform(0.5, 2.0, 1000)
    ids = np.concatenate([rng.integers(50, 1050, 500), HOSTILE]).astype(np.int32)
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
