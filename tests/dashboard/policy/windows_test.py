"""Last-N-seconds sums of per-window counts: which outputs, and the bounded sum."""

from __future__ import annotations

import numpy as np
import pytest
import scipp as sc

from livedata.config.registry import load_instrument
from livedata.dashboard.policy.plotters import PlotterKind
from livedata.dashboard.policy.windows import (
    MAX_BUCKETS,
    MIN_BUCKETS,
    RollingSum,
    WindowRead,
    buckets_for,
    layer_window,
    per_window_name,
    window_applies,
    window_output,
    window_problem,
)

NS = 1_000_000_000


def templates(instrument: str, workflow: str) -> dict[str, sc.DataArray]:
    inst = load_instrument(instrument)
    (spec,) = [s for s in inst.build_workflows(inst).specs() if s.workflow_id.name == workflow]
    return {name: out.template for name, out in spec.outputs.items()}


@pytest.mark.parametrize(
    ("name", "partner"),
    [
        ("current", "current"),
        ("cumulative", "current"),
        ("roi_spectra_current", "roi_spectra_current"),
        ("roi_spectra_cumulative", "roi_spectra_current"),
        ("counts_total", "counts_total"),
        ("counts_total_cumulative", "counts_total"),
        ("roi_rectangle", None),
    ],
)
def test_the_per_window_partner_is_found_by_name(name: str, partner: str | None) -> None:
    assert window_output(name, templates("dummy", "panel_0_xy")) == partner


def test_only_counts_add_up_over_time() -> None:
    sans = templates("loki", "sans_iq")
    assert per_window_name("iq_cumulative", set(sans)) == "iq_current"
    assert window_output("iq_cumulative", sans) is None, "a normalised I(Q) is no sum"
    assert window_output("counts_total_cumulative", sans) == "counts_total"


def test_a_lone_cumulative_has_no_window() -> None:
    assert per_window_name("cumulative", {"cumulative"}) is None
    assert per_window_name("total", {"total", "current"}) is None


def test_which_layers_read_a_sum() -> None:
    panel = templates("dummy", "panel_0_xy")
    assert layer_window(PlotterKind.IMAGE, "cumulative", 300.0, panel) == WindowRead(
        "current", 300.0
    )
    assert layer_window(PlotterKind.VALUE, "counts_total_cumulative", 60.0, panel) == (
        WindowRead("counts_total", 60.0)
    )
    assert layer_window(PlotterKind.IMAGE, "cumulative", None, panel) is None, "no window"
    # A time series cuts its own points; it reads its history, not a sum.
    assert layer_window(PlotterKind.TIMESERIES, "counts_total", 60.0, panel) is None
    assert layer_window(PlotterKind.ROI_OVERLAY, "roi_rectangle", 60.0, panel) is None


def test_the_option_is_offered_only_where_it_means_something() -> None:
    panel = templates("dummy", "panel_0_xy")
    assert window_applies(PlotterKind.TIMESERIES, "counts_total", panel)
    assert window_applies(PlotterKind.LINE, "roi_spectra_cumulative", panel)
    assert not window_applies(PlotterKind.ROI_OVERLAY, "roi_rectangle", panel)
    sans = templates("loki", "sans_iq")
    assert not window_applies(PlotterKind.LINE, "iq_current", sans)
    assert window_problem(PlotterKind.LINE, "iq_current", 60.0, sans) is not None
    assert window_problem(PlotterKind.LINE, "iq_current", None, sans) is None
    assert window_problem(PlotterKind.IMAGE, "current", 60.0, panel) is None


def test_large_frames_get_fewer_buckets_within_bounds() -> None:
    assert buckets_for(128 * 128 * 16, 128 << 20) == MAX_BUCKETS
    assert buckets_for(4 << 20, 128 << 20) == 31
    assert buckets_for(16 << 20, 128 << 20) == 7
    assert buckets_for(1 << 30, 128 << 20) == MIN_BUCKETS


# -- the sum -----------------------------------------------------------------------------


def frame(end_s: float, values: list[float], *, length_s: float = 1.0, edges=None) -> sc.DataArray:
    da = sc.DataArray(
        sc.array(dims=["x"], values=values, variances=values, unit="counts"),
        coords={
            "x": sc.array(
                dims=["x"], values=edges if edges is not None else range(len(values) + 1), unit="m"
            )
        },
    )
    da.coords["start_time"] = sc.scalar(int((end_s - length_s) * NS), unit="ns", dtype="int64")
    da.coords["time"] = sc.scalar(int(end_s * NS), unit="ns", dtype="int64")
    return da


def feed(rolling: RollingSum, ends: range | list[float], values: list[float]) -> None:
    for end in ends:
        assert rolling.add(frame(float(end), values))


def test_the_sum_holds_the_frames_that_ended_in_the_last_n_seconds() -> None:
    rolling = RollingSum(10.0)
    feed(rolling, range(1, 26), [1.0, 2.0])  # 25 one-second frames
    out = rolling.result()
    assert out is not None
    np.testing.assert_array_equal(out.values, [10.0, 20.0])
    np.testing.assert_array_equal(out.variances, [10.0, 20.0])
    assert out.coords["start_time"].value == 15 * NS
    assert out.coords["time"].value == 25 * NS
    assert sc.identical(out.coords["x"], frame(1.0, [1.0, 2.0]).coords["x"])
    assert out.unit == "counts"


def test_a_long_window_is_kept_in_bounded_buckets() -> None:
    rolling = RollingSum(3600.0, max_buckets=8)
    feed(rolling, range(1, 5001), [1.0])
    one_frame = 2 * 8  # values + variances of one float64
    assert rolling.nbytes <= (8 + 1) * one_frame, "memory does not grow with the window"
    out = rolling.result()
    assert out is not None
    start, end = out.coords["start_time"].value, out.coords["time"].value
    span_s = (end - start) / NS
    # Covers the hour and at most one bucket (and one frame) more; the coords say so.
    assert 3600 <= span_s <= 3600 + 3600 / 7 + 1
    assert out.values[0] == pytest.approx(span_s)


def test_a_redelivered_or_late_frame_does_not_count_twice() -> None:
    rolling = RollingSum(10.0)
    feed(rolling, [1, 2, 3], [1.0])
    assert not rolling.add(frame(3.0, [1.0]))
    assert not rolling.add(frame(2.0, [1.0]))
    assert rolling.result().values[0] == 3.0


def test_a_frame_without_a_data_window_is_refused() -> None:
    rolling = RollingSum(10.0)
    da = frame(1.0, [1.0])
    del da.coords["start_time"]
    assert not rolling.add(da)
    assert rolling.result() is None


def test_new_binning_starts_the_sum_over() -> None:
    rolling = RollingSum(10.0)
    feed(rolling, [1, 2, 3], [1.0, 1.0])
    assert rolling.add(frame(4.0, [5.0, 5.0], edges=[0.0, 2.0, 4.0]))
    out = rolling.result()
    np.testing.assert_array_equal(out.values, [5.0, 5.0])
    assert out.coords["start_time"].value == 3 * NS
    assert rolling.restarts == 1
    assert rolling.add(frame(5.0, [1.0, 1.0, 1.0], edges=[0, 1, 2, 3]))  # another shape
    assert rolling.restarts == 2


def test_a_nan_leaves_the_sum_with_its_frame() -> None:
    rolling = RollingSum(3.0)
    rolling.add(frame(1.0, [np.nan]))
    feed(rolling, [2, 3], [1.0])
    assert np.isnan(rolling.result().values[0])
    feed(rolling, [4], [1.0])
    assert rolling.result().values[0] == 3.0


def test_scalars_sum_too() -> None:
    rolling = RollingSum(5.0)
    for end in range(1, 9):
        da = sc.DataArray(sc.scalar(100.0, variance=100.0, unit="counts"))
        da.coords["start_time"] = sc.scalar((end - 1) * NS, unit="ns", dtype="int64")
        da.coords["time"] = sc.scalar(end * NS, unit="ns", dtype="int64")
        rolling.add(da)
    out = rolling.result()
    assert out.value == 500.0
    assert out.variance == 500.0
    assert out.dims == ()


def test_the_result_is_a_copy_the_next_frame_does_not_change() -> None:
    rolling = RollingSum(10.0)
    feed(rolling, [1], [1.0])
    first = rolling.result()
    feed(rolling, [2], [1.0])
    assert first.values[0] == 1.0


def test_a_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RollingSum(0.0)
    with pytest.raises(ValueError, match="two buckets"):
        RollingSum(1.0, max_buckets=1)


def test_both_parts_of_a_window_published_in_parts_count() -> None:
    # A service hands a window out early (before a command, at a run transition, at its
    # byte cap); both parts carry the window's start_time/time and differ in publish time.
    rolling = RollingSum(10.0)
    assert rolling.add(frame(1.0, [1.0]), published_ns=100)
    assert rolling.add(frame(2.0, [2.0]), published_ns=200)
    assert rolling.add(frame(2.0, [3.0]), published_ns=250), "the rest of window 2"
    assert rolling.add(frame(3.0, [1.0]), published_ns=300)
    assert rolling.result().values[0] == 7.0
    assert rolling.frames == 4


def test_a_part_delivered_twice_counts_once() -> None:
    rolling = RollingSum(10.0)
    assert rolling.add(frame(2.0, [2.0]), published_ns=200)
    assert rolling.add(frame(2.0, [3.0]), published_ns=250)
    assert not rolling.add(frame(2.0, [2.0]), published_ns=200), "first part again"
    assert not rolling.add(frame(2.0, [3.0]), published_ns=250), "second part again"
    assert rolling.add(frame(3.0, [1.0]), published_ns=300)
    assert not rolling.add(frame(2.0, [3.0]), published_ns=260), "older window: late"
    assert rolling.result().values[0] == 6.0


def test_without_a_publish_time_a_frame_is_known_by_its_data_window() -> None:
    rolling = RollingSum(10.0)
    assert rolling.add(frame(2.0, [2.0]))
    assert not rolling.add(frame(2.0, [3.0])), "cannot tell a second part from a re-delivery"
    assert rolling.result().values[0] == 2.0


def test_a_restarted_sum_forgets_the_parts_it_had() -> None:
    rolling = RollingSum(10.0)
    assert rolling.add(frame(2.0, [2.0]), published_ns=200)
    assert rolling.add(frame(2.0, [1.0, 1.0]), published_ns=250), "new binning, same window"
    assert rolling.restarts == 1
    np.testing.assert_array_equal(rolling.result().values, [1.0, 1.0])
