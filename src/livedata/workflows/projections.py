"""Geometric detector views: pixel positions projected onto a plane or a cylinder.

- **xy plane** (:class:`XYProjection`): each pixel's position relative to the sample,
  projected along the beam onto the plane across it: ``x`` horizontal, ``y`` vertical
  (for a beam along ``+z``, simply the pixel's ``x`` and ``y``). Dims ``("y", "x")``.
- **cylinder mantle** (:class:`CylinderProjection`): the azimuth ``phi`` about the beam
  (degrees, from the horizontal axis towards the vertical) and the position ``z`` along
  it, the view of a detector wrapped around the beam. Dims ``("phi", "z")``. If the
  pixels' azimuths straddle ±180°, the seam moves to the widest empty azimuth gap, so a
  detector is never cut in two (``phi`` may then run beyond 180).

The grid spans the pixels' extent with half a bin to spare at each end, so pixels on a
regular lattice with as many positions as bins fall on bin centres, and every pixel of
the bank lies in the image. Coordinates are bin edges with units. ROIs are drawn in bin
indices, like on any view.

Resolution: the job's ``resolution`` param if set, exactly. Otherwise at most the
projection's default ``rows`` x ``columns``, but never more bins along an axis than the
pixels have distinct positions along it (a bank with 112 rows of straws is not drawn
with 256 rows of which half stay empty), and, where there are more positions, a whole
number of them per bin (392 rows become 196 bins of 2, not stripes of 1 and 2).

A projection is computed once per job, into a :class:`~livedata.workflows.pixel_views.PixelView`
table, from a :class:`~livedata.workflows.geometry.BeamlineGeometry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pydantic
import scipp as sc

from livedata.workflows import outputs
from livedata.workflows.detector_view import DetectorViewParams
from livedata.workflows.geometry import BeamlineGeometry, FloatArray
from livedata.workflows.pixel_views import PixelView

MAX_RESOLUTION = 1024
"""Bins per axis of a projected image: 1024 x 1024 (1 M bins, 8 MiB per histogram) is
more than any screen shows of one detector and keeps results small."""

MIN_HALF_WIDTH = 1e-6
"""Half the bin width (m or deg) of an axis on which all pixels share one position."""


class ProjectionResolution(pydantic.BaseModel):
    """Bins of a projected image along each of its two dims."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    rows: int = pydantic.Field(
        ge=1, le=MAX_RESOLUTION, description="Bins along the first dim (y, or phi)."
    )
    columns: int = pydantic.Field(
        ge=1, le=MAX_RESOLUTION, description="Bins along the second dim (x, or z)."
    )


class ProjectionParams(DetectorViewParams):
    """A detector view's params plus the projected image's resolution."""

    resolution: ProjectionResolution | None = pydantic.Field(
        default=None,
        description="Bins of the image; the instrument's default for this view if unset.",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class XYProjection:
    """Project onto the plane across the beam; ``rows`` x ``columns`` bins by default."""

    rows: int = 256
    columns: int = 256
    kind: Literal["xy"] = "xy"
    dims: tuple[str, str] = ("y", "x")
    units: tuple[str, str] = ("m", "m")

    def template(self) -> sc.DataArray:
        return _template(self.dims, self.units)

    def build(
        self, geometry: BeamlineGeometry, resolution: ProjectionResolution | None = None
    ) -> PixelView:
        horizontal, vertical = geometry.transverse_axes
        relative = geometry.relative_positions()
        values = (relative @ vertical, relative @ horizontal)
        return _project(geometry, self, values, *_resolution(self, resolution, values))


@dataclass(frozen=True, slots=True, kw_only=True)
class CylinderProjection:
    """Unroll onto azimuth x position along the beam; ``rows`` (phi) x ``columns`` (z)."""

    rows: int = 180
    columns: int = 256
    kind: Literal["cylinder"] = "cylinder"
    dims: tuple[str, str] = ("phi", "z")
    units: tuple[str, str] = ("deg", "m")

    def template(self) -> sc.DataArray:
        return _template(self.dims, self.units)

    def build(
        self, geometry: BeamlineGeometry, resolution: ProjectionResolution | None = None
    ) -> PixelView:
        along = geometry.relative_positions() @ geometry.beam_direction
        values = (_without_seam(np.degrees(geometry.azimuth)), along)
        return _project(geometry, self, values, *_resolution(self, resolution, values))


Projection = XYProjection | CylinderProjection


DISTINCT_DECIMALS = 6
"""Positions (m or deg) equal to 6 decimals count as one when limiting the default
resolution: a micrometre, far below any pixel pitch."""


def _resolution(
    projection: Projection,
    resolution: ProjectionResolution | None,
    values: tuple[FloatArray, FloatArray],
) -> tuple[int, int]:
    if resolution is not None:
        return resolution.rows, resolution.columns
    return (
        _default_bins(projection.rows, _distinct(values[0])),
        _default_bins(projection.columns, _distinct(values[1])),
    )


def _default_bins(default: int, distinct: int) -> int:
    """At most ``default`` bins and no more than ``distinct`` positions; with more positions
    than that, the same whole number of them per bin (392 rows of straws become 196 bins
    of 2, not 256 bins of alternately 1 and 2, which would draw stripes)."""
    if distinct <= default:
        return distinct
    return -(-distinct // -(-distinct // default))


def _distinct(values: FloatArray) -> int:
    return max(1, int(np.unique(np.round(values, DISTINCT_DECIMALS)).size))


def _template(dims: tuple[str, str], units: tuple[str, str]) -> sc.DataArray:
    return outputs.counts(
        np.zeros((0, 0)),
        dims=dims,
        coords={d: sc.zeros(dims=[d], shape=[1], unit=u) for d, u in zip(dims, units, strict=True)},
    )


def axis_bins(values: FloatArray, n: int) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """``n`` equal bins spanning ``values`` with half a bin to spare: edges, bin per value.

    The edges are ``min - h .. max + h`` with ``h = (max - min) / (2 (n - 1))``, so ``n``
    evenly spaced values land on the ``n`` bin centres.
    """
    lo, hi = float(values.min()), float(values.max())
    half = (hi - lo) / (2 * (n - 1)) if n > 1 else (hi - lo) / 2
    half = max(half, MIN_HALF_WIDTH, abs(lo) * 1e-12, abs(hi) * 1e-12)
    edges = np.linspace(lo - half, hi + half, n + 1)
    width = (edges[-1] - edges[0]) / n
    index = np.floor((values - edges[0]) / width).astype(np.intp)
    np.clip(index, 0, n - 1, out=index)  # rounding at the outer edges only
    return edges, index


def _without_seam(phi_deg: FloatArray) -> FloatArray:
    """Azimuths shifted by 360° below the widest empty gap, so the range has no seam."""
    if phi_deg.size == 0:
        return phi_deg
    # Occupied 0.1° cells: cheap for any number of pixels, fine enough for a detector.
    occupied = np.zeros(3600, dtype=np.bool_)
    occupied[np.clip(((phi_deg + 180.0) * 10).astype(np.intp), 0, 3599)] = True
    cells = np.flatnonzero(occupied)
    gaps = np.diff(np.append(cells, cells[0] + 3600))  # the last gap wraps round
    widest = int(np.argmax(gaps))
    if widest == len(cells) - 1:  # the widest gap is at ±180° already
        return phi_deg
    cut = (cells[widest] + 1) / 10.0 - 180.0  # upper end of the cell before the gap
    shifted: FloatArray = np.where(phi_deg < cut, phi_deg + 360.0, phi_deg)
    return shifted


def _project(
    geometry: BeamlineGeometry,
    projection: Projection,
    values: tuple[FloatArray, FloatArray],
    rows: int,
    columns: int,
) -> PixelView:
    row_edges, row = axis_bins(values[0], rows)
    col_edges, col = axis_bins(values[1], columns)
    row *= columns
    row += col
    dims, units = projection.dims, projection.units
    coords = {
        dims[0]: sc.array(dims=[dims[0]], values=row_edges, unit=units[0]),
        dims[1]: sc.array(dims=[dims[1]], values=col_edges, unit=units[1]),
    }
    return PixelView(
        dims=dims,
        shape=(rows, columns),
        coords=coords,
        first_pixel_id=geometry.first_pixel_id,
        n_pixels=geometry.n_pixels,
        bin_of_pixel=row,
    )
