"""What a reduction needs of an instrument's geometry: flight paths and scattering angles.

Positions are in metres in the instrument's frame (ESS/NeXus convention: sample at the
origin, beam along +z, source upstream). Nothing here assumes that frame, though: the
incident beam is the line from the source to the sample, whatever its direction.

- primary flight path ``L1 = |sample - source|``;
- secondary flight path of a pixel ``L2 = |pixel - sample|``;
- scattering angle ``2θ`` of a pixel: the angle between the incident beam direction and
  ``pixel - sample``;
- a monitor's flight path: ``|monitor - source|`` (monitors sit on the beam line).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class Beamline(Protocol):
    """Positions (m) of a detector bank's pixels and the beam line around them.

    ``pixel_positions`` is ``(n, 3)`` in pixel-id order, row ``i`` being the pixel with
    id ``first_pixel_id + i`` of the bank. ``livedata.config``'s synthetic
    ``BeamlineGeometry`` has this shape; the protocol keeps workflows independent of the
    config layer.
    """

    @property
    def source_position(self) -> npt.NDArray[np.floating]: ...

    @property
    def sample_position(self) -> npt.NDArray[np.floating]: ...

    @property
    def pixel_positions(self) -> npt.NDArray[np.floating]: ...

    @property
    def monitor_positions(self) -> Mapping[str, npt.NDArray[np.floating]]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PixelPaths:
    """Per-pixel flight geometry derived from a :class:`Beamline`."""

    primary_m: float
    """``L1``: source to sample (m)."""
    secondary_m: FloatArray
    """``L2`` per pixel: sample to pixel (m)."""
    two_theta_rad: FloatArray
    """Scattering angle per pixel (rad), in ``[0, π]``."""

    @property
    def total_m(self) -> FloatArray:
        """``L1 + L2`` per pixel (m): the flight path of the neutron that hit it."""
        return self.primary_m + self.secondary_m


def _point(value: npt.ArrayLike, what: str) -> FloatArray:
    point = np.asarray(value, dtype=np.float64)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise ValueError(f"{what} must be 3 finite coordinates, got shape {point.shape}")
    return point


def incident_beam(beamline: Beamline) -> tuple[FloatArray, float]:
    """The unit vector from source to sample, and their distance ``L1`` (m)."""
    source = _point(beamline.source_position, "source position")
    sample = _point(beamline.sample_position, "sample position")
    incident = sample - source
    l1 = float(np.linalg.norm(incident))
    if l1 == 0.0:
        raise ValueError("source and sample are at the same position")
    return incident / l1, l1


def pixel_paths(beamline: Beamline) -> PixelPaths:
    """``L1``, ``L2`` and ``2θ`` of every pixel of the bank."""
    direction, l1 = incident_beam(beamline)
    sample = _point(beamline.sample_position, "sample position")
    pixels = np.asarray(beamline.pixel_positions, dtype=np.float64)
    if pixels.ndim != 2 or pixels.shape[1] != 3 or len(pixels) == 0:
        raise ValueError(f"pixel positions must be (n, 3), n > 0; got {pixels.shape}")
    if not np.all(np.isfinite(pixels)):
        raise ValueError("pixel positions must be finite")
    scattered = pixels - sample
    l2 = np.linalg.norm(scattered, axis=1)
    along = scattered @ direction
    # The component across the beam is computed directly (not as sqrt(L2² - along²)),
    # so small angles, where SANS lives, keep full relative precision.
    scattered -= np.outer(along, direction)
    across = np.linalg.norm(scattered, axis=1)
    return PixelPaths(primary_m=l1, secondary_m=l2, two_theta_rad=np.arctan2(across, along))


def monitor_path(beamline: Beamline, name: str) -> float:
    """Flight path (m) from the source to the monitor ``name``."""
    positions = beamline.monitor_positions
    if name not in positions:
        raise KeyError(f"no position for monitor {name!r}; known: {sorted(positions)}")
    source = _point(beamline.source_position, "source position")
    distance = float(np.linalg.norm(_point(positions[name], f"monitor {name!r}") - source))
    if distance == 0.0:
        raise ValueError(f"monitor {name!r} is at the source position")
    return distance
