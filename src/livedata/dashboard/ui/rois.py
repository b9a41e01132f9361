"""Drawing regions of interest on a detector image (HoloViews edit streams).

Rectangles use ``BoxEdit`` (shift-drag to draw, drag to move, tap and Backspace to
delete); polygons use ``PolyDraw`` (click the vertices, double-click to close) and
``PolyEdit`` (double-click a polygon to move its vertices). Every edit sends the full
set of that shape to the job (``Backend.publish_rois``, pixel-index coordinates, unit
None); what the backend applied comes back as the job's ``roi_*`` outputs and is drawn
by a separate overlay, so a refused edit is visible at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import holoviews as hv

from livedata.core.control import Roi, RoiShape
from livedata.dashboard.ui.hvsetup import ensure_holoviews
from livedata.protocol.roi import MAX_POLYGON_VERTICES, MAX_ROIS

RoiSet = dict[int, Roi]

EDIT_STYLE: dict[str, Any] = {
    "fill_color": "white",
    "fill_alpha": 0.12,
    "line_color": "white",
    "line_width": 2,
}
READBACK_STYLE: dict[str, Any] = {
    "fill_alpha": 0.0,
    "line_color": "#ff2a6d",
    "line_width": 2,
    "line_dash": "dashed",
}
"""What the backend applies: dashed, in a colour the viridis map never uses."""


def rectangles_data(rois: Mapping[int, Roi]) -> list[tuple[float, float, float, float]]:
    return [(min(roi.x), min(roi.y), max(roi.x), max(roi.y)) for _, roi in sorted(rois.items())]


def polygons_data(rois: Mapping[int, Roi]) -> list[dict[str, list[float]]]:
    return [{"x": list(roi.x), "y": list(roi.y)} for _, roi in sorted(rois.items())]


def _flat(values: Any) -> list[float]:
    """A polygon's vertex list, from the flat or nested (multi-polygon) CDS layouts."""
    out: list[float] = []
    for value in values if isinstance(values, list | tuple) else list(values):
        if isinstance(value, list | tuple) or hasattr(value, "__len__"):
            out.extend(_flat(value))
        else:
            out.append(float(value))
    return out


def rectangles_from_stream(data: Mapping[str, Sequence[float]]) -> list[Roi]:
    """BoxEdit's ``data`` (``x0, y0, x1, y1`` lists) as rectangle ROIs."""
    x0, y0 = data.get("x0", []), data.get("y0", [])
    x1, y1 = data.get("x1", []), data.get("y1", [])
    return [
        Roi(shape="rectangle", x=(min(a, c), max(a, c)), y=(min(b, d), max(b, d)))
        for a, b, c, d in zip(x0, y0, x1, y1, strict=False)
    ]


def polygons_from_stream(data: Mapping[str, Sequence[Any]]) -> list[Roi]:
    """PolyDraw's ``data`` (``xs, ys`` vertex lists) as polygon ROIs; an outline with
    fewer than three vertices (still being drawn) is left out."""
    rois = []
    for xs, ys in zip(data.get("xs", []), data.get("ys", []), strict=False):
        x, y = _flat(xs), _flat(ys)
        if len(x) > 1 and x[0] == x[-1] and y[0] == y[-1]:
            x, y = x[:-1], y[:-1]  # a closed ring repeats its first vertex
        if 3 <= len(x) == len(y) <= MAX_POLYGON_VERTICES:
            rois.append(Roi(shape="polygon", x=tuple(x), y=tuple(y)))
    return rois


def keep_indices(previous: Mapping[int, Roi], drawn: Sequence[Roi]) -> RoiSet:
    """Index the drawn ROIs so an unchanged ROI keeps its index (and its spectrum).

    Edit tools append new shapes and remove deleted ones from their lists: an ROI equal
    to a previous one keeps that index; a moved one keeps its position's index when the
    count did not change; new ones take the smallest free indices.
    """
    old = sorted(previous.items())
    out: RoiSet = {}
    unmatched: list[Roi] = []
    if len(drawn) == len(old):
        return {index: roi for (index, _), roi in zip(old, drawn, strict=True)}
    by_geometry = {(roi.x, roi.y): index for index, roi in old}
    for roi in drawn:
        index = by_geometry.pop((roi.x, roi.y), None)
        if index is None:
            unmatched.append(roi)
        else:
            out[index] = roi
    free = (i for i in range(MAX_ROIS * 4) if i not in out)
    for roi in unmatched:
        out[next(free)] = roi
    return out


class RoiEditor:
    """Editable rectangles and polygons for one image; calls ``on_change(shape, rois)``
    with the full set of a shape after every edit of it."""

    def __init__(
        self,
        initial: Mapping[RoiShape, Mapping[int, Roi]],
        on_change: Callable[[RoiShape, RoiSet], None],
    ) -> None:
        self._rois: dict[RoiShape, RoiSet] = {
            shape: dict(initial.get(shape, {})) for shape in ("rectangle", "polygon")
        }
        self._on_change = on_change
        ensure_holoviews()
        self.rectangles = hv.Rectangles(rectangles_data(self._rois["rectangle"])).opts(**EDIT_STYLE)
        self.polygons = hv.Polygons(polygons_data(self._rois["polygon"])).opts(**EDIT_STYLE)
        self.box_edit = hv.streams.BoxEdit(source=self.rectangles, num_objects=MAX_ROIS)
        self.poly_draw = hv.streams.PolyDraw(
            source=self.polygons, num_objects=MAX_ROIS, drag=True, show_vertices=True
        )
        self.poly_edit = hv.streams.PolyEdit(source=self.polygons, shared=True)
        self.box_edit.add_subscriber(self._rectangles_edited)
        self.poly_draw.add_subscriber(self._polygons_edited)
        self.poly_edit.add_subscriber(self._polygons_edited)

    @property
    def elements(self) -> list[Any]:
        return [self.rectangles, self.polygons]

    def rois(self, shape: RoiShape) -> RoiSet:
        return dict(self._rois[shape])

    def _rectangles_edited(self, data: Mapping[str, Any] | None = None, **_: Any) -> None:
        self._changed("rectangle", rectangles_from_stream(data or {}))

    def _polygons_edited(self, data: Mapping[str, Any] | None = None, **_: Any) -> None:
        self._changed("polygon", polygons_from_stream(data or {}))

    def _changed(self, shape: RoiShape, drawn: list[Roi]) -> None:
        rois = keep_indices(self._rois[shape], drawn[:MAX_ROIS])
        if rois == self._rois[shape]:
            return
        self._rois[shape] = rois
        self._on_change(shape, rois)
