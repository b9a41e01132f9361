"""Specs and factories every instrument with detectors, monitors and logs can reuse.

An instrument lists its detector views as :class:`DetectorView` values (which banks,
which view: the bank's own pixels, a :class:`~livedata.workflows.pixel_views.LogicalView`
or a projection) and gets, for each, a spec from :func:`detector_view_spec` and a
factory from :func:`detector_view_factory`; monitors and logs get one spec each
(:func:`monitor_histogram_spec`, :func:`timeseries_spec`). Specs are cheap: they check
the views against the banks' numbering but compute no geometry; a projection's pixel
table is built by the factory when a job starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from livedata.config.instrument import Instrument
from livedata.core.identity import WorkflowId
from livedata.core.workflow import NoParams, Workflow, WorkflowFactory, WorkflowSpec
from livedata.workflows.detector_view import (
    DetectorViewParams,
    DetectorViewWorkflow,
    detector_view_outputs,
    view_outputs,
)
from livedata.workflows.geometry import BeamlineGeometry
from livedata.workflows.monitor_histogram import (
    MonitorHistogramParams,
    MonitorHistogramWorkflow,
    monitor_histogram_outputs,
)
from livedata.workflows.pixel_views import LogicalView, PixelView, logical_view
from livedata.workflows.projections import CylinderProjection, ProjectionParams, XYProjection
from livedata.workflows.timeseries import TimeseriesWorkflow, timeseries_outputs

# Service names (WIRE.md / ARCHITECTURE.md).
DETECTOR_DATA = "detector_data"
MONITOR_DATA = "monitor_data"
TIMESERIES = "timeseries"
DATA_REDUCTION = "data_reduction"

PixelWeights = Callable[[BeamlineGeometry], npt.NDArray[np.floating]]
"""Computes one weight per pixel of a bank from its geometry (e.g. ``1 / solid angle``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorView:
    """One detector-view workflow: which banks it serves and what image it fills.

    ``view`` is ``None`` for the bank's own pixel grid (its ``dims`` and ``shape``), a
    ``LogicalView``, or an ``XYProjection`` / ``CylinderProjection`` (which needs the
    bank's geometry; its ``rows`` and ``columns`` are the default resolution). All
    ``sources`` must give the same output dims. ``pixel_weights``, if given, weights each
    event by its pixel.
    """

    name: str
    title: str
    description: str
    sources: tuple[str, ...]
    view: LogicalView | XYProjection | CylinderProjection | None = None
    pixel_weights: PixelWeights | None = None
    version: int = 1


def workflow_id(inst: Instrument, name: str, version: int = 1) -> WorkflowId:
    return WorkflowId(instrument=inst.name, name=name, version=version)


def detector_view_spec(inst: Instrument, view: DetectorView) -> WorkflowSpec:
    """The spec of ``view``; raises if a source is unknown, lacks geometry a projection
    needs, does not fit a logical view, or the sources disagree on the output dims."""
    templates = []
    for source in view.sources:
        bank = inst.detector(source)
        if isinstance(view.view, XYProjection | CylinderProjection):
            if not inst.has_geometry(source):
                raise ValueError(f"{view.name}: detector {source} has no geometry to project")
            templates.append(view.view.template())
        elif isinstance(view.view, LogicalView):
            view.view.check(bank)
            templates.append(view.view.template(bank))
        else:
            templates.append(detector_view_outputs(bank)["cumulative"].template)
    if len({t.dims for t in templates}) != 1:
        raise ValueError(f"{view.name}: sources give different dims {[t.dims for t in templates]}")
    projected = isinstance(view.view, XYProjection | CylinderProjection)
    return WorkflowSpec(
        workflow_id=workflow_id(inst, view.name, view.version),
        service=DETECTOR_DATA,
        title=view.title,
        description=view.description,
        source_names=view.sources,
        params=ProjectionParams if projected else DetectorViewParams,
        outputs=view_outputs(templates[0], per="bin" if projected else "pixel"),
    )


def detector_view_factory(inst: Instrument, view: DetectorView) -> WorkflowFactory:
    """Builds the view's workflow for one of its sources (the pixel table on job start)."""

    def build(*, source_name: str, params: Any, aux_source_names: Mapping[str, str]) -> Workflow:
        bank = inst.detector(source_name)
        pixel_view: PixelView | None = None
        weights = None
        if isinstance(view.view, XYProjection | CylinderProjection):
            pixel_view = view.view.build(inst.geometry(source_name), params.resolution)
        elif isinstance(view.view, LogicalView):
            pixel_view = logical_view(bank, view.view)
        if view.pixel_weights is not None:
            weights = view.pixel_weights(inst.geometry(source_name))
        return DetectorViewWorkflow(
            source_name=source_name,
            layout=bank,
            params=params,
            view=pixel_view,
            pixel_weights=weights,
        )

    return build


def monitor_histogram_spec(inst: Instrument) -> WorkflowSpec:
    """Time-of-arrival spectra of the instrument's monitors (event or da00)."""
    return WorkflowSpec(
        workflow_id=workflow_id(inst, "monitor_histogram"),
        service=MONITOR_DATA,
        title="Monitor histogram",
        description="Time-of-arrival spectrum of a beam monitor.",
        source_names=tuple(m.name for m in inst.monitors if not m.histogram),
        params=MonitorHistogramParams,
        outputs=monitor_histogram_outputs(),
    )


def monitor_histogram_factory(inst: Instrument) -> WorkflowFactory:
    def build(*, source_name: str, params: Any, aux_source_names: Mapping[str, str]) -> Workflow:
        return MonitorHistogramWorkflow(source_name=source_name, params=params)

    return build


def timeseries_spec(inst: Instrument) -> WorkflowSpec:
    """The history of every log of the instrument."""
    units = {log.unit for log in inst.logs}
    # One spec serves logs of different units: the template's unit is only a hint
    # when all agree, and each job publishes its own log's unit.
    unit = units.pop() if len(units) == 1 else None
    return WorkflowSpec(
        workflow_id=workflow_id(inst, "timeseries_data"),
        service=TIMESERIES,
        title="Timeseries",
        description="History of a slow-control value.",
        source_names=tuple(log.name for log in inst.logs),
        params=NoParams,
        outputs=timeseries_outputs(unit),
    )


def timeseries_factory(inst: Instrument) -> WorkflowFactory:
    units = {log.name: log.unit for log in inst.logs}

    def build(*, source_name: str, params: Any, aux_source_names: Mapping[str, str]) -> Workflow:
        return TimeseriesWorkflow(source_name=source_name, unit=units[source_name])

    return build
