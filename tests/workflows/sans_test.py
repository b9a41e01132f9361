"""SANS I(Q): hand-computed events, a scipp reference, normalisation, and the job around it."""

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pydantic
import pytest
import scipp as sc

from livedata.core.control import Schedule, WorkflowConfig
from livedata.core.identity import JobId
from livedata.core.job import Job
from livedata.core.job_manager import JobManager
from livedata.core.message import Message, StreamId, StreamKind
from livedata.core.status import JobState
from livedata.core.stream_accumulators import StreamAccumulators
from livedata.core.values import EventBatch
from livedata.core.workflow import WorkflowRegistry
from livedata.workflows.sans import (
    SansIqParams,
    SansIqWorkflow,
    sans_iq_factory,
    sans_iq_outputs,
    sans_iq_spec,
)

H = 6.62607015e-34  # J s
M_N = 1.67492749804e-27  # kg
T0 = 1_700_000_000_000_000_000
S = 1_000_000_000
L1 = 20.0
MONITOR_Z = -2.0  # 18 m from the source
FIRST = 11
SIDE = 40
PITCH = 0.01
BANK_Z = 5.0


@dataclass(frozen=True)
class Toy:
    source_position: np.ndarray
    sample_position: np.ndarray
    pixel_positions: np.ndarray
    monitor_positions: Mapping[str, np.ndarray] = field(default_factory=dict)


def bank(pixels=None) -> Toy:
    """A 40 x 40 flat bank, 1 cm pitch, 5 m behind the sample, beam through its middle."""
    if pixels is None:
        ix, iy = np.meshgrid(np.arange(SIDE) - SIDE / 2 + 0.5, np.arange(SIDE) - SIDE / 2 + 0.5)
        pixels = np.stack(
            [ix.ravel() * PITCH, iy.ravel() * PITCH, np.full(SIDE * SIDE, BANK_Z)], axis=1
        )
    return Toy(
        source_position=np.array([0.0, 0.0, -L1]),
        sample_position=np.zeros(3),
        pixel_positions=np.asarray(pixels, dtype=float),
        monitor_positions={"monitor1": np.array([0.0, 0.0, MONITOR_Z])},
    )


def workflow(beamline=None, **params) -> SansIqWorkflow:
    params.setdefault("time_offset_ns", 0)  # times below are pure times of flight
    return SansIqWorkflow(
        source_name="rear",
        monitor_name="monitor1",
        beamline=beamline or bank(),
        first_pixel_id=FIRST,
        params=SansIqParams.model_validate(params),
    )


def batch(toa, pixel_id=None) -> EventBatch:
    return EventBatch(
        time_of_arrival=np.asarray(toa, dtype=np.int32),
        pixel_id=None if pixel_id is None else np.asarray(pixel_id, dtype=np.int32),
        reference_time=np.array([T0], dtype=np.int64),
        reference_time_index=np.array([0], dtype=np.int32),
    )


def tof_ns(wavelength_angstrom, path_m):
    """Time of flight of a neutron of that wavelength over that path: t = L m λ / h."""
    return np.asarray(path_m) * M_N * np.asarray(wavelength_angstrom) * 1e-10 / H * 1e9


def run(wf, i, detector, monitor=None):
    data = {"rear": detector}
    if monitor is not None:
        data["monitor1"] = monitor
    wf.accumulate(data, start_time=T0 + i * S, end_time=T0 + (i + 1) * S)
    return wf.finalize()


def test_a_hand_computed_event_lands_in_its_q_bin() -> None:
    # One pixel 0.5 m off axis at 5 m: L2 = 5.02494 m, 2θ = atan(0.1) = 5.7106°.
    # A 6 Å neutron: t = 25.02494 m * 6 Å / 3956.034 Å m/ms = 37.954 ms, and
    # Q = 4π sin(2.8553°) / 6 Å = 0.104330 1/Å: bin 0 of [0.1, 0.11, ..., 0.2).
    beamline = bank([(0.5, 0.0, 5.0)])
    wf = workflow(beamline, q={"start": 0.1, "stop": 0.2, "bins": 10, "scale": "linear"})
    l2 = math.hypot(0.5, 5.0)
    t = float(tof_ns(6.0, L1 + l2))
    assert math.isclose(t, 37_954_000, rel_tol=1e-4)
    q = 4 * math.pi * math.sin(math.atan(0.1) / 2) / 6.0
    assert math.isclose(q, 0.104330, rel_tol=1e-5)
    # A monitor neutron of 6 Å over 18 m counts once in the 1-10 Å band.
    out = run(wf, 0, batch([round(t)], [FIRST]), batch([round(float(tof_ns(6.0, 18.0)))]))
    iq = out["iq_cumulative"]
    np.testing.assert_array_equal(iq.values, [1.0] + [0.0] * 9)
    assert iq.coords["Q"].unit == sc.Unit("1/angstrom")
    np.testing.assert_allclose(iq.coords["Q"].values, np.linspace(0.1, 0.2, 11))
    assert out["counts_total"].value == 1
    assert out["monitor_counts_total"].value == 1
    # The same neutron at 0.95 Å is outside the band: neither it nor the monitor counts.
    wf2 = workflow(beamline, q={"start": 0.1, "stop": 2.0, "bins": 10})
    fast = round(float(tof_ns(0.95, L1 + l2)))
    out2 = run(wf2, 0, batch([fast], [FIRST]), batch([round(float(tof_ns(0.95, 18.0)))]))
    assert out2["counts_total"].value == 0
    assert out2["monitor_counts_total"].value == 0
    assert wf2.rejected.outside_range == 1


def scipp_reference(beamline, toa, pixel_id, edges, band):
    """Q of each event computed with scipp (units, vectors), the band applied as a mask,
    then ``sc.hist``. Returns the histogram and which events sit within 1e-7 of an edge
    (those are left out of the comparison: float32 factors may place them either side)."""
    pos = sc.vectors(dims=["pixel"], values=beamline.pixel_positions, unit="m")
    sample = sc.vector(beamline.sample_position, unit="m")
    source = sc.vector(beamline.source_position, unit="m")
    incident = sample - source
    scattered = pos - sample
    two_theta = sc.atan2(y=sc.norm(sc.cross(incident, scattered)), x=sc.dot(incident, scattered))
    theta = 0.5 * two_theta
    path = sc.norm(incident) + sc.norm(scattered)
    index = pixel_id - FIRST

    def per_event(per_pixel):
        return sc.array(dims=["event"], values=per_pixel.values[index], unit=per_pixel.unit)

    t = sc.array(dims=["event"], values=toa.astype(float), unit="ns")
    h_over_m = sc.scalar(H, unit="J*s") / sc.scalar(M_N, unit="kg")
    wavelength = (h_over_m * t / per_event(path)).to(unit="angstrom")
    q = (4 * math.pi * sc.sin(per_event(theta)) / wavelength).to(unit="1/angstrom")
    events = sc.DataArray(
        sc.ones(sizes={"event": len(toa)}, unit="counts"),
        coords={"Q": q, "wavelength": wavelength},
    )
    in_band = (wavelength >= sc.scalar(band[0], unit="angstrom")) & (
        wavelength < sc.scalar(band[1], unit="angstrom")
    )
    events = events[in_band]
    hist = events.hist(Q=sc.array(dims=["Q"], values=edges, unit="1/angstrom"))

    def near(values, marks):
        rel = np.abs(values[:, None] / np.asarray(marks)[None, :] - 1)
        return (rel < 1e-7).any(axis=1)

    ambiguous = near(q.values, edges) | near(wavelength.values, band)
    return hist, ambiguous


@pytest.mark.parametrize("scale", ["log", "linear"])
def test_iq_matches_scipp_binning_and_normalisation(scale) -> None:
    rng = np.random.default_rng(7)
    beamline = bank()
    n = 50_000
    pixel_index = rng.integers(0, SIDE * SIDE, n)
    path = L1 + np.linalg.norm(beamline.pixel_positions[pixel_index], axis=1)
    toa = np.round(tof_ns(rng.uniform(0.5, 12.0, n), path)).astype(np.int32)
    pixel_id = (pixel_index + FIRST).astype(np.int32)
    band = (1.0, 10.0)
    params = {"q": {"start": 0.003, "stop": 0.3, "bins": 60, "scale": scale}}
    wf = workflow(beamline, **params, transmission=0.8)
    edges = wf.finalize()["iq_cumulative"].coords["Q"].values
    wf.clear()
    reference, ambiguous = scipp_reference(beamline, toa, pixel_id, edges, band)
    reference_clean, _ = scipp_reference(
        beamline, toa[~ambiguous], pixel_id[~ambiguous], edges, band
    )
    assert ambiguous.sum() < 5
    monitor_toa = np.round(tof_ns(rng.uniform(0.5, 12.0, 20_000), 18.0)).astype(np.int32)
    monitor_in_band = int(
        (
            (float(tof_ns(1.0, 18.0)) <= monitor_toa) & (monitor_toa < float(tof_ns(10.0, 18.0)))
        ).sum()
    )

    out = run(wf, 0, batch(toa[~ambiguous], pixel_id[~ambiguous]), batch(monitor_toa))

    assert out["monitor_counts_total"].value == monitor_in_band
    assert out["counts_total"].value == reference_clean.sum().value
    # I = C / (M T), variances as scipp propagates them bin by bin.
    monitor = sc.scalar(float(monitor_in_band), variance=float(monitor_in_band))
    for i, c in enumerate(reference_clean.values):
        expected = sc.scalar(c, variance=c) / monitor / 0.8
        iq = out["iq_cumulative"]
        assert math.isclose(iq.values[i], expected.value, rel_tol=1e-12)
        assert math.isclose(iq.variances[i], expected.variance, rel_tol=1e-12)
    assert out["iq_cumulative"].unit == sc.units.dimensionless
    assert sc.identical(out["iq_cumulative"].coords["Q"], reference.coords["Q"])


def test_current_and_cumulative_over_windows() -> None:
    beamline = bank([(0.5, 0.0, 5.0)])
    wf = workflow(beamline, q={"start": 0.01, "stop": 1.0, "bins": 4})
    t = round(float(tof_ns(6.0, L1 + math.hypot(0.5, 5.0))))
    m = round(float(tof_ns(6.0, 18.0)))
    out = run(wf, 0, batch([t] * 3, [FIRST] * 3), batch([m] * 2))
    assert out["iq_current"].sum().value == 1.5
    out = run(wf, 1, batch([t] * 6, [FIRST] * 6), batch([m] * 2))
    assert out["iq_current"].sum().value == 3.0
    assert out["iq_cumulative"].sum().value == 9 / 4  # ratio of sums, not mean of ratios
    assert out["iq_current"].coords["start_time"].value == T0 + S
    assert out["counts_total_cumulative"].value == 9
    assert out["monitor_counts_total_cumulative"].value == 4
    wf.clear()
    out = run(wf, 2, batch([t], [FIRST]), batch([m]))
    assert out["iq_cumulative"].sum().value == 1.0


def test_the_same_monitor_value_is_counted_once() -> None:
    # The engine hands a job the newest value of an auxiliary stream with every window.
    beamline = bank([(0.5, 0.0, 5.0)])
    wf = workflow(beamline)
    t = round(float(tof_ns(6.0, L1 + math.hypot(0.5, 5.0))))
    monitor = batch([round(float(tof_ns(6.0, 18.0)))] * 5)
    run(wf, 0, batch([t], [FIRST]), monitor)
    out = run(wf, 1, batch([t], [FIRST]), monitor)
    assert out["monitor_counts_total"].value == 0
    assert out["monitor_counts_total_cumulative"].value == 5
    assert np.isnan(out["iq_current"].values).all()  # no new monitor counts in window 1
    assert np.isnan(out["iq_current"].variances).all()
    assert out["iq_cumulative"].sum().value == 2 / 5


def test_no_monitor_counts_gives_nan_and_says_why() -> None:
    wf = workflow(bank([(0.5, 0.0, 5.0)]))
    assert wf.problems == []
    out = run(wf, 0, batch([30_000_000], [FIRST]))
    assert np.isnan(out["iq_cumulative"].values).all()
    assert wf.problems == ["monitor monitor1 has sent no events: I(Q) is NaN"]
    run(wf, 1, batch([30_000_000], [FIRST]), batch([1]))  # 1 ns: far below 1 Å
    assert wf.problems == ["monitor monitor1 has no events in [1, 10) Å: I(Q) is NaN"]
    run(wf, 2, batch([30_000_000], [FIRST]), batch([round(float(tof_ns(5.0, 18.0)))]))
    assert wf.problems == []


def test_bad_pixels_and_times_are_rejected_not_fatal() -> None:
    wf = workflow(bank([(0.5, 0.0, 5.0)]))
    ids = [2**31 - 1, -(2**31), -1, FIRST - 1, FIRST + 1, FIRST]
    toa = [30_000_000] * 5 + [2**31 - 1]
    out = run(wf, 0, batch(toa, ids), batch([]))
    assert out["counts_total"].value == 0
    assert wf.rejected.pixel_out_of_range == 5
    assert wf.rejected.outside_range == 1
    # Reported for the heartbeat until a job reset clears them.
    assert wf.events_left_out() == {"pixel_out_of_range": 5, "coordinate_out_of_range": 1}
    wf.clear()
    assert wf.events_left_out() == {}


def test_non_event_data_is_refused() -> None:
    wf = workflow(bank([(0.5, 0.0, 5.0)]))
    with pytest.raises(TypeError, match="expected EventBatch"):
        wf.accumulate({"rear": [1, 2]}, start_time=T0, end_time=T0 + S)
    with pytest.raises(ValueError, match="no pixel ids"):
        wf.accumulate({"rear": batch([1])}, start_time=T0, end_time=T0 + S)
    with pytest.raises(TypeError, match="monitor monitor1: expected EventBatch"):
        wf.accumulate(
            {"rear": batch([1], [FIRST]), "monitor1": 3.0}, start_time=T0, end_time=T0 + S
        )


def test_templates_are_empty_with_the_outputs_dims_coords_and_units() -> None:
    templates = sans_iq_outputs()
    wf = workflow()
    out = run(wf, 0, batch([], []), batch([]))
    assert set(templates) == set(out)
    for name, spec in templates.items():
        template, result = spec.template, out[name]
        assert template.dims == result.dims
        assert template.unit == result.unit
        assert template.dtype == result.dtype == sc.DType.float64
        assert (template.variances is None) == (result.variances is None)
        for dim in template.dims:
            assert template.sizes[dim] == 0
            assert template.coords[dim].unit == result.coords[dim].unit
            assert result.coords.is_edges(dim)


@pytest.mark.parametrize(
    "params",
    [
        {"q": {"bins": 0}},
        {"q": {"bins": 100_000}},
        {"q": {"start": 0.5, "stop": 0.1}},
        {"q": {"stop": float("inf")}},
        {"q": {"start": -0.1}},
        {"wavelength_band": {"start": 10.0, "stop": 1.0}},
        {"wavelength_band": {"start": 1.0, "stop": 1e6}},
        {"transmission": 0.0},
        {"transmission": 1.5},
        {"transmission": float("nan")},
        {"time_offset_ns": 10**9},
        {"unknown": 1},
    ],
)
def test_unbounded_params_are_rejected(params) -> None:
    with pytest.raises(pydantic.ValidationError):
        SansIqParams.model_validate(params)


# -- the workflow as a job runs it -------------------------------------------------------

SPEC = sans_iq_spec(instrument="loki", banks=["rear", "mid"], monitors=["monitor1", "monitor2"])


def factory():
    return sans_iq_factory(beamline=lambda name: bank(), first_pixel_id={"rear": FIRST})


def test_spec_requires_a_monitor_and_names_the_banks() -> None:
    assert str(SPEC.workflow_id) == "loki/sans_iq/1"
    assert SPEC.service == "data_reduction"
    assert SPEC.source_names == ("rear", "mid")
    assert SPEC.aux_sources["monitor"].required
    assert SPEC.resolve_aux_sources({}) == {"monitor": "monitor1"}
    assert SPEC.params is SansIqParams


def test_job_waits_for_the_monitor_in_pending_context() -> None:
    aux = SPEC.resolve_aux_sources({})
    wf = factory()(source_name="rear", params=SansIqParams(), aux_source_names=aux)
    job = Job(
        job_id=JobId(source_name="rear", job_number=uuid.uuid4()),
        workflow_id=SPEC.workflow_id,
        workflow=wf,
        schedule=Schedule(),
        aux_streams=aux,
        required_aux_streams=frozenset(aux.values()),
    )
    detector = batch([30_000_000], [FIRST])
    assert job.process(start=T0, end=T0 + S, primary=detector, aux={}) == []
    assert job.state is JobState.PENDING_CONTEXT
    monitor = batch([round(float(tof_ns(5.0, 18.0)))])
    results = job.process(start=T0 + S, end=T0 + 2 * S, primary=detector, aux={"monitor1": monitor})
    assert job.state is JobState.ACTIVE
    by_name = {r.key.output_name: r for r in results}
    assert set(by_name) == set(SPEC.outputs)
    assert by_name["monitor_counts_total"].data.value == 1
    # Data sent before the monitor arrived was not counted: the job was waiting.
    assert by_name["counts_total_cumulative"].data.value == by_name["counts_total"].data.value


def monitor_message(toa) -> Message[EventBatch]:
    return Message(
        timestamp=T0,
        stream=StreamId(kind=StreamKind.MONITOR_EVENTS, name="monitor1"),
        value=batch(toa),
    )


def test_every_monitor_event_of_a_window_is_counted() -> None:
    registry = WorkflowRegistry()
    registry.register(SPEC, factory())
    jobs = JobManager(instrument="loki", registry=registry)
    config = WorkflowConfig(
        message_id=str(uuid.uuid4()),
        workflow_id=SPEC.workflow_id,
        job_id=JobId(source_name="rear", job_number=uuid.uuid4()),
    )
    assert jobs.handle(config)[0].error is None
    streams = StreamAccumulators()
    m = round(float(tof_ns(5.0, 18.0)))
    for count in (2, 3, 4):  # three monitor messages (pulses) in one window
        streams.add(monitor_message([m] * count))
    streams.add(
        Message(
            timestamp=T0,
            stream=StreamId(kind=StreamKind.DETECTOR_EVENTS, name="rear"),
            value=batch([30_000_000], [FIRST]),
        )
    )
    results = jobs.process_window(
        start=T0, end=T0 + S, data=streams.take_window(), latest=streams.latest()
    )
    by_name = {r.key.output_name: r.data for r in results}
    assert by_name["monitor_counts_total"].value == 9
