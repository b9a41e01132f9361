"""A cell's options panel: display options, its layers, ROI tools. Built on first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import panel as pn

from livedata.dashboard.policy.display import TimeWindow, format_age
from livedata.dashboard.policy.grid import DisplayOptions, GridError
from livedata.dashboard.policy.plotters import PlotterKind
from livedata.dashboard.policy.windows import window_applies
from livedata.dashboard.ui.format import escape
from livedata.dashboard.ui.picker import OutputPicker
from livedata.dashboard.ui.plots import FAMILIES

if TYPE_CHECKING:
    from livedata.dashboard.ui.cell import CellView
    from livedata.dashboard.ui.context import DashboardContext

WINDOWS: dict[str, float | None] = {
    "since start": None,
    "last 10 s": 10.0,
    "last 1 min": 60.0,
    "last 5 min": 300.0,
    "last 30 min": 1800.0,
    "last 2 h": 7200.0,
}
"""Time windows offered. For a time series the first is "since start"; for summed counts
it is the output "as published" (a ``current`` image: its last data window)."""


def window_choices(time_series: bool, last_s: float | None) -> dict[str, float | None]:
    """The window menu of a cell, including a window set in a grid file but not offered
    (so that changing another option does not silently drop it)."""
    choices = dict(WINDOWS)
    if not time_series:
        choices = {("as published" if s is None else name): s for name, s in choices.items()}
    if last_s not in choices.values():
        choices[f"last {format_age(float(last_s or 0))}"] = last_s
    return choices


ROI_HELP = (
    "<small>ROIs: pick the box tool and shift-drag to draw a rectangle, drag it to move, "
    "tap it and press Backspace to delete. Pick the polygon tool to click vertices "
    "(double-click closes). Dashed outlines are what the backend applied.</small>"
)


class CellOptions:
    """Widgets editing one cell; every change goes straight to the cell."""

    def __init__(self, ctx: DashboardContext, view: CellView) -> None:
        self._view = view
        options = view.cell.layers[0].options if view.cell.layers else DisplayOptions()
        family = FAMILIES[view.cell.layers[0].plotter] if view.cell.layers else None
        self.log_x = pn.widgets.Checkbox(label="log x", value=options.log_x)
        self.log_y = pn.widgets.Checkbox(label="log y", value=options.log_y)
        self.log_color = pn.widgets.Checkbox(label="log colour", value=options.log_color)
        self.rate = pn.widgets.Checkbox(
            label="counts/s", value=options.rate, css_classes=["ld-opt-rate"]
        )
        low, high = options.color_limits or (None, None)
        limits_name = "colour" if family == "image" else "y"
        self.fixed = pn.widgets.Checkbox(
            label=f"fixed {limits_name} limits", value=options.color_limits is not None
        )
        self.low = pn.widgets.FloatInput(label="low", value=low, width=90)
        self.high = pn.widgets.FloatInput(label="high", value=high, width=90)
        first = view.cell.layers[0] if view.cell.layers else None
        self._windows = window_choices(family == "time", options.window.last_s)
        window_name = next(n for n, s in self._windows.items() if s == options.window.last_s)
        self.window = pn.widgets.Select(
            label="time window",
            options=list(self._windows),
            value=window_name,
            width=130,
            css_classes=["ld-opt-window"],
        )
        self.errors = pn.widgets.Checkbox(
            label="error band (±1 sd)", value=options.errors, css_classes=["ld-opt-errors"]
        )
        self.log_x.visible = family == "curve"
        self.log_y.visible = family in ("curve", "time")
        self.log_color.visible = family == "image"
        # Offered only where it means something: the points of a time series, or the
        # sum of per-window counts (policy.windows); elsewhere it would do nothing.
        self.window.visible = first is not None and window_applies(
            first.plotter, first.output_name, view.templates(first)
        )
        self.errors.visible = any(
            la.plotter is PlotterKind.LINE and view.ndim(la) == 1 for la in view.shown
        )
        self.message = pn.pane.HTML("", css_classes=["ld-opt-message"])
        for widget in (
            self.log_x,
            self.log_y,
            self.log_color,
            self.rate,
            self.fixed,
            self.low,
            self.high,
            self.window,
            self.errors,
        ):
            widget.param.watch(lambda _: self._apply(), "value")
        self.layers = pn.Column(margin=0)
        self.picker = OutputPicker(ctx.specs)
        add = pn.widgets.Button(label="Add layer", color="primary", width=100)
        add.on_click(lambda _: self._add_layer())
        remove = pn.widgets.Button(
            label="Remove cell", color="danger", width=110, css_classes=["ld-cell-remove"]
        )
        remove.on_click(lambda _: view.on_remove())
        parts: list[Any] = [
            pn.Row(
                self.log_x,
                self.log_y,
                self.log_color,
                self.rate,
                self.errors,
                pn.layout.HSpacer(),
                remove,
            ),
            pn.Row(self.fixed, self.low, self.high, self.window),
            self.message,
            pn.pane.HTML("<b>Layers</b>", margin=(4, 5, 0, 5)),
            self.layers,
            pn.Row(self.picker.panel, add),
        ]
        if view.editor is not None:
            clear = pn.widgets.Button(label="Clear ROIs", color="warning", width=100)
            clear.on_click(lambda _: view.clear_rois())
            parts.append(pn.Row(pn.pane.HTML(ROI_HELP), clear))
        self.panel = pn.Column(
            *parts,
            sizing_mode="stretch_width",
            styles={"background": "#f6f8fa", "border-top": "1px solid #d0d7de"},
        )
        self._list_layers()

    def _apply(self) -> None:
        limits = None
        if self.fixed.value and self.low.value is not None and self.high.value is not None:
            limits = (float(self.low.value), float(self.high.value))
        try:
            options = DisplayOptions(
                log_x=self.log_x.value,
                log_y=self.log_y.value,
                log_color=self.log_color.value,
                color_limits=limits,
                rate=self.rate.value,
                window=TimeWindow(self._windows[self.window.value]),
                errors=bool(self.errors.value),
            )
        except (GridError, ValueError) as err:
            self.message.object = f"<span style='color:#cf222e'>{escape(str(err))}</span>"
            return
        self.message.object = ""
        self._view.set_options(options)

    def _list_layers(self) -> None:
        rows = []
        for i, layer in enumerate(self._view.cell.layers):
            remove = pn.widgets.Button(label="remove", color="light", width=70)
            remove.on_click(self._remover(i))
            text = (
                escape(f"{layer.workflow_id.name} · {layer.source_name} · {layer.output_name}")
                + f" <i>({layer.plotter.value})</i>"
            )
            rows.append(pn.Row(pn.pane.HTML(text), remove, margin=0))
        self.layers[:] = rows

    def _remover(self, index: int) -> Callable[[Any], None]:
        return lambda _: self._remove_layer(index)

    def _remove_layer(self, index: int) -> None:
        layers = tuple(la for i, la in enumerate(self._view.cell.layers) if i != index)
        self._view.set_layers(layers)
        self._list_layers()

    def _add_layer(self) -> None:
        layer = self.picker.layer()
        if layer is None:
            self.message.object = "<span style='color:#cf222e'>Choose an output first.</span>"
            return
        try:
            self._view.set_layers((*self._view.cell.layers, layer))
        except GridError as err:
            self.message.object = f"<span style='color:#cf222e'>{escape(str(err))}</span>"
            return
        self._list_layers()
