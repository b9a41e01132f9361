"""Plot-ready frames: a result turned into the arrays a bokeh glyph draws, once per update.

Converting a result (counts to counts/s, log masking, step curves from bin edges,
downsampling a large image, finding its finite range) is the expensive part of drawing.
:class:`FrameCache` does it once per (output, store version, display options) for the
whole server; every session showing that output then only assigns the arrays to its own
plot. No Panel or HoloViews here.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipp as sc

from livedata.core.control import RoiShape
from livedata.dashboard.contract import ResultEntry
from livedata.dashboard.policy.autoscale import Limits, finite_range
from livedata.dashboard.policy.display import (
    TimeWindow,
    format_age,
    is_counts,
    select_window,
    series_points,
    to_rate,
    window_s,
)
from livedata.dashboard.policy.plotters import PlotterKind, fit_problem
from livedata.protocol.errors import DecodeError
from livedata.protocol.roi import rois_from_data_array

FloatArray = npt.NDArray[np.float64]

MAX_IMAGE_SIDE = 512
"""Largest image side sent to browsers; bigger detectors are summed in blocks. 512 x 512
float32 is 1 MiB per frame and session, more pixels than a grid cell has on screen."""

MAX_CACHED_FRAMES = 512
"""Frames kept: a few per output shown (options differ between sessions), for a few
hundred outputs; older ones are recomputed if asked for again."""

CURVE_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
"""Category10: ROI spectra and other curve families, one colour per curve."""

ROI_SHAPE_NAMES = {0: "rect", 1: "poly"}
"""``roi_shape`` coord codes of ROI spectra (``livedata.workflows.roi_spectra``)."""


@dataclass(frozen=True, slots=True)
class FrameOptions:
    """What of the display options changes the arrays (the rest is per session)."""

    kind: PlotterKind
    rate: bool = False
    log_x: bool = False
    log_y: bool = False
    log_color: bool = False
    window: TimeWindow = field(default_factory=TimeWindow)
    """A time series: the points of the last N seconds. Any other plotter: the result is
    the sum of the last N seconds (``policy.windows``), which its labels then say."""
    plane: int = 0
    """Slicer: index along the first dim."""
    errors: bool = False
    """1-d curves: ``lower`` / ``upper`` columns, one standard deviation around ``y``."""


@dataclass(frozen=True, slots=True)
class Frame:
    """What one layer draws: glyph columns plus the ranges autoscaling needs."""

    columns: Mapping[str, Any] = field(default_factory=dict)
    x: Limits | None = None
    """Extent of the data along x."""
    y: Limits | None = None
    """Extent along y (curves: the finite values; images: the second axis)."""
    z: Limits | None = None
    """Finite range of an image's values (colour)."""
    x_label: str = ""
    y_label: str = ""
    z_label: str = ""
    text: str = ""
    """A value's text (VALUE)."""
    planes: int = 0
    """Slicer: planes along the first dim."""
    problem: str | None = None
    """Why nothing can be drawn (shown in the cell instead)."""


def _label(name: str, unit: sc.Unit | str | None) -> str:
    return name if unit is None or str(unit) == "dimensionless" else f"{name} [{unit}]"


def _rate(data: sc.DataArray, options: FrameOptions) -> sc.DataArray:
    """Counts per second of the data window when asked for (and possible)."""
    if options.rate and is_counts(data) and window_s(data) is not None:
        return to_rate(data)
    return data


def _masked(values: npt.ArrayLike, log: bool) -> FloatArray:
    """float64 values; non-positive ones as NaN on a log scale (not drawable there)."""
    array = np.asarray(values, dtype=np.float64)
    if log:
        array = np.where(array > 0, array, np.nan)
    return array


def _limits(values: npt.ArrayLike) -> Limits | None:
    return finite_range(values)


def _axis(data: sc.DataArray, dim: str) -> tuple[FloatArray, bool, sc.Unit | None]:
    """(coordinate values, are edges, unit) along ``dim``; indices if it has no coord."""
    n = data.sizes[dim]
    coord = data.coords.get(dim)
    if coord is None or coord.ndim != 1 or coord.dtype == sc.DType.datetime64:
        return np.arange(n, dtype=np.float64), False, None
    values = np.asarray(coord.values, dtype=np.float64)
    return values, len(values) == n + 1, coord.unit


def _steps(x: FloatArray, edges: bool, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """A step curve over bin edges (each value held across its bin), or the points."""
    if not edges:
        return x, y
    return np.repeat(x, 2)[1:-1], np.repeat(y, 2)


def axis_labels(template: sc.DataArray, options: FrameOptions) -> tuple[str, str, str]:
    """(x, y, colour) axis labels of a plotter for an output, from its template: the
    figure is built with them, so the first frame does not re-lay out the page."""
    unit: sc.Unit | str | None = template.unit
    if options.rate and is_counts(template):
        unit = f"{template.unit}/s"
    value = _label("value", unit)
    kind = options.kind
    if kind is PlotterKind.TIMESERIES:
        return "time", value, ""
    dims = list(template.dims)
    if kind in (PlotterKind.IMAGE, PlotterKind.SLICER) and len(dims) >= 2:
        ydim, xdim = dims[-2], dims[-1]
        return _dim_label(template, xdim), _dim_label(template, ydim), value
    if kind in (PlotterKind.LINE, PlotterKind.BARS) and dims:
        return _dim_label(template, dims[-1]), value, ""
    return "", value, ""


def _dim_label(data: sc.DataArray, dim: str) -> str:
    coord = data.coords.get(dim)
    if coord is None or coord.dtype == sc.DType.datetime64:
        return dim
    return _label(dim, coord.unit)


# -- per plotter ----------------------------------------------------------------------


def value_frame(data: sc.DataArray, options: FrameOptions) -> Frame:
    data = _rate(data, options)
    value = float(data.value)
    unit = "" if data.unit is None or str(data.unit) == "dimensionless" else f" {data.unit}"
    text = _number(value) + unit
    if data.variance is not None and math.isfinite(data.variance):
        text = f"{_number(value)} ± {_number(math.sqrt(data.variance))}{unit}"
    return Frame(text=text, y=_limits([value]))


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.4g}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.4g}"


def series_frame(
    data: sc.DataArray,
    options: FrameOptions,
    history: Callable[[], tuple[npt.NDArray[np.int64], FloatArray]],
) -> Frame:
    """Values against data time: a 0-d output's history, or a 1-d datetime series."""
    if data.ndim == 0:
        times, values = history()
        seconds = window_s(data)
        if options.rate and is_counts(data) and seconds is not None:
            # History points carry no windows of their own; windows are all one batch
            # interval long, so the newest one's length converts them all.
            values = values / seconds
        unit = f"{data.unit}/s" if options.rate and is_counts(data) else data.unit
    else:
        times, values = series_points(data)
        unit = data.unit
    times, values = select_window(times, values, options.window)
    x = times.astype(np.float64) / 1e6  # bokeh's datetime axis counts milliseconds
    y = _masked(values, options.log_y)
    return Frame(
        columns={"x": x, "y": y},
        x=_limits(x),
        y=finite_range(y, log=options.log_y),
        x_label="time",
        y_label=_label("value", unit),
    )


def error_band(
    values: FloatArray, variances: npt.ArrayLike | None, log: bool
) -> tuple[FloatArray, FloatArray]:
    """(lower, upper): one standard deviation around ``values``; NaN without variances.

    On a log scale a lower bound at or below zero cannot be drawn: it goes to the
    smallest positive float, so the band runs off the bottom of the plot as it should.
    """
    if variances is None:
        nan = np.full_like(values, np.nan)
        return nan, nan.copy()
    sigma = np.sqrt(np.asarray(variances, dtype=np.float64))
    lower, upper = values - sigma, values + sigma
    if log:
        lower = np.where(lower > 0, lower, np.finfo(np.float64).tiny)
        lower[~np.isfinite(values)] = np.nan
    return lower, upper


def line_frame(data: sc.DataArray, options: FrameOptions) -> Frame:
    data = _rate(data, options)
    if data.ndim == 1:
        (dim,) = data.dims
        x, edges, unit = _axis(data, dim)
        y = _masked(data.values, options.log_y)
        xs, ys = _steps(x, edges, y)
        columns = {"x": xs, "y": ys}
        extent = y
        if options.errors:
            lower, upper = error_band(y, data.variances, options.log_y)
            columns["lower"] = _steps(x, edges, lower)[1]
            columns["upper"] = _steps(x, edges, upper)[1]
            # The band is part of what is shown: autoscale keeps it in view (on a log
            # scale its lower side may run off the bottom).
            extent = np.concatenate((y, upper) if options.log_y else (y, lower, upper))
        return Frame(
            columns=columns,
            x=finite_range(x, log=options.log_x),
            y=finite_range(extent, log=options.log_y),
            x_label=_label(dim, unit),
            y_label=_label("value", data.unit),
        )
    outer, inner = data.dims
    x, edges, unit = _axis(data, inner)
    values = _masked(data.values, options.log_y)
    curves_x, curves_y, colors, labels = [], [], [], []
    for i in range(data.sizes[outer]):
        xs, ys = _steps(x, edges, values[i])
        curves_x.append(xs)
        curves_y.append(ys)
        colors.append(CURVE_COLORS[i % len(CURVE_COLORS)])
        labels.append(_curve_label(data, outer, i))
    return Frame(
        columns={"xs": curves_x, "ys": curves_y, "color": colors, "label": labels},
        x=finite_range(x, log=options.log_x),
        y=finite_range(values, log=options.log_y),
        x_label=_label(inner, unit),
        y_label=_label("value", data.unit),
    )


def _curve_label(data: sc.DataArray, dim: str, i: int) -> str:
    coord = data.coords.get(dim)
    index = int(coord.values[i]) if coord is not None and coord.ndim == 1 else i
    shape = data.coords.get("roi_shape")
    if shape is not None and shape.ndim == 1 and shape.dims == (dim,):
        return f"{ROI_SHAPE_NAMES.get(int(shape.values[i]), '?')} {index}"
    return f"{dim} {index}"


def bars_frame(data: sc.DataArray, options: FrameOptions) -> Frame:
    data = _rate(data, options)
    (dim,) = data.dims
    x, edges, unit = _axis(data, dim)
    if not edges:
        return Frame(problem=f"bars need bin edges along {dim!r}")
    top = _masked(data.values, options.log_y)
    y = finite_range(top, log=options.log_y)
    return Frame(
        columns={"left": x[:-1], "right": x[1:], "top": top},
        x=finite_range(x, log=options.log_x),
        y=y,
        x_label=_label(dim, unit),
        y_label=_label("value", data.unit),
    )


def image_frame(data: sc.DataArray, options: FrameOptions) -> Frame:
    planes = 0
    if data.ndim == 3:
        planes = data.sizes[data.dims[0]]
        plane = min(max(options.plane, 0), planes - 1)
        data = data[data.dims[0], plane]
    data = _rate(data, options)
    ydim, xdim = data.dims
    values = np.asarray(data.values, dtype=np.float64)
    values, factor = _downsample(values)
    x0, dw, xunit = _extent(data, xdim)
    y0, dh, yunit = _extent(data, ydim)
    image = _masked(values, options.log_color).astype(np.float32)
    suffix = f" (sum of {factor[0]}x{factor[1]} pixels)" if factor != (1, 1) else ""
    return Frame(
        columns={"image": [image], "x": [x0], "y": [y0], "dw": [dw], "dh": [dh]},
        x=Limits(x0, x0 + dw),
        y=Limits(y0, y0 + dh),
        z=finite_range(image, log=options.log_color),
        x_label=_label(xdim, xunit),
        y_label=_label(ydim, yunit),
        z_label=_label("value", data.unit) + suffix,
        planes=planes,
    )


def _extent(data: sc.DataArray, dim: str) -> tuple[float, float, sc.Unit | None]:
    """(start, width, unit) of an image axis. Pixel centres sit on index coordinates,
    so pixel ``i`` spans ``[i - 0.5, i + 0.5]`` (as ROI geometry assumes)."""
    values, edges, unit = _axis(data, dim)
    n = data.sizes[dim]
    if n == 0:
        return -0.5, 1.0, unit
    if edges:
        return float(values[0]), float(values[-1] - values[0]) or 1.0, unit
    step = float(values[1] - values[0]) if n > 1 else 1.0
    return float(values[0]) - step / 2, step * n or 1.0, unit


def _downsample(values: FloatArray) -> tuple[FloatArray, tuple[int, int]]:
    ny, nx = values.shape
    fy, fx = math.ceil(ny / MAX_IMAGE_SIDE), math.ceil(nx / MAX_IMAGE_SIDE)
    if fy == 1 and fx == 1:
        return values, (1, 1)
    padded = np.zeros((math.ceil(ny / fy) * fy, math.ceil(nx / fx) * fx))
    padded[:ny, :nx] = np.nan_to_num(values, nan=0.0)
    blocks = padded.reshape(padded.shape[0] // fy, fy, padded.shape[1] // fx, fx)
    return blocks.sum(axis=(1, 3)), (fy, fx)


def roi_frame(data: sc.DataArray) -> Frame:
    """An ROI echo as rectangle corners (``left/right/bottom/top``) or polygon outlines
    (``xs/ys``), keyed by ROI index in ``index``."""
    shape: RoiShape = "rectangle" if data.dims == ("bounds",) else "polygon"
    try:
        rois = rois_from_data_array(shape, data)
    except DecodeError as err:
        return Frame(problem=f"ROI readback unreadable: {err}")
    if any(roi.unit is not None for roi in rois.values()):
        return Frame(problem="ROIs in physical units cannot be drawn on a pixel image")
    indices = sorted(rois)
    if shape == "rectangle":
        return Frame(
            columns={
                "left": [min(rois[i].x) for i in indices],
                "right": [max(rois[i].x) for i in indices],
                "bottom": [min(rois[i].y) for i in indices],
                "top": [max(rois[i].y) for i in indices],
                "index": indices,
            }
        )
    return Frame(
        columns={
            "xs": [list(rois[i].x) for i in indices],
            "ys": [list(rois[i].y) for i in indices],
            "index": indices,
        }
    )


def compute_frame(
    entry: ResultEntry,
    options: FrameOptions,
    history: Callable[[], tuple[npt.NDArray[np.int64], FloatArray]],
) -> Frame:
    """The frame of one result for one plotter (a ``problem`` frame if it does not fit)."""
    data = entry.data
    problem = fit_problem(options.kind, data)
    if problem is not None:
        return Frame(problem=problem)
    frame = _frame(data, options, history)
    if options.window.last_s is not None and options.kind is not PlotterKind.TIMESERIES:
        return _with_window_note(frame, data, options.kind)
    return frame


def _with_window_note(frame: Frame, data: sc.DataArray, kind: PlotterKind) -> Frame:
    """Say on the value axis which stretch of data time a summed result covers."""
    seconds = window_s(data)
    if frame.problem is not None or seconds is None:
        return frame
    note = f" · sum of last {format_age(seconds)}"
    if kind is PlotterKind.VALUE:
        return dataclasses.replace(frame, text=frame.text + note)
    if kind in (PlotterKind.IMAGE, PlotterKind.SLICER):
        return dataclasses.replace(frame, z_label=frame.z_label + note)
    return dataclasses.replace(frame, y_label=frame.y_label + note)


def _frame(
    data: sc.DataArray,
    options: FrameOptions,
    history: Callable[[], tuple[npt.NDArray[np.int64], FloatArray]],
) -> Frame:
    kind = options.kind
    try:
        if kind is PlotterKind.VALUE:
            return value_frame(data, options)
        if kind is PlotterKind.TIMESERIES:
            return series_frame(data, options, history)
        if kind is PlotterKind.LINE:
            return line_frame(data, options)
        if kind is PlotterKind.BARS:
            return bars_frame(data, options)
        if kind in (PlotterKind.IMAGE, PlotterKind.SLICER):
            return image_frame(data, options)
        return roi_frame(data)  # PlotterKind.ROI_OVERLAY, the last kind
    except (ValueError, IndexError, sc.DimensionError) as err:
        return Frame(problem=f"cannot draw this result: {err}")


class FrameCache:
    """Frames by (output, version, options), shared by every session of the server."""

    def __init__(self, max_frames: int = MAX_CACHED_FRAMES) -> None:
        self._max = max_frames
        self._lock = threading.Lock()
        self._frames: OrderedDict[Hashable, Frame] = OrderedDict()
        self.computed = 0
        """Frames computed (a cache miss); compare with ``served`` to see the sharing."""
        self.served = 0
        self.compute_s = 0.0
        """Time spent computing frames (the part of a cell-frame shared by sessions)."""

    def get(
        self,
        entry: ResultEntry,
        options: FrameOptions,
        history: Callable[[], tuple[npt.NDArray[np.int64], FloatArray]],
    ) -> Frame:
        key = (entry.key, entry.version, options)
        with self._lock:
            self.served += 1
            frame = self._frames.get(key)
            if frame is not None:
                self._frames.move_to_end(key)
                return frame
        # Computed outside the lock: two sessions may race to compute the same frame
        # once; that costs less than making every session wait behind one computation.
        started = time.perf_counter()
        frame = compute_frame(entry, options, history)
        elapsed = time.perf_counter() - started
        with self._lock:
            self.computed += 1
            self.compute_s += elapsed
            self._frames[key] = frame
            while len(self._frames) > self._max:
                self._frames.popitem(last=False)
        return frame
