"""Counts per second, data age, time windows and layer states."""

import numpy as np
import pytest
import scipp as sc

from livedata.core.status import JobState
from livedata.dashboard.contract import Liveness
from livedata.dashboard.policy.display import (
    AgeLevel,
    LayerState,
    TimeWindow,
    age_level,
    cell_state,
    data_age_s,
    data_time_ns,
    format_age,
    layer_state,
    select_window,
    series_points,
    to_rate,
    window_s,
)

S = 1_000_000_000


def counts(values, *, start: int | None = 10 * S, end: int | None = 12 * S) -> sc.DataArray:
    values = np.asarray(values, dtype=float)
    da = sc.DataArray(
        sc.array(dims=["x"], values=values, variances=values, unit="counts"),
    )
    if start is not None:
        da.coords["start_time"] = sc.scalar(start, unit="ns", dtype="int64")
    if end is not None:
        da.coords["time"] = sc.scalar(end, unit="ns", dtype="int64")
    return da


def test_counts_become_counts_per_second_of_the_data_window() -> None:
    rate = to_rate(counts([4.0, 10.0]))
    assert rate.unit == sc.Unit("counts/s")
    assert rate.values.tolist() == [2.0, 5.0]
    assert rate.variances.tolist() == [1.0, 2.5]  # Poisson variances scale by 1/t^2
    assert window_s(counts([1.0])) == 2.0


@pytest.mark.parametrize(("start", "end"), [(None, 12 * S), (10 * S, None), (12 * S, 12 * S)])
def test_no_rate_without_a_positive_window(start, end) -> None:
    with pytest.raises(ValueError, match="no data window"):
        to_rate(counts([1.0], start=start, end=end))


def test_data_age_is_now_minus_the_result_time() -> None:
    da = counts([1.0])
    assert data_time_ns(da) == 12 * S
    assert data_age_s(da, 13 * S + S // 2) == 1.5
    assert data_age_s(counts([1.0], end=None), 13 * S) is None


def test_age_levels_and_text() -> None:
    assert age_level(0.7) is AgeLevel.FRESH
    assert age_level(10) is AgeLevel.LATE
    assert age_level(31) is AgeLevel.OLD
    assert format_age(0.84) == "0.8 s"
    assert format_age(-0.1) == "0.0 s"
    assert format_age(42) == "42 s"
    assert format_age(180) == "3 min"
    assert format_age(9000) == "2.5 h"


def test_time_window_since_start_or_last_seconds_of_data_time() -> None:
    times = np.arange(10, dtype=np.int64) * S
    values = np.arange(10, dtype=float)
    assert select_window(times, values, TimeWindow())[1].tolist() == values.tolist()
    kept_t, kept_v = select_window(times, values, TimeWindow(last_s=3))
    assert kept_t.tolist() == [6 * S, 7 * S, 8 * S, 9 * S]
    assert kept_v.tolist() == [6.0, 7.0, 8.0, 9.0]
    empty = np.empty(0, dtype=np.int64)
    assert select_window(empty, np.empty(0), TimeWindow(last_s=3))[0].size == 0


@pytest.mark.parametrize("last_s", [0, -1, 1e12])
def test_time_windows_are_bounded(last_s) -> None:
    with pytest.raises(ValueError, match="time window"):
        TimeWindow(last_s=last_s)


def test_series_points_of_a_datetime_output_in_time_order() -> None:
    da = sc.DataArray(
        sc.array(dims=["timestamp"], values=[1.0, 3.0, 2.0], unit="mm"),
        coords={
            "timestamp": sc.datetimes(dims=["timestamp"], values=[10, 30, 20], unit="ns"),
        },
    )
    times, values = series_points(da)
    assert times.tolist() == [10, 20, 30]
    assert values.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="datetime"):
        series_points(counts([1.0, 2.0]))


def test_layer_state_from_data_and_job_heartbeat() -> None:
    assert layer_state(False, None, None) is LayerState.WAITING
    assert layer_state(True, JobState.ACTIVE, Liveness.LIVE) is LayerState.LIVE
    assert layer_state(True, JobState.WARNING, Liveness.LIVE) is LayerState.WARNING
    assert layer_state(True, JobState.ERROR, Liveness.LIVE) is LayerState.ERROR
    assert layer_state(True, JobState.STOPPED, Liveness.GONE) is LayerState.STOPPED
    assert layer_state(True, JobState.ACTIVE, Liveness.STALE) is LayerState.STALE


def test_a_cell_shows_its_worst_layer() -> None:
    assert cell_state([]) is LayerState.WAITING
    assert cell_state([LayerState.LIVE, LayerState.ERROR, LayerState.STOPPED]) is LayerState.ERROR
    assert cell_state([LayerState.LIVE, LayerState.WAITING]) is LayerState.WAITING
