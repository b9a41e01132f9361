"""The plots of a session without a browser: a fake backend, a bokeh document per
session, and what the figures' data sources hold after a refresh."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bokeh.document import Document
from panel.io.state import set_curdoc

from livedata.config.registry import load_instrument
from livedata.core.control import JobAction
from livedata.core.identity import WorkflowId
from livedata.core.status import JobState
from livedata.dashboard.policy.grid_files import GridLibrary
from livedata.dashboard.policy.plotters import PlotterKind
from livedata.dashboard.ui.cell import CellView
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
