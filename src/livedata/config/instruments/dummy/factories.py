"""Pairs each dummy workflow spec with the factory that builds its workflow.

The dummy workflows need only numpy and scipp, so they are imported at the top; an
instrument whose reduction needs heavy packages imports them inside its factories,
so they load when a job starts rather than when the registry is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livedata.config.instrument import Instrument
from livedata.config.instruments.dummy import specs
from livedata.core.workflow import Workflow, WorkflowRegistry
from livedata.workflows.area_detector_view import AreaDetectorViewWorkflow
from livedata.workflows.detector_view import DetectorViewWorkflow
from livedata.workflows.monitor_histogram import MonitorHistogramWorkflow
from livedata.workflows.timeseries import TimeseriesWorkflow
from livedata.workflows.total_counts import TotalCountsWorkflow


def build_workflows(inst: Instrument) -> WorkflowRegistry:
    """A fresh registry of every dummy workflow (no global state)."""
    registry = WorkflowRegistry()
    panel = inst.detector(specs.PANEL)
    area = inst.area_detector(specs.AREA_PANEL)
    units = {log.name: log.unit for log in inst.logs}

    def panel_view(
        *, source_name: str, params: Any, aux_source_names: Mapping[str, str]
    ) -> Workflow:
        return DetectorViewWorkflow(source_name=source_name, layout=panel, params=params)

    def area_view(
        *, source_name: str, params: Any, aux_source_names: Mapping[str, str]
    ) -> Workflow:
        return AreaDetectorViewWorkflow(source_name=source_name, shape=area.shape)

    def monitor(*, source_name: str, params: Any, aux_source_names: Mapping[str, str]) -> Workflow:
        return MonitorHistogramWorkflow(source_name=source_name, params=params)

    def timeseries(
        *, source_name: str, params: Any, aux_source_names: Mapping[str, str]
    ) -> Workflow:
        return TimeseriesWorkflow(source_name=source_name, unit=units[source_name])

    def total(*, source_name: str, params: Any, aux_source_names: Mapping[str, str]) -> Workflow:
        return TotalCountsWorkflow(source_name=source_name)

    registry.register(specs.panel_view(inst), panel_view)
    registry.register(specs.area_panel_view(inst), area_view)
    registry.register(specs.monitor_histogram(inst), monitor)
    registry.register(specs.timeseries(inst), timeseries)
    registry.register(specs.total_counts(inst), total)
    return registry
