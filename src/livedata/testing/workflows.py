"""A minimal real workflow for tests of the engine: counts events per window and in total."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pydantic
import scipp as sc

from livedata.core.identity import WorkflowId
from livedata.core.values import EventBatch
from livedata.core.workflow import AuxSource, OutputSpec, WorkflowSpec


class EventCountParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    fail_accumulate: bool = False
    """Raise in ``accumulate`` (to test the job's warning state)."""
    fail_finalize: bool = False
    """Raise in ``finalize`` (to test the job's error state)."""


class EventCountWorkflow:
    """Outputs ``current`` (events in the last window) and ``cumulative`` (since reset)."""

    def __init__(self, *, source_name: str, params: EventCountParams) -> None:
        self._source = source_name
        self._params = params
        self._current = 0
        self._window_start = 0
        self._total = 0
        self.context: dict[str, Any] = {}

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        if self._params.fail_accumulate:
            raise RuntimeError("told to fail")
        events: EventBatch = data[self._source]
        self._current = len(events)
        self._window_start = start_time
        self._total += len(events)
        self.context = {k: v for k, v in data.items() if k != self._source}

    def finalize(self) -> Mapping[str, sc.DataArray]:
        if self._params.fail_finalize:
            raise RuntimeError("told to fail")
        return {
            # "current" covers only the last window; "cumulative" gets the job's start.
            "current": sc.DataArray(
                sc.scalar(float(self._current), unit="counts"),
                coords={"start_time": sc.scalar(self._window_start, unit="ns")},
            ),
            "cumulative": sc.DataArray(sc.scalar(float(self._total), unit="counts")),
        }

    def clear(self) -> None:
        self._current = 0
        self._total = 0


def event_count_spec(
    *,
    instrument: str = "test",
    service: str = "detector_data",
    source_names: tuple[str, ...] = ("panel_0",),
    aux_sources: Mapping[str, AuxSource] | None = None,
) -> WorkflowSpec:
    template = sc.DataArray(sc.scalar(0.0, unit="counts"))
    return WorkflowSpec(
        workflow_id=WorkflowId(instrument=instrument, name="event_count", version=1),
        service=service,
        title="Event count",
        description="Events per window and since the job started.",
        source_names=source_names,
        params=EventCountParams,
        outputs={
            "current": OutputSpec(title="Events in window", template=template),
            "cumulative": OutputSpec(title="Events since start", template=template),
        },
        aux_sources=dict(aux_sources or {}),
    )


def event_count_factory(
    *, source_name: str, params: Any, aux_source_names: Mapping[str, str]
) -> EventCountWorkflow:
    return EventCountWorkflow(source_name=source_name, params=params)


RUNAWAY_MAX_BALLAST = 1 << 30
"""Bound on the ballast per window, so even this test workflow's params are bounded."""


class RunawayParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    ballast_bytes_per_window: int = pydantic.Field(default=0, ge=0, le=RUNAWAY_MAX_BALLAST)
    """Bytes added to the state every window on top of the events kept (grows it fast)."""


class RunawayWorkflow:
    """A workflow with the bug the memory guard exists for: it keeps every event it
    is given (and optional ballast) forever, so its state grows without bound."""

    def __init__(self, *, source_name: str, params: RunawayParams) -> None:
        self._source = source_name
        self._params = params
        self._kept: list[Any] = []
        self._events = 0

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        events: EventBatch = data[self._source]
        self._kept.append(events.time_of_arrival.copy())
        self._events += len(events)
        if self._params.ballast_bytes_per_window:
            # Filled, not zeroed: zeroed pages are not resident until written.
            self._kept.append(np.ones(self._params.ballast_bytes_per_window, dtype=np.uint8))

    def finalize(self) -> Mapping[str, sc.DataArray]:
        return {"kept_events": sc.DataArray(sc.scalar(float(self._events), unit="counts"))}

    def clear(self) -> None:
        self._kept = []
        self._events = 0


def runaway_spec(
    *,
    instrument: str = "test",
    service: str = "detector_data",
    source_names: tuple[str, ...] = ("panel_0",),
) -> WorkflowSpec:
    return WorkflowSpec(
        workflow_id=WorkflowId(instrument=instrument, name="runaway", version=1),
        service=service,
        title="Runaway",
        description="Keeps every event forever: a workflow whose state grows without bound.",
        source_names=source_names,
        params=RunawayParams,
        outputs={
            "kept_events": OutputSpec(
                title="Events kept", template=sc.DataArray(sc.scalar(0.0, unit="counts"))
            )
        },
    )


def runaway_factory(
    *, source_name: str, params: Any, aux_source_names: Mapping[str, str]
) -> RunawayWorkflow:
    return RunawayWorkflow(source_name=source_name, params=params)
