"""One cell's figure: HoloViews builds it once, frames are written straight into it.

The figure (elements, options, ROI edit streams, tools) is declared with HoloViews and
rendered once per session into a bokeh figure. A new frame is then a plain assignment
of the frame's arrays to the layer's glyph source, plus axis and colour limits from
autoscaling with hysteresis: about a tenth of a millisecond, where a HoloViews
``Pipe.send`` re-runs its whole plotting pipeline (~10 ms). Changing log scales
rebuilds the figure (an operator's click, not a data update).

An operator's zoom or pan holds autoscaling of the axes it moved (bokeh reports it as a
``RangesUpdate`` event); the toolbar's reset, or :meth:`PlotView.resume_autoscale`, lets
the data scale them again (``policy.autoscale``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
from bokeh.events import RangesUpdate, Reset
from bokeh.models import HoverTool, SaveTool, VArea
from bokeh.models.renderers import GlyphRenderer

from livedata.dashboard.policy.autoscale import (
    AutoscalePolicy,
    AutoscaleState,
    Limits,
    autoscale,
    hold,
    moved_by_user,
    release,
)
from livedata.dashboard.policy.grid import DisplayOptions, Layer
from livedata.dashboard.policy.plotters import PlotterKind
from livedata.dashboard.ui.format import escape
from livedata.dashboard.ui.frames import CURVE_COLORS, Frame
from livedata.dashboard.ui.hvsetup import ensure_holoviews
from livedata.dashboard.ui.livehtml import LiveHTML
from livedata.dashboard.ui.rois import READBACK_STYLE

FAMILIES: dict[PlotterKind, str] = {
    PlotterKind.VALUE: "value",
    PlotterKind.TIMESERIES: "time",
    PlotterKind.LINE: "curve",
    PlotterKind.BARS: "curve",
    PlotterKind.IMAGE: "image",
    PlotterKind.SLICER: "image",
    PlotterKind.ROI_OVERLAY: "image",
}
"""Layers of one family share a figure (axes); a cell draws the family of its first
layer and lists the others as not shown."""

CMAP = "viridis"

BAND_ALPHA = 0.25
"""Opacity of an error band: the curve stays readable on top of it."""


@dataclass
class _Axis:
    """What the figure shows along one axis (or colour): autoscaled or fixed limits."""

    log: bool = False
    state: AutoscaleState = field(default_factory=AutoscaleState)
    shown: tuple[float, float] | None = None

    @property
    def held(self) -> bool:
        return self.state.held

    def hold(self) -> None:
        self.state = hold(self.state)

    def release(self) -> None:
        self.state = release(self.state)
        self.shown = None  # whatever the browser shows now, the next limits are written

    def update(self, data: Limits | None, fixed: tuple[float, float] | None) -> bool:
        """New limits to show (returns True if they changed); none while held."""
        if self.state.held:
            return False
        if fixed is not None:
            limits: tuple[float, float] | None = fixed
        else:
            if data is None:
                return False
            self.state = autoscale(self.state, data, AutoscalePolicy(log=self.log))
            got = self.state.limits
            limits = None if got is None else (got.low, got.high)
        if limits is None or limits == self.shown:
            return False
        if self.log and limits[0] <= 0:
            return False
        self.shown = limits
        return True


def _span(frames: Sequence[Frame | None], attr: str) -> Limits | None:
    found = [getattr(f, attr) for f in frames if f is not None and getattr(f, attr) is not None]
    if not found:
        return None
    return Limits(min(limit.low for limit in found), max(limit.high for limit in found))


class PlotView:
    """The figure of one cell's plot layers (one family), updated by direct writes."""

    def __init__(
        self,
        layers: Sequence[Layer],
        *,
        ndims: Sequence[int],
        labels: tuple[str, str, str] = ("", "", ""),
        extra: Sequence[Any] = (),
        filename: str = "livedata",
    ) -> None:
        renderer = ensure_holoviews()
        self._clabel = labels[2]
        self.layers = list(layers)
        self._curves = [
            layer.plotter is PlotterKind.LINE and ndim == 2
            for layer, ndim in zip(layers, ndims, strict=True)
        ]
        """Layers drawn as a family of curves (a 2-d output: one curve per row)."""
        self._bands = [
            layer.plotter is PlotterKind.LINE and ndim == 1 and layer.options.errors
            for layer, ndim in zip(layers, ndims, strict=True)
        ]
        """1-d curves drawn with an error band (``lower``/``upper`` in the same source)."""
        self.options: DisplayOptions = layers[0].options if layers else DisplayOptions()
        self.family = FAMILIES[layers[0].plotter] if layers else "curve"
        self._handles: dict[int, dict[str, Any]] = {}
        self._frames: list[Frame | None] = [None] * len(self.layers)
        self._sent: dict[int, dict[str, Any]] = {}
        elements = [
            self._element(i, layer).opts(hooks=[self._capture(i)])
            for i, layer in enumerate(self.layers)
        ]
        overlay = hv.Overlay([*elements, *extra]).opts(
            responsive=True,
            min_height=120,
            show_grid=self.family != "image",
            logx=self.options.log_x and self.family == "curve",
            logy=self.options.log_y and self.family in ("curve", "time"),
            toolbar="right",
            title="",
            xlabel=labels[0] or None,
            ylabel=labels[1] or None,
        )
        self._plot = renderer.get_plot(overlay, doc=pn.state.curdoc)
        self.figure = self._plot.state
        self.figure.sizing_mode = "stretch_both"
        # HoloViews asks for WebGL; without a GPU (headless, VMs, remote desktops) it is
        # emulated and every repaint reads pixels back: a plain canvas is several times
        # faster for images and curves of a few thousand points.
        self.figure.output_backend = "canvas"
        # Names the figure in the browser (tests and tools find it by this tag).
        self.figure.tags = [*self.figure.tags, f"ld-figure:{filename}"]
        for tool in self.figure.tools:
            if isinstance(tool, SaveTool):
                tool.filename = filename  # no prompt: the toolbar's save downloads a PNG
        self._x = _Axis(log=self.options.log_x and self.family == "curve")
        self._y = _Axis(log=self.options.log_y and self.family in ("curve", "time"))
        self._z = _Axis(log=self.options.log_color)
        self._labels: tuple[str, str, str] = labels
        for i, handles in self._handles.items():
            self._blank(i)
            mapper = handles.get("color_mapper")
            if mapper is not None and self._z.log:
                mapper.update(low=1.0, high=10.0)  # a log scale needs positive limits
        self.figure.on_event(RangesUpdate, self._ranges_moved)
        self.figure.on_event(Reset, self._reset)
        self.pane = pn.pane.Bokeh(self.figure, sizing_mode="stretch_both", min_height=120)

    # -- zoom and autoscale -------------------------------------------------------

    @property
    def autoscale_held(self) -> bool:
        """Whether the operator's zoom or pan holds an axis (data do not rescale it)."""
        return self._x.held or self._y.held

    def _ranges_moved(self, event: RangesUpdate) -> None:
        """A tool moved the ranges (zoom, pan, or the reset just before ``Reset``)."""
        if moved_by_user(self._x.shown, event.x0, event.x1):
            self._x.hold()
        if moved_by_user(self._y.shown, event.y0, event.y1):
            self._y.hold()

    def _reset(self, _event: Reset) -> None:
        self.resume_autoscale()

    def resume_autoscale(self) -> None:
        """Let the data scale every axis again, at once from the frames shown."""
        self._x.release()
        self._y.release()
        for index, frame in enumerate(self._frames):
            if frame is not None and index in self._handles:
                self._rescale(index, frame)

    # -- building -----------------------------------------------------------------

    def _capture(self, index: int) -> Callable[[Any, Any], None]:
        def hook(plot: Any, element: Any) -> None:
            if index not in self._handles:
                self._handles[index] = dict(plot.handles)
                self._styled(index, plot.handles)

        return hook

    def _element(self, index: int, layer: Layer) -> Any:
        kind = layer.plotter
        color = CURVE_COLORS[index % len(CURVE_COLORS)]
        if kind in (PlotterKind.IMAGE, PlotterKind.SLICER):
            return hv.Image(
                np.ones((1, 1)), bounds=(-0.5, -0.5, 0.5, 0.5), kdims=["x", "y"], vdims=["z"]
            ).opts(
                cmap=CMAP,
                colorbar=True,
                cnorm="log" if layer.options.log_color else "linear",
                clabel=self._clabel or None,
                clipping_colors={"NaN": "transparent"},
                tools=["hover"],
            )
        if kind is PlotterKind.ROI_OVERLAY:
            if layer.output_name.endswith("polygon"):
                return hv.Polygons([]).opts(**READBACK_STYLE)
            return hv.Rectangles([]).opts(**READBACK_STYLE)
        if kind is PlotterKind.TIMESERIES:
            start = np.array([np.datetime64("2000-01-01T00:00:00", "ns")])
            return hv.Curve((start, [0.0]), "x", "y").opts(color=color, tools=["hover"])
        if kind is PlotterKind.BARS:
            edges = np.array([0.0, 1.0])
            return hv.Histogram((edges, np.array([1.0])), kdims=["x"], vdims=["y"]).opts(
                fill_color=color, line_color=color, fill_alpha=0.6
            )
        if self._curves[index]:
            return hv.Path([np.array([[0.0, 1.0], [1.0, 1.0]])]).opts(line_width=2)
        return hv.Curve(([0.0, 1.0], [1.0, 1.0]), "x", "y").opts(
            color=color, line_width=2, tools=["hover"]
        )

    def _styled(self, index: int, handles: dict[str, Any]) -> None:
        glyph = handles.get("glyph")
        plot = handles.get("plot")
        if self._bands[index] and plot is not None:
            # The band reads the curve's own source: one message carries both.
            source = handles["source"]
            y = list(source.data.get("y", []))
            source.data = {**source.data, "lower": y, "upper": y}
            color = CURVE_COLORS[index % len(CURVE_COLORS)]
            band = GlyphRenderer(
                data_source=source,
                glyph=VArea(x="x", y1="lower", y2="upper", fill_color=color, fill_alpha=BAND_ALPHA),
                name="ld-error-band",
            )
            plot.renderers = [band, *plot.renderers]  # under the curve
        if self._curves[index] and glyph is not None:
            handles["source"].data = {"xs": [], "ys": [], "color": [], "label": []}
            glyph.line_color = {"field": "color"}
            if plot is not None:
                plot.add_tools(HoverTool(tooltips=[("curve", "@label")]))

    def _blank(self, index: int) -> None:
        """No data yet: nothing drawn (templates have no shape)."""
        source = self._handles[index].get("source")
        if source is None:
            return
        source.data = {name: [] for name in source.data}

    def source(self, index: int) -> Any:
        """The bokeh data source layer ``index`` draws from (None before it rendered)."""
        return self._handles.get(index, {}).get("source")

    # -- drawing ------------------------------------------------------------------

    def draw(self, index: int, frame: Frame) -> None:
        """Show ``frame`` for layer ``index`` and rescale the figure."""
        handles = self._handles.get(index)
        if handles is None or frame.problem is not None:
            return
        source = handles["source"]
        kind = self.layers[index].plotter
        columns = dict(frame.columns)
        if kind is PlotterKind.ROI_OVERLAY and "xs" in columns:
            # MultiPolygons nest: polygon -> parts -> rings.
            columns = {"xs": [[[x]] for x in columns["xs"]], "ys": [[[y]] for y in columns["ys"]]}
        elif "index" in columns:
            columns.pop("index")
        _assign(source, columns, self._sent.get(index))
        self._sent[index] = columns
        self._frames[index] = frame
        self._rescale(index, frame)
        shown = (frame.x_label, frame.y_label, frame.z_label)
        if kind is not PlotterKind.ROI_OVERLAY and shown != self._labels:
            self._labels = shown
            self.figure.xaxis.axis_label = frame.x_label
            self.figure.yaxis.axis_label = frame.y_label
            bar = handles.get("colorbar")
            if bar is not None:
                bar.title = frame.z_label

    def clear(self, index: int) -> None:
        if index in self._handles and self._frames[index] is not None:
            self._frames[index] = None
            self._sent.pop(index, None)
            self._blank(index)

    def _rescale(self, index: int, frame: Frame) -> None:
        kind = self.layers[index].plotter
        if kind is PlotterKind.ROI_OVERLAY:
            return
        figure_x = self._handles[index].get("x_range")
        figure_y = self._handles[index].get("y_range")
        fixed = self.options.color_limits
        if self.family == "image":
            if frame.x is not None and self._x.update(frame.x, None):
                _set_range(figure_x, self._x.shown)
            if frame.y is not None and self._y.update(frame.y, None):
                _set_range(figure_y, self._y.shown)
            mapper = self._handles[index].get("color_mapper")
            if mapper is not None and self._z.update(frame.z, fixed):
                low, high = self._z.shown or (1.0, 10.0)
                mapper.update(low=low, high=high)
            return
        if self._x.update(_span(self._frames, "x"), None):
            _set_range(figure_x, self._x.shown)
        if self._y.update(_span(self._frames, "y"), fixed):
            _set_range(figure_y, self._y.shown)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
        )
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _assign(source: Any, columns: dict[str, Any], previous: dict[str, Any] | None) -> None:
    """Send only the columns that changed (a spectrum's bin edges, an image's extent stay
    put from frame to frame): fewer buffers per message, less to serialise and send."""
    if previous is None or previous.keys() != columns.keys():
        source.data = columns
        return
    changed = {k: v for k, v in columns.items() if not _same(v, previous[k])}
    if len(changed) == len(columns):
        source.data = columns
    elif changed:
        source.data.update(changed)


def _set_range(rng: Any, limits: tuple[float, float] | None) -> None:
    if rng is None or limits is None:
        return
    low, high = limits
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        return
    rng.update(start=low, end=high)


class ValueView:
    """Numbers: one line per VALUE layer (title, value ± uncertainty, unit)."""

    def __init__(self, layers: Sequence[Layer], titles: Sequence[str]) -> None:
        self.layers = list(layers)
        self._titles = list(titles)
        self._texts = ["—"] * len(layers)
        self.pane = LiveHTML(
            html=self._html(), sizing_mode="stretch_both", css_classes=["ld-value"], min_height=60
        )

    def draw(self, index: int, frame: Frame) -> None:
        text = frame.problem or frame.text
        if self._texts[index] != text:
            self._texts[index] = text
            self.pane.html = self._html()

    def clear(self, index: int) -> None:
        if self._texts[index] != "—":
            self._texts[index] = "—"
            self.pane.html = self._html()

    def _html(self) -> str:
        rows = "".join(
            f"<div style='font-size:0.85em;color:#57606a'>{escape(title)}</div>"
            f"<div class='ld-value-text' style='font-size:2em;font-weight:600'>"
            f"{escape(text)}</div>"
            for title, text in zip(self._titles, self._texts, strict=True)
        )
        return f"<div style='padding:6px'>{rows}</div>"
