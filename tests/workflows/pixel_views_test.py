"""Logical views: fold, select, sum over, downsample; each checked against numpy on the
per-pixel counts of the same events."""

from dataclasses import dataclass

import numpy as np
import pytest

from livedata.workflows.histogram import PixelRange
from livedata.workflows.mapped_counts import MappedPixelCounts
from livedata.workflows.pixel_views import LogicalView, identity_view, logical_view


@dataclass(frozen=True)
class Layout:
    shape: tuple[int, ...] = (4, 6, 10)
    dims: tuple[str, ...] = ("layer", "tube", "pixel")
    first_pixel_id: int = 100


LAYOUT = Layout()
N_PIXELS = 240


def per_pixel_counts(rng: np.random.Generator, n_events: int) -> tuple[np.ndarray, np.ndarray]:
    """Events on valid pixels (and a few bad ids), and their counts per pixel."""
    ids = rng.integers(100, 100 + N_PIXELS, n_events).astype(np.int32)
    ids[::97] = -5  # not in the bank: in no view
    counts = np.bincount(ids[ids >= 100] - 100, minlength=N_PIXELS)
    return ids, counts


def histogram(view, ids) -> np.ndarray:
    kernel = MappedPixelCounts(
        PixelRange(view.first_pixel_id, view.n_pixels), view.bin_of_pixel, view.n_bins
    )
    out = np.zeros(view.n_bins, dtype=np.int64)
    kernel.add(out, ids)
    return out.reshape(view.shape)


@pytest.mark.parametrize(
    ("view", "reference"),
    [
        (LogicalView(), lambda c: c.reshape(4, 6, 10)),
        (
            LogicalView(fold=(("layer", 4), ("row", 60))),
            lambda c: c.reshape(4, 60),
        ),
        (
            LogicalView(fold=(("layer", 4), ("row", -1))),
            lambda c: c.reshape(4, 60),
        ),
        (
            LogicalView(select=(("layer", 0, 1),), sum_over=("layer",)),
            lambda c: c.reshape(4, 6, 10)[0],
        ),
        (
            LogicalView(select=(("tube", 2, 5), ("pixel", 3, 9))),
            lambda c: c.reshape(4, 6, 10)[:, 2:5, 3:9],
        ),
        (
            LogicalView(sum_over=("pixel",)),
            lambda c: c.reshape(4, 6, 10).sum(axis=2),
        ),
        (
            LogicalView(downsample=(("pixel", 5), ("tube", 2))),
            lambda c: c.reshape(4, 3, 2, 2, 5).sum(axis=(2, 4)),
        ),
        (
            # An incomplete last block is kept: 10 pixels by 4 is 4 + 4 + 2.
            LogicalView(downsample=(("pixel", 4),)),
            lambda c: np.stack(
                [
                    c.reshape(4, 6, 10)[..., s].sum(axis=-1)
                    for s in (slice(0, 4), slice(4, 8), slice(8, 10))
                ],
                axis=-1,
            ),
        ),
        (
            LogicalView(
                fold=(("layer", 4), ("row", 60)),
                select=(("row", 10, 50),),
                sum_over=("layer",),
                downsample=(("row", 8),),
            ),
            lambda c: c.reshape(4, 60)[:, 10:50].sum(axis=0).reshape(5, 8).sum(axis=1),
        ),
    ],
)
def test_views_match_numpy_on_the_per_pixel_counts(view, reference) -> None:
    ids, counts = per_pixel_counts(np.random.default_rng(1), 5000)
    pixel_view = logical_view(LAYOUT, view)
    expected = reference(counts)
    assert pixel_view.shape == expected.shape
    assert pixel_view.dims == view.output_dims(LAYOUT)
    assert pixel_view.shape == view.output_shape(LAYOUT)
    np.testing.assert_array_equal(histogram(pixel_view, ids), expected)
    # Pixels per bin: the same view of a detector with one count per pixel.
    np.testing.assert_array_equal(
        pixel_view.pixels_per_bin.reshape(expected.shape), reference(np.ones(N_PIXELS, dtype=int))
    )


def test_views_without_select_keep_every_event() -> None:
    ids, counts = per_pixel_counts(np.random.default_rng(2), 3000)
    for view in (LogicalView(sum_over=("layer", "tube")), LogicalView(downsample=(("tube", 4),))):
        assert histogram(logical_view(LAYOUT, view), ids).sum() == counts.sum()


def test_index_coords_count_bins() -> None:
    view = logical_view(LAYOUT, LogicalView(sum_over=("layer",), downsample=(("pixel", 3),)))
    assert view.dims == ("tube", "pixel")
    np.testing.assert_array_equal(view.coords["pixel"].values, [0, 1, 2, 3])
    assert view.coords["pixel"].unit is None
    template = LogicalView(sum_over=("layer",)).template(LAYOUT)
    assert template.dims == ("tube", "pixel")
    assert template.sizes == {"tube": 0, "pixel": 0}


def test_identity_view() -> None:
    view = identity_view(LAYOUT)
    assert view.is_identity
    assert (view.dims, view.shape, view.n_pixels) == (LAYOUT.dims, LAYOUT.shape, N_PIXELS)


@pytest.mark.parametrize(
    ("view", "message"),
    [
        (LogicalView(fold=(("a", 7), ("b", 10))), "does not hold"),
        (LogicalView(fold=(("a", -1), ("b", 7))), "does not hold"),
        (LogicalView(fold=(("a", 24), ("a", 10))), "distinct"),
        (LogicalView(select=(("nope", 0, 1),)), "not in"),
        (LogicalView(select=(("tube", 3, 3),)), "empty"),
        (LogicalView(select=(("tube", 0, 7),)), "beyond"),
        (LogicalView(downsample=(("tube", 0),)), "downsample"),
        (LogicalView(sum_over=("layer", "tube", "pixel")), "at least one"),
        (LogicalView(sum_over=("tube", "tube")), "twice"),
    ],
)
def test_bad_views_are_refused(view, message) -> None:
    with pytest.raises(ValueError, match=message):
        logical_view(LAYOUT, view)
