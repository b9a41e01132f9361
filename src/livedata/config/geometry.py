"""Synthetic detector geometry: pixel positions from a few numbers, offline.

The frame is the one of ``livedata.workflows.geometry``: the sample at the origin, the
beam along ``+z``, ``+y`` up and ``+x`` completing a right-handed frame; lengths in
metres. Each generator here is a small frozen description of one detector shape;
``positions(shape)`` computes the ``(n, 3)`` float64 centres of its pixels in pixel-id
order, i.e. row-major over the bank's ``shape``.

Every generator gives each of the bank's dims a *role* (which direction that index
moves along). Several dims may share a role: their indices then combine row-major, in
the order the dims appear, into one index along that direction. So a bank with dims
``(module, segment, counter, wire, strip)`` and roles ``(phi, phi, phi, depth, z)`` has
``module * 12 + segment * 2 + counter`` as its azimuthal column. A role no dim takes
has one position.

The arithmetic runs on the small per-role index vectors and is broadcast once into
the result, so a million pixels cost a few tens of milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Vec3 = tuple[float, float, float]


class PixelGeometry(Protocol):
    """What a detector bank's ``geometry`` is: a way to compute its pixel positions."""

    def check(self, shape: tuple[int, ...]) -> None:
        """Raise ``ValueError`` unless this geometry fits a bank of ``shape``."""
        ...

    def positions(self, shape: tuple[int, ...]) -> FloatArray:
        """Pixel centres, ``(prod(shape), 3)`` float64 metres, row-major over ``shape``."""
        ...


def _check_roles(
    kind: str, roles: Sequence[str], allowed: Sequence[str], shape: tuple[int, ...]
) -> None:
    if len(roles) != len(shape):
        raise ValueError(f"{kind}: {len(roles)} roles for a bank of {len(shape)} dims")
    unknown = set(roles) - set(allowed)
    if unknown:
        raise ValueError(f"{kind}: unknown roles {sorted(unknown)}; allowed: {list(allowed)}")


def _role_index(
    shape: tuple[int, ...], roles: Sequence[str], role: str
) -> tuple[npt.NDArray[np.int64], int]:
    """The combined row-major index along ``role``, broadcastable over ``shape``, and its size."""
    dims = [d for d, r in enumerate(roles) if r == role]
    index = np.zeros((1,) * len(shape), dtype=np.int64)
    count = 1
    for d in reversed(dims):
        axis = np.arange(shape[d], dtype=np.int64).reshape(
            [shape[d] if i == d else 1 for i in range(len(shape))]
        )
        index = index + axis * count
        count *= shape[d]
    return index, count


def _centres(lo: float, hi: float, index: npt.NDArray[np.int64], count: int) -> FloatArray:
    """Centres of ``count`` equal cells spanning ``[lo, hi]``, at ``index``."""
    result: FloatArray = np.asarray(lo + (index + 0.5) * ((hi - lo) / count), dtype=np.float64)
    return result


def _assemble(
    shape: tuple[int, ...], x: npt.ArrayLike, y: npt.ArrayLike, z: npt.ArrayLike
) -> FloatArray:
    """Broadcast the three coordinates into one C-contiguous ``(n, 3)`` array."""
    out = np.empty((math.prod(shape), 3), dtype=np.float64)
    view = out.reshape((*shape, 3))
    view[..., 0] = x
    view[..., 1] = y
    view[..., 2] = z
    return out


def rotation(*, yaw_deg: float = 0.0, tilt_deg: float = 0.0) -> FloatArray:
    """Rotation taking a bank's local axes to the lab frame.

    The bank starts facing the sample from downstream (local ``x``, ``y``, normal along
    the lab's ``x``, ``y``, ``z``). ``tilt_deg`` turns it about its local ``x`` axis (a
    positive tilt turns the normal up, towards ``+y``), then ``yaw_deg`` about the lab's
    vertical (a positive yaw turns the normal from ``+z`` towards ``+x``).
    """
    a, b = math.radians(yaw_deg), math.radians(tilt_deg)
    yaw = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, math.cos(b), math.sin(b)], [0, -math.sin(b), math.cos(b)]])
    result: FloatArray = yaw @ tilt
    return result


FlatRole = Literal["x", "y", "depth"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FlatBank:
    """A flat rectangular bank: pixels on a regular grid in a plane, possibly in layers.

    ``center`` is the centre of the front layer. Along the bank's local ``x`` and
    ``y`` the pixels are ``pitch[0]`` and ``pitch[1]`` apart and centred on it; layers
    (role ``depth``) follow each other ``pitch[2]`` apart along the normal, away from
    the sample side. ``yaw_deg`` and ``tilt_deg`` orient the bank (:func:`rotation`).
    """

    center: Vec3
    roles: tuple[FlatRole, ...]
    pitch: Vec3
    yaw_deg: float = 0.0
    tilt_deg: float = 0.0

    def check(self, shape: tuple[int, ...]) -> None:
        _check_roles("FlatBank", self.roles, ("x", "y", "depth"), shape)

    def positions(self, shape: tuple[int, ...]) -> FloatArray:
        self.check(shape)
        local = []
        for role, pitch in zip(("x", "y"), self.pitch[:2], strict=True):
            index, count = _role_index(shape, self.roles, role)
            local.append((index - (count - 1) / 2.0) * pitch)
        depth, _ = _role_index(shape, self.roles, "depth")
        local.append(depth * self.pitch[2])
        rot = rotation(yaw_deg=self.yaw_deg, tilt_deg=self.tilt_deg)
        lab = [
            self.center[i] + rot[i, 0] * local[0] + rot[i, 1] * local[1] + rot[i, 2] * local[2]
            for i in range(3)
        ]
        return _assemble(shape, *lab)


CylinderRole = Literal["phi", "z", "depth"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CylinderMantle:
    """Pixels on a cylinder around the beam axis (a powder diffractometer's mantle).

    Pixel centres fill ``phi_range_deg`` (azimuth about the beam, from ``+x`` towards
    ``+y``) and ``z_range`` (metres along the beam) in equal cells, on a cylinder of
    ``radius`` metres; layers (role ``depth``) sit ``depth_pitch`` further out each.
    """

    radius: float
    phi_range_deg: tuple[float, float]
    z_range: tuple[float, float]
    roles: tuple[CylinderRole, ...]
    depth_pitch: float = 0.0

    def check(self, shape: tuple[int, ...]) -> None:
        _check_roles("CylinderMantle", self.roles, ("phi", "z", "depth"), shape)
        if self.radius <= 0:
            raise ValueError(f"CylinderMantle: radius must be positive, got {self.radius}")

    def positions(self, shape: tuple[int, ...]) -> FloatArray:
        self.check(shape)
        phi_index, n_phi = _role_index(shape, self.roles, "phi")
        z_index, n_z = _role_index(shape, self.roles, "z")
        depth, _ = _role_index(shape, self.roles, "depth")
        phi = np.radians(_centres(*self.phi_range_deg, phi_index, n_phi))
        radius = self.radius + depth * self.depth_pitch
        return _assemble(
            shape, radius * np.cos(phi), radius * np.sin(phi), _centres(*self.z_range, z_index, n_z)
        )


EndCapRole = Literal["phi", "radius", "depth"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EndCap:
    """Pixels on an annulus across the beam, in the plane ``z`` (a diffractometer's end-cap).

    Pixel centres fill ``phi_range_deg`` and ``radius_range`` (metres from the beam
    axis) in equal cells; layers (role ``depth``) sit ``depth_pitch`` further from the
    sample each, along the beam (downstream for ``z > 0``, upstream for ``z < 0``).
    """

    z: float
    phi_range_deg: tuple[float, float]
    radius_range: tuple[float, float]
    roles: tuple[EndCapRole, ...]
    depth_pitch: float = 0.0

    def check(self, shape: tuple[int, ...]) -> None:
        _check_roles("EndCap", self.roles, ("phi", "radius", "depth"), shape)
        if self.z == 0 or not 0 <= self.radius_range[0] < self.radius_range[1]:
            raise ValueError("EndCap: needs z != 0 and 0 <= inner radius < outer radius")

    def positions(self, shape: tuple[int, ...]) -> FloatArray:
        self.check(shape)
        phi_index, n_phi = _role_index(shape, self.roles, "phi")
        r_index, n_r = _role_index(shape, self.roles, "radius")
        depth, _ = _role_index(shape, self.roles, "depth")
        phi = np.radians(_centres(*self.phi_range_deg, phi_index, n_phi))
        radius = _centres(*self.radius_range, r_index, n_r)
        z = self.z + math.copysign(1.0, self.z) * depth * self.depth_pitch
        return _assemble(shape, radius * np.cos(phi), radius * np.sin(phi), z.astype(np.float64))


ArcRole = Literal["arc", "tube", "channel", "pixel"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TubeArcs:
    """Detector tubes on arcs around the sample (an indirect-geometry spectrometer).

    Each ``channel`` covers ``channel_width_deg`` of scattering angle in the horizontal
    plane, centred on its entry of ``channel_two_theta_deg`` (on the ``+x`` side); the
    pixels along a tube fill that width in equal cells. Arc ``a`` lies
    ``arc_radii[a]`` metres from the sample and each further tube of an arc
    ``tube_pitch`` further out; all tubes lie ``height`` metres above (negative: below)
    the scattering plane. Each role is taken by exactly one dim.
    """

    arc_radii: tuple[float, ...]
    channel_two_theta_deg: tuple[float, ...]
    channel_width_deg: float
    tube_pitch: float
    height: float
    roles: tuple[ArcRole, ...] = ("arc", "tube", "channel", "pixel")

    def check(self, shape: tuple[int, ...]) -> None:
        _check_roles("TubeArcs", self.roles, ("arc", "tube", "channel", "pixel"), shape)
        if sorted(self.roles) != sorted(("arc", "tube", "channel", "pixel")):
            raise ValueError("TubeArcs: each of arc, tube, channel, pixel needs exactly one dim")
        sizes = dict(zip(self.roles, shape, strict=True))
        if sizes["arc"] != len(self.arc_radii):
            raise ValueError(f"TubeArcs: {len(self.arc_radii)} radii for {sizes['arc']} arcs")
        if sizes["channel"] != len(self.channel_two_theta_deg):
            raise ValueError(
                f"TubeArcs: {len(self.channel_two_theta_deg)} angles for "
                f"{sizes['channel']} channels"
            )

    def positions(self, shape: tuple[int, ...]) -> FloatArray:
        self.check(shape)
        arc, _ = _role_index(shape, self.roles, "arc")
        tube, _ = _role_index(shape, self.roles, "tube")
        channel, _ = _role_index(shape, self.roles, "channel")
        pixel, n_pixel = _role_index(shape, self.roles, "pixel")
        half = self.channel_width_deg / 2.0
        centre = np.asarray(self.channel_two_theta_deg, dtype=np.float64)[channel]
        angle = np.radians(centre + _centres(-half, half, pixel, n_pixel))
        radius = np.asarray(self.arc_radii, dtype=np.float64)[arc] + tube * self.tube_pitch
        return _assemble(
            shape,
            radius * np.sin(angle),
            np.full((1,) * len(shape), self.height),
            radius * np.cos(angle),
        )
