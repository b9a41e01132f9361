"""Workflows that histogram events report what they left out, by reason, since a clear."""

import uuid
from dataclasses import dataclass

import numpy as np
import pytest

from livedata.core.control import Roi, RoiUpdate
from livedata.core.identity import JobId
from livedata.core.workflow import ReportsEventsLeftOut
from livedata.workflows.area_detector_view import AreaDetectorViewWorkflow
from livedata.workflows.detector_view import DetectorViewParams, DetectorViewWorkflow
from livedata.workflows.histogram import RejectedEvents
from livedata.workflows.left_out import LeftOutCounts
from livedata.workflows.monitor_histogram import (
    MonitorHistogramParams,
    MonitorHistogramWorkflow,
    MonitorWavelengthParams,
)
from livedata.workflows.pixel_views import LogicalView, logical_view

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000

HOSTILE_IDS = [0, 13, -1, 2**31 - 1, -(2**31)]
"""Outside the 3 x 4 panel of ids 1..12."""
HOSTILE_TIMES = [-1, 2**31 - 1, -(2**31)]
"""Outside every time-of-arrival range a user may choose."""


@dataclass(frozen=True)
class Layout:
    shape: tuple[int, ...] = (3, 4)
    dims: tuple[str, ...] = ("y", "x")
    first_pixel_id: int = 1


def run(wf, batch, window: int, pixel_ids, toa=None, **context) -> None:
    data = {"det": batch(pixel_ids, toa), **context}
    wf.accumulate(data, start_time=T0 + window * S, end_time=T0 + (window + 1) * S)
    wf.finalize()


def detector_view(kind: str = "image", **params) -> DetectorViewWorkflow:
    layout = Layout()
    view = None
    weights = None
    if kind == "downsampled":
        view = logical_view(layout, LogicalView(downsample=(("x", 2),)))
    elif kind == "weighted":
        weights = np.full(12, 0.5)
    return DetectorViewWorkflow(
        source_name="det",
        layout=layout,
        params=DetectorViewParams(**params),
        view=view,
        pixel_weights=weights,
    )


@pytest.mark.parametrize("kind", ["image", "downsampled", "weighted"])
def test_hostile_pixel_ids_are_counted_by_reason(batch, kind) -> None:
    wf = detector_view(kind)
    assert isinstance(wf, ReportsEventsLeftOut)
    assert wf.events_left_out() == {}
    run(wf, batch, 0, [*HOSTILE_IDS, 5, 6])
    assert wf.events_left_out() == {"pixel_out_of_range": 5}
    # Running: the next window adds to it. Many events per pixel take the kernels'
    # other path (per pixel first, then folded), which must count the same way.
    run(wf, batch, 1, [*HOSTILE_IDS] * 2 + [5] * 100)
    assert wf.events_left_out() == {"pixel_out_of_range": 15}


@pytest.mark.parametrize("kind", ["image", "downsampled", "weighted"])
def test_a_chosen_time_window_is_counted_apart_from_bad_pixels(batch, kind) -> None:
    wf = detector_view(kind, toa_range={"start_ns": 1000, "stop_ns": 2000})
    ids = [5, 5, 5, *HOSTILE_IDS, 6, 6, 6]
    toa = [999, 1000, 2000, *[1500] * 5, *HOSTILE_TIMES]
    run(wf, batch, 0, ids, toa)
    # A bad pixel is a bad pixel whatever its time; a time is checked on good pixels.
    assert wf.events_left_out() == {"pixel_out_of_range": 5, "outside_toa_window": 5}


def test_without_a_window_the_image_does_not_look_at_times(batch) -> None:
    wf = detector_view()
    run(wf, batch, 0, [5, 6, 7], HOSTILE_TIMES)
    assert wf.events_left_out() == {}


def roi_update(x: tuple[float, float]) -> RoiUpdate:
    rois = {0: Roi(shape="rectangle", x=x, y=(0.0, 3.0))}
    job = JobId(source_name="det", job_number=uuid.UUID(int=1))
    return RoiUpdate(job_id=job, shape="rectangle", rois=rois)


def test_roi_spectra_count_times_outside_their_range_across_roi_changes(batch) -> None:
    wf = detector_view(roi_spectrum={"bins": 2, "toa_range": {"start_ns": 0, "stop_ns": 100}})
    first = roi_update((0.0, 2.0))
    run(wf, batch, 0, [5, 6, 7, 8, 99], [10, 150, 20, 150, -1], roi_rectangle=first)
    # 150 and -1 are outside the spectra's range; the bad pixel counts as such only once;
    # pixel 8 (x = 3) is in no ROI: no spectrum leaves it out for its time.
    assert wf.events_left_out() == {"time_out_of_range": 1, "pixel_out_of_range": 1}
    # A changed ROI rebuilds the spectra's kernel: the count goes on.
    run(wf, batch, 1, [5, 6], [150, 2**31 - 1], roi_rectangle=roi_update((0.0, 3.0)))
    assert wf.events_left_out() == {"time_out_of_range": 3, "pixel_out_of_range": 1}


def test_clear_starts_the_counts_from_zero(batch) -> None:
    wf = detector_view(toa_range={"start_ns": 0, "stop_ns": 100})
    run(wf, batch, 0, [*HOSTILE_IDS, 5], [50] * 5 + [500])
    assert wf.events_left_out() == {"pixel_out_of_range": 5, "outside_toa_window": 1}
    assert wf.rejected.pixel_out_of_range == 5
    wf.clear()
    assert wf.events_left_out() == {}
    run(wf, batch, 1, [0, 5], [50, 500])
    assert wf.events_left_out() == {"pixel_out_of_range": 1, "outside_toa_window": 1}
    # The kernel's own totals still run from the workflow's start.
    assert wf.rejected.pixel_out_of_range == 6


def test_monitor_spectrum_counts_hostile_times(batch) -> None:
    wf = MonitorHistogramWorkflow(
        source_name="det", params=MonitorHistogramParams(bins=10)
    )  # full frame
    run(wf, batch, 0, None, [*HOSTILE_TIMES, 10, 71_428_571])
    assert wf.events_left_out() == {"time_out_of_range": 4}
    wf.clear()
    assert wf.events_left_out() == {}


def test_monitor_wavelength_spectrum_counts_coordinates_out_of_range(batch) -> None:
    wf = MonitorHistogramWorkflow(
        source_name="det",
        params=MonitorWavelengthParams.model_validate(
            {"wavelength": {"start": 1.0, "stop": 5.0, "bins": 4}}
        ),
        flight_path_m=20.0,
    )
    run(wf, batch, 0, None, HOSTILE_TIMES)
    assert wf.events_left_out() == {"coordinate_out_of_range": 3}


def test_workflows_without_histograms_of_events_need_nothing() -> None:
    area = AreaDetectorViewWorkflow(source_name="cam", shape=(2, 2))
    assert not isinstance(area, ReportsEventsLeftOut)


def test_left_out_counts_subtract_the_totals_at_the_last_clear() -> None:
    rejected = RejectedEvents()
    counts = LeftOutCounts(lambda: {"pixel_out_of_range": rejected.pixel_out_of_range, "t": 0})
    rejected.pixel_out_of_range = 7
    assert counts.counts() == {"pixel_out_of_range": 7}  # reasons at zero are omitted
    counts.clear()
    assert counts.counts() == {}
    rejected.pixel_out_of_range += 2
    assert counts.counts() == {"pixel_out_of_range": 2}
