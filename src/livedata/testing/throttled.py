"""A workflow of deliberately small capacity, to overload a service on purpose in tests."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import pydantic
import scipp as sc

from livedata.config.instrument import Instrument
from livedata.core.identity import WorkflowId
from livedata.core.values import EventBatch
from livedata.core.workflow import OutputSpec, WorkflowRegistry, WorkflowSpec

THROTTLED = "throttled_count"


class ThrottledParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    events_per_s: float = pydantic.Field(default=100_000.0, gt=0, le=1e9)
    """The workflow's capacity: it spends ``len(events) / events_per_s`` seconds on a
    window (sleeping, so the rest of the service keeps the CPU)."""


class ThrottledWorkflow:
    """Counts events like a real workflow would, only slowly: ``current`` (the last
    window) and ``cumulative`` (since start)."""

    def __init__(self, *, source_name: str, params: ThrottledParams) -> None:
        self._source = source_name
        self._params = params
        self._current = 0
        self._total = 0

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        events: EventBatch = data[self._source]
        time.sleep(len(events) / self._params.events_per_s)
        self._current = len(events)
        self._total += len(events)

    def finalize(self) -> Mapping[str, sc.DataArray]:
        return {
            "current": sc.DataArray(sc.scalar(float(self._current), unit="counts")),
            "cumulative": sc.DataArray(sc.scalar(float(self._total), unit="counts")),
        }

    def clear(self) -> None:
        self._current = 0
        self._total = 0


def throttled_spec(instrument: str, *, source_names: tuple[str, ...]) -> WorkflowSpec:
    template = sc.DataArray(sc.scalar(0.0, unit="counts"))
    return WorkflowSpec(
        workflow_id=WorkflowId(instrument=instrument, name=THROTTLED, version=1),
        service="detector_data",
        title="Throttled count",
        description="Counts events at a chosen, small capacity.",
        source_names=source_names,
        params=ThrottledParams,
        outputs={
            "current": OutputSpec(title="Events in window", template=template),
            "cumulative": OutputSpec(title="Events since start", template=template),
        },
    )


def throttled_factory(
    *, source_name: str, params: Any, aux_source_names: Mapping[str, str]
) -> ThrottledWorkflow:
    return ThrottledWorkflow(source_name=source_name, params=params)


def with_throttled_workflow(instrument: Instrument, *, source: str = "panel_0") -> Instrument:
    """``instrument`` whose detector_data service also offers ``throttled_count`` for
    ``source``."""
    build = instrument.build_workflows

    def build_workflows(inst: Instrument) -> WorkflowRegistry:
        registry = build(inst)
        registry.register(throttled_spec(inst.name, source_names=(source,)), throttled_factory)
        return registry

    return dataclasses.replace(instrument, build_workflows=build_workflows)
