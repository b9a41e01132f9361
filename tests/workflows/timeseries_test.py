"""Timeseries: exactly the f144 values sent, bounded, with datetime coords."""

import math

import numpy as np
import scipp as sc

from livedata.core.values import LogSample
from livedata.workflows.timeseries import TimeseriesWorkflow, timeseries_outputs

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000


def samples(*pairs) -> list[LogSample]:
    return [LogSample(time=t, value=v) for t, v in pairs]


def run(wf, window: int, *pairs):
    wf.accumulate(
        {"motion1": samples(*pairs)}, start_time=T0 + window * S, end_time=T0 + (window + 1) * S
    )
    return wf.finalize()["timeseries"]


def test_holds_exactly_the_values_sent() -> None:
    wf = TimeseriesWorkflow(source_name="motion1", unit="mm")
    run(wf, 0, (T0 + 1, 1.5), (T0 + 2, 2.5))
    da = run(wf, 1, (T0 + S + 7, -3.0), (T0 + S + 9, math.nan), (T0 + S + 11, 4.0))
    assert da.dims == ("timestamp",)
    assert da.unit == sc.Unit("mm")
    assert da.dtype == sc.DType.float64
    np.testing.assert_array_equal(da.values, [1.5, 2.5, -3.0, np.nan, 4.0])
    ts = da.coords["timestamp"]
    assert ts.dtype == sc.DType.datetime64
    assert ts.unit == sc.Unit("ns")
    assert ts.values.astype("datetime64[ns]").astype(np.int64).tolist() == [
        T0 + 1,
        T0 + 2,
        T0 + S + 7,
        T0 + S + 9,
        T0 + S + 11,
    ]
    assert da.coords["start_time"].value == T0 + 1
    assert "time" not in da.coords  # the job sets it: the end of the data window


def test_capacity_bounds_the_history() -> None:
    wf = TimeseriesWorkflow(source_name="motion1", unit="deg", capacity=3)
    da = run(wf, 0, *[(T0 + i, float(i)) for i in range(5)])
    np.testing.assert_array_equal(da.values, [2.0, 3.0, 4.0])
    assert da.coords["start_time"].value == T0 + 2
    assert wf.series.dropped == 2


def test_repeats_are_not_new_samples() -> None:
    wf = TimeseriesWorkflow(source_name="motion1", unit="mm")
    da = run(wf, 0, (T0, 1.0), (T0 + 1, 1.0), (T0 + 2, 2.0))
    np.testing.assert_array_equal(da.values, [1.0, 2.0])


def test_single_element_arrays_are_scalars_and_larger_ones_refused_alone() -> None:
    wf = TimeseriesWorkflow(source_name="motion1", unit="mm")
    da = run(wf, 0, (T0, np.array([7.0])))
    assert da.values.tolist() == [7.0]
    assert wf.problems == []
    # The good samples of the window are kept: one bad sample must not cost them.
    da = run(wf, 1, (T0 + 1, 8.0), (T0 + 2, np.array([1.0, 2.0])), (T0 + 3, 9.0))
    assert da.values.tolist() == [7.0, 8.0, 9.0]
    (problem,) = wf.problems
    assert problem.startswith("1 samples refused")
    assert "array-valued sample of shape (2,)" in problem
    wf.clear()
    assert wf.problems == []


def test_clear_forgets_the_history() -> None:
    wf = TimeseriesWorkflow(source_name="motion1", unit="mm")
    run(wf, 0, (T0, 1.0))
    wf.clear()
    da = run(wf, 1, (T0 + S, 2.0))
    assert da.values.tolist() == [2.0]
    assert da.coords["start_time"].value == T0 + S


def test_template_matches_output() -> None:
    ((name, spec),) = timeseries_outputs("mm").items()
    da = run(TimeseriesWorkflow(source_name="motion1", unit="mm"), 0, (T0, 1.0))
    assert name == "timeseries"
    assert spec.template.dims == da.dims
    assert spec.template.unit == da.unit
    assert spec.template.coords["timestamp"].dtype == da.coords["timestamp"].dtype
    assert spec.template.sizes == {"timestamp": 0}
