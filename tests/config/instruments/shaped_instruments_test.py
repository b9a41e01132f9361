"""The DREAM-, LoKI- and BIFROST-like instruments: parts, numbering, geometry, and every
detector view, monitor and log workflow against a reference computed another way."""

import itertools
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import scipp as sc

from livedata.config.instrument import Instrument
from livedata.config.registry import available_instruments, load_instrument
from livedata.config.standard_workflows import DetectorView
from livedata.core.message import StreamKind
from livedata.core.values import EventBatch, LogSample
from livedata.workflows.pixel_views import LogicalView
from livedata.workflows.projections import CylinderProjection, XYProjection

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000
NAMES = ("dream", "loki", "bifrost")

# name: (pixels, highest id, banks, monitors, logs, L1)
FACTS = {
    "dream": (1_515_520, 1_523_680, 5, 2, 3, 76.55),
    "loki": (3_211_264, 3_211_264, 9, 5, 3, 23.0),
    "bifrost": (13_500, 13_500, 1, 2, 3, 162.0),
}

# name: bank -> (scattering angle range in degrees, distance range in metres)
ANGLES = {
    "dream": {
        "endcap_forward_detector": ((13, 46), (1.2, 1.8)),
        "endcap_backward_detector": ((134, 167), (1.2, 1.8)),
        "mantle_detector": ((50, 120), (1.1, 1.7)),
        "sans_detector": ((0, 8), (4.0, 4.1)),
        "high_resolution_detector": ((140, 172), (1.85, 2.15)),
    },
    "loki": {
        "loki_detector_0": ((0, 10), (5.0, 5.25)),
        **{f"loki_detector_{i}": ((5, 19), (3.0, 3.3)) for i in range(1, 5)},
        **{f"loki_detector_{i}": ((15, 51), (1.3, 1.7)) for i in range(5, 9)},
    },
    "bifrost": {"unified_detector": ((20, 110), (1.2, 1.9))},
}


@pytest.fixture(scope="module", params=NAMES)
def inst(request: pytest.FixtureRequest) -> Instrument:
    return load_instrument(request.param)


@pytest.fixture(scope="module")
def registry(inst: Instrument) -> Any:
    return inst.build_workflows(inst)


def test_found_through_entry_points_with_real_pixel_counts(inst: Instrument) -> None:
    assert set(NAMES) <= set(available_instruments())
    pixels, highest, banks, monitors, logs, l1 = FACTS[inst.name]
    assert sum(b.n_pixels for b in inst.detectors) == pixels
    assert max(b.first_pixel_id + b.n_pixels - 1 for b in inst.detectors) == highest
    assert (len(inst.detectors), len(inst.monitors), len(inst.logs)) == (banks, monitors, logs)
    # Banks never share an id.
    ranges = sorted((b.first_pixel_id, b.first_pixel_id + b.n_pixels) for b in inst.detectors)
    assert all(stop <= start for (_, stop), (start, _) in itertools.pairwise(ranges))
    assert ranges[0][0] >= 1
    assert all(log.valid_range is not None and log.unit for log in inst.logs)
    assert all(m.position is not None for m in inst.monitors)
    assert inst.source_position is not None
    assert math.dist(inst.source_position, inst.sample_position) == pytest.approx(l1)


def test_streams_use_the_dev_topics(inst: Instrument) -> None:
    streams = inst.streams(dev=True)
    for bank in inst.detectors:
        assert streams[(f"{inst.name}_detector", bank.name)].kind is StreamKind.DETECTOR_EVENTS
    for monitor in inst.monitors:
        assert streams[(f"{inst.name}_beam_monitor", monitor.name)].kind in (
            StreamKind.MONITOR_EVENTS,
            StreamKind.MONITOR_COUNTS,
        )
    for log in inst.logs:
        assert streams[(f"{inst.name}_motion", log.name)].kind is StreamKind.LOG


@pytest.mark.parametrize("name", NAMES)
def test_importing_the_package_computes_and_registers_nothing(name: str) -> None:
    code = (
        f"import sys, livedata.config.instruments.{name} as p; p.instrument();"
        "print([m for m in sys.modules if m.startswith('livedata.workflows')"
        " or m.endswith(('.factories', '.specs'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_geometry_places_every_pixel_where_its_bank_is(inst: Instrument) -> None:
    for bank in inst.detectors:
        geometry = inst.geometry(bank.name)
        assert geometry is inst.geometry(bank.name)  # computed once
        assert geometry.first_pixel_id == bank.first_pixel_id
        assert geometry.pixel_positions.shape == (bank.n_pixels, 3)
        assert geometry.l1 == pytest.approx(FACTS[inst.name][5])
        assert (geometry.l2 > 0).all()
        (lo, hi), (near, far) = ANGLES[inst.name][bank.name]
        two_theta = np.degrees(geometry.two_theta)
        assert lo <= two_theta.min(), bank.name
        assert two_theta.max() <= hi, bank.name
        assert near <= geometry.l2.min(), bank.name
        assert geometry.l2.max() <= far, bank.name
        assert set(geometry.monitor_positions) == {m.name for m in inst.monitors}


def test_scattering_angle_is_monotonic_along_rings_and_strips() -> None:
    dream = load_instrument("dream")
    forward = np.degrees(dream.geometry("endcap_forward_detector").two_theta).reshape(5, 128, 112)
    assert (np.diff(forward, axis=2) > 0).all()  # outwards ring by ring
    np.testing.assert_allclose(forward, forward[:1, :1, :].repeat(5, 0).repeat(128, 1))
    backward = np.degrees(dream.geometry("endcap_backward_detector").two_theta)
    assert (np.diff(backward.reshape(11, 128, 112), axis=2) < 0).all()  # backscattering
    mantle = np.degrees(dream.geometry("mantle_detector").two_theta).reshape(60, 32, 256)
    assert (np.diff(mantle, axis=2) < 0).all()  # downstream along z: smaller angles
    np.testing.assert_allclose(mantle[:, 0], mantle[:1, 0].repeat(60, 0))  # same all round
    bifrost = load_instrument("bifrost")
    angle = np.degrees(bifrost.geometry("unified_detector").two_theta).reshape(5, 3, 900)
    assert (np.diff(angle, axis=2)[:, :, np.arange(899) % 100 != 99] > 0).all()


def test_every_spec_accepts_empty_params_and_has_outputs(registry: Any) -> None:
    for spec in registry.specs():
        spec.params.model_validate({})
        assert spec.outputs, spec.workflow_id


def test_reduction_hooks_exist() -> None:
    for name in ("dream", "loki"):
        module = __import__(f"livedata.config.instruments.{name}.reductions", fromlist=["x"])
        assert callable(module.register_reductions)


# ---------------------------------------------------------------- workflows


def _events(rng: np.random.Generator, first: int, n_pixels: int, n: int) -> EventBatch:
    ids = rng.integers(first, first + n_pixels, n).astype(np.int32)
    ids[::50] = rng.choice(
        np.array([-1, 0, first - 1, first + n_pixels, 2**31 - 1]), len(ids[::50])
    )
    return EventBatch(
        time_of_arrival=rng.integers(0, 71_000_000, n, dtype=np.int32),
        pixel_id=ids,
        reference_time=np.array([T0], dtype=np.int64),
        reference_time_index=np.array([0], dtype=np.int32),
    )


def _logical_reference(
    counts: np.ndarray, shape: tuple[int, ...], dims: tuple[str, ...], view: LogicalView
) -> np.ndarray:
    """The view computed with numpy on per-pixel counts: reshape, slice, block-sum, sum."""
    if view.fold:
        dims = tuple(d for d, _ in view.fold)
        shape = tuple(n for _, n in view.fold)
    a = counts.reshape(shape)  # numpy resolves a -1 itself
    for dim, start, stop in view.select:
        a = np.take(a, np.arange(start, stop), axis=dims.index(dim))
    for dim, factor in view.downsample:
        axis = dims.index(dim)
        pad = -a.shape[axis] % factor
        a = np.concatenate([a, np.zeros((*a.shape[:axis], pad, *a.shape[axis + 1 :]))], axis=axis)
        a = a.reshape(*a.shape[:axis], -1, factor, *a.shape[axis + 1 :]).sum(axis=axis + 1)
    return a.sum(axis=tuple(dims.index(d) for d in view.sum_over))


def _projection_reference(
    inst: Instrument, bank: str, counts: np.ndarray, image: sc.DataArray
) -> np.ndarray:
    """The view computed by ``np.histogram2d`` of each pixel's own coordinates."""
    position = inst.geometry(bank).pixel_positions
    if image.dims == ("y", "x"):
        first, second = position[:, 1], position[:, 0]
    else:
        first, second = np.degrees(np.arctan2(position[:, 1], position[:, 0])), position[:, 2]
    edges = [image.coords[d].values for d in image.dims]
    hist, _, _ = np.histogram2d(first, second, bins=edges, weights=counts)
    return hist


def _detector_view(inst: Instrument, name: str) -> DetectorView:
    module = __import__(f"livedata.config.instruments.{inst.name}.specs", fromlist=["x"])
    return next(v for v in module.DETECTOR_VIEWS if v.name == name)


def assert_like_template(template: sc.DataArray, da: sc.DataArray) -> None:
    assert template.dims == da.dims
    assert template.dtype == da.dtype
    assert template.unit == da.unit
    assert (template.variances is None) == (da.variances is None)
    for name, coord in template.coords.items():
        assert name in da.coords
        assert coord.dtype == da.coords[name].dtype
        assert coord.unit == da.coords[name].unit
        assert template.coords.is_edges(name) == da.coords.is_edges(name)


def test_detector_views_against_numpy(inst: Instrument, registry: Any) -> None:
    rng = np.random.default_rng(7)
    for workflow_id in registry:
        entry = registry[workflow_id]
        if entry.spec.service != "detector_data":
            continue
        definition = _detector_view(inst, workflow_id.name)
        for source in entry.spec.source_names:
            bank = inst.detector(source)
            workflow = entry.factory(
                source_name=source, params=entry.spec.params(), aux_source_names={}
            )
            sent = 0
            per_pixel = np.zeros(bank.n_pixels)
            for window in range(2):
                events = _events(rng, bank.first_pixel_id, bank.n_pixels, 4000)
                valid = events.pixel_id[
                    (events.pixel_id >= bank.first_pixel_id)
                    & (events.pixel_id < bank.first_pixel_id + bank.n_pixels)
                ]
                per_pixel += np.bincount(valid - bank.first_pixel_id, minlength=bank.n_pixels)
                sent += len(events)
                workflow.accumulate(
                    {source: events}, start_time=T0 + window * S, end_time=T0 + (window + 1) * S
                )
                out = workflow.finalize()
            for name, spec in entry.spec.outputs.items():
                if name in out:
                    assert_like_template(spec.template, out[name])
            image = out["cumulative"]
            view = definition.view
            if definition.pixel_weights is not None:
                weights = definition.pixel_weights(inst.geometry(source))
                expected = _projection_reference(inst, source, per_pixel * weights, image)
                np.testing.assert_allclose(image.values, expected, rtol=1e-6)
                continue
            if isinstance(view, XYProjection | CylinderProjection):
                expected = _projection_reference(inst, source, per_pixel, image)
                assert expected.sum() == per_pixel.sum()  # every pixel is in the image
            elif isinstance(view, LogicalView):
                expected = _logical_reference(per_pixel, bank.shape, bank.dims, view)
            else:
                expected = per_pixel.reshape(bank.shape)
            np.testing.assert_array_equal(image.values, expected, err_msg=f"{workflow_id} {source}")
            assert out["counts_total_cumulative"].value == expected.sum()
            assert image.sum().value == expected.sum()


def test_monitor_and_log_workflows_exact(inst: Instrument, registry: Any) -> None:
    rng = np.random.default_rng(8)
    monitor_id = next(w for w in registry if w.name == "monitor_histogram")
    entry = registry[monitor_id]
    assert set(entry.spec.source_names) == {m.name for m in inst.monitors}
    for source in entry.spec.source_names:
        workflow = entry.factory(
            source_name=source, params=entry.spec.params(), aux_source_names={}
        )
        toa = rng.integers(-1000, 72_000_000, 3000).astype(np.int32)
        batch = EventBatch(
            time_of_arrival=toa,
            pixel_id=None,
            reference_time=np.array([T0], dtype=np.int64),
            reference_time_index=np.array([0], dtype=np.int32),
        )
        workflow.accumulate({source: batch}, start_time=T0, end_time=T0 + S)
        out = workflow.finalize()
        expected, _ = np.histogram(toa, bins=100, range=(0, 71_428_571))
        np.testing.assert_array_equal(out["current"].values, expected)
    series_id = next(w for w in registry if w.name == "timeseries_data")
    entry = registry[series_id]
    assert set(entry.spec.source_names) == {log.name for log in inst.logs}
    for log in inst.logs:
        workflow = entry.factory(
            source_name=log.name, params=entry.spec.params(), aux_source_names={}
        )
        samples = [LogSample(time=T0 + i, value=float(i)) for i in range(5)]
        workflow.accumulate({log.name: samples}, start_time=T0, end_time=T0 + S)
        series = workflow.finalize()["timeseries"]
        np.testing.assert_array_equal(series.values, np.arange(5.0))
        assert series.unit == sc.Unit(log.unit)
