"""Detector view: exact images and totals per window and since start."""

import uuid
from dataclasses import dataclass

import numpy as np
import pydantic
import pytest
import scipp as sc

from livedata.core.control import Roi, RoiUpdate
from livedata.core.identity import JobId
from livedata.core.values import AreaFrame, EventBatch
from livedata.workflows.detector_view import (
    DetectorViewParams,
    DetectorViewWorkflow,
    detector_view_outputs,
)
from livedata.workflows.pixel_views import LogicalView, logical_view

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000


@dataclass(frozen=True)
class Layout:
    shape: tuple[int, ...] = (3, 4)
    dims: tuple[str, ...] = ("y", "x")
    first_pixel_id: int = 1


def pid(y: int, x: int) -> int:
    return 1 + 4 * y + x


def view(**params) -> DetectorViewWorkflow:
    return DetectorViewWorkflow(
        source_name="det", layout=Layout(), params=DetectorViewParams(**params)
    )


def run(wf, batch, window: int, pixel_ids, toa=None):
    wf.accumulate(
        {"det": batch(pixel_ids, toa)}, start_time=T0 + window * S, end_time=T0 + (window + 1) * S
    )
    return wf.finalize()


def test_image_holds_exact_counts_per_pixel(batch) -> None:
    wf = view()
    out = run(wf, batch, 0, [pid(0, 0), pid(2, 3), pid(2, 3), pid(1, 2)])
    expected = np.zeros((3, 4))
    expected[0, 0], expected[2, 3], expected[1, 2] = 1, 2, 1
    for name in ("current", "cumulative"):
        da = out[name]
        assert da.dims == ("y", "x")
        assert da.unit == sc.Unit("counts")
        assert da.dtype == sc.DType.float64
        np.testing.assert_array_equal(da.values, expected)
        np.testing.assert_array_equal(da.variances, expected)
        np.testing.assert_array_equal(da.coords["y"].values, [0, 1, 2])
        np.testing.assert_array_equal(da.coords["x"].values, [0, 1, 2, 3])
        assert da.coords["x"].unit is None
    assert out["counts_total"].value == 4
    assert out["counts_total"].variance == 4
    assert out["counts_total_cumulative"].value == 4


def test_current_covers_the_last_window_and_cumulative_all(batch) -> None:
    wf = view()
    windows = [[pid(0, 0)] * 3, [pid(1, 1)] * 5, [], [pid(0, 0), pid(2, 0)]]
    totals = 0
    for i, ids in enumerate(windows):
        out = run(wf, batch, i, ids)
        totals += len(ids)
        assert out["counts_total"].value == len(ids)
        assert out["current"].sum().value == len(ids)
        assert out["counts_total_cumulative"].value == totals
        assert out["cumulative"].sum().value == totals
        assert out["current"].coords["start_time"].value == T0 + i * S
        assert out["counts_total"].coords["start_time"].value == T0 + i * S
        # Cumulative outputs leave start_time to the job (time since start/reset).
        assert "start_time" not in out["cumulative"].coords
        assert "start_time" not in out["counts_total_cumulative"].coords
    assert out["cumulative"].values[0, 0] == 4
    assert out["cumulative"].values[1, 1] == 5
    assert out["current"].values[1, 1] == 0


def test_two_accumulates_before_finalize_are_one_window(batch) -> None:
    wf = view()
    wf.accumulate({"det": batch([pid(0, 1)])}, start_time=T0, end_time=T0 + S)
    wf.accumulate({"det": batch([pid(0, 1)])}, start_time=T0, end_time=T0 + S)
    out = wf.finalize()
    assert out["counts_total"].value == 2
    assert out["counts_total_cumulative"].value == 2
    # A second finalize does not count the window twice.
    assert wf.finalize()["counts_total_cumulative"].value == 2


def test_clear_resets_everything(batch) -> None:
    wf = view()
    run(wf, batch, 0, [pid(0, 0)] * 7)
    wf.clear()
    out = run(wf, batch, 1, [pid(2, 2)])
    assert out["counts_total_cumulative"].value == 1
    assert out["cumulative"].values[0, 0] == 0
    assert out["cumulative"].values[2, 2] == 1


def test_published_outputs_do_not_change_later(batch) -> None:
    wf = view()
    first = run(wf, batch, 0, [pid(0, 0)])
    run(wf, batch, 1, [pid(0, 0)] * 9)
    assert first["cumulative"].values[0, 0] == 1
    assert first["current"].values[0, 0] == 1


def test_bad_pixel_ids_are_dropped_and_counted(batch) -> None:
    wf = view()
    out = run(wf, batch, 0, [0, 13, -1, 2**31 - 1, -(2**31), pid(2, 3)])
    assert out["counts_total"].value == 1
    assert wf.rejected.pixel_out_of_range == 5


def test_time_of_arrival_range_selects_events(batch) -> None:
    wf = view(toa_range={"start_ns": 1000, "stop_ns": 2000})
    out = run(wf, batch, 0, [pid(0, 0)] * 4, toa=[999, 1000, 1999, 2000])
    assert out["current"].values[0, 0] == 2
    assert wf.rejected.time_out_of_range == 2


def test_refuses_events_without_pixels_and_other_values(batch) -> None:
    wf = view()
    with pytest.raises(ValueError, match="no pixel ids"):
        wf.accumulate({"det": batch(None, [1, 2])}, start_time=T0, end_time=T0 + S)
    with pytest.raises(TypeError, match="EventBatch"):
        wf.accumulate(
            {"det": AreaFrame(unique_id=1, time=T0, data=np.zeros((3, 4)))},
            start_time=T0,
            end_time=T0 + S,
        )


def test_other_dims_and_first_pixel(batch) -> None:
    layout = Layout(shape=(2, 3, 2), dims=("layer", "tube", "straw"), first_pixel_id=100)
    wf = DetectorViewWorkflow(source_name="det", layout=layout, params=DetectorViewParams())
    wf.accumulate({"det": batch([100, 111, 111, 99, 112])}, start_time=T0, end_time=T0 + S)
    out = wf.finalize()["current"]
    assert out.sizes == {"layer": 2, "tube": 3, "straw": 2}
    assert out.values[0, 0, 0] == 1
    assert out.values[1, 2, 1] == 2
    assert out.sum().value == 3


def test_templates_match_outputs(batch) -> None:
    # Without ROIs; roi_spectra_test checks the ROI outputs' templates.
    templates = detector_view_outputs(Layout())
    out = run(view(), batch, 0, [pid(1, 1)])
    assert set(templates) - set(out) == {
        "roi_spectra_current",
        "roi_spectra_cumulative",
        "roi_rectangle",
        "roi_polygon",
    }
    for name in out:
        spec = templates[name]
        da = out[name]
        assert spec.template.dims == da.dims
        assert spec.template.unit == da.unit
        assert spec.template.dtype == da.dtype
        assert (spec.template.variances is None) == (da.variances is None)
        assert set(spec.template.coords) <= set(da.coords)
        assert all(s == 0 for s in spec.template.shape)


@pytest.mark.parametrize(
    "toa_range",
    [
        {"start_ns": 10, "stop_ns": 10},
        {"start_ns": 20, "stop_ns": 10},
        {"start_ns": -1, "stop_ns": 10},
        {"start_ns": 0, "stop_ns": 10**9},
        {"start_ns": 0, "stop_ns": float("nan")},
        {"start_ns": 0, "stop_ns": 10, "unit": "ms"},
    ],
)
def test_params_refuse_bad_ranges(toa_range) -> None:
    with pytest.raises(pydantic.ValidationError):
        DetectorViewParams.model_validate({"toa_range": toa_range})


def test_params_default_counts_everything() -> None:
    assert DetectorViewParams.model_validate({}).toa_range is None
    with pytest.raises(pydantic.ValidationError):
        DetectorViewParams.model_validate({"bins": 3})


def _roi_update(shape: str, rois: dict) -> RoiUpdate:
    return RoiUpdate(
        job_id=JobId(source_name="det", job_number=uuid.UUID(int=1)), shape=shape, rois=rois
    )


def test_a_logical_view_fills_its_own_image(batch) -> None:
    # Sum over y: an image of the 4 columns (a 1-d view).
    view = logical_view(Layout(), LogicalView(sum_over=("y",)))
    wf = DetectorViewWorkflow(
        source_name="det", layout=Layout(), params=DetectorViewParams(), view=view
    )
    out = run(wf, batch, 0, [pid(0, 0), pid(2, 0), pid(1, 3), 0, 13])
    np.testing.assert_array_equal(out["current"].values, [2, 0, 0, 1])
    assert out["current"].dims == ("x",)
    assert out["counts_total"].value == 3
    assert wf.rejected.pixel_out_of_range == 2


def test_rois_are_drawn_in_the_views_index_space(batch) -> None:
    # Downsample x by 2: view columns 0 (pixels x=0,1) and 1 (x=2,3); an ROI on view
    # column 1 holds pixels x = 2 and 3 of every row.
    view = logical_view(Layout(), LogicalView(downsample=(("x", 2),)))
    wf = DetectorViewWorkflow(
        source_name="det",
        layout=Layout(),
        params=DetectorViewParams(roi_spectrum={"bins": 1}),
        view=view,
    )
    ids = [pid(0, 0), pid(0, 2), pid(1, 3), pid(2, 3), pid(2, 1)]
    update = _roi_update("rectangle", {0: Roi(shape="rectangle", x=(1, 1), y=(0, 2))})
    wf.accumulate({"det": batch(ids), "roi_rectangle": update}, start_time=T0, end_time=T0 + S)
    out = wf.finalize()
    assert out["current"].sizes == {"y": 3, "x": 2}
    np.testing.assert_array_equal(out["current"].values, [[1, 1], [0, 1], [1, 1]])
    assert out["roi_spectra_current"].values.sum() == 3


def test_pixels_left_out_of_a_view_are_in_no_roi(batch) -> None:
    view = logical_view(Layout(), LogicalView(select=(("y", 1, 3),)))
    wf = DetectorViewWorkflow(
        source_name="det",
        layout=Layout(),
        params=DetectorViewParams(roi_spectrum={"bins": 1}),
        view=view,
    )
    everything = _roi_update("rectangle", {0: Roi(shape="rectangle", x=(0, 3), y=(0, 1))})
    ids = [pid(0, 0), pid(1, 0), pid(2, 3)]
    wf.accumulate({"det": batch(ids), "roi_rectangle": everything}, start_time=T0, end_time=T0 + S)
    out = wf.finalize()
    assert out["counts_total"].value == 2  # row 0 is not in the view
    assert out["roi_spectra_current"].values.sum() == 2


def test_pixel_weights_weight_images_and_variances(batch) -> None:
    weights = np.arange(12, dtype=np.float64) / 4
    wf = DetectorViewWorkflow(
        source_name="det", layout=Layout(), params=DetectorViewParams(), pixel_weights=weights
    )
    ids = [pid(0, 1), pid(0, 1), pid(2, 3), 99]
    out = run(wf, batch, 0, ids)
    expected = np.zeros(12)
    expected[1], expected[11] = 2 * 0.25, 2.75
    np.testing.assert_allclose(out["current"].values.ravel(), expected)
    squared = np.zeros(12)
    squared[1], squared[11] = 2 * 0.25**2, 2.75**2
    np.testing.assert_allclose(out["current"].variances.ravel(), squared)
    assert out["counts_total"].value == pytest.approx(3.25)
    assert out["counts_total"].variance == pytest.approx(squared.sum())
    out = run(wf, batch, 1, [pid(0, 1)])
    assert out["counts_total_cumulative"].value == pytest.approx(3.5)
    assert out["cumulative"].variances.sum() == pytest.approx(squared.sum() + 0.25**2)


def test_a_view_of_another_bank_is_refused() -> None:
    view = logical_view(Layout(first_pixel_id=5), LogicalView())
    with pytest.raises(ValueError, match="does not match"):
        DetectorViewWorkflow(
            source_name="det", layout=Layout(), params=DetectorViewParams(), view=view
        )


@pytest.mark.parametrize("weighted", [False, True])
def test_a_windows_messages_are_histogrammed_without_joining_them(batch, weighted) -> None:
    """A concatenated window gives what one batch of the same events gives, and is
    histogrammed part by part: its arrays are never joined."""
    ids = [pid(0, 0), pid(2, 3), 99, pid(1, 2), pid(2, 3), pid(0, 1), -1]
    toa = [5, 10, 15, 20, 25, 30, 35]
    weights = np.arange(12, dtype=np.float64) / 4 if weighted else None
    outputs = []
    for events in (
        batch(ids, toa),
        EventBatch.concatenate([batch(ids[:2], toa[:2]), batch(ids[2:], toa[2:])]),
    ):
        wf = DetectorViewWorkflow(
            source_name="det",
            layout=Layout(),
            params=DetectorViewParams(),
            pixel_weights=weights,
        )
        wf.accumulate({"det": events}, start_time=T0, end_time=T0 + S)
        outputs.append(wf.finalize())
        assert wf.rejected.pixel_out_of_range == 2
    assert len(events.parts) == 2  # still parts: nothing read the joined arrays
    for name in ("current", "cumulative", "counts_total"):
        assert sc.identical(outputs[0][name], outputs[1][name])
