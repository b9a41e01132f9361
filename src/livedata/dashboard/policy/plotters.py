"""Which plotters fit an output, decided from its template (or a live result) alone.

A workflow spec ships an empty DataArray per output with its dims, coords and units, so
the dashboard offers plotters before any data arrives. The first kind offered is the
default. Nothing here draws; the UI maps each kind to a HoloViews element.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import scipp as sc

from livedata.protocol.roi import DIMS as ROI_DIMS

MAX_PLOT_DIMS = 3
"""A slicer shows one 2-d plane of a 3-d cube; more dims have no plotter."""

_NUMERIC = (sc.DType.float64, sc.DType.float32, sc.DType.int64, sc.DType.int32, sc.DType.bool)
"""A tuple: scipp dtypes are not hashable."""
_ROI_COORDS = frozenset({"x", "y", "roi_index"})


class PlotterKind(StrEnum):
    VALUE = "value"
    """A 0-d output as a number (with unit and uncertainty)."""
    TIMESERIES = "timeseries"
    """Values against data time: the history of a 0-d output (``ResultsView.history``),
    or a 1-d output along a datetime coordinate (its own points)."""
    LINE = "line"
    """A 1-d output as a curve (a step curve over bin edges); for a 2-d output whose
    first dim labels curves (e.g. ``roi``), one curve per element of that dim."""
    BARS = "bars"
    """A 1-d histogram (bin-edge coordinate) as bars."""
    IMAGE = "image"
    """A 2-d output as an image (first dim vertical, second horizontal)."""
    SLICER = "slicer"
    """A 3-d output as an image of one plane, chosen along its first dim."""
    ROI_OVERLAY = "roi_overlay"
    """An ROI echo (``roi_rectangle`` / ``roi_polygon``) drawn over an image."""


@dataclass(frozen=True, slots=True)
class PlotterChoice:
    """The plotters that fit, best first (empty if none), and why."""

    kinds: tuple[PlotterKind, ...]
    reason: str

    @property
    def default(self) -> PlotterKind | None:
        return self.kinds[0] if self.kinds else None


def _none(reason: str) -> PlotterChoice:
    return PlotterChoice((), reason)


def is_roi_echo(data: sc.DataArray) -> bool:
    """True for the ROI wire layout (WIRE.md "ROIs"): points on ``bounds`` or ``vertex``
    with ``x``, ``y`` and ``roi_index`` coordinates."""
    return data.dims in {(dim,) for dim in ROI_DIMS.values()} and set(data.coords) >= _ROI_COORDS


def _axis_problem(data: sc.DataArray) -> str | None:
    """Why the coords cannot serve as plot axes (a dim coord that is not 1-d along its
    own dim), or None."""
    for dim in data.dims:
        coord = data.coords.get(dim)
        if coord is not None and coord.dims != (dim,):
            return f"coordinate {dim!r} spans {coord.dims}; an axis must be 1-d along {dim!r}"
    return None


def _is_edges(data: sc.DataArray, dim: str) -> bool:
    return dim in data.coords and data.coords.is_edges(dim, dim)


def _is_label_dim(data: sc.DataArray, dim: str) -> bool:
    """A dim that numbers things (ROIs, banks) rather than measuring: no coord, or an
    integer coord without a unit."""
    coord = data.coords.get(dim)
    return coord is None or (coord.unit is None and coord.dtype in (sc.DType.int32, sc.DType.int64))


def choose_plotters(data: sc.DataArray) -> PlotterChoice:
    """The plotter kinds that fit ``data`` (an output template or a live result)."""
    if is_roi_echo(data):
        return PlotterChoice((PlotterKind.ROI_OVERLAY,), "ROI geometry: drawn over its image")
    if data.dtype not in _NUMERIC:
        return _none(f"values of dtype {data.dtype} cannot be plotted")
    problem = _axis_problem(data)
    if problem is not None:
        return _none(problem)
    ndim = data.ndim
    if ndim == 0:
        return PlotterChoice(
            (PlotterKind.VALUE, PlotterKind.TIMESERIES), "0-d: a number, or its history"
        )
    if ndim == 1:
        (dim,) = data.dims
        coord = data.coords.get(dim)
        if coord is not None and coord.dtype == sc.DType.datetime64:
            return PlotterChoice(
                (PlotterKind.TIMESERIES, PlotterKind.LINE), f"1-d along datetime {dim!r}"
            )
        if _is_edges(data, dim):
            return PlotterChoice(
                (PlotterKind.LINE, PlotterKind.BARS), f"1-d histogram over bin edges of {dim!r}"
            )
        return PlotterChoice((PlotterKind.LINE,), f"1-d along {dim!r}")
    if ndim == 2:
        outer, inner = data.dims
        inner_coord = data.coords.get(inner)
        if (
            _is_label_dim(data, outer)
            and inner_coord is not None
            and inner_coord.unit is not None
            and inner_coord.dtype != sc.DType.datetime64
        ):
            return PlotterChoice(
                (PlotterKind.LINE, PlotterKind.IMAGE),
                f"2-d: one curve over {inner!r} per {outer!r}, or an image",
            )
        return PlotterChoice((PlotterKind.IMAGE,), f"2-d image of {outer!r} by {inner!r}")
    if ndim == MAX_PLOT_DIMS:
        return PlotterChoice((PlotterKind.SLICER,), f"3-d: planes along {data.dims[0]!r}")
    return _none(f"{ndim}-d outputs have no plotter (at most {MAX_PLOT_DIMS} dims)")


def fit_problem(
    kind: PlotterKind, data: sc.DataArray, template: sc.DataArray | None = None
) -> str | None:
    """Why ``kind`` cannot draw ``data`` (a live result), or None if it can.

    With ``template``, a result whose dims differ from its template's is refused too:
    a layer chosen for one shape must not silently draw another.
    """
    if template is not None and data.dims != template.dims:
        return f"result dims {data.dims} differ from the output template's {template.dims}"
    choice = choose_plotters(data)
    if kind in choice.kinds:
        return None
    if not choice.kinds:
        return choice.reason
    offered = ", ".join(k.value for k in choice.kinds)
    return f"{kind.value} does not fit ({choice.reason}); use {offered}"
