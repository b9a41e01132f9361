"""Area detector view: sums of camera frames per window and since start."""

import numpy as np
import scipp as sc

from livedata.core.values import AreaFrame, LogSample
from livedata.workflows.area_detector_view import (
    AreaDetectorViewWorkflow,
    area_detector_outputs,
)

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000


def frame(data, uid: int = 1) -> AreaFrame:
    return AreaFrame(unique_id=uid, time=T0, data=np.asarray(data))


def run(wf, window: int, frames):
    wf.accumulate({"cam": frames}, start_time=T0 + window * S, end_time=T0 + (window + 1) * S)
    return wf.finalize()


def test_sums_frames_per_window_and_since_start() -> None:
    wf = AreaDetectorViewWorkflow(source_name="cam", shape=(2, 3))
    a = np.arange(6, dtype=np.uint16).reshape(2, 3)
    out = run(wf, 0, [frame(a), frame(a, 2)])
    np.testing.assert_array_equal(out["current"].values, 2 * a)
    np.testing.assert_array_equal(out["cumulative"].values, 2 * a)
    out = run(wf, 1, [frame(np.ones((2, 3)))])
    np.testing.assert_array_equal(out["current"].values, np.ones((2, 3)))
    np.testing.assert_array_equal(out["cumulative"].values, 2 * a + 1)
    assert out["current"].coords["start_time"].value == T0 + S
    assert "start_time" not in out["cumulative"].coords
    da = out["current"]
    assert da.dims == ("y", "x")
    assert da.unit == sc.Unit("counts")
    np.testing.assert_array_equal(da.coords["x"].values, [0, 1, 2])
    np.testing.assert_array_equal(da.coords["y"].values, [0, 1])


def test_a_frame_of_another_shape_is_refused_alone() -> None:
    wf = AreaDetectorViewWorkflow(source_name="cam", shape=(2, 3))
    run(wf, 0, [frame(np.ones((2, 3)))])
    assert wf.problems == []
    # The good frames of the same window are kept: one bad frame must not cost them.
    out = run(wf, 1, [frame(np.ones((2, 3))), frame(np.ones((3, 2)), 7), frame(np.ones((2, 3)))])
    np.testing.assert_array_equal(out["current"].values, 2 * np.ones((2, 3)))
    np.testing.assert_array_equal(out["cumulative"].values, 3 * np.ones((2, 3)))
    (problem,) = wf.problems
    assert problem.startswith("1 frames refused")
    assert "frame 7 has shape (3, 2)" in problem


def test_refuses_non_frames_and_non_numbers_and_counts_them() -> None:
    wf = AreaDetectorViewWorkflow(source_name="cam", shape=(1, 1))
    out = run(wf, 0, [LogSample(time=T0, value=1.0), frame([[4]])])
    np.testing.assert_array_equal(out["cumulative"].values, [[4]])
    out = run(wf, 1, [frame(np.array([["a"]]))])
    np.testing.assert_array_equal(out["current"].values, [[0]])
    (problem,) = wf.problems
    assert problem.startswith("2 frames refused")
    assert "dtype" in problem


def test_clear_resets() -> None:
    wf = AreaDetectorViewWorkflow(source_name="cam", shape=(1, 2))
    run(wf, 0, [frame([[5, 5]]), frame([[1]])])
    wf.clear()
    assert wf.problems == []
    out = run(wf, 1, [frame([[1, 2]])])
    np.testing.assert_array_equal(out["cumulative"].values, [[1, 2]])


def test_templates_match_outputs() -> None:
    templates = area_detector_outputs()
    out = run(AreaDetectorViewWorkflow(source_name="cam", shape=(2, 2)), 0, [frame(np.eye(2))])
    assert set(templates) == set(out)
    for name, spec in templates.items():
        assert spec.template.dims == out[name].dims
        assert spec.template.unit == out[name].unit
        assert set(spec.template.coords) <= set(out[name].coords)
