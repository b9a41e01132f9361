"""The plots of a session without a browser: a fake backend, a bokeh document per
session, and what the figures' data sources hold after a refresh."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from bokeh.document import Document
from bokeh.events import RangesUpdate
from panel.io.state import set_curdoc

from livedata.config.registry import load_instrument
from livedata.core.control import JobAction
from livedata.core.identity import WorkflowId
from livedata.core.status import JobState
from livedata.dashboard.policy.display import TimeWindow
from livedata.dashboard.policy.grid_files import GridLibrary
from livedata.dashboard.policy.plotters import PlotterKind
from livedata.dashboard.ui.cell import CellView
from livedata.dashboard.ui.cell_options import CellOptions
from livedata.dashboard.ui.context import DashboardContext
from livedata.dashboard.ui.plots import PlotView
from livedata.dashboard.ui.plots_tab import PlotsTab
from livedata.testing.dashboard import FakeBackend

pytestmark = pytest.mark.filterwarnings(
    # HoloViews computes ranges of the placeholder data it is built with (all NaN for
    # an empty time series) before the first frame replaces it.
    "ignore:All-NaN slice encountered:RuntimeWarning"
)


@pytest.fixture
def backend() -> FakeBackend:
    inst = load_instrument("dummy")
    backend = FakeBackend(inst)
    for name, sources in (
        ("panel_0_xy", ["panel_0"]),
        ("monitor_histogram", ["monitor1", "monitor2"]),
        ("timeseries_data", ["motion1", "motion2"]),
    ):
        backend.start_workflow(WorkflowId(instrument="dummy", name=name, version=1), sources, {})
    return backend


@pytest.fixture
def ctx(backend: FakeBackend, tmp_path: Path) -> DashboardContext:
    return DashboardContext(backend, load_instrument("dummy"), grids=GridLibrary(tmp_path))


@pytest.fixture
def session(ctx: DashboardContext) -> Iterator[PlotsTab]:
    with set_curdoc(Document()):
        yield PlotsTab(ctx)


NS = 1_000_000_000
PANEL = WorkflowId(instrument="dummy", name="panel_0_xy", version=1)


def cells(tab: PlotsTab) -> list[CellView]:
    return tab.cells()


def test_the_template_grid_opens_and_waits_for_data(session: PlotsTab) -> None:
    titles = [c.cell.title for c in cells(session)]
    assert "Panel 0, current window" in titles
    assert session.refresh(time.time_ns()) == 0
    for view in cells(session):
        assert "waiting" in view.status_html


def test_new_results_are_written_into_the_figures(session: PlotsTab, backend: FakeBackend) -> None:
    backend.feed()
    drawn = session.refresh(time.time_ns())
    assert drawn == 3  # two images and a history; no ROIs yet, so no ROI layers
    image = next(c for c in cells(session) if c.cell.title == "Panel 0, current window")
    assert isinstance(image.view, PlotView)
    source = image.view.source(0)
    assert source.data["image"][0].shape == (128, 128)
    assert "live" in image.status_html
    assert session.refresh(time.time_ns()) == 0, "nothing new: nothing drawn"
    backend.feed()
    assert session.refresh(time.time_ns()) == drawn


def test_sessions_share_each_frame(ctx: DashboardContext, backend: FakeBackend) -> None:
    sessions = []
    for _ in range(3):
        with set_curdoc(Document()):
            sessions.append(PlotsTab(ctx))
    backend.feed()
    for tab in sessions:
        tab.refresh(time.time_ns())
    assert ctx.frames.served == 3 * ctx.frames.computed


def test_a_stopped_job_shows_in_its_cells(session: PlotsTab, backend: FakeBackend) -> None:
    backend.feed()
    session.refresh(time.time_ns())
    job = next(
        r.status.job_id for r in backend.status.jobs(0) if r.status.job_id.source_name == "panel_0"
    )
    backend.job_action(JobAction.STOP, job_id=job)
    assert backend.status.job(job).status.state is JobState.STOPPED
    session.refresh(time.time_ns() + 2_000_000_000)
    image = next(c for c in cells(session) if c.cell.title == "Panel 0, current window")
    assert "stopped" in image.status_html


def test_drawn_rois_are_published_and_kept_with_the_grid(
    session: PlotsTab, backend: FakeBackend
) -> None:
    backend.feed()
    session.refresh(time.time_ns())
    image = next(c for c in cells(session) if c.cell.title == "Panel 0, current window")
    assert image.editor is not None
    image.editor.box_edit.event(data={"x0": [10.0], "y0": [20.0], "x1": [30.0], "y1": [40.0]})
    (sent,) = backend.sent_rois
    assert sent.shape == "rectangle"
    assert sent.rois[0].x == (10.0, 30.0)
    layer = next(la for la in session.grid.layers() if la.plotter is PlotterKind.IMAGE)
    assert layer.rois["rectangle"][0].y == (20.0, 40.0)
    backend.feed()
    session.refresh(time.time_ns())
    readback = next(c for c in cells(session) if c.cell.title == "Panel 0, current window")
    overlay = [i for i, la in enumerate(readback.shown) if la.output_name == "roi_rectangle"]
    assert readback.view.source(overlay[0]).data["left"] == [10.0]


def test_saved_rois_go_to_a_job_that_has_none(ctx: DashboardContext, backend: FakeBackend) -> None:
    with set_curdoc(Document()):
        first = PlotsTab(ctx)
    backend.feed()
    first.refresh(time.time_ns())
    image = next(c for c in cells(first) if c.cell.title == "Panel 0, current window")
    image.editor.box_edit.event(data={"x0": [1.0], "y0": [2.0], "x1": [3.0], "y1": [4.0]})
    ctx.grids.save("dummy", "mine", first.grid)
    # A new job without ROIs: loading the saved grid sends them to it once.
    backend.start_workflow(
        WorkflowId(instrument="dummy", name="panel_0_xy", version=1), ["panel_0"], {}
    )
    backend.feed()
    with set_curdoc(Document()):
        second = PlotsTab(ctx)
        second.load_grid(ctx.grids.load("dummy", "mine"))
    backend.sent_rois.clear()
    second.refresh(time.time_ns())
    second.refresh(time.time_ns())
    assert len(backend.sent_rois) == 1
    assert backend.sent_rois[0].rois[0].x == (1.0, 3.0)


def _cell(tab: PlotsTab, title: str) -> CellView:
    return next(c for c in cells(tab) if c.cell.title == title)


def test_a_last_n_seconds_window_shows_the_sum_of_the_current_frames(
    session: PlotsTab, backend: FakeBackend
) -> None:
    since_start = _cell(session, "Panel 0, since start")
    since_start.set_options(
        dataclasses.replace(since_start.cell.layers[0].options, window=TimeWindow(60.0))
    )
    now = time.time_ns()
    session.refresh(now)  # the cell asks for the sum: it starts with the next frame
    fed = []
    for i in range(1, 4):
        backend.feed(now + i * NS)
        fed.append(backend.results.latest(PANEL, "panel_0", "current").data)
    session.refresh(now + 3 * NS)
    image = since_start.view.source(0).data["image"][0]
    expected = sum(np.asarray(f.values) for f in fed)
    np.testing.assert_allclose(image, expected, rtol=1e-6)
    bar = since_start.view.figure.right[0]
    assert "sum of last 3.0 s" in bar.title


def test_the_options_offer_a_window_and_an_error_band_only_where_they_apply(
    session: PlotsTab,
) -> None:
    since_start = _cell(session, "Panel 0, since start")
    options = CellOptions(session.ctx, since_start)
    assert options.window.visible
    assert "as published" in options.window.options
    assert not options.errors.visible, "an image has no error band"
    series = _cell(session, "Panel 0 counts per window")
    assert CellOptions(session.ctx, series).window.options[0] == "since start"
    session.tabs.active = 1  # built when first shown
    monitor = _cell(session, "Monitor 1")
    monitor_options = CellOptions(session.ctx, monitor)
    assert monitor_options.errors.visible
    monitor_options.errors.value = True
    assert monitor.cell.layers[0].options.errors
    assert [r for r in monitor.view.figure.renderers if r.name == "ld-error-band"]


def test_a_zoomed_cell_offers_to_autoscale_again(session: PlotsTab, backend: FakeBackend) -> None:
    backend.feed()
    session.refresh(time.time_ns())
    series = _cell(session, "Panel 0 counts per window")
    figure = series.view.figure
    doc = Document()  # what the server does with a browser's zoom: an event on the doc
    doc.add_root(figure)
    doc.callbacks.trigger_event(RangesUpdate(figure, x0=0.0, x1=1.0, y0=0.0, y1=1.0))
    session.refresh(time.time_ns())
    resume = next(o for o in series.header.objects if "ld-autoscale-resume" in o.css_classes)
    assert resume.visible
    resume.clicks += 1
    assert not series.view.autoscale_held
    assert not resume.visible


def test_a_window_from_a_grid_file_survives_changing_another_option(session: PlotsTab) -> None:
    series = _cell(session, "Panel 0 counts per window")
    series.set_options(dataclasses.replace(series.cell.layers[0].options, window=TimeWindow(120.0)))
    options = CellOptions(session.ctx, series)
    assert options.window.value == "last 2 min"
    options.rate.value = True
    assert series.cell.layers[0].options.window == TimeWindow(120.0)
    assert series.cell.layers[0].options.rate
