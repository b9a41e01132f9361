"""One cell's figure without a browser: frames written into bokeh, and the operator's
zoom (bokeh's ``RangesUpdate`` and ``Reset`` events, as a browser sends them) against
autoscaling."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import scipp as sc
from bokeh.document import Document
from bokeh.events import RangesUpdate, Reset
from panel.io.state import set_curdoc

from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.dashboard.contract import ResultEntry
from livedata.dashboard.policy.grid import DisplayOptions, Layer
from livedata.dashboard.policy.plotters import PlotterKind
from livedata.dashboard.ui.frames import FrameOptions, compute_frame
from livedata.dashboard.ui.plots import PlotView

pytestmark = pytest.mark.filterwarnings(
    # HoloViews computes ranges of the placeholder data before the first frame.
    "ignore:All-NaN slice encountered:RuntimeWarning"
)

NS = 1_000_000_000
WORKFLOW = WorkflowId(instrument="dummy", name="monitor_histogram", version=1)
KEY = ResultKey(
    workflow_id=WORKFLOW,
    job_id=JobId(source_name="monitor1", job_number=uuid.UUID(int=1)),
    output_name="current",
)


def spectrum(peak: float, variances: bool = False) -> sc.DataArray:
    values = np.array([0.0, peak, 2.0])
    da = sc.DataArray(
        sc.array(
            dims=["toa"], values=values, variances=values if variances else None, unit="counts"
        ),
        coords={"toa": sc.array(dims=["toa"], values=[0.0, 1.0, 2.0, 3.0], unit="ns")},
    )
    da.coords["start_time"] = sc.scalar(0, unit="ns", dtype="int64")
    da.coords["time"] = sc.scalar(NS, unit="ns", dtype="int64")
    return da


def line_layer(**options: object) -> Layer:
    return Layer(
        workflow_id=WORKFLOW,
        source_name="monitor1",
        output_name="current",
        plotter=PlotterKind.LINE,
        options=DisplayOptions(**options),  # type: ignore[arg-type]
    )


class Figure:
    """A PlotView in its own document, fed frames like a session does."""

    def __init__(self, layer: Layer) -> None:
        self.doc = Document()
        self.layer = layer
        with set_curdoc(self.doc):
            self.view = PlotView([layer], ndims=[1])
        self.doc.add_root(self.view.figure)
        self.version = 0

    def draw(self, data: sc.DataArray) -> None:
        self.version += 1
        entry = ResultEntry(key=KEY, data=data, received_ns=0, version=self.version)
        options = FrameOptions(kind=self.layer.plotter, errors=self.layer.options.errors)
        self.view.draw(0, compute_frame(entry, options, lambda: (np.zeros(0), np.zeros(0))))

    def y_range(self) -> tuple[float, float]:
        rng = self.view.figure.y_range
        return (rng.start, rng.end)

    def x_range(self) -> tuple[float, float]:
        rng = self.view.figure.x_range
        return (rng.start, rng.end)

    def zoom(self, x: tuple[float, float], y: tuple[float, float]) -> None:
        """What a browser does on a wheel zoom: new ranges, then the event."""
        figure = self.view.figure
        figure.x_range.update(start=x[0], end=x[1])
        figure.y_range.update(start=y[0], end=y[1])
        self.doc.callbacks.trigger_event(RangesUpdate(figure, x0=x[0], x1=x[1], y0=y[0], y1=y[1]))

    def reset(self, initial: tuple[float, float] = (0.0, 1.0)) -> None:
        """The toolbar's reset: ranges back to their first values, then ``Reset``."""
        figure = self.view.figure
        figure.y_range.update(start=initial[0], end=initial[1])
        x0, x1 = self.x_range()
        self.doc.callbacks.trigger_event(
            RangesUpdate(figure, x0=x0, x1=x1, y0=initial[0], y1=initial[1])
        )
        self.doc.callbacks.trigger_event(Reset(figure))


@pytest.fixture
def figure() -> Figure:
    return Figure(line_layer())


def test_data_rescale_the_axes(figure: Figure) -> None:
    figure.draw(spectrum(10.0))
    low, high = figure.y_range()
    assert low == 0
    assert 10 <= high < 12
    figure.draw(spectrum(100.0))
    assert figure.y_range()[1] >= 100
    assert not figure.view.autoscale_held


def test_a_zoom_holds_the_axes_until_the_operator_resets(figure: Figure) -> None:
    figure.draw(spectrum(10.0))
    figure.zoom(x=(0.5, 1.5), y=(2.0, 5.0))
    assert figure.view.autoscale_held
    for peak in (100.0, 1000.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0):
        figure.draw(spectrum(peak))  # would grow, then shrink: the zoom stays
    assert figure.y_range() == (2.0, 5.0)
    assert figure.x_range() == (0.5, 1.5)
    figure.reset()
    assert not figure.view.autoscale_held
    low, high = figure.y_range()
    assert low == 0
    assert 3 <= high < 4, "at once, fitted to the frame shown"
    figure.draw(spectrum(50.0))
    assert figure.y_range()[1] >= 50, "and the data scale it again"


def test_limits_we_set_ourselves_are_not_a_zoom(figure: Figure) -> None:
    figure.draw(spectrum(10.0))
    x, y = figure.x_range(), figure.y_range()
    figure.doc.callbacks.trigger_event(
        RangesUpdate(figure.view.figure, x0=x[0], x1=x[1], y0=y[0], y1=y[1])
    )
    assert not figure.view.autoscale_held


def test_the_resume_action_autoscales_again(figure: Figure) -> None:
    figure.draw(spectrum(10.0))
    figure.zoom(x=(0.5, 1.5), y=(2.0, 5.0))
    figure.view.resume_autoscale()
    assert not figure.view.autoscale_held
    assert figure.y_range()[1] >= 10


def test_an_error_band_is_drawn_under_the_curve_from_the_same_source() -> None:
    figure = Figure(line_layer(errors=True))
    figure.draw(spectrum(16.0, variances=True))
    source = figure.view.source(0)
    assert list(source.data["upper"][2:4]) == [20.0, 20.0]
    (band,) = [r for r in figure.view.figure.renderers if r.name == "ld-error-band"]
    assert band.data_source is source
    assert figure.view.figure.renderers.index(band) == 0
    assert figure.y_range()[1] >= 20, "the band is in view"
    plain = Figure(line_layer())
    assert not [r for r in plain.view.figure.renderers if r.name == "ld-error-band"]
