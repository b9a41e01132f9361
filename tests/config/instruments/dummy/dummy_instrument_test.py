"""The dummy instrument: found through entry points, and every workflow runs as specified."""

import subprocess
import sys
import uuid
from typing import Any

import numpy as np
import pytest
import scipp as sc

from livedata.config.instrument import Instrument
from livedata.config.registry import available_instruments, load_instrument
from livedata.core.control import Roi, RoiUpdate
from livedata.core.identity import JobId, WorkflowId
from livedata.core.message import StreamKind
from livedata.core.values import AreaFrame, EventBatch, LogSample
from livedata.core.workflow import WorkflowSpec

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000

EXPECTED = {
    "panel_0_xy": ("detector_data", ("panel_0",)),
    "area_panel_xy": ("detector_data", ("area_panel",)),
    "monitor_histogram": ("monitor_data", ("monitor1", "monitor2")),
    "timeseries_data": ("timeseries", ("motion1", "motion2")),
    "total_counts": ("data_reduction", ("panel_0",)),
}


@pytest.fixture(scope="module")
def dummy() -> Instrument:
    return load_instrument("dummy")


@pytest.fixture(scope="module")
def specs(dummy: Instrument) -> list[WorkflowSpec]:
    return dummy.build_workflows(dummy).specs()


def test_found_through_entry_points(dummy: Instrument) -> None:
    assert "dummy" in available_instruments()
    assert dummy.name == "dummy"
    panel = dummy.detector("panel_0")
    assert (panel.shape, panel.dims, panel.first_pixel_id) == ((128, 128), ("y", "x"), 1)
    assert dummy.area_detector("area_panel").shape == (256, 256)
    assert [m.name for m in dummy.monitors] == ["monitor1", "monitor2"]
    assert not any(m.histogram for m in dummy.monitors)
    assert (dummy.log("motion1").unit, dummy.log("motion2").unit) == ("mm", "deg")


def test_streams_use_the_dev_topics(dummy: Instrument) -> None:
    streams = dummy.streams(dev=True)
    assert streams[("dummy_detector", "panel_0")].kind is StreamKind.DETECTOR_EVENTS
    assert streams[("dummy_beam_monitor", "monitor2")].kind is StreamKind.MONITOR_EVENTS
    assert streams[("dummy_area_detector", "area_panel")].kind is StreamKind.AREA_DETECTOR
    assert streams[("dummy_motion", "motion1")].kind is StreamKind.LOG


def test_workflow_ids_services_and_sources(specs: list[WorkflowSpec]) -> None:
    found = {s.workflow_id.name: (s.service, s.source_names) for s in specs}
    assert found == EXPECTED
    assert all(s.workflow_id.instrument == "dummy" and s.workflow_id.version == 1 for s in specs)
    assert {str(s.workflow_id) for s in specs} >= {"dummy/panel_0_xy/1", "dummy/total_counts/1"}


def test_every_spec_accepts_empty_params(specs: list[WorkflowSpec]) -> None:
    for spec in specs:
        spec.params.model_validate({})
        assert spec.outputs, spec.workflow_id


def test_importing_the_package_builds_and_registers_nothing() -> None:
    code = (
        "import sys, livedata.config.instruments.dummy as d;"
        "print([m for m in sys.modules if m.startswith('livedata.workflows')"
        " or m.endswith('dummy.factories')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_each_build_is_independent() -> None:
    first, second = load_instrument("dummy"), load_instrument("dummy")
    a, b = first.build_workflows(first), second.build_workflows(second)
    assert a is not b
    assert list(a) == list(b)


def synthetic(inst: Instrument, source: str, window: int) -> Any:
    """One window of plausible data for a source, by its stream kind."""
    kind = inst.dev_streams()[next(k for k in inst.dev_streams() if k[1] == source)].kind
    rng = np.random.default_rng(window)
    if kind is StreamKind.DETECTOR_EVENTS:
        n = inst.detector(source).n_pixels
        return EventBatch(
            time_of_arrival=rng.integers(0, 71_000_000, 500, dtype=np.int32),
            pixel_id=rng.integers(1, n + 1, 500, dtype=np.int32),
            reference_time=np.array([T0], dtype=np.int64),
            reference_time_index=np.array([0], dtype=np.int32),
        )
    if kind is StreamKind.MONITOR_EVENTS:
        return EventBatch(
            time_of_arrival=rng.integers(0, 71_000_000, 500, dtype=np.int32),
            pixel_id=None,
            reference_time=np.array([T0], dtype=np.int64),
            reference_time_index=np.array([0], dtype=np.int32),
        )
    if kind is StreamKind.LOG:
        return [LogSample(time=T0 + window * S + i, value=float(i + window)) for i in range(3)]
    if kind is StreamKind.AREA_DETECTOR:
        shape = inst.area_detector(source).shape
        return [AreaFrame(unique_id=window, time=T0, data=rng.integers(0, 9, shape))]
    raise AssertionError(kind)


def assert_like_template(template: sc.DataArray, da: sc.DataArray, *, check_unit: bool) -> None:
    assert template.dims == da.dims
    assert template.dtype == da.dtype
    assert (template.variances is None) == (da.variances is None)
    if check_unit:
        assert template.unit == da.unit
    for name, coord in template.coords.items():
        assert name in da.coords
        assert coord.dtype == da.coords[name].dtype
        assert coord.unit == da.coords[name].unit
        assert template.coords.is_edges(name) == da.coords.is_edges(name)


def roi_context(source: str) -> dict[str, RoiUpdate]:
    """One ROI of each type, as a job passes them (workflows without ROIs ignore them)."""
    job_id = JobId(source_name=source, job_number=uuid.UUID(int=0))
    return {
        "roi_rectangle": RoiUpdate(
            job_id=job_id,
            shape="rectangle",
            rois={0: Roi(shape="rectangle", x=(1, 20), y=(2, 30))},
        ),
        "roi_polygon": RoiUpdate(
            job_id=job_id,
            shape="polygon",
            rois={1: Roi(shape="polygon", x=(0, 50, 10), y=(0, 5, 60))},
        ),
    }


def test_every_template_matches_what_finalize_produces(dummy: Instrument) -> None:
    # With ROIs set, so that views publishing ROI outputs only then publish them too.
    registry = dummy.build_workflows(dummy)
    for workflow_id in registry:
        entry = registry[workflow_id]
        for source in entry.spec.source_names:
            workflow = entry.factory(
                source_name=source,
                params=entry.spec.params.model_validate({}),
                aux_source_names={},
            )
            for window in range(2):
                workflow.accumulate(
                    {source: synthetic(dummy, source, window), **roi_context(source)},
                    start_time=T0 + window * S,
                    end_time=T0 + (window + 1) * S,
                )
                outputs = workflow.finalize()
            assert set(outputs) == set(entry.spec.outputs), workflow_id
            for name, spec in entry.spec.outputs.items():
                # One timeseries spec serves logs of different units; each job
                # publishes its own log's unit.
                per_source_unit = workflow_id.name == "timeseries_data"
                assert_like_template(spec.template, outputs[name], check_unit=not per_source_unit)
                if per_source_unit:
                    assert outputs[name].unit == sc.Unit(dummy.log(source).unit)


def test_area_panel_refuses_frames_of_another_shape(dummy: Instrument) -> None:
    entry = dummy.build_workflows(dummy)[
        WorkflowId(instrument="dummy", name="area_panel_xy", version=1)
    ]
    workflow = entry.factory(
        source_name="area_panel", params=entry.spec.params(), aux_source_names={}
    )
    workflow.accumulate(
        {"area_panel": [AreaFrame(unique_id=1, time=T0, data=np.zeros((128, 128)))]},
        start_time=T0,
        end_time=T0 + S,
    )
    (problem,) = workflow.problems
    assert "shape (128, 128), expected (256, 256)" in problem
