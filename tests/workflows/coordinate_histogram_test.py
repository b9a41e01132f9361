"""Coordinate kernel: exact against an independent reference, exact edges, hostile input."""

import numpy as np
import pytest

from livedata.workflows.coordinate_bins import CoordinateBins
from livedata.workflows.coordinate_histogram import CHUNK_EVENTS, CoordinateHistogram, Gate
from livedata.workflows.histogram import PixelRange

FIRST = 7
N_PIXELS = 500


def reference(
    bins, factor, exponent, toa, pixel_id, offset, gate=None, clamp=False
) -> tuple[np.ndarray, int, int]:
    """Counts by ``np.searchsorted`` on the published edges, from x computed in float64
    with the kernel's float32 factors; and the expected rejects (bad pixel, outside)."""
    edges = bins.edges()
    t = toa.astype(np.float64) - offset
    if clamp:
        t = np.maximum(t, 0.5)
    if pixel_id is None:
        valid = np.ones(len(toa), dtype=bool)
        f = np.full(len(toa), float(factor))
        g = None if gate is None else np.full(len(toa), float(gate.factor))
    else:
        index = pixel_id.astype(np.int64) - FIRST
        valid = (index >= 0) & (index < N_PIXELS)
        safe = np.where(valid, index, 0)
        f = np.asarray(factor, dtype=np.float32).astype(np.float64)[safe]
        g = None if gate is None else np.asarray(gate.factor, np.float32).astype(float)[safe]
    x = f * t if exponent == 1 else f / t
    keep = valid & (x >= edges[0]) & (x < edges[-1])
    if gate is not None:
        wavelength = g * t
        keep &= (wavelength >= gate.low) & (wavelength < gate.high)
    counts = np.bincount(np.searchsorted(edges, x[keep], side="right") - 1, minlength=bins.count)
    return counts, int((~valid).sum()), int((valid & ~keep).sum())


def hostile_events(rng, n):
    toa = rng.integers(-1_000, 80_000, n).astype(np.int32)
    toa[:4] = [np.iinfo(np.int32).min, np.iinfo(np.int32).max, 0, 3]
    pixel_id = rng.integers(FIRST - 20, FIRST + N_PIXELS + 20, n).astype(np.int32)
    pixel_id[4:8] = [-1, 2**31 - 1, -(2**31), 0]
    return toa, pixel_id


@pytest.mark.parametrize("scale", ["linear", "log"])
@pytest.mark.parametrize("exponent", [1, -1])
@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("with_pixels", [True, False])
def test_matches_searchsorted_on_the_published_edges(scale, exponent, gated, with_pixels) -> None:
    rng = np.random.default_rng(1)
    n = 3 * CHUNK_EVENTS + 17  # several chunks and a ragged end
    toa, pixel_id = hostile_events(rng, n)
    if exponent == 1:
        bins = CoordinateBins(2.0, 40_000.0, 57, scale)
        factor = rng.uniform(0.0, 1.0, N_PIXELS)
    else:
        bins = CoordinateBins(0.01, 2.0, 57, scale)
        factor = rng.uniform(0.0, 200.0, N_PIXELS)
    factor[:10] = 0.0  # excluded pixels
    gate = Gate(5.0, 30.0, rng.uniform(1e-3, 2e-3, N_PIXELS)) if gated else None
    if not with_pixels:
        factor = factor[42]
        gate = None if gate is None else Gate(gate.low, gate.high, gate.factor[42])
    kernel = CoordinateHistogram(
        bins,
        factor=factor,
        exponent=exponent,
        pixels=PixelRange(FIRST, N_PIXELS) if with_pixels else None,
        time_offset_ns=5,
        gate=gate,
    )
    out = np.zeros(bins.count, dtype=np.int64)
    added = kernel.add(out, toa, pixel_id if with_pixels else None)

    expected, bad, outside = reference(
        bins,
        factor,
        exponent,
        toa,
        pixel_id if with_pixels else None,
        5,
        gate,
        clamp=scale == "log" or exponent == -1,
    )
    np.testing.assert_array_equal(out, expected)
    assert added == expected.sum() > 0
    assert kernel.rejected.pixel_out_of_range == bad
    assert kernel.rejected.outside_range == outside
    assert added + kernel.rejected.total == n  # every event counted once, or rejected


@pytest.mark.parametrize("scale", ["linear", "log"])
@pytest.mark.parametrize("exponent", [1, -1])
def test_an_event_on_an_edge_lands_in_the_bin_it_opens(scale, exponent) -> None:
    bins = CoordinateBins(0.3, 7.0, 9, scale)
    edges = bins.edges()
    assert edges[0] == 0.3
    assert edges[-1] == 7.0
    for i, edge in enumerate(edges):
        below = np.nextafter(edge, 0.0)
        for x, expected_bin in ((edge, i), (below, i - 1)):
            # t = 1 ns, so x = factor exactly (a monitor's factor is kept in float64).
            kernel = CoordinateHistogram(bins, factor=x, exponent=exponent, time_offset_ns=-1)
            out = np.zeros(bins.count, dtype=np.int64)
            kernel.add(out, np.zeros(1, dtype=np.int32))
            if 0 <= expected_bin < bins.count:
                assert out[expected_bin] == 1, (x, expected_bin)
            else:
                assert out.sum() == 0
                assert kernel.rejected.outside_range == 1


def test_edges_exact_through_a_pixel_table() -> None:
    # Edges 0.5 apart are exact in float32, so the table holds them exactly.
    bins = CoordinateBins(1.0, 9.0, 16)
    edges = bins.edges()
    below = np.nextafter(edges[1:].astype(np.float32), np.float32(0))
    factor = np.concatenate([edges, below])
    kernel = CoordinateHistogram(bins, factor=factor, pixels=PixelRange(1, len(factor)))
    out = np.zeros(16, dtype=np.int64)
    toa = np.ones(len(factor), dtype=np.int32)
    kernel.add(out, toa, np.arange(1, len(factor) + 1, dtype=np.int32))
    # Each edge except the last opens a bin; just below each edge but the first closes one.
    np.testing.assert_array_equal(out, np.full(16, 2))
    assert kernel.rejected.outside_range == 1  # the event exactly at stop


def test_hostile_ids_cost_nothing_and_are_counted() -> None:
    bins = CoordinateBins(1.0, 2.0, 4)
    kernel = CoordinateHistogram(bins, factor=np.ones(3), pixels=PixelRange(1, 3))
    out = np.zeros(4, dtype=np.int64)
    ids = np.array([2**31 - 1, -(2**31), -1, 0, 4, 1, 2, 3], dtype=np.int32)
    toa = np.full(len(ids), 1, dtype=np.int32)
    assert kernel.add(out, toa, ids) == 3
    assert kernel.rejected.pixel_out_of_range == 5
    np.testing.assert_array_equal(out, [3, 0, 0, 0])


def test_empty_batches_add_nothing() -> None:
    kernel = CoordinateHistogram(CoordinateBins(1.0, 2.0, 4), factor=1.0)
    out = np.zeros(4, dtype=np.int64)
    assert kernel.add(out, np.empty(0, dtype=np.int32)) == 0
    assert out.sum() == 0
    assert kernel.rejected.total == 0


def test_monitor_pixel_ids_are_ignored() -> None:
    kernel = CoordinateHistogram(CoordinateBins(1.0, 2.0, 1), factor=1.0)
    out = np.zeros(1, dtype=np.int64)
    ids = np.array([2**31 - 1, -5], dtype=np.int32)
    assert kernel.add(out, np.array([1, 1], dtype=np.int32), ids) == 2


@pytest.mark.parametrize(
    ("toa", "ids", "out", "error"),
    [
        (np.zeros(2, np.int64), np.zeros(2, np.int32), np.zeros(4, np.int64), TypeError),
        (np.zeros(2, np.int32), np.zeros(2, np.float32), np.zeros(4, np.int64), TypeError),
        (np.zeros(2, np.int32), np.zeros(3, np.int32), np.zeros(4, np.int64), ValueError),
        (np.zeros(2, np.int32), np.zeros(2, np.int32), np.zeros(5, np.int64), ValueError),
        (np.zeros(2, np.int32), np.zeros(2, np.int32), np.zeros(4, np.float64), ValueError),
        (np.zeros(2, np.int32), None, np.zeros(4, np.int64), ValueError),
    ],
)
def test_bad_arrays_are_refused(toa, ids, out, error) -> None:
    kernel = CoordinateHistogram(
        CoordinateBins(1.0, 2.0, 4), factor=np.ones(3), pixels=PixelRange(1, 3)
    )
    with pytest.raises(error):
        kernel.add(out, toa, ids)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"factor": np.ones(2), "pixels": PixelRange(1, 3)},  # wrong table length
        {"factor": np.array([1.0, np.nan, 1.0]), "pixels": PixelRange(1, 3)},
        {"factor": np.array([1.0, -1.0, 1.0]), "pixels": PixelRange(1, 3)},
        {"factor": np.ones(3)},  # a table without pixels
        {"factor": 1.0, "exponent": 2},
        {"factor": 1.0, "gate": Gate(1.0, 2.0, np.ones(3))},
    ],
)
def test_bad_factors_are_refused(kwargs) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        CoordinateHistogram(CoordinateBins(1.0, 2.0, 4), **kwargs)


def test_gate_must_be_ordered_and_finite() -> None:
    with pytest.raises(ValueError, match="empty or not finite"):
        Gate(2.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="empty or not finite"):
        Gate(1.0, np.inf, 1.0)
