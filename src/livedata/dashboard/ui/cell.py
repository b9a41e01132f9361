"""One grid cell: header (title, state, data age, export), its figure, its options.

A cell draws the layers of one family (see ``plots.FAMILIES``) in one figure; layers of
another family are listed as not shown. On every session tick :meth:`CellView.refresh`
asks ``policy.updates.plan_cell`` which layers have new data or options, takes their
frames from the server-wide cache and writes them into the figure.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from typing import Any

import panel as pn

from livedata.core.control import Roi, RoiShape
from livedata.core.identity import JobId, ResultKey
from livedata.core.status import JobState
from livedata.dashboard.contract import ResultEntry
from livedata.dashboard.policy.display import (
    AgeLevel,
    LayerState,
    TimeWindow,
    age_level,
    cell_state,
    data_age_s,
    format_age,
    layer_state,
)
from livedata.dashboard.policy.grid import Cell, DisplayOptions, Layer
from livedata.dashboard.policy.plotters import PlotterKind
from livedata.dashboard.policy.updates import (
    Rendered,
    current_versions,
    layer_entry,
    plan_cell,
)
from livedata.dashboard.policy.windows import WindowRead, layer_window
from livedata.dashboard.ui import export
from livedata.dashboard.ui.cell_options import CellOptions
from livedata.dashboard.ui.context import DashboardContext, JobIndex
from livedata.dashboard.ui.format import escape
from livedata.dashboard.ui.frames import FrameOptions, axis_labels
from livedata.dashboard.ui.livehtml import LiveHTML
from livedata.dashboard.ui.plots import FAMILIES, PlotView, ValueView
from livedata.dashboard.ui.rois import RoiEditor

STATE_COLORS = {
    LayerState.LIVE: "#1a7f37",
    LayerState.WAITING: "#6e7781",
    LayerState.WARNING: "#bf8700",
    LayerState.STOPPED: "#57606a",
    LayerState.STALE: "#bc4c00",
    LayerState.ERROR: "#cf222e",
}
AGE_COLORS = {AgeLevel.FRESH: "#1a7f37", AgeLevel.LATE: "#bf8700", AgeLevel.OLD: "#cf222e"}

STATUS_PERIOD_NS = 1_000_000_000
"""A cell's data age is rewritten at most once a second (a state change shows at once)."""

PNG_JS = """
const view = Bokeh.index.find_one(fig);
if (view == null) { return; }
view.export("png").to_blob().then((blob) => {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name + ".png";
  link.dispatchEvent(new MouseEvent("click"));
});
"""
"""PNG of exactly what the operator sees, made by the browser from the figure's canvas
(bokeh's own export): no server-side renderer or browser driver needed."""


_SMALL: dict[str, Any] = {
    "color": "light",
    "width": 46,
    "height": 28,
    "margin": (2, 1),
    "stylesheets": [":host { --font-size: 11px; } .bk-btn { padding: 2px 4px; }"],
}
"""Header buttons: small, so the title and the state keep the room."""


def cell_title(cell: Cell) -> str:
    if cell.title:
        return cell.title
    if not cell.layers:
        return "Empty cell"
    layer = cell.layers[0]
    return f"{layer.source_name} · {layer.output_name}"


class CellView:
    """The view of one cell in one session."""

    def __init__(
        self,
        ctx: DashboardContext,
        cell: Cell,
        *,
        on_change: Callable[[Cell], None],
        on_remove: Callable[[], None],
    ) -> None:
        self.ctx = ctx
        self.cell = cell
        self._on_change = on_change
        self.on_remove = on_remove
        self._title = pn.pane.HTML("", css_classes=["ld-cell-title"], margin=(4, 4))
        self._status = LiveHTML(css_classes=["ld-cell-status"], margin=(6, 4), width=120, height=22)
        self._status_text = ""
        self._state: LayerState | None = None
        self._status_ns = 0
        options_button = pn.widgets.Button(label="⚙", css_classes=["ld-cell-options"], **_SMALL)
        options_button.on_click(lambda _: self._toggle_options())
        self._csv = pn.widgets.FileDownload(
            callback=self._csv_file,
            filename="cell.csv",
            label="CSV",
            css_classes=["ld-export-csv"],
            **_SMALL,
        )
        self._hdf5 = pn.widgets.FileDownload(
            callback=self._hdf5_file,
            filename="cell.h5",
            label="HDF5",
            css_classes=["ld-export-hdf5"],
            visible=export.hdf5_available(),
            **_SMALL,
        )
        self._png = pn.Row()
        self._resume = pn.widgets.Button(
            label="auto",
            description="Zoomed or panned: autoscale is paused. Click (or the toolbar's "
            "reset) to let the data scale the axes again.",
            css_classes=["ld-autoscale-resume"],
            visible=False,
            **{**_SMALL, "color": "warning"},
        )
        self._resume.on_click(lambda _: self._resume_autoscale())
        self._plane = pn.widgets.IntSlider(
            label="plane", start=0, end=1, value=0, visible=False, width=140
        )
        self._plane.param.watch(lambda _: self._force_redraw(), "value")
        self.header = pn.Row(
            self._title,
            pn.layout.HSpacer(),
            self._plane,
            self._resume,
            self._status,
            self._csv,
            self._hdf5,
            self._png,
            options_button,
            sizing_mode="stretch_width",
            margin=0,
        )
        self._options: CellOptions | None = None
        self._options_area = pn.Column(visible=False, sizing_mode="stretch_width")
        self._body = pn.Column(sizing_mode="stretch_both", margin=0)
        self.panel = pn.Column(
            self.header,
            self._options_area,
            self._body,
            sizing_mode="stretch_both",
            css_classes=["ld-cell"],
            styles={"border": "1px solid #d0d7de", "border-radius": "6px", "background": "white"},
            margin=3,
        )
        self._synced_jobs: set[JobId] = set()
        self._export_key: ResultKey | None = None
        self._build_body()

    # -- structure ----------------------------------------------------------------

    def _build_body(self) -> None:
        layers = list(self.cell.layers)
        self._title.object = f"<b>{escape(cell_title(self.cell))}</b>"
        family = FAMILIES[layers[0].plotter] if layers else None
        self.shown = _of_first_family(layers)
        hidden = [layer for layer in layers if FAMILIES[layer.plotter] != family]
        self._rendered: list[Rendered | None] = [None] * len(self.shown)
        self._entries: list[ResultEntry | None] = [None] * len(self.shown)
        self._windows = self._window_reads()
        self.editor: RoiEditor | None = None
        self.view: PlotView | ValueView | None = None
        self._problem = pn.pane.HTML("", visible=False, css_classes=["ld-cell-problem"])
        children: list[Any] = [self._problem]
        png: list[Any] = []
        if family == "value":
            titles = [f"{la.source_name} · {la.output_name}" for la in self.shown]
            self.view = ValueView(self.shown, titles)
            children.append(self.view.pane)
        elif family is not None:
            extra: list[Any] = []
            image = self._roi_layer()
            if image is not None and self.ctx.may_command:  # viewers draw no ROIs
                self.editor = RoiEditor(image.rois, self._rois_edited)
                extra = self.editor.elements
            view = PlotView(
                self.shown,
                ndims=[self.ndim(layer) for layer in self.shown],
                labels=self._labels(self.shown[0]),
                extra=extra,
                filename=self._stem(),
            )
            self.view = view
            children.append(view.pane)
            button = pn.widgets.Button(label="PNG", css_classes=["ld-export-png"], **_SMALL)
            button.js_on_click(args={"fig": view.figure, "name": self._stem()}, code=PNG_JS)
            png.append(button)
        else:
            children.append(pn.pane.HTML("<i>No layers: add one with ⚙.</i>"))
        if hidden:
            names = ", ".join(f"{la.output_name} ({la.plotter.value})" for la in hidden)
            children.append(
                pn.pane.HTML(f"<small>Not shown (other kind of plot): {escape(names)}</small>")
            )
        self._plane.visible = any(la.plotter is PlotterKind.SLICER for la in self.shown)
        self._png[:] = png
        self._body[:] = children
        self._csv.disabled = family not in ("value", "time", "curve")

    def _labels(self, layer: Layer) -> tuple[str, str, str]:
        spec = self.ctx.specs.get(layer.workflow_id)
        output = None if spec is None else spec.outputs.get(layer.output_name)
        if output is None:
            return ("", "", "")
        return axis_labels(output.template, self._frame_options(layer))

    def templates(self, layer: Layer) -> dict[str, Any]:
        """The output templates of the layer's workflow, by output name."""
        spec = self.ctx.specs.get(layer.workflow_id)
        return {} if spec is None else {n: o.template for n, o in spec.outputs.items()}

    def _window_reads(self) -> list[WindowRead | None]:
        """Per shown layer: the last-N-seconds sum it reads, if its window is one."""
        return [
            layer_window(
                layer.plotter,
                layer.output_name,
                layer.options.window.last_s,
                self.templates(layer),
            )
            for layer in self.shown
        ]

    def _frame_options(self, layer: Layer, window: WindowRead | None = None) -> FrameOptions:
        # A window reaches the frame only where it applies: a time series cuts its
        # points; a summed result is labelled as one; elsewhere it is shown as published.
        applies = layer.plotter is PlotterKind.TIMESERIES or window is not None
        return FrameOptions(
            kind=layer.plotter,
            rate=layer.options.rate,
            log_x=layer.options.log_x,
            log_y=layer.options.log_y,
            log_color=layer.options.log_color,
            window=layer.options.window if applies else TimeWindow(),
            plane=int(self._plane.value or 0),
            errors=layer.options.errors,
        )

    def ndim(self, layer: Layer) -> int:
        """Dims of the layer's output (from its template; 0 if unknown)."""
        spec = self.ctx.specs.get(layer.workflow_id)
        output = None if spec is None else spec.outputs.get(layer.output_name)
        return 0 if output is None else output.template.ndim

    def _roi_layer(self) -> Layer | None:
        """The image layer ROIs are drawn on: a detector view with index coordinates."""
        if not self.shown or self.shown[0].plotter is not PlotterKind.IMAGE:
            return None
        layer = self.shown[0]
        spec = self.ctx.specs.get(layer.workflow_id)
        if spec is None or "roi_rectangle" not in spec.outputs:
            return None
        template = spec.outputs[layer.output_name].template
        if any(
            dim in template.coords and template.coords[dim].unit is not None
            for dim in template.dims
        ):
            return None  # ROIs are sent in pixel indices; this image has physical axes
        return layer

    def _stem(self) -> str:
        if not self.cell.layers:
            return "cell"
        layer = self.cell.layers[0]
        return f"{layer.workflow_id.name}-{layer.source_name}-{layer.output_name}"

    def _toggle_options(self) -> None:
        if self._options is None:
            self._options = CellOptions(self.ctx, self)
            self._options_area[:] = [self._options.panel]
        self._options_area.visible = not self._options_area.visible

    def _resume_autoscale(self) -> None:
        if isinstance(self.view, PlotView):
            self.view.resume_autoscale()
        self._resume.visible = False

    def _force_redraw(self) -> None:
        self._rendered = [None] * len(self.shown)

    @property
    def status_html(self) -> str:
        """The header's state and data age, as shown."""
        return self._status_text

    # -- refresh ------------------------------------------------------------------

    def refresh(self, now_ns: int, jobs: JobIndex) -> int:
        """Draw what changed; returns the number of layers drawn."""
        results = self.ctx.backend.results
        drawn = 0
        if self.view is not None and self.shown:
            versions = current_versions(results, self.shown, self._windows)
            plan = plan_cell(self.shown, self._rendered, versions)
            for i in plan.render:
                drawn += self._draw(i)
        self._update_status(now_ns, jobs)
        held = isinstance(self.view, PlotView) and self.view.autoscale_held
        if self._resume.visible != held:
            self._resume.visible = held
        primary = self._primary()
        if primary is not None and primary.key != self._export_key:
            self._export_key = primary.key
            stem = export.file_stem(primary.key)
            self._csv.filename = stem + ".csv"
            self._hdf5.filename = stem + ".h5"
        if self.editor is not None:
            self._sync_saved_rois()
        return drawn

    def _draw(self, i: int) -> int:
        layer = self.shown[i]
        results = self.ctx.backend.results
        entry = layer_entry(results, layer, self._windows[i])
        self._entries[i] = entry
        self._rendered[i] = Rendered(None if entry is None else entry.version, layer.options)
        assert self.view is not None
        if entry is None:
            self.view.clear(i)
            return 0
        options = self._frame_options(layer, self._windows[i])
        key = entry.key
        frame = self.ctx.frames.get(entry, options, lambda: results.history(key))
        if frame.planes and self._plane.end != max(frame.planes - 1, 1):
            self._plane.end = max(frame.planes - 1, 1)
        problem = frame.problem if i == 0 else None
        if self._problem.visible != (problem is not None):
            self._problem.visible = problem is not None
        if problem is not None:
            self._problem.object = f"<small>{escape(problem)}</small>"
        self.view.draw(i, frame)
        return 1

    def _update_status(self, now_ns: int, jobs: JobIndex) -> None:
        states = []
        age_html = ""
        for layer, entry in zip(self.shown, self._entries, strict=True):
            if layer.plotter is PlotterKind.ROI_OVERLAY:
                continue
            job = jobs.newest.get((layer.workflow_id, layer.source_name))
            has_data = entry is not None and (job is None or entry.key.job_id == job.status.job_id)
            states.append(
                layer_state(
                    has_data,
                    None if job is None else job.status.state,
                    None if job is None else job.liveness,
                )
            )
            if not age_html and entry is not None:
                age = data_age_s(entry.data, now_ns)
                if age is not None:
                    color = AGE_COLORS[age_level(age)]
                    age_html = (
                        f"<span class='ld-age' style='color:{color}'>{format_age(age)}</span>"
                    )
        state = cell_state(states)
        if state is self._state and now_ns - self._status_ns < STATUS_PERIOD_NS:
            return  # the age moves on every tick: show it once a second, a state at once
        self._state = state
        self._status_ns = now_ns
        text = (
            f"<span class='ld-state ld-state-{state.value}' "
            f"style='color:{STATE_COLORS[state]};font-weight:600;white-space:nowrap'>"
            f"● {state.value}</span>"
            f"&nbsp;{age_html}"
        )
        if text != self._status_text:
            self._status_text = text
            self._status.html = text

    # -- ROIs -----------------------------------------------------------------------

    def _image_job(self) -> JobId | None:
        if not self.shown:
            return None
        layer = self.shown[0]
        entry = self._entries[0] if self._entries else None
        jobs = self.ctx.jobs(self.ctx.clock())
        newest = jobs.newest.get((layer.workflow_id, layer.source_name))
        if newest is not None and newest.status.state not in (JobState.STOPPED, JobState.ERROR):
            return newest.status.job_id
        return None if entry is None else entry.key.job_id

    def _rois_edited(self, shape: RoiShape, rois: dict[int, Roi]) -> None:
        layer = self.shown[0]
        saved = {**layer.rois, shape: rois}
        new_layer = dataclasses.replace(layer, rois={k: v for k, v in saved.items() if v})
        self._set_layer(0, new_layer)
        job = self._image_job()
        if job is None:
            self._show_problem(
                "No running job for this image: the ROIs are kept with the grid and sent "
                "when a job runs."
            )
            return
        self._publish(job, shape, rois)
        self._synced_jobs.add(job)

    def _publish(self, job: JobId, shape: RoiShape, rois: dict[int, Roi]) -> None:
        try:
            self.ctx.backend.publish_rois(job, shape, rois)
        except ValueError as err:
            self._show_problem(f"ROIs not sent: {err}")

    def clear_rois(self) -> None:
        job = self._image_job()
        if not self.shown:
            return
        self._set_layer(0, dataclasses.replace(self.shown[0], rois={}))
        if job is not None:
            shapes: tuple[RoiShape, ...] = ("rectangle", "polygon")
            for shape in shapes:
                self._publish(job, shape, {})
        self._build_body()

    def _sync_saved_rois(self) -> None:
        """Send the grid's saved ROIs to a job that has none yet (a new job, or a grid
        just loaded), once per job: a job that already has ROIs keeps them."""
        layer = self.shown[0]
        entry = self._entries[0]
        if not layer.rois or entry is None or entry.key.job_id in self._synced_jobs:
            return
        job = entry.key.job_id
        self._synced_jobs.add(job)
        results = self.ctx.backend.results
        for shape, rois in layer.rois.items():
            echo = results.get(
                ResultKey(workflow_id=layer.workflow_id, job_id=job, output_name=f"roi_{shape}")
            )
            if echo is None and rois:
                self._publish(job, shape, dict(rois))

    def _set_layer(self, index: int, layer: Layer) -> None:
        old = self.shown[index]
        layers = tuple(layer if la is old else la for la in self.cell.layers)
        self.shown[index] = layer
        self.cell = dataclasses.replace(self.cell, layers=layers)
        self._on_change(self.cell)

    def _show_problem(self, text: str) -> None:
        self._problem.object = f"<small>{escape(text)}</small>"
        self._problem.visible = True

    # -- options --------------------------------------------------------------------

    def set_options(self, options: DisplayOptions) -> None:
        old = self.cell.layers[0].options if self.cell.layers else DisplayOptions()
        layers = tuple(dataclasses.replace(la, options=options) for la in self.cell.layers)
        # Scales and the error band are built into the figure; other options are data.
        rebuild = (old.log_x, old.log_y, old.log_color, old.errors) != (
            options.log_x,
            options.log_y,
            options.log_color,
            options.errors,
        )
        self.cell = dataclasses.replace(self.cell, layers=layers)
        if rebuild:
            self._build_body()
        else:
            self.shown = _of_first_family(layers)  # same layers, new options: all redrawn
            self._windows = self._window_reads()
            if isinstance(self.view, PlotView):
                self.view.options = options
                self.view.resume_autoscale()  # new limits apply even to a zoomed plot
        self._on_change(self.cell)

    def set_layers(self, layers: tuple[Layer, ...]) -> None:
        self.cell = dataclasses.replace(self.cell, layers=layers)
        self._build_body()
        self._on_change(self.cell)

    # -- export ---------------------------------------------------------------------

    def _primary(self) -> ResultEntry | None:
        for layer, entry in zip(self.shown, self._entries, strict=True):
            if layer.plotter is not PlotterKind.ROI_OVERLAY and entry is not None:
                return entry
        return None

    def _csv_file(self) -> io.BytesIO:
        entry = self._primary()
        if entry is None:
            return io.BytesIO(b"# no data yet\n")
        try:
            return io.BytesIO(export.to_csv(entry.data))
        except ValueError as err:
            return io.BytesIO(f"# {err}\n".encode())

    def _hdf5_file(self) -> io.BytesIO:
        entry = self._primary()
        if entry is None:
            return io.BytesIO(b"")
        return io.BytesIO(export.to_hdf5(entry.data))


def _of_first_family(layers: tuple[Layer, ...] | list[Layer]) -> list[Layer]:
    if not layers:
        return []
    family = FAMILIES[layers[0].plotter]
    return [layer for layer in layers if FAMILIES[layer.plotter] == family]
