"""Where a detector's pixels are, relative to the source and the sample.

The frame: the sample at the origin, the neutron beam along ``+z``, ``+y`` up, ``+x``
completing a right-handed frame; positions in metres. An instrument builds one
:class:`BeamlineGeometry` per detector bank (``Instrument.geometry(bank)``), from its
synthetic pixel layout, so projections, flight paths and wavelengths work offline.

The arrays are read-only and shared: every job and workflow of a bank sees the same
one. Derived per-pixel quantities (``l2``, ``two_theta``, ...) are computed on first
use and kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

UP = np.array([0.0, 1.0, 0.0])
"""The lab's vertical; azimuths are measured in the plane across the beam from the
horizontal axis ``UP x beam`` (``+x`` for a beam along ``+z``) towards ``UP``."""


def _vector(name: str, value: Any) -> FloatArray:
    array = np.array(value, dtype=np.float64)
    if array.shape != (3,) or not np.isfinite(array).all():
        raise ValueError(f"{name} must be 3 finite numbers, got {value!r}")
    array.flags.writeable = False
    return array


def _read_only(array: FloatArray) -> FloatArray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, kw_only=True, eq=False)
class BeamlineGeometry:
    """Source, sample, monitors and the pixels of one detector bank.

    Parameters
    ----------
    source_position, sample_position:
        ``(3,)`` metres. The incident beam runs from the source to the sample.
    pixel_positions:
        ``(n, 3)`` float64 metres, one row per pixel in pixel-id order: row ``i`` is
        pixel id ``first_pixel_id + i``.
    monitor_positions:
        ``(3,)`` metres per beam-monitor name (monitors without a position are absent).
    first_pixel_id:
        The pixel id of row 0 (the bank's ``first_pixel_id``).
    """

    source_position: FloatArray
    sample_position: FloatArray
    pixel_positions: FloatArray
    monitor_positions: Mapping[str, FloatArray] = field(default_factory=dict)
    first_pixel_id: int = 1

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the arrays once, here
        set_(self, "source_position", _vector("source_position", self.source_position))
        set_(self, "sample_position", _vector("sample_position", self.sample_position))
        pixels = np.asarray(self.pixel_positions, dtype=np.float64)
        if pixels.ndim != 2 or pixels.shape[1] != 3:
            raise ValueError(f"pixel_positions must be (n, 3), got {pixels.shape}")
        if not pixels.flags.c_contiguous or pixels.flags.writeable:
            pixels = np.ascontiguousarray(pixels).copy()
        set_(self, "pixel_positions", _read_only(pixels))
        monitors = {k: _vector(f"monitor {k}", v) for k, v in self.monitor_positions.items()}
        set_(self, "monitor_positions", MappingProxyType(monitors))
        if np.allclose(self.source_position, self.sample_position):
            raise ValueError("source and sample positions coincide")

    @property
    def n_pixels(self) -> int:
        return len(self.pixel_positions)

    @cached_property
    def beam_direction(self) -> FloatArray:
        """Unit vector from the source to the sample."""
        beam = self.sample_position - self.source_position
        return _read_only(beam / np.linalg.norm(beam))

    @cached_property
    def l1(self) -> float:
        """Source to sample, metres."""
        return float(np.linalg.norm(self.sample_position - self.source_position))

    @cached_property
    def _scattered(self) -> FloatArray:
        return _read_only(self.pixel_positions - self.sample_position)

    @cached_property
    def l2(self) -> FloatArray:
        """Sample to each pixel, metres, ``(n,)``."""
        return _read_only(np.sqrt(np.einsum("ij,ij->i", self._scattered, self._scattered)))

    @cached_property
    def flight_path(self) -> FloatArray:
        """Source to sample to each pixel, metres, ``(n,)``: ``l1 + l2``."""
        return _read_only(self.l1 + self.l2)

    @cached_property
    def two_theta(self) -> FloatArray:
        """Scattering angle of each pixel (radians): between the beam and sample -> pixel."""
        along = self._scattered @ self.beam_direction
        across = np.linalg.norm(self._scattered - np.outer(along, self.beam_direction), axis=1)
        return _read_only(np.arctan2(across, along))

    @cached_property
    def transverse_axes(self) -> tuple[FloatArray, FloatArray]:
        """Unit vectors across the beam: horizontal (``UP x beam``) and vertical.

        For a beam along ``+z`` they are ``+x`` and ``+y``.
        """
        horizontal = np.cross(UP, self.beam_direction)
        if np.linalg.norm(horizontal) < 1e-9:  # a vertical beam: measure from +x instead
            horizontal = np.cross(self.beam_direction, np.array([1.0, 0.0, 0.0]))
        horizontal /= np.linalg.norm(horizontal)
        vertical = np.cross(self.beam_direction, horizontal)
        return _read_only(horizontal), _read_only(vertical)

    def relative_positions(self) -> FloatArray:
        """Pixel positions relative to the sample, ``(n, 3)`` (read-only, shared)."""
        return self._scattered

    @cached_property
    def azimuth(self) -> FloatArray:
        """Angle of each pixel about the beam (radians, ``(-pi, pi]``), 0 along the
        horizontal transverse axis, increasing towards the vertical one."""
        horizontal, vertical = self.transverse_axes
        return _read_only(np.arctan2(self._scattered @ vertical, self._scattered @ horizontal))

    def monitor_flight_path(self, name: str) -> float:
        """Source to the monitor ``name``, metres."""
        if name not in self.monitor_positions:
            raise KeyError(
                f"no position for monitor {name!r}; known: {list(self.monitor_positions)}"
            )
        return float(np.linalg.norm(self.monitor_positions[name] - self.source_position))
