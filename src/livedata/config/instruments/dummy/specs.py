"""Workflow specs of the dummy instrument: ids, services, sources, params, outputs.

Cheap to build (params models and empty templates only), so a dashboard can list
every workflow without loading what runs them.
"""

from __future__ import annotations

from livedata.config.instrument import Instrument
from livedata.core.identity import WorkflowId
from livedata.core.workflow import NoParams, WorkflowSpec
from livedata.workflows.area_detector_view import area_detector_outputs
from livedata.workflows.detector_view import DetectorViewParams, detector_view_outputs
from livedata.workflows.monitor_histogram import MonitorHistogramParams, monitor_histogram_outputs
from livedata.workflows.timeseries import timeseries_outputs
from livedata.workflows.total_counts import total_counts_outputs

PANEL = "panel_0"
AREA_PANEL = "area_panel"
LOGS = ("motion1", "motion2")

# Service names (WIRE.md / ARCHITECTURE.md).
DETECTOR_DATA = "detector_data"
MONITOR_DATA = "monitor_data"
TIMESERIES = "timeseries"
DATA_REDUCTION = "data_reduction"


def _id(instrument: Instrument, name: str) -> WorkflowId:
    return WorkflowId(instrument=instrument.name, name=name, version=1)


def panel_view(inst: Instrument) -> WorkflowSpec:
    return WorkflowSpec(
        workflow_id=_id(inst, "panel_0_xy"),
        service=DETECTOR_DATA,
        title="Panel 0",
        description="Counts per pixel of the 128x128 panel, per window and since start.",
        source_names=(PANEL,),
        params=DetectorViewParams,
        outputs=detector_view_outputs(inst.detector(PANEL)),
    )


def area_panel_view(inst: Instrument) -> WorkflowSpec:
    inst.area_detector(AREA_PANEL)  # fail here, not at job start, if it is missing
    return WorkflowSpec(
        workflow_id=_id(inst, "area_panel_xy"),
        service=DETECTOR_DATA,
        title="Area panel",
        description="Sum of the camera's frames, per window and since start.",
        source_names=(AREA_PANEL,),
        outputs=area_detector_outputs(),
    )


def monitor_histogram(inst: Instrument) -> WorkflowSpec:
    return WorkflowSpec(
        workflow_id=_id(inst, "monitor_histogram"),
        service=MONITOR_DATA,
        title="Monitor histogram",
        description="Time-of-arrival spectrum of a beam monitor.",
        source_names=tuple(m.name for m in inst.monitors),
        params=MonitorHistogramParams,
        outputs=monitor_histogram_outputs(),
    )


def timeseries(inst: Instrument) -> WorkflowSpec:
    units = {inst.log(name).unit for name in LOGS}
    # One spec serves logs of different units: the template's unit is only a hint
    # when all agree, and each job publishes its own log's unit.
    unit = units.pop() if len(units) == 1 else None
    return WorkflowSpec(
        workflow_id=_id(inst, "timeseries_data"),
        service=TIMESERIES,
        title="Timeseries",
        description="History of a slow-control value.",
        source_names=LOGS,
        params=NoParams,
        outputs=timeseries_outputs(unit),
    )


def total_counts(inst: Instrument) -> WorkflowSpec:
    return WorkflowSpec(
        workflow_id=_id(inst, "total_counts"),
        service=DATA_REDUCTION,
        title="Total counts",
        description="Number of events the panel delivered, per window and since start.",
        source_names=(PANEL,),
        outputs=total_counts_outputs(),
    )
