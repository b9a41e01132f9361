"""Regions of interest on the wire (WIRE.md "ROIs"): da00 <-> ``RoiUpdate``.

One message carries all ROIs of one geometry type for one job, as a DataArray with an
int32 ``signal`` of ones and coordinates ``x``, ``y`` (pixel indices when they have no
unit) and int32 ``roi_index``, one element per point:

- rectangles: 2 points (min corner, max corner) per ROI on dim ``bounds``;
- polygons: 3 or more vertices per ROI on dim ``vertex``.

The da00 ``source_name`` is ``"{source_name}/{job_number}/roi_rectangle"`` (or
``roi_polygon``) and its timestamp 0 (applies at once). An empty array clears. The same
DataArray is what the backend echoes as the job's ``roi_*`` outputs, hence the public
:func:`rois_to_data_array` / :func:`rois_from_data_array`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import numpy as np
import scipp as sc

from livedata.core.control import Roi, RoiShape, RoiUpdate
from livedata.core.identity import JobId
from livedata.protocol.da00 import decode_da00, encode_da00
from livedata.protocol.errors import (
    Buffer,
    DecodeError,
    DecodeReason,
    EncodeError,
    guard_decoder,
)

MAX_ROIS = 64
"""Most ROIs of one type per job. Every ROI adds a spectrum the job computes from each
event batch, so the count bounds the work one message can order."""

MAX_POLYGON_VERTICES = 1024
"""Most vertices of one polygon; a hand-drawn outline has tens."""

MAX_ROI_INDEX = (1 << 16) - 1
"""Largest ``roi_index``; indices name outputs and plot layers, 16 bits is plenty."""

DIMS: dict[RoiShape, str] = {"rectangle": "bounds", "polygon": "vertex"}
"""The dim each geometry type lies along."""

_SUFFIXES: dict[str, RoiShape] = {"roi_rectangle": "rectangle", "roi_polygon": "polygon"}
_X, _Y, _INDEX = "x", "y", "roi_index"


def roi_source_name(job_id: JobId, shape: RoiShape) -> str:
    """The da00 ``source_name`` of the ROI stream of ``job_id`` for ``shape``."""
    return f"{job_id.source_name}/{job_id.job_number}/roi_{shape}"


def parse_roi_source_name(source_name: str) -> tuple[JobId, RoiShape]:
    """Inverse of :func:`roi_source_name`; raises ``DecodeError(INVALID_VALUE)``."""
    # Split from the right: the job number and suffix never contain '/'.
    parts = source_name.rsplit("/", 2)
    shape = _SUFFIXES.get(parts[-1])
    if len(parts) != 3 or not parts[0] or shape is None:
        raise DecodeError(
            DecodeReason.INVALID_VALUE,
            f"ROI source name {source_name!r} is not 'source/job_number/roi_<shape>'",
        )
    try:
        job_number = uuid.UUID(parts[1])
    except ValueError:
        raise DecodeError(
            DecodeReason.INVALID_VALUE, f"ROI job number {parts[1]!r} is not a uuid"
        ) from None
    return JobId(source_name=parts[0], job_number=job_number), shape


@guard_decoder
def decode_roi(buf: Buffer) -> RoiUpdate:
    """Decode an ROI message (da00) into the full ROI set of one type for one job.

    Raises
    ------
    DecodeError
        For any payload that is not a valid ROI message: bad source name, wrong dims,
        non-finite or inverted geometry, too many ROIs or vertices.
    """
    source_name, _, data = decode_da00(buf, max_elements=MAX_ROIS * MAX_POLYGON_VERTICES)
    job_id, shape = parse_roi_source_name(source_name)
    return RoiUpdate(job_id=job_id, shape=shape, rois=rois_from_data_array(shape, data))


def encode_roi(update: RoiUpdate) -> bytes:
    """Serialise ``update`` as an ROI message; refuses what :func:`decode_roi` refuses."""
    data = rois_to_data_array(update.shape, update.rois)
    return encode_da00(roi_source_name(update.job_id, update.shape), data, timestamp_ns=0)


def rois_to_data_array(shape: RoiShape, rois: Mapping[int, Roi]) -> sc.DataArray:
    """The wire DataArray of ``rois``, ordered by index.

    Raises
    ------
    EncodeError
        If the ROIs are not all of ``shape`` and of one unit, or would not decode.
    """
    dim = DIMS[shape]
    units = {roi.unit for roi in rois.values()}
    if len(units) > 1:
        raise EncodeError(f"ROIs of one message share one unit, got {sorted(map(str, units))}")
    if any(roi.shape != shape for roi in rois.values()):
        raise EncodeError(f"all ROIs of a {shape} message must be {shape}s")
    if any(len(roi.x) != len(roi.y) for roi in rois.values()):
        raise EncodeError("every ROI needs as many y as x values")
    ordered = sorted(rois.items())
    x = [value for _, roi in ordered for value in roi.x]
    y = [value for _, roi in ordered for value in roi.y]
    index = [i for i, roi in ordered for _ in roi.x]
    unit = units.pop() if units else None
    try:
        unit = None if unit is None else str(sc.Unit(unit))
    except RuntimeError:  # scipp.UnitError derives from it
        raise EncodeError(f"ROI unit {unit!r} is not a unit") from None
    data = sc.DataArray(
        sc.array(dims=[dim], values=np.ones(len(x), dtype=np.int32), unit=None),
        coords={
            _X: sc.array(dims=[dim], values=np.array(x, dtype=np.float64), unit=unit),
            _Y: sc.array(dims=[dim], values=np.array(y, dtype=np.float64), unit=unit),
            _INDEX: sc.array(dims=[dim], values=np.array(index, dtype=np.int32), unit=None),
        },
    )
    try:
        rois_from_data_array(shape, data)
    except DecodeError as exc:
        raise EncodeError(f"ROIs would not decode: {exc}") from exc
    return data


def rois_from_data_array(shape: RoiShape, data: sc.DataArray) -> dict[int, Roi]:
    """Read the ROIs of ``shape`` from their wire DataArray.

    Raises
    ------
    DecodeError
        If ``data`` does not hold valid ROIs of ``shape``.
    """
    dim = DIMS[shape]
    if data.dims != (dim,):
        raise DecodeError(DecodeReason.BAD_SHAPE, f"{shape} ROIs lie on ({dim},), not {data.dims}")
    n = data.sizes[dim]
    if n == 0:
        return {}
    x, y, index = (_point_coord(data, name, dim) for name in (_X, _Y, _INDEX))
    if x.unit != y.unit:
        raise DecodeError(DecodeReason.INVALID_VALUE, f"ROI x in {x.unit} but y in {y.unit}")
    xs, ys = (_finite_floats(coord, name) for coord, name in ((x, _X), (y, _Y)))
    indices = _indices(index)
    unit = None if x.unit is None else str(x.unit)
    rois: dict[int, Roi] = {}
    # A stable sort keeps each ROI's points in their order even if interleaved.
    order = np.argsort(indices, kind="stable")
    starts = np.flatnonzero(np.diff(indices[order], prepend=-1))
    if len(starts) > MAX_ROIS:
        raise DecodeError(DecodeReason.TOO_LARGE, f"{len(starts)} ROIs, limit {MAX_ROIS}")
    for points in np.split(order, starts[1:]):
        roi_index = int(indices[points[0]])
        roi = Roi(
            shape=shape, x=tuple(xs[points].tolist()), y=tuple(ys[points].tolist()), unit=unit
        )
        _check_geometry(roi_index, roi)
        rois[roi_index] = roi
    return rois


def _point_coord(data: sc.DataArray, name: str, dim: str) -> sc.Variable:
    if name not in data.coords:
        raise DecodeError(DecodeReason.MISSING_FIELD, f"ROI data without coordinate {name!r}")
    coord = data.coords[name]
    # Bin edges (n + 1 values) would be accepted by scipp but mean nothing here.
    if coord.dims != (dim,) or coord.shape != data.shape:
        raise DecodeError(DecodeReason.BAD_SHAPE, f"ROI {name!r} has sizes {coord.sizes}")
    return coord


def _finite_floats(coord: sc.Variable, name: str) -> np.ndarray:
    if coord.dtype not in (sc.DType.float64, sc.DType.float32, sc.DType.int64, sc.DType.int32):
        raise DecodeError(DecodeReason.INVALID_VALUE, f"ROI {name!r} has dtype {coord.dtype}")
    values = np.asarray(coord.values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DecodeError(DecodeReason.NON_FINITE, f"ROI {name!r} holds NaN or infinity")
    return values


def _indices(coord: sc.Variable) -> np.ndarray:
    if coord.dtype not in (sc.DType.int32, sc.DType.int64):
        raise DecodeError(DecodeReason.INVALID_VALUE, f"roi_index has dtype {coord.dtype}")
    values = np.asarray(coord.values, dtype=np.int64)
    if values.min() < 0 or values.max() > MAX_ROI_INDEX:
        raise DecodeError(DecodeReason.OUT_OF_RANGE, f"roi_index outside [0, {MAX_ROI_INDEX}]")
    return values


def _check_geometry(index: int, roi: Roi) -> None:
    n = len(roi.x)
    if roi.shape == "rectangle":
        if n != 2:
            raise DecodeError(DecodeReason.BAD_SHAPE, f"rectangle {index} has {n} points, not 2")
        if roi.x[0] > roi.x[1] or roi.y[0] > roi.y[1]:
            raise DecodeError(
                DecodeReason.INVALID_VALUE, f"rectangle {index} is not (min corner, max corner)"
            )
    elif n < 3:
        raise DecodeError(DecodeReason.BAD_SHAPE, f"polygon {index} has {n} vertices, need 3")
    elif n > MAX_POLYGON_VERTICES:
        raise DecodeError(
            DecodeReason.TOO_LARGE,
            f"polygon {index} has {n} vertices, limit {MAX_POLYGON_VERTICES}",
        )
