"""Regions of interest on a detector view: which pixels each ROI holds.

ROIs arrive in the wire encoding of WIRE.md ("ROIs"), decoded into
``livedata.core.control.Roi``. With no unit, ``x`` and ``y`` are pixel indices along the
view's last two dims (``x`` the last, ``y`` the one before), the same numbers as the
images' index coordinates: the pixel at index ``(j, i)`` of that plane has its centre
at ``x = i, y = j``. A pixel belongs to an ROI when its centre does:

- rectangle, corners ``(x0, y0)`` and ``(x1, y1)``: ``x0 <= x <= x1`` and
  ``y0 <= y <= y1``, edges included;
- polygon: the even-odd rule (ray casting). A centre exactly on an edge counts for
  left and bottom edges and not for right and top ones, as in the classic PNPOLY test,
  so two polygons sharing an edge never both hold a pixel.

A view with more than two dims shows the ROI on an image of its last two; the ROI holds
those pixels at every index of the leading dims. A one-dim view is one row at ``y = 0``.
Geometry outside the detector is allowed and simply holds no pixels there.

ROIs may overlap. :func:`partition` splits the plane into disjoint *regions*, each the
set of pixels that lies in exactly the same ROIs, so events can be histogrammed once
per region and the spectra of overlapping ROIs summed from regions afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from livedata.core.control import Roi

BoolArray = npt.NDArray[np.bool_]
LabelArray = npt.NDArray[np.int32]

MAX_COORDINATE = float(2**31)
"""Largest pixel-index coordinate (in magnitude) an ROI may use. Pixel ids are int32, so
no detector reaches beyond it; the bound keeps the polygon arithmetic finite."""

POLYGON_BLOCK = 1 << 20
"""Elements of the per-block work arrays (rows x edges, rows x columns) of the polygon
scan: 8 MiB of float64 at most, however large the detector or the polygon."""


class RoiGeometryError(ValueError):
    """An ROI this view cannot apply (physical unit, absurd coordinates, bad shape)."""


class TooManyRegionsError(ValueError):
    """Overlapping ROIs cut the detector into more disjoint regions than allowed."""


def view_plane(shape: Sequence[int]) -> tuple[int, int]:
    """The ``(ny, nx)`` plane ROIs are drawn on: the last two dims, or one row of a 1-d view."""
    if not shape:
        raise ValueError("a detector view needs at least one dim")
    if len(shape) == 1:
        return 1, int(shape[0])
    return int(shape[-2]), int(shape[-1])


@dataclass(frozen=True, slots=True)
class PixelSelection:
    """The pixels of one ROI: ``mask`` over the bounding box ``[rows, cols]`` of the plane."""

    rows: slice
    cols: slice
    mask: BoolArray

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.mask))

    def to_mask(self, plane: tuple[int, int]) -> BoolArray:
        """The selection as a boolean image of the whole plane."""
        full = np.zeros(plane, dtype=np.bool_)
        full[self.rows, self.cols] = self.mask
        return full


def check_roi(roi: Roi) -> None:
    """Raise ``RoiGeometryError`` unless ``roi`` is pixel-index geometry this module applies."""
    if roi.unit is not None:
        raise RoiGeometryError(
            f"ROIs in {roi.unit!r} are not supported by this view yet; "
            "give x and y as pixel indices (no unit)"
        )
    if len(roi.x) != len(roi.y):
        raise RoiGeometryError(f"ROI has {len(roi.x)} x but {len(roi.y)} y values")
    values = np.array([*roi.x, *roi.y], dtype=np.float64)
    if not np.isfinite(values).all() or np.abs(values).max(initial=0) > MAX_COORDINATE:
        raise RoiGeometryError(f"ROI coordinates must be finite and within ±{MAX_COORDINATE:.0f}")
    if roi.shape == "rectangle":
        if len(roi.x) != 2 or roi.x[0] > roi.x[1] or roi.y[0] > roi.y[1]:
            raise RoiGeometryError("a rectangle is two points: (min corner, max corner)")
    elif len(roi.x) < 3:
        raise RoiGeometryError(f"a polygon needs 3 vertices, got {len(roi.x)}")


def select_pixels(roi: Roi, plane: tuple[int, int]) -> PixelSelection:
    """The pixels of ``plane`` (``(ny, nx)``) whose centres lie in ``roi``.

    Raises
    ------
    RoiGeometryError
        If ``check_roi`` refuses ``roi``.
    """
    check_roi(roi)
    if roi.shape == "rectangle":
        return _rectangle(roi, plane)
    return _polygon(roi, plane)


def pixel_mask(roi: Roi, plane: tuple[int, int]) -> BoolArray:
    """``select_pixels`` as a boolean image of the whole plane."""
    return select_pixels(roi, plane).to_mask(plane)


def _nothing() -> PixelSelection:
    return PixelSelection(slice(0, 0), slice(0, 0), np.zeros((0, 0), dtype=np.bool_))


def _rectangle(roi: Roi, plane: tuple[int, int]) -> PixelSelection:
    ny, nx = plane
    # Integer centres in [lo, hi] are ceil(lo) .. floor(hi).
    j0, j1 = max(0, math.ceil(roi.y[0])), min(ny, math.floor(roi.y[1]) + 1)
    i0, i1 = max(0, math.ceil(roi.x[0])), min(nx, math.floor(roi.x[1]) + 1)
    if j0 >= j1 or i0 >= i1:
        return _nothing()
    return PixelSelection(slice(j0, j1), slice(i0, i1), np.ones((j1 - j0, i1 - i0), np.bool_))


def _polygon(roi: Roi, plane: tuple[int, int]) -> PixelSelection:
    """Even-odd rule on pixel centres, one block of rows at a time.

    In a row at height ``y = j`` an edge ``(x0, y0) -> (x1, y1)`` is crossed when
    ``(y0 > j) != (y1 > j)``, at ``xc = (x1 - x0) * (j - y0) / (y1 - y0) + x0``; the
    crossing flips every centre ``i < xc``, i.e. ``i < ceil(xc)``. A centre is inside
    when an odd number of crossings lie to its right: per row, a histogram of
    ``ceil(xc)`` and a reversed cumulative sum give that number for every centre at
    once, in O(rows x (edges + columns)) instead of O(rows x columns x edges).
    """
    ny, nx = plane
    x0 = np.asarray(roi.x, dtype=np.float64)
    y0 = np.asarray(roi.y, dtype=np.float64)
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    sloped = y0 != y1  # a horizontal edge is never crossed
    x0, y0, x1, y1 = x0[sloped], y0[sloped], x1[sloped], y1[sloped]
    # A centre can only be inside for min(y) <= j < max(y) and min(x) <= i < max(x).
    j0, j1 = max(0, math.ceil(min(roi.y))), min(ny, math.ceil(max(roi.y)))
    i0, i1 = max(0, math.ceil(min(roi.x))), min(nx, math.ceil(max(roi.x)))
    if j0 >= j1 or i0 >= i1 or not len(x0):
        return _nothing()
    width = i1 - i0
    mask = np.zeros((j1 - j0, width), dtype=np.bool_)
    block = max(1, POLYGON_BLOCK // max(len(x0), width + 1))
    for start in range(j0, j1, block):
        stop = min(start + block, j1)
        n_rows = stop - start
        row = np.arange(start, stop, dtype=np.float64)[:, np.newaxis]
        crosses = (y0 > row) != (y1 > row)
        # The scalar test's operations in its order, so results are bit-identical to it;
        # y1 != y0 on every edge left, and MAX_COORDINATE keeps all of it finite.
        xc = (x1 - x0) * (row - y0) / (y1 - y0) + x0
        # Centres i0 + 0 .. i0 + k - 1 of the box lie left of a crossing at xc.
        k = np.clip(np.ceil(xc[crosses]) - i0, 0, width).astype(np.intp)
        flat = np.nonzero(crosses)[0] * (width + 1) + k
        hist = np.bincount(flat, minlength=n_rows * (width + 1)).reshape(n_rows, width + 1)
        # right[:, c] = crossings with k >= c; the centre at c is left of those with k > c.
        right = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]
        mask[start - j0 : stop - j0] = (right[:, 1:] & 1).astype(np.bool_)
    return PixelSelection(slice(j0, j1), slice(i0, i1), mask)


@dataclass(frozen=True, slots=True)
class Partition:
    """Disjoint regions of the plane, each the pixels in exactly one set of ROIs.

    ``labels`` is the plane's image of region numbers ``0 .. n_regions - 1``, and
    ``n_regions`` for pixels in no ROI; ``members[r]`` lists the ROIs (by position in
    the sequence given to :func:`partition`) that region ``r`` lies in.
    """

    labels: LabelArray
    members: tuple[tuple[int, ...], ...]

    @property
    def n_regions(self) -> int:
        return len(self.members)


def partition(
    selections: Sequence[PixelSelection], plane: tuple[int, int], *, max_regions: int
) -> Partition:
    """Split the plane into the regions cut out by ``selections``.

    Each selection relabels only its own pixels: every region it touches gets a new
    label (the old set of ROIs plus this one), found with one ``bincount`` of the old
    labels, so the cost is the total area of the ROIs, not the plane times their number.

    Raises
    ------
    TooManyRegionsError
        As soon as more than ``max_regions`` non-empty regions exist.
    """
    labels = np.zeros(plane, dtype=np.int32)  # 0: in no ROI (during the build)
    members: list[tuple[int, ...]] = [()]
    sizes = np.array([labels.size], dtype=np.int64)  # pixels per label
    for position, selection in enumerate(selections):
        box = labels[selection.rows, selection.cols]  # a view: writes go to ``labels``
        old = box[selection.mask]
        if not old.size:
            continue
        inside = np.bincount(old, minlength=len(members))
        touched = np.flatnonzero(inside)
        relabel = np.zeros(len(members), dtype=np.int32)
        relabel[touched] = np.arange(len(members), len(members) + len(touched), dtype=np.int32)
        box[selection.mask] = relabel[old]
        members.extend(members[label] + (position,) for label in touched)
        sizes = np.concatenate([sizes - inside, inside[touched]])
        if np.count_nonzero(sizes[1:]) > max_regions:
            raise TooManyRegionsError(
                f"the ROIs overlap in more than {max_regions} distinct regions; "
                "use fewer or less entangled ROIs"
            )
    # Renumber the non-empty regions 0 .. n-1; "no ROI" becomes n.
    kept = np.flatnonzero(sizes[1:]) + 1
    renumber = np.full(len(members), len(kept), dtype=np.int32)
    renumber[kept] = np.arange(len(kept), dtype=np.int32)
    return Partition(
        labels=renumber[labels], members=tuple(members[label] for label in kept.tolist())
    )
