"""Powder I(d): a hand-computed event, Bragg peaks recovered from generated events,
2θ selection, monitor normalisation, and the spec."""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pydantic
import pytest
import scipp as sc

from livedata.core.values import EventBatch
from livedata.workflows.powder import (
    PowderIdParams,
    PowderIdWorkflow,
    powder_factory,
    powder_id_outputs,
    powder_spec,
)

H = 6.62607015e-34  # J s
M_N = 1.67492749804e-27  # kg
T0 = 1_700_000_000_000_000_000
S = 1_000_000_000
L1 = 76.5
FIRST = 1


@dataclass(frozen=True)
class Toy:
    source_position: np.ndarray
    sample_position: np.ndarray
    pixel_positions: np.ndarray
    monitor_positions: Mapping[str, np.ndarray] = field(default_factory=dict)


def beamline(pixels) -> Toy:
    return Toy(
        source_position=np.array([0.0, 0.0, -L1]),
        sample_position=np.zeros(3),
        pixel_positions=np.asarray(pixels, dtype=float),
        monitor_positions={"monitor1": np.array([0.0, 0.0, -4.5])},  # 72 m from the source
    )


def mantle(n_angles=240, n_heights=20, radius=1.1) -> Toy:
    """A cylinder of pixels around the sample, 2θ 20°-160° in the horizontal plane."""
    angle = np.radians(np.linspace(20, 160, n_angles))
    a, y = np.meshgrid(angle, np.linspace(-0.4, 0.4, n_heights), indexing="ij")
    pixels = np.stack([radius * np.sin(a), y, radius * np.cos(a)], axis=-1).reshape(-1, 3)
    return beamline(pixels)


def workflow(geometry, monitor_name=None, **params) -> PowderIdWorkflow:
    params.setdefault("time_offset_ns", 0)  # times below are pure times of flight
    return PowderIdWorkflow(
        source_name="mantle",
        beamline=geometry,
        first_pixel_id=FIRST,
        params=PowderIdParams.model_validate(params),
        monitor_name=monitor_name,
    )


def batch(toa, pixel_id=None) -> EventBatch:
    return EventBatch(
        time_of_arrival=np.asarray(toa, dtype=np.int32),
        pixel_id=None if pixel_id is None else np.asarray(pixel_id, dtype=np.int32),
        reference_time=np.array([T0], dtype=np.int64),
        reference_time_index=np.array([0], dtype=np.int32),
    )


def run(wf, i, detector, monitor=None):
    data = {"mantle": detector}
    if monitor is not None:
        data["monitor1"] = monitor
    wf.accumulate(data, start_time=T0 + i * S, end_time=T0 + (i + 1) * S)
    return wf.finalize()


def bragg_tof_ns(d, two_theta, path):
    """Time of flight of the neutron a d-spacing reflects into 2θ: λ = 2 d sin θ, t = L m λ / h."""
    wavelength = 2 * np.asarray(d) * np.sin(np.asarray(two_theta) / 2)
    return np.asarray(path) * M_N * wavelength * 1e-10 / H * 1e9


def test_a_hand_computed_event_lands_in_its_d_bin() -> None:
    # A pixel at 2θ = 90°, 1 m from the sample: L = 77.5 m. d = 2 Å reflects
    # λ = 2 · 2 Å · sin 45° = 2.828427 Å, arriving after 77.5 m · 2.828427 Å / 3956.034
    # Å m/ms = 55.410 ms.
    wf = workflow(beamline([(1.0, 0.0, 0.0)]), dspacing={"start": 1.0, "stop": 3.0, "bins": 20})
    t = float(bragg_tof_ns(2.0, math.pi / 2, 77.5))
    assert math.isclose(t, 55_410_000, rel_tol=1e-4)
    # Rounded up to a whole ns it is in [2.0, 2.1); a ns earlier, in [1.9, 2.0).
    out = run(wf, 0, batch([math.ceil(t), math.floor(t)], [FIRST, FIRST]))
    counts = out["id_cumulative"]
    assert counts.values[10] == 1
    assert counts.values[9] == 1
    assert counts.unit == sc.Unit("counts")
    np.testing.assert_array_equal(counts.variances, counts.values)
    np.testing.assert_allclose(counts.coords["dspacing"].values, np.linspace(1.0, 3.0, 21))
    assert counts.coords["dspacing"].unit == sc.Unit("angstrom")


def test_bragg_peaks_are_recovered_at_their_d_spacing() -> None:
    rng = np.random.default_rng(3)
    geometry = mantle()
    n_pixels = len(geometry.pixel_positions)
    scattered = geometry.pixel_positions
    two_theta = np.arctan2(np.hypot(scattered[:, 0], scattered[:, 1]), scattered[:, 2])
    path = L1 + np.linalg.norm(scattered, axis=1)
    peaks = {1.6025: 30_000, 2.3025: 20_000}  # bin centres
    toa, ids = [], []
    for d0, n in peaks.items():
        pixel = rng.integers(0, n_pixels, n)
        d = rng.normal(d0, 0.002 * d0, n)  # a sharp peak: 0.2 % wide
        toa.append(bragg_tof_ns(d, two_theta[pixel], path[pixel]))
        ids.append(pixel + FIRST)
    background = 40_000
    toa.append(rng.uniform(0, 71e6, background))
    ids.append(rng.integers(0, n_pixels, background) + FIRST)
    toa_all = np.round(np.concatenate(toa)).astype(np.int32)
    ids_all = np.concatenate(ids).astype(np.int32)

    wf = workflow(geometry, dspacing={"start": 1.0, "stop": 3.0, "bins": 400})
    out = run(wf, 0, batch(toa_all, ids_all))
    counts = out["id_cumulative"]
    edges = counts.coords["dspacing"].values
    centres = 0.5 * (edges[1:] + edges[:-1])
    for d0 in peaks:
        window = np.abs(centres - d0) < 0.05
        peak_bin = np.flatnonzero(window)[np.argmax(counts.values[window])]
        assert edges[peak_bin] <= d0 < edges[peak_bin + 1]
        weights = counts.values[window]
        centroid = float((centres[window] * weights).sum() / weights.sum())
        assert abs(centroid - d0) < 0.0025, (d0, centroid)  # within half a bin
    # Conservation: every event is counted once or rejected.
    assert out["counts_total"].value + wf.rejected.total == len(toa_all)
    assert wf.rejected.pixel_out_of_range == 0


def test_two_theta_selection_excludes_pixels() -> None:
    # Pixels at 30°, 90° and 150°, each with one event at d = 2 Å.
    angles = np.radians([30.0, 90.0, 150.0])
    pixels = np.stack([np.sin(angles), np.zeros(3), np.cos(angles)], axis=1)
    toa = np.round(bragg_tof_ns(2.0, angles, L1 + 1.0)).astype(np.int32)
    ids = np.arange(FIRST, FIRST + 3, dtype=np.int32)
    for selection, expected in (
        (None, 3),
        ({"start": 60.0, "stop": 120.0}, 1),
        ({"start": 0.0, "stop": 90.0}, 1),  # half-open: 90° is out
        ({"start": 90.0, "stop": 180.0}, 2),
    ):
        wf = workflow(beamline(pixels), two_theta_range=selection)
        assert run(wf, 0, batch(toa, ids))["counts_total"].value == expected
        assert wf.rejected.outside_range == 3 - expected
        left_out = {"coordinate_out_of_range": 3 - expected} if expected < 3 else {}
        assert wf.events_left_out() == left_out


def test_a_pixel_on_the_beam_axis_counts_nowhere() -> None:
    wf = workflow(beamline([(0.0, 0.0, 2.0), (1.0, 0.0, 0.0)]))
    out = run(wf, 0, batch([30_000_000, 30_000_000], [FIRST, FIRST + 1]))
    assert out["counts_total"].value == 1
    assert not np.isnan(out["id_cumulative"].values).any()


def monitor_tof(wavelength) -> int:
    """Time of flight (ns) over the 72 m to the monitor."""
    return round(72.0 * M_N * wavelength * 1e-10 / H * 1e9)


def test_normalised_outputs_divide_by_the_monitor_in_the_band() -> None:
    geometry = beamline([(1.0, 0.0, 0.0)])
    wf = workflow(
        geometry,
        monitor_name="monitor1",
        normalise_by_monitor=True,
        wavelength_band={"start": 1.0, "stop": 4.0},
        dspacing={"start": 1.0, "stop": 3.0, "bins": 4},
    )
    t_in = round(float(bragg_tof_ns(2.2, math.pi / 2, 77.5)))  # λ = 3.11 Å: in band
    t_out = round(float(bragg_tof_ns(2.9, math.pi / 2, 77.5)))  # λ = 4.1 Å: out of band
    monitor = batch([monitor_tof(2.0)] * 4 + [monitor_tof(5.0)] * 3)
    out = run(wf, 0, batch([t_in] * 3 + [t_out], [FIRST] * 4), monitor)
    assert out["monitor_counts_total"].value == 4
    np.testing.assert_array_equal(out["id_cumulative"].values, [0, 0, 3, 0])
    normalised = out["id_normalised_cumulative"]
    expected = sc.scalar(3.0, variance=3.0) / sc.scalar(4.0, variance=4.0)
    assert normalised.values[2] == expected.value
    assert math.isclose(normalised.variances[2], expected.variance, rel_tol=1e-12)
    assert normalised.unit == sc.units.dimensionless
    assert set(out) == set(powder_id_outputs(monitor=True))
    assert wf.problems == []


def test_without_normalisation_no_normalised_outputs() -> None:
    wf = workflow(beamline([(1.0, 0.0, 0.0)]), monitor_name="monitor1")
    out = run(wf, 0, batch([30_000_000], [FIRST]))
    assert "id_normalised_cumulative" not in out
    assert out["monitor_counts_total"].value == 0
    assert wf.problems == []


def test_normalising_without_monitor_counts_is_nan_and_said() -> None:
    wf = workflow(beamline([(1.0, 0.0, 0.0)]), monitor_name="monitor1", normalise_by_monitor=True)
    out = run(wf, 0, batch([30_000_000], [FIRST]))
    assert np.isnan(out["id_normalised_cumulative"].values).all()
    assert wf.problems == ["monitor monitor1 has no events in its band: I(d) / monitor is NaN"]


def test_normalising_needs_a_monitor() -> None:
    with pytest.raises(ValueError, match="needs a monitor"):
        workflow(beamline([(1.0, 0.0, 0.0)]), normalise_by_monitor=True)


def test_templates_are_empty_with_the_outputs_dims_coords_and_units() -> None:
    wf = workflow(beamline([(1.0, 0.0, 0.0)]), monitor_name="monitor1", normalise_by_monitor=True)
    out = run(wf, 0, batch([], []), batch([]))
    templates = powder_id_outputs(monitor=True)
    assert set(templates) == set(out)
    for name, spec in templates.items():
        template, result = spec.template, out[name]
        assert template.dims == result.dims
        assert template.unit == result.unit
        assert template.dtype == result.dtype == sc.DType.float64
        assert template.variances is not None
        assert result.variances is not None
        for dim in template.dims:
            assert template.sizes[dim] == 0
            assert template.coords[dim].unit == result.coords[dim].unit
            assert result.coords.is_edges(dim)


@pytest.mark.parametrize(
    "params",
    [
        {"dspacing": {"bins": 0}},
        {"dspacing": {"bins": 20_000}},
        {"dspacing": {"start": 3.0, "stop": 1.0}},
        {"dspacing": {"stop": float("nan")}},
        {"two_theta_range": {"start": 100.0, "stop": 90.0}},
        {"two_theta_range": {"start": -1.0, "stop": 90.0}},
        {"two_theta_range": {"start": 0.0, "stop": 181.0}},
        {"wavelength_band": {"start": 0.0, "stop": 2.0}},
        {"time_offset_ns": -(10**9)},
        {"normalise": True},
    ],
)
def test_unbounded_params_are_rejected(params) -> None:
    with pytest.raises(pydantic.ValidationError):
        PowderIdParams.model_validate(params)


def test_spec_and_factory() -> None:
    spec = powder_spec(instrument="dream", banks=["mantle", "endcap_backward"], monitors=["m1"])
    assert str(spec.workflow_id) == "dream/powder_id/1"
    assert spec.service == "data_reduction"
    assert not spec.aux_sources["monitor"].required
    bare = powder_spec(instrument="dream", banks=["mantle"])
    assert bare.aux_sources == {}
    assert set(bare.outputs) == {
        "id_current",
        "id_cumulative",
        "counts_total",
        "counts_total_cumulative",
    }
    factory = powder_factory(
        beamline=lambda name: beamline([(1.0, 0.0, 0.0)]), first_pixel_id={"mantle": FIRST}
    )
    wf = factory(source_name="mantle", params=PowderIdParams(), aux_source_names={})
    assert "monitor_counts_total" not in run(wf, 0, batch([1], [FIRST]))
    with pytest.raises(TypeError, match="expected PowderIdParams"):
        factory(source_name="mantle", params={}, aux_source_names={})
