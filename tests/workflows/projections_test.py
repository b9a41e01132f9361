"""Projections: hand-placed pixels land in the bins computed by hand."""

import numpy as np
import pydantic
import pytest

from livedata.workflows.geometry import BeamlineGeometry
from livedata.workflows.projections import (
    MAX_RESOLUTION,
    CylinderProjection,
    ProjectionParams,
    ProjectionResolution,
    XYProjection,
    axis_bins,
)


def geometry(pixels, first_pixel_id: int = 1) -> BeamlineGeometry:
    return BeamlineGeometry(
        source_position=np.array([0.0, 0.0, -10.0]),
        sample_position=np.zeros(3),
        pixel_positions=np.asarray(pixels, dtype=np.float64),
        first_pixel_id=first_pixel_id,
    )


def test_xy_bins_of_three_pixels() -> None:
    g = geometry([[-1, 0, 5], [0, 1, 5], [1, -1, 6]], first_pixel_id=40)
    view = XYProjection(rows=3, columns=3).build(g)
    assert (view.dims, view.shape, view.first_pixel_id, view.n_pixels) == (
        ("y", "x"),
        (3, 3),
        40,
        3,
    )
    # x: -1, 0, 1 in columns 0, 1, 2; y: 0, 1, -1 in rows 1, 2, 0 (flat = row * 3 + column).
    np.testing.assert_array_equal(view.bin_of_pixel, [3, 7, 2])
    np.testing.assert_allclose(view.coords["x"].values, [-1.5, -0.5, 0.5, 1.5])
    np.testing.assert_allclose(view.coords["y"].values, [-1.5, -0.5, 0.5, 1.5])
    assert view.coords["x"].unit == "m"
    np.testing.assert_array_equal(view.pixels_per_bin, [0, 0, 1, 1, 0, 0, 0, 1, 0])


def test_xy_projection_is_along_the_beam() -> None:
    # Same x, y at different z: the same bin.
    g = geometry([[0.5, 0.5, 1], [0.5, 0.5, 9], [-0.5, -0.5, 2]])
    view = XYProjection(rows=2, columns=2).build(g)
    np.testing.assert_array_equal(view.bin_of_pixel, [3, 3, 0])


def test_cylinder_bins_of_three_pixels() -> None:
    # Azimuths 0, 90 and -90 degrees; positions along the beam 0, 1, 2.
    g = geometry([[1, 0, 0], [0, 1, 1], [0, -1, 2]])
    view = CylinderProjection(rows=3, columns=3).build(g)
    assert view.dims == ("phi", "z")
    np.testing.assert_array_equal(view.bin_of_pixel, [1 * 3 + 0, 2 * 3 + 1, 0 * 3 + 2])
    np.testing.assert_allclose(view.coords["phi"].values, [-135, -45, 45, 135])
    assert view.coords["phi"].unit == "deg"
    np.testing.assert_allclose(view.coords["z"].values, [-0.5, 0.5, 1.5, 2.5])


def test_cylinder_moves_its_seam_out_of_the_detector() -> None:
    # A detector around phi = 180: -170, 180 and 170 degrees are neighbours.
    angles = np.radians([170.0, -170.0, 180.0])
    g = geometry(np.stack([np.cos(angles), np.sin(angles), np.zeros(3)], axis=1))
    view = CylinderProjection(rows=3, columns=1).build(g)
    np.testing.assert_array_equal(view.bin_of_pixel, [0, 2, 1])
    np.testing.assert_allclose(view.coords["phi"].values, [165, 175, 185, 195])


def test_default_resolution_never_exceeds_the_distinct_positions() -> None:
    # 4 columns x 3 rows of pixels; the default asks for far more bins.
    x, y = np.meshgrid(np.arange(4.0), np.arange(3.0))
    g = geometry(np.stack([x.ravel(), y.ravel(), np.full(12, 3.0)], axis=1))
    view = XYProjection(rows=100, columns=100).build(g)
    assert view.shape == (3, 4)
    np.testing.assert_array_equal(view.bin_of_pixel, np.arange(12))
    # An explicit resolution is taken as asked.
    fine = XYProjection().build(g, ProjectionResolution(rows=6, columns=5))
    assert fine.shape == (6, 5)
    # With more positions than the default, a whole number of them per bin.
    many = geometry(np.stack([np.arange(392.0), np.zeros(392), np.ones(392)], axis=1))
    assert XYProjection(rows=1, columns=256).build(many).shape == (1, 196)


def test_axis_bins_cover_every_value() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=10_000)
    edges, index = axis_bins(values, 37)
    assert index.min() >= 0
    assert index.max() == 36
    np.testing.assert_array_equal(np.bincount(index, minlength=37), np.histogram(values, edges)[0])
    one_value_edges, one_value_index = axis_bins(np.full(5, 2.0), 3)
    assert (one_value_index == 1).all()
    assert one_value_edges[0] < 2.0 < one_value_edges[-1]


def test_params_are_bounded() -> None:
    ProjectionParams.model_validate({"resolution": {"rows": 1, "columns": MAX_RESOLUTION}})
    for bad in (
        {"resolution": {"rows": 0, "columns": 10}},
        {"resolution": {"rows": 10, "columns": MAX_RESOLUTION + 1}},
        {"resolution": {"rows": 10}},
        {"resolution": {"rows": 10, "columns": 10, "depth": 2}},
        {"unknown": 1},
    ):
        with pytest.raises(pydantic.ValidationError):
            ProjectionParams.model_validate(bad)


def test_templates_have_edge_coords_with_units() -> None:
    for projection, units in ((XYProjection(), ("m", "m")), (CylinderProjection(), ("deg", "m"))):
        template = projection.template()
        assert template.dims == projection.dims
        assert template.sizes == dict.fromkeys(projection.dims, 0)
        for dim, unit in zip(projection.dims, units, strict=True):
            assert template.coords.is_edges(dim)
            assert template.coords[dim].unit == unit
