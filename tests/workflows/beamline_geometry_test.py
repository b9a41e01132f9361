"""BeamlineGeometry: flight paths and angles of hand-placed pixels."""

import math

import numpy as np
import pytest

from livedata.workflows.geometry import BeamlineGeometry


def geometry(pixels, **kwargs) -> BeamlineGeometry:
    return BeamlineGeometry(
        source_position=np.array([0.0, 0.0, -20.0]),
        sample_position=np.zeros(3),
        pixel_positions=np.asarray(pixels, dtype=np.float64),
        **kwargs,
    )


def test_flight_paths_and_angles() -> None:
    g = geometry(
        [[0, 0, 2], [1, 0, 1], [0, -3, 0], [0, 0, -1], [1, 1, 0]],
        monitor_positions={"m": np.array([0.0, 0.0, -5.0])},
        first_pixel_id=7,
    )
    assert g.n_pixels == 5
    assert g.first_pixel_id == 7
    assert g.l1 == 20.0
    np.testing.assert_allclose(g.l2, [2, math.sqrt(2), 3, 1, math.sqrt(2)])
    np.testing.assert_allclose(g.flight_path, 20 + g.l2)
    np.testing.assert_allclose(np.degrees(g.two_theta), [0, 45, 90, 180, 90], atol=1e-12)
    np.testing.assert_allclose(np.degrees(g.azimuth[1:3]), [0, -90], atol=1e-12)
    np.testing.assert_allclose(np.degrees(g.azimuth[4]), 45)
    np.testing.assert_allclose(g.beam_direction, [0, 0, 1])
    assert g.monitor_flight_path("m") == 15.0
    with pytest.raises(KeyError, match="known"):
        g.monitor_flight_path("other")


def test_the_beam_need_not_run_along_z() -> None:
    g = BeamlineGeometry(
        source_position=np.array([-10.0, 0.0, 0.0]),
        sample_position=np.array([0.0, 0.0, 0.0]),
        pixel_positions=np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]),
    )
    np.testing.assert_allclose(np.degrees(g.two_theta), [0, 45])


def test_arrays_are_read_only_and_shared() -> None:
    pixels = np.array([[0.0, 0.0, 1.0]])
    pixels.flags.writeable = False
    g = geometry(pixels)
    assert g.pixel_positions is pixels  # a read-only array is kept, not copied
    for array in (g.pixel_positions, g.source_position, g.l2, g.two_theta):
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 0
    writable = np.array([[0.0, 0.0, 1.0]])
    copy = geometry(writable)
    writable[0, 2] = 5.0
    assert copy.pixel_positions[0, 2] == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pixel_positions": np.zeros((2, 2))},
        {"source_position": np.array([0.0, 0.0])},
        {"source_position": np.array([0.0, np.nan, -1.0])},
        {"source_position": np.zeros(3)},  # on the sample
    ],
)
def test_bad_input_is_refused(kwargs) -> None:
    args = {
        "source_position": np.array([0.0, 0.0, -1.0]),
        "sample_position": np.zeros(3),
        "pixel_positions": np.zeros((1, 3)),
        **kwargs,
    }
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        BeamlineGeometry(**args)
