"""Flight paths and scattering angles from positions, checked by hand."""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pytest

from livedata.workflows.beamline import incident_beam, monitor_path, pixel_paths


@dataclass(frozen=True)
class Toy:
    source_position: np.ndarray
    sample_position: np.ndarray
    pixel_positions: np.ndarray
    monitor_positions: Mapping[str, np.ndarray] = field(default_factory=dict)


def toy(pixels, *, source=(0.0, 0.0, -20.0), sample=(0.0, 0.0, 0.0), monitors=None) -> Toy:
    return Toy(
        source_position=np.array(source),
        sample_position=np.array(sample),
        pixel_positions=np.array(pixels, dtype=float),
        monitor_positions={k: np.array(v) for k, v in (monitors or {}).items()},
    )


def test_paths_and_angles_of_hand_placed_pixels() -> None:
    paths = pixel_paths(toy([(0, 0, 5), (3, 0, 4), (0, -2, 0), (0, 1, -1), (0, 0, -3)]))
    assert paths.primary_m == 20.0
    np.testing.assert_allclose(paths.secondary_m, [5, 5, 2, math.sqrt(2), 3])
    np.testing.assert_allclose(
        np.degrees(paths.two_theta_rad), [0, math.degrees(math.atan2(3, 4)), 90, 135, 180]
    )
    np.testing.assert_allclose(paths.total_m, [25, 25, 22, 20 + math.sqrt(2), 23])


def test_small_angles_keep_their_precision() -> None:
    # 1 µrad at 10 m: sqrt(L2² - along²) would lose most digits here.
    paths = pixel_paths(toy([(1e-5, 0, 10)]))
    np.testing.assert_allclose(paths.two_theta_rad, [1e-6], rtol=1e-9)


def test_the_beam_need_not_run_along_z() -> None:
    beamline = toy([(1, 0, 0), (0, 0, 1)], source=(-10, 0, 0), sample=(0, 0, 0))
    direction, l1 = incident_beam(beamline)
    np.testing.assert_allclose(direction, [1, 0, 0])
    assert l1 == 10
    np.testing.assert_allclose(pixel_paths(beamline).two_theta_rad, [0, math.pi / 2])


def test_monitor_path_is_measured_from_the_source() -> None:
    beamline = toy([(0, 0, 1)], monitors={"m1": (0, 0, -2.5)})
    assert monitor_path(beamline, "m1") == 17.5
    with pytest.raises(KeyError, match="no position for monitor 'm2'"):
        monitor_path(beamline, "m2")


@pytest.mark.parametrize(
    ("beamline", "message"),
    [
        (toy([(0, 0, 1)], source=(0, 0, 0)), "same position"),
        (toy(np.zeros((0, 3))), r"must be \(n, 3\)"),
        (toy([(0, 0)]), r"must be \(n, 3\)"),
        (toy([(0, 0, np.nan)]), "finite"),
        (toy([(0, 0, 1)], sample=(0, np.inf, 0)), "finite"),
    ],
)
def test_bad_geometry_is_refused(beamline, message) -> None:
    with pytest.raises(ValueError, match=message):
        pixel_paths(beamline)
