"""ROI geometry: which pixel centres each rectangle and polygon holds, and regions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livedata.core.control import Roi
from livedata.workflows.roi_geometry import (
    MAX_COORDINATE,
    POLYGON_BLOCK,
    RoiGeometryError,
    TooManyRegionsError,
    partition,
    pixel_mask,
    select_pixels,
    view_plane,
)


def rect(x0, x1, y0, y1, unit=None) -> Roi:
    return Roi(shape="rectangle", x=(x0, x1), y=(y0, y1), unit=unit)


def poly(*points, unit=None) -> Roi:
    return Roi(shape="polygon", x=tuple(p[0] for p in points), y=tuple(p[1] for p in points))


def ref_inside(roi: Roi, px: float, py: float) -> bool:
    """The scalar PNPOLY test (even-odd rule) or inclusive rectangle, on one point."""
    if roi.shape == "rectangle":
        return roi.x[0] <= px <= roi.x[1] and roi.y[0] <= py <= roi.y[1]
    inside = False
    n = len(roi.x)
    for a in range(n):
        b = (a + 1) % n
        xa, ya, xb, yb = roi.x[a], roi.y[a], roi.x[b], roi.y[b]
        if (ya > py) != (yb > py) and px < (xb - xa) * (py - ya) / (yb - ya) + xa:
            inside = not inside
    return inside


def ref_mask(roi: Roi, plane) -> np.ndarray:
    ny, nx = plane
    return np.array(
        [[ref_inside(roi, float(i), float(j)) for i in range(nx)] for j in range(ny)],
        dtype=bool,
    )


# -- rectangles --------------------------------------------------------------------


def test_rectangle_holds_centres_within_its_corners_inclusive() -> None:
    mask = pixel_mask(rect(1, 2, 0, 1), (3, 4))
    expected = np.zeros((3, 4), bool)
    expected[0:2, 1:3] = True
    np.testing.assert_array_equal(mask, expected)


def test_fractional_rectangle_rounds_inwards() -> None:
    # Centres at x = 1, 2 and y = 1 lie in [0.5, 2.5] x [0.2, 1.9].
    mask = pixel_mask(rect(0.5, 2.5, 0.2, 1.9), (3, 4))
    assert mask.sum() == 2
    assert mask[1, 1]
    assert mask[1, 2]


def test_rectangle_partly_outside_is_clipped() -> None:
    mask = pixel_mask(rect(-10, 1, 2, 99), (3, 4))
    expected = np.zeros((3, 4), bool)
    expected[2, 0:2] = True
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize(
    "roi",
    [
        rect(5, 9, 0, 2),  # right of the detector
        rect(0, 3, -5, -0.5),  # below
        rect(0.2, 0.8, 0, 2),  # between two centres
        rect(1.5, 1.5, 1.5, 1.5),  # a fractional point
        rect(-(2**31), -(2**30), 0, 0),
    ],
)
def test_rectangles_without_centres_hold_nothing(roi) -> None:
    selection = select_pixels(roi, (3, 4))
    assert selection.count == 0
    assert not selection.to_mask((3, 4)).any()


def test_a_point_rectangle_on_a_centre_holds_that_pixel() -> None:
    mask = pixel_mask(rect(2, 2, 1, 1), (3, 4))
    assert mask.sum() == 1
    assert mask[1, 2]


def test_whole_detector_rectangle() -> None:
    assert pixel_mask(rect(-1, 1e9, -1, 1e9), (5, 7)).all()


# -- polygons ----------------------------------------------------------------------


def test_triangle_by_the_even_odd_rule() -> None:
    roi = poly((0, 0), (3, 0), (3, 2))
    mask = pixel_mask(roi, (3, 4))
    # Row 0: centres 0, 1, 2 (x = 3 is on the right edge: outside); row 1: the line
    # from (0, 0) to (3, 2) passes x = 1.5, so only centre 2; row 2 is the top vertex.
    expected = np.zeros((3, 4), bool)
    expected[0, 0:3] = True
    expected[1, 2] = True
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(mask, ref_mask(roi, (3, 4)))


def test_concave_polygon() -> None:
    # A "U": the notch between x = 2 and 4 above y = 2 is outside.
    roi = poly((0, 0), (6, 0), (6, 5), (4, 5), (4, 2), (2, 2), (2, 5), (0, 5))
    mask = pixel_mask(roi, (7, 8))
    np.testing.assert_array_equal(mask, ref_mask(roi, (7, 8)))
    assert mask[1, 3]  # the U's base
    assert not mask[3, 3]  # the notch
    assert mask[3, 1]
    assert mask[3, 5]
    assert not mask[:, 6:].any()  # x = 6 is the right edge


def test_self_intersecting_polygon_follows_even_odd() -> None:
    bowtie = poly((0, 0), (6, 6), (6, 0), (0, 6))
    np.testing.assert_array_equal(pixel_mask(bowtie, (8, 8)), ref_mask(bowtie, (8, 8)))


def test_adjacent_polygons_never_share_a_pixel() -> None:
    left = poly((0, 0), (3, 0), (3, 4), (0, 4))
    right = poly((3, 0), (6, 0), (6, 4), (3, 4))
    a, b = pixel_mask(left, (5, 7)), pixel_mask(right, (5, 7))
    assert not (a & b).any()
    assert (a | b)[0:4, 0:6].all()


@pytest.mark.parametrize(
    "roi",
    [
        poly((0, 0), (2, 2), (4, 4)),  # colinear: no area
        poly((1, 1), (1, 1), (1, 1)),
        poly((0, 1), (5, 1), (3, 1)),  # horizontal line
        poly((10, 10), (20, 10), (20, 20)),  # beyond the detector
        poly((-5, -5), (-1, -5), (-1, -1)),
        poly((0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)),  # between centres
    ],
)
def test_degenerate_or_outside_polygons_hold_nothing(roi) -> None:
    assert not pixel_mask(roi, (6, 6)).any()


def test_polygon_partly_outside_is_clipped() -> None:
    roi = poly((-3, -3), (10, -1), (2, 12))
    np.testing.assert_array_equal(pixel_mask(roi, (6, 5)), ref_mask(roi, (6, 5)))
    assert pixel_mask(roi, (6, 5)).any()


coordinate = st.floats(-3, 12, allow_nan=False).map(lambda v: round(v * 4) / 4)


@settings(max_examples=200, deadline=None)
@given(
    points=st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=12),
    ny=st.integers(1, 10),
    nx=st.integers(1, 10),
)
def test_polygon_matches_the_scalar_test(points, ny, nx) -> None:
    # Quarter-pixel vertices put many centres exactly on edges and vertices.
    roi = poly(*points)
    np.testing.assert_array_equal(pixel_mask(roi, (ny, nx)), ref_mask(roi, (ny, nx)))


def test_random_float_polygons_match_the_scalar_test() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        n = int(rng.integers(3, 30))
        roi = poly(*zip(rng.uniform(-5, 25, n), rng.uniform(-5, 25, n), strict=True))
        np.testing.assert_array_equal(pixel_mask(roi, (20, 22)), ref_mask(roi, (20, 22)))


def test_large_polygon_is_scanned_in_bounded_blocks() -> None:
    # 1024 vertices on a circle over a plane whose rows x columns exceed one block.
    angle = np.linspace(0, 2 * np.pi, 1024, endpoint=False)
    roi = poly(*zip(600 + 590 * np.cos(angle), 600 + 590 * np.sin(angle), strict=True))
    plane = (1200, 1300)
    assert plane[0] * plane[1] > POLYGON_BLOCK
    mask = pixel_mask(roi, plane)
    # A fine polygon approximates the disc: compare with the disc away from its rim.
    j, i = np.mgrid[0 : plane[0], 0 : plane[1]]
    r = np.hypot(i - 600, j - 600)
    assert mask[r < 588].all()
    assert not mask[r > 591].any()
    # And exactly the scalar rule on a sample of rows.
    for row in (10, 600):
        expected = [ref_inside(roi, float(x), float(row)) for x in range(plane[1])]
        np.testing.assert_array_equal(mask[row], expected)


# -- refused geometry --------------------------------------------------------------


@pytest.mark.parametrize(
    ("roi", "message"),
    [
        (rect(0, 1, 0, 1, unit="mm"), "not supported"),
        (Roi(shape="polygon", x=(0, 1, 2), y=(0, 1, 2), unit="m"), "not supported"),
        (rect(0, float("inf"), 0, 1), "finite"),
        (rect(0, float("nan"), 0, 1), "finite"),
        (rect(0, 2 * MAX_COORDINATE, 0, 1), "within"),
        (rect(2, 1, 0, 1), "min corner"),
        (Roi(shape="rectangle", x=(0, 1, 2), y=(0, 1, 2)), "two points"),
        (Roi(shape="polygon", x=(0, 1), y=(0, 1)), "3 vertices"),
        (Roi(shape="polygon", x=(0, 1, 2), y=(0, 1)), "x but"),
    ],
)
def test_refuses_what_it_cannot_apply(roi, message) -> None:
    with pytest.raises(RoiGeometryError, match=message):
        select_pixels(roi, (4, 4))


def test_view_plane_is_the_last_two_dims() -> None:
    assert view_plane((3, 4)) == (3, 4)
    assert view_plane((2, 3, 4)) == (3, 4)
    assert view_plane((5,)) == (1, 5)
    with pytest.raises(ValueError, match="at least one dim"):
        view_plane(())


# -- regions -----------------------------------------------------------------------


def members_per_pixel(part, n_rois: int) -> np.ndarray:
    """Per pixel, the boolean vector of ROIs its region lies in."""
    table = np.zeros((part.n_regions + 1, n_rois), bool)
    for region, rois in enumerate(part.members):
        table[region, list(rois)] = True
    return table[part.labels]


def test_overlapping_rois_split_into_disjoint_regions() -> None:
    plane = (6, 8)
    rois = [rect(0, 4, 0, 3), rect(2, 6, 1, 5), poly((1, 0), (7, 0), (7, 6))]
    selections = [select_pixels(r, plane) for r in rois]
    part = partition(selections, plane, max_regions=100)
    masks = np.stack([s.to_mask(plane) for s in selections], axis=-1)
    np.testing.assert_array_equal(members_per_pixel(part, 3), masks)
    # No region is empty, and each set of ROIs has one region.
    assert np.bincount(part.labels.ravel(), minlength=part.n_regions + 1)[:-1].all()
    assert len(set(part.members)) == part.n_regions


def test_no_rois_or_empty_rois_make_no_region() -> None:
    assert partition([], (3, 4), max_regions=1).n_regions == 0
    empty = select_pixels(rect(9, 10, 9, 10), (3, 4))
    part = partition([empty], (3, 4), max_regions=1)
    assert part.n_regions == 0
    assert (part.labels == 0).all()


def test_identical_rois_share_one_region() -> None:
    plane = (4, 4)
    selections = [select_pixels(rect(0, 1, 0, 1), plane)] * 5
    part = partition(selections, plane, max_regions=1)
    assert part.members == ((0, 1, 2, 3, 4),)


def test_too_many_regions_are_refused() -> None:
    plane = (40, 40)
    # A staircase of overlapping rectangles: each adds two regions.
    selections = [select_pixels(rect(i, i + 5, i, i + 5), plane) for i in range(30)]
    with pytest.raises(TooManyRegionsError):
        partition(selections, plane, max_regions=20)
    assert partition(selections, plane, max_regions=1000).n_regions > 20
