"""Synthetic geometry generators: exact pixel counts, positions where declared, order."""

import math

import numpy as np
import pytest

from livedata.config.geometry import CylinderMantle, EndCap, FlatBank, TubeArcs, rotation
from livedata.config.registry import load_instrument


def test_flat_bank_is_a_centred_grid_in_pixel_id_order() -> None:
    bank = FlatBank(center=(0.1, -0.2, 5.0), roles=("y", "x"), pitch=(0.01, 0.02, 0.0))
    pos = bank.positions((3, 4))
    assert pos.shape == (12, 3)
    assert pos.dtype == np.float64
    assert pos.flags.c_contiguous
    grid = pos.reshape(3, 4, 3)
    # The last dim runs along x, the first along y, both centred on the centre.
    np.testing.assert_allclose(np.diff(grid[..., 0], axis=1), 0.01)
    np.testing.assert_allclose(np.diff(grid[..., 1], axis=0), 0.02)
    np.testing.assert_allclose(pos.mean(axis=0), (0.1, -0.2, 5.0))
    np.testing.assert_allclose(pos[:, 2], 5.0)


def test_dims_sharing_a_role_combine_row_major() -> None:
    # (tube, straw) both vertical: row = tube * 7 + straw.
    bank = FlatBank(center=(0, 0, 2.0), roles=("y", "y", "x"), pitch=(0.1, 0.01, 0))
    y = bank.positions((3, 7, 2))[:, 1].reshape(3, 7, 2)
    rows = np.round((y - y.min()) / 0.01).astype(int)
    np.testing.assert_array_equal(rows[:, :, 0], np.arange(21).reshape(3, 7))


def test_layers_go_away_from_the_sample_along_the_turned_normal() -> None:
    bank = FlatBank(
        center=(1.0, 0.0, 1.0), roles=("depth", "x"), pitch=(0.01, 0, 0.05), yaw_deg=45.0
    )
    pos = bank.positions((2, 3)).reshape(2, 3, 3)
    step = pos[1, 1] - pos[0, 1]
    np.testing.assert_allclose(step, 0.05 * np.array([math.sqrt(0.5), 0, math.sqrt(0.5)]))
    np.testing.assert_allclose(pos[0, 1], (1.0, 0.0, 1.0))


def test_rotation_turns_the_normal_as_documented() -> None:
    np.testing.assert_allclose(rotation(yaw_deg=90) @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(rotation(tilt_deg=90) @ [0, 0, 1], [0, 1, 0], atol=1e-12)
    r = rotation(yaw_deg=30, tilt_deg=-20)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)


def test_cylinder_mantle_puts_pixels_on_its_cylinder() -> None:
    mantle = CylinderMantle(
        radius=1.1,
        phi_range_deg=(-90, 90),
        z_range=(-0.5, 0.5),
        roles=("phi", "depth", "z"),
        depth_pitch=0.01,
    )
    pos = mantle.positions((6, 2, 10)).reshape(6, 2, 10, 3)
    radius = np.hypot(pos[..., 0], pos[..., 1])
    np.testing.assert_allclose(radius[:, 0], 1.1)
    np.testing.assert_allclose(radius[:, 1], 1.11)
    # Cell centres: 15 degrees wide cells from -90, 0.1 m wide cells from -0.5.
    phi = np.degrees(np.arctan2(pos[:, 0, 0, 1], pos[:, 0, 0, 0]))
    np.testing.assert_allclose(phi, [-75, -45, -15, 15, 45, 75])
    np.testing.assert_allclose(pos[0, 0, :, 2], np.linspace(-0.45, 0.45, 10))


def test_end_cap_is_an_annulus_in_its_plane() -> None:
    cap = EndCap(
        z=-1.2,
        phi_range_deg=(0, 360),
        radius_range=(0.3, 1.2),
        roles=("phi", "radius", "depth"),
        depth_pitch=0.02,
    )
    pos = cap.positions((8, 9, 2)).reshape(8, 9, 2, 3)
    radius = np.hypot(pos[..., 0], pos[..., 1])
    np.testing.assert_allclose(radius[0, :, 0], np.linspace(0.35, 1.15, 9))
    np.testing.assert_allclose(pos[..., 0, 2], -1.2)
    np.testing.assert_allclose(pos[..., 1, 2], -1.22)  # deeper is further upstream


def test_tube_arcs_place_channels_and_arcs() -> None:
    arcs = TubeArcs(
        arc_radii=(1.0, 1.5),
        channel_two_theta_deg=(30.0, 60.0, 90.0),
        channel_width_deg=6.0,
        tube_pitch=0.03,
        height=-0.3,
    )
    pos = arcs.positions((2, 3, 3, 4)).reshape(2, 3, 3, 4, 3)
    np.testing.assert_allclose(pos[..., 1], -0.3)
    in_plane = np.hypot(pos[..., 0], pos[..., 2])
    np.testing.assert_allclose(in_plane[:, :, 0, 0], [[1.0, 1.03, 1.06], [1.5, 1.53, 1.56]])
    angle = np.degrees(np.arctan2(pos[0, 0, :, :, 0], pos[0, 0, :, :, 2]))
    np.testing.assert_allclose(angle.mean(axis=1), [30, 60, 90])
    np.testing.assert_allclose(angle[1], [57.75, 59.25, 60.75, 62.25])


@pytest.mark.parametrize(
    ("geometry", "shape"),
    [
        (FlatBank(center=(0, 0, 1), roles=("x",), pitch=(1, 1, 1)), (2, 2)),
        (FlatBank(center=(0, 0, 1), roles=("x", "phi"), pitch=(1, 1, 1)), (2, 2)),
        (CylinderMantle(radius=0, phi_range_deg=(0, 1), z_range=(0, 1), roles=("z",)), (2,)),
        (EndCap(z=0, phi_range_deg=(0, 1), radius_range=(0, 1), roles=("phi",)), (2,)),
        (
            TubeArcs(
                arc_radii=(1.0,),
                channel_two_theta_deg=(1.0,),
                channel_width_deg=1,
                tube_pitch=0,
                height=0,
            ),
            (2, 1, 1, 3),
        ),
    ],
)
def test_a_geometry_that_does_not_fit_the_bank_is_refused(geometry, shape) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        geometry.check(shape)
    with pytest.raises(ValueError):  # noqa: PT011
        geometry.positions(shape)


def test_positions_are_deterministic() -> None:
    dream = load_instrument("dream")
    bank = dream.detector("mantle_detector")
    assert bank.geometry is not None
    np.testing.assert_array_equal(
        bank.geometry.positions(bank.shape), bank.geometry.positions(bank.shape)
    )


def test_a_dream_sized_instrument_builds_offline() -> None:
    # Not a timing test: it only has to work, and quickly enough to run in the suite.
    dream = load_instrument("dream")
    total = 0
    for bank in dream.detectors:
        geometry = dream.geometry(bank.name)
        assert geometry.pixel_positions.shape == (bank.n_pixels, 3)
        assert np.isfinite(geometry.pixel_positions).all()
        total += bank.n_pixels
    assert total == 1_515_520
