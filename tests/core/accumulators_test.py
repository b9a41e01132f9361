import math

import numpy as np
import pytest
import scipp as sc

from livedata.core.accumulators import (
    CumulativeAccumulator,
    LatestValue,
    LogSeries,
    WindowAccumulator,
)

A, B, C = np.array([1.0, 2.0]), np.array([10.0, 20.0]), np.array([100.0, 200.0])


def test_feeding_a_b_c_with_reads_between() -> None:
    window: WindowAccumulator[np.ndarray] = WindowAccumulator()
    cumulative: CumulativeAccumulator[np.ndarray] = CumulativeAccumulator()
    latest: LatestValue[np.ndarray] = LatestValue()
    series = LogSeries()
    for t, value in enumerate((A, B, C)):
        for acc in (window, cumulative, latest):
            acc.add(value)
        series.add(t, float(value[0]))
        last_window = window.get()
    np.testing.assert_array_equal(cumulative.get(), A + B + C)
    np.testing.assert_array_equal(last_window, C)
    np.testing.assert_array_equal(latest.get(), C)
    np.testing.assert_array_equal(series.times(), [0, 1, 2])
    np.testing.assert_array_equal(series.values(), [1.0, 10.0, 100.0])


def test_window_combines_everything_since_the_last_read_and_clears() -> None:
    window: WindowAccumulator[np.ndarray] = WindowAccumulator()
    window.add(A)
    window.add(B)
    np.testing.assert_array_equal(window.get(), A + B)
    assert window.is_empty
    with pytest.raises(LookupError):
        window.get()


def test_window_does_not_modify_the_values_it_was_given() -> None:
    window: WindowAccumulator[np.ndarray] = WindowAccumulator()
    a = A.copy()
    window.add(a)
    window.add(B)
    window.get()
    np.testing.assert_array_equal(a, A)


def test_window_with_custom_combine() -> None:
    window: WindowAccumulator[list[int]] = WindowAccumulator(
        lambda values: [x for v in values for x in v]
    )
    window.add([1])
    window.add([2, 3])
    assert window.get() == [1, 2, 3]


def test_cumulative_owns_its_copy_and_clears() -> None:
    cumulative: CumulativeAccumulator[np.ndarray] = CumulativeAccumulator()
    a = A.copy()
    cumulative.add(a)
    cumulative.add(B)
    np.testing.assert_array_equal(a, A)
    np.testing.assert_array_equal(cumulative.get(), cumulative.get())  # read does not reset
    cumulative.clear()
    assert cumulative.is_empty
    with pytest.raises(LookupError):
        cumulative.get()


def test_cumulative_adds_scipp_data_arrays_with_units() -> None:
    cumulative: CumulativeAccumulator[sc.DataArray] = CumulativeAccumulator()
    for n in (1.0, 2.0, 3.0):
        cumulative.add(sc.DataArray(sc.array(dims=["x"], values=[n, n], unit="counts")))
    assert sc.identical(
        cumulative.get(), sc.DataArray(sc.array(dims=["x"], values=[6.0, 6.0], unit="counts"))
    )


def test_latest_value_keeps_only_the_newest() -> None:
    latest: LatestValue[str] = LatestValue()
    assert latest.is_empty
    with pytest.raises(LookupError):
        latest.get()
    latest.add("a")
    latest.add("b")
    assert latest.get() == "b"
    assert latest.get() == "b"
    latest.clear()
    assert latest.is_empty


def test_log_series_is_bounded_and_keeps_the_newest() -> None:
    series = LogSeries(capacity=3)
    for t in range(5):
        series.add(t, float(t))
    np.testing.assert_array_equal(series.times(), [2, 3, 4])
    np.testing.assert_array_equal(series.values(), [2.0, 3.0, 4.0])
    assert series.dropped == 2
    assert len(series) == series.capacity == 3


def test_log_series_skips_repeated_values() -> None:
    series = LogSeries()
    for t, value in enumerate([1.0, 1.0, 2.0, 2.0, 1.0, math.nan, math.nan]):
        series.add(t, value)
    np.testing.assert_array_equal(series.times(), [0, 2, 4, 5])
    assert series.repeats == 3


def test_log_series_holds_array_values() -> None:
    series = LogSeries()
    series.add(0, np.array([1.0, 2.0]))
    series.add(1, np.array([1.0, 2.0]))
    series.add(2, np.array([1.0, 3.0]))
    assert series.values().shape == (2, 2)


def test_log_series_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        LogSeries(capacity=0)
