"""Plot-ready frames: one per plotter kind, computed once per update for all sessions."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import scipp as sc

from livedata.core.control import Roi
from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.dashboard.contract import ResultEntry
from livedata.dashboard.policy.display import TimeWindow
from livedata.dashboard.policy.plotters import PlotterKind
from livedata.dashboard.ui.frames import (
    MAX_IMAGE_SIDE,
    FrameCache,
    FrameOptions,
    compute_frame,
)
from livedata.protocol.roi import rois_to_data_array

NS = 1_000_000_000
KEY = ResultKey(
    workflow_id=WorkflowId(instrument="dummy", name="w", version=1),
    job_id=JobId(source_name="s", job_number=uuid.UUID(int=1)),
    output_name="out",
)


def windowed(da: sc.DataArray, start_s: float = 10.0, end_s: float = 12.0) -> sc.DataArray:
    da.coords["start_time"] = sc.scalar(int(start_s * NS), unit="ns", dtype="int64")
    da.coords["time"] = sc.scalar(int(end_s * NS), unit="ns", dtype="int64")
    return da


def entry(da: sc.DataArray, version: int = 1) -> ResultEntry:
    return ResultEntry(key=KEY, data=da, received_ns=0, version=version)


def no_history() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0)


def spectrum() -> sc.DataArray:
    values = np.array([1.0, 0.0, 4.0])
    return windowed(
        sc.DataArray(
            sc.array(dims=["toa"], values=values, variances=values, unit="counts"),
            coords={"toa": sc.array(dims=["toa"], values=[0.0, 1.0, 2.0, 3.0], unit="ns")},
        )
    )


def test_a_histogram_line_is_a_step_curve_over_its_edges() -> None:
    frame = compute_frame(entry(spectrum()), FrameOptions(kind=PlotterKind.LINE), no_history)
    assert list(frame.columns["x"]) == [0, 1, 1, 2, 2, 3]
    assert list(frame.columns["y"]) == [1, 1, 0, 0, 4, 4]
    assert (frame.y.low, frame.y.high) == (0, 4)
    assert frame.x_label == "toa [ns]"


def test_counts_per_second_divide_by_the_data_window() -> None:
    options = FrameOptions(kind=PlotterKind.BARS, rate=True)
    frame = compute_frame(entry(spectrum()), options, no_history)
    assert list(frame.columns["top"]) == [0.5, 0.0, 2.0]
    assert frame.y_label == "value [counts/s]"


def test_a_log_scale_masks_values_it_cannot_draw() -> None:
    options = FrameOptions(kind=PlotterKind.LINE, log_y=True)
    frame = compute_frame(entry(spectrum()), options, no_history)
    assert np.isnan(frame.columns["y"][2])
    assert frame.y.low == 1


def test_an_image_puts_pixel_centres_on_index_coordinates() -> None:
    values = np.arange(12.0).reshape(3, 4)
    da = windowed(
        sc.DataArray(
            sc.array(dims=["y", "x"], values=values, unit="counts"),
            coords={
                "y": sc.array(dims=["y"], values=np.arange(3), unit=None),
                "x": sc.array(dims=["x"], values=np.arange(4), unit=None),
            },
        )
    )
    frame = compute_frame(entry(da), FrameOptions(kind=PlotterKind.IMAGE), no_history)
    assert frame.columns["image"][0].dtype == np.float32
    assert frame.columns["x"] == [-0.5]
    assert frame.columns["dw"] == [4.0]
    assert frame.columns["dh"] == [3.0]
    assert (frame.z.low, frame.z.high) == (0, 11)


def test_a_large_image_is_summed_in_blocks() -> None:
    side = MAX_IMAGE_SIDE * 2
    da = windowed(sc.DataArray(sc.array(dims=["y", "x"], values=np.ones((side, side)))))
    frame = compute_frame(entry(da), FrameOptions(kind=PlotterKind.IMAGE), no_history)
    image = frame.columns["image"][0]
    assert image.shape == (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE)
    assert image.sum() == side * side
    assert "sum of 2x2 pixels" in frame.z_label


def test_a_slicer_shows_the_chosen_plane() -> None:
    cube = np.arange(24.0).reshape(2, 3, 4)
    da = windowed(sc.DataArray(sc.array(dims=["z", "y", "x"], values=cube)))
    frame = compute_frame(entry(da), FrameOptions(kind=PlotterKind.SLICER, plane=1), no_history)
    assert frame.planes == 2
    np.testing.assert_array_equal(frame.columns["image"][0], cube[1])


def test_a_scalar_is_a_value_with_its_uncertainty() -> None:
    da = windowed(sc.DataArray(sc.scalar(400.0, variance=400.0, unit="counts")))
    frame = compute_frame(entry(da), FrameOptions(kind=PlotterKind.VALUE), no_history)
    assert frame.text == "400 ± 20 counts"


def test_a_scalar_history_is_cut_to_the_time_window() -> None:
    da = windowed(sc.DataArray(sc.scalar(1.0, unit="counts")))
    times = np.arange(10, dtype=np.int64) * NS
    values = np.arange(10.0)
    options = FrameOptions(kind=PlotterKind.TIMESERIES, window=TimeWindow(3.0))
    frame = compute_frame(entry(da), options, lambda: (times, values))
    assert list(frame.columns["y"]) == [6, 7, 8, 9]
    assert frame.columns["x"][0] == 6000.0  # milliseconds, for bokeh's datetime axis


def test_roi_spectra_are_one_curve_per_roi() -> None:
    values = np.ones((2, 3))
    da = windowed(
        sc.DataArray(
            sc.array(dims=["roi", "toa"], values=values, unit="counts"),
            coords={
                "roi": sc.array(dims=["roi"], values=[0, 3], dtype="int32", unit=None),
                "roi_shape": sc.array(dims=["roi"], values=[0, 1], dtype="int32", unit=None),
                "toa": sc.array(dims=["toa"], values=[0.0, 1.0, 2.0, 3.0], unit="ns"),
            },
        )
    )
    frame = compute_frame(entry(da), FrameOptions(kind=PlotterKind.LINE), no_history)
    assert frame.columns["label"] == ["rect 0", "poly 3"]
    assert len(frame.columns["xs"]) == 2


def test_an_roi_echo_becomes_outlines() -> None:
    rois = {2: Roi(shape="rectangle", x=(1.0, 5.0), y=(2.0, 3.0))}
    frame = compute_frame(
        entry(rois_to_data_array("rectangle", rois)),
        FrameOptions(kind=PlotterKind.ROI_OVERLAY),
        no_history,
    )
    assert frame.columns == {
        "left": [1.0],
        "right": [5.0],
        "bottom": [2.0],
        "top": [3.0],
        "index": [2],
    }


def test_a_plotter_that_does_not_fit_gives_a_problem_not_an_exception() -> None:
    frame = compute_frame(entry(spectrum()), FrameOptions(kind=PlotterKind.IMAGE), no_history)
    assert frame.problem is not None
    assert "image does not fit" in frame.problem


@pytest.mark.parametrize("sessions", [1, 10])
def test_the_cache_computes_each_frame_once_for_all_sessions(sessions: int) -> None:
    cache = FrameCache()
    options = FrameOptions(kind=PlotterKind.LINE)
    for version in (1, 2):
        for _ in range(sessions):
            cache.get(entry(spectrum(), version), options, no_history)
    assert cache.computed == 2
    assert cache.served == 2 * sessions


def test_an_error_band_is_one_standard_deviation_stepped_like_the_curve() -> None:
    options = FrameOptions(kind=PlotterKind.LINE, errors=True)
    frame = compute_frame(entry(spectrum()), options, no_history)
    # values 1, 0, 4 with Poisson variances: sigma 1, 0, 2
    assert list(frame.columns["lower"]) == [0, 0, 0, 0, 2, 2]
    assert list(frame.columns["upper"]) == [2, 2, 0, 0, 6, 6]
    assert (frame.y.low, frame.y.high) == (0, 6), "autoscale keeps the band in view"
    plain = compute_frame(entry(spectrum()), FrameOptions(kind=PlotterKind.LINE), no_history)
    assert "lower" not in plain.columns


def test_an_error_band_scales_with_counts_per_second() -> None:
    options = FrameOptions(kind=PlotterKind.LINE, errors=True, rate=True)
    frame = compute_frame(entry(spectrum()), options, no_history)
    # a 2 s window: values 0.5, 0, 2 and variances 1/4, 0, 1
    assert list(frame.columns["upper"][::2]) == [1.0, 0.0, 3.0]


def test_without_variances_the_band_is_empty_but_present() -> None:
    da = spectrum()
    da.variances = None
    frame = compute_frame(entry(da), FrameOptions(kind=PlotterKind.LINE, errors=True), no_history)
    assert np.isnan(frame.columns["lower"]).all()
    assert len(frame.columns["upper"]) == len(frame.columns["y"])


def test_on_a_log_scale_the_band_runs_off_the_bottom() -> None:
    options = FrameOptions(kind=PlotterKind.LINE, errors=True, log_y=True)
    frame = compute_frame(entry(spectrum()), options, no_history)
    lower = frame.columns["lower"]
    assert 0 < lower[0] < 1e-300, "1 - 1 = 0: drawn at the smallest positive float"
    assert np.isnan(lower[2]), "no band where the value itself cannot be drawn"
    assert frame.y.low == 1, "the band's lower side does not drag the axis down"
