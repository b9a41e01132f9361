"""Detector view: exact images and totals per window and since start."""

from dataclasses import dataclass

import numpy as np
import pydantic
import pytest
import scipp as sc

from livedata.core.values import AreaFrame
from livedata.workflows.detector_view import (
    DetectorViewParams,
    DetectorViewWorkflow,
    detector_view_outputs,
)

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
