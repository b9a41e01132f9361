"""Monitor histogram: exact spectra per window and since start."""

import numpy as np
import pydantic
import pytest
import scipp as sc

from livedata.core.values import EventBatch
from livedata.workflows.monitor_histogram import (
    MonitorHistogramParams,
    MonitorHistogramWorkflow,
    MonitorWavelengthParams,
    monitor_histogram_outputs,
    monitor_wavelength_outputs,
)
from livedata.workflows.time_of_arrival import FRAME_PERIOD_NS

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000


def monitor(**params) -> MonitorHistogramWorkflow:
    return MonitorHistogramWorkflow(
        source_name="monitor1", params=MonitorHistogramParams.model_validate(params)
    )


def run(wf, batch, window: int, toa, pixel_id=None):
    wf.accumulate(
        {"monitor1": batch(pixel_id, toa)},
        start_time=T0 + window * S,
        end_time=T0 + (window + 1) * S,
    )
    return wf.finalize()


def test_defaults_are_100_bins_over_one_frame() -> None:
    params = MonitorHistogramParams.model_validate({})
    assert params.bins == 100
    assert params.toa_range.as_tuple() == (0, FRAME_PERIOD_NS)


def test_spectrum_holds_exact_counts(batch) -> None:
    wf = monitor(bins=4, toa_range={"start_ns": 0, "stop_ns": 400})
    out = run(wf, batch, 0, [0, 99, 100, 250, 399, 400, -1])
    for name in ("current", "cumulative"):
        da = out[name]
        assert da.dims == ("time_of_arrival",)
        assert da.unit == sc.Unit("counts")
        np.testing.assert_array_equal(da.values, [2, 1, 1, 1])
        np.testing.assert_array_equal(da.variances, [2, 1, 1, 1])
        edges = da.coords["time_of_arrival"]
        assert da.coords.is_edges("time_of_arrival")
        assert edges.unit == sc.Unit("ns")
        np.testing.assert_array_equal(edges.values, [0, 100, 200, 300, 400])
    assert out["counts_total"].value == 5
    assert out["counts_total_cumulative"].value == 5
    assert wf.rejected.time_out_of_range == 2


def test_current_and_cumulative_over_windows(batch) -> None:
    wf = monitor(bins=2, toa_range={"start_ns": 0, "stop_ns": 10})
    sent = 0
    for i, toa in enumerate([[1, 2, 7], [8], [], [3, 3, 3, 3]]):
        out = run(wf, batch, i, toa)
        sent += len(toa)
        assert out["counts_total"].value == len(toa)
        assert out["current"].sum().value == len(toa)
        assert out["counts_total_cumulative"].value == sent
        assert out["current"].coords["start_time"].value == T0 + i * S
        assert out["counts_total"].coords["start_time"].value == T0 + i * S
    np.testing.assert_array_equal(out["current"].values, [4, 0])
    np.testing.assert_array_equal(out["cumulative"].values, [6, 2])


def test_pixel_ids_are_ignored(batch) -> None:
    wf = monitor(bins=1, toa_range={"start_ns": 0, "stop_ns": 10})
    out = run(wf, batch, 0, [1, 2], pixel_id=[2**31 - 1, -5])
    assert out["counts_total"].value == 2


def test_clear_resets(batch) -> None:
    wf = monitor(bins=2, toa_range={"start_ns": 0, "stop_ns": 10})
    run(wf, batch, 0, [1, 1, 1])
    wf.clear()
    out = run(wf, batch, 1, [9])
    np.testing.assert_array_equal(out["cumulative"].values, [0, 1])
    assert out["counts_total_cumulative"].value == 1


def test_templates_match_outputs(batch) -> None:
    templates = monitor_histogram_outputs()
    out = run(monitor(), batch, 0, [5, 6])
    assert set(templates) == set(out)
    for name, spec in templates.items():
        da = out[name]
        assert spec.template.dims == da.dims
        assert spec.template.unit == da.unit
        assert (spec.template.variances is None) == (da.variances is None)
        for coord in spec.template.coords:
            assert spec.template.coords[coord].unit == da.coords[coord].unit
            assert spec.template.coords.is_edges(coord) == da.coords.is_edges(coord)


@pytest.mark.parametrize(
    "params",
    [
        {"bins": 0},
        {"bins": 10_001},
        {"bins": 2.5},
        {"toa_range": {"start_ns": 5, "stop_ns": 1}},
        {"toa_range": {"start_ns": 0, "stop_ns": float("inf")}},
        {"extra": 1},
    ],
)
def test_params_are_bounded(params) -> None:
    with pytest.raises(pydantic.ValidationError):
        MonitorHistogramParams.model_validate(params)


# -- wavelength spectra ---------------------------------------------------------------

M_N_OVER_H_NS_PER_ANGSTROM_M = 1.67492749804e-27 / 6.62607015e-34 * 1e-10 * 1e9
"""t [ns] = this * λ [Å] * L [m]."""


def wavelength_monitor(flight_path_m=20.0, **params) -> MonitorHistogramWorkflow:
    params.setdefault("time_offset_ns", 0)  # times below are pure times of flight
    return MonitorHistogramWorkflow(
        source_name="monitor1",
        params=MonitorWavelengthParams.model_validate(params),
        flight_path_m=flight_path_m,
    )


def test_wavelength_spectrum_by_hand(batch) -> None:
    wf = wavelength_monitor(wavelength={"start": 1.0, "stop": 5.0, "bins": 4})
    # 1.5, 2.5, 2.5 and 4.5 Å over 20 m, one 0.5 Å (below) and one 6 Å (above).
    toa = [round(w * 20.0 * M_N_OVER_H_NS_PER_ANGSTROM_M) for w in (1.5, 2.5, 2.5, 4.5, 0.5, 6)]
    out = run(wf, batch, 0, toa)
    da = out["cumulative"]
    assert da.dims == ("wavelength",)
    np.testing.assert_array_equal(da.values, [1, 2, 0, 1])
    np.testing.assert_array_equal(da.variances, [1, 2, 0, 1])
    assert da.coords["wavelength"].unit == sc.Unit("angstrom")
    np.testing.assert_array_equal(da.coords["wavelength"].values, [1, 2, 3, 4, 5])
    assert out["counts_total"].value == 4
    assert wf.rejected.outside_range == 2


def test_wavelength_time_offset_shifts_the_spectrum(batch) -> None:
    offset = 1_000_000
    wf = wavelength_monitor(
        wavelength={"start": 1.0, "stop": 5.0, "bins": 4}, time_offset_ns=offset
    )
    toa = [round(2.5 * 20.0 * M_N_OVER_H_NS_PER_ANGSTROM_M) + offset]
    np.testing.assert_array_equal(run(wf, batch, 0, toa)["current"].values, [0, 1, 0, 0])


def test_wavelength_templates_match_outputs(batch) -> None:
    templates = monitor_wavelength_outputs()
    out = run(wavelength_monitor(), batch, 0, [5_000_000, 6_000_000])
    assert set(templates) == set(out)
    for name, spec in templates.items():
        da = out[name]
        assert spec.template.dims == da.dims
        assert spec.template.unit == da.unit
        for coord in spec.template.coords:
            assert spec.template.coords[coord].unit == da.coords[coord].unit
            assert spec.template.coords.is_edges(coord) == da.coords.is_edges(coord)


def test_wavelength_needs_the_flight_path() -> None:
    with pytest.raises(ValueError, match="flight path"):
        MonitorHistogramWorkflow(source_name="monitor1", params=MonitorWavelengthParams())


@pytest.mark.parametrize(
    "params",
    [
        {"wavelength": {"bins": 0}},
        {"wavelength": {"start": 5.0, "stop": 1.0}},
        {"wavelength": {"stop": 1e4}},
        {"time_offset_ns": 2**40},
        {"bins": 10},
    ],
)
def test_wavelength_params_are_bounded(params) -> None:
    with pytest.raises(pydantic.ValidationError):
        MonitorWavelengthParams.model_validate(params)


def test_a_windows_messages_are_histogrammed_without_joining_them(batch) -> None:
    wf = monitor(bins=4, toa_range={"start_ns": 0, "stop_ns": 400})
    events = EventBatch.concatenate([batch(None, [0, 99, -1]), batch(None, [100, 250, 399, 400])])
    wf.accumulate({"monitor1": events}, start_time=T0, end_time=T0 + S)
    np.testing.assert_array_equal(wf.finalize()["current"].values, [2, 1, 1, 1])
    assert len(events.parts) == 2  # never joined
