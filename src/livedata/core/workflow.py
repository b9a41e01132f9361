"""What a workflow is (the protocol jobs run) and how one is described (its spec).

A spec is cheap to import and says everything a client needs before any data
arrives: id, service, sources, params model and output templates. The factory that
builds the runnable workflow is registered next to it and may do heavy imports.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pydantic
import scipp as sc

from livedata.core.identity import WorkflowId


class Workflow(Protocol):
    """What a job runs.

    ``accumulate`` gets this window's data keyed by stream name (the job's primary
    source, plus the latest value of each auxiliary source and any context such as
    ROIs); ``finalize`` returns the outputs by name; ``clear`` forgets accumulated data.
    """

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None: ...

    def finalize(self) -> Mapping[str, sc.DataArray]: ...

    def clear(self) -> None: ...


@runtime_checkable
class ReportsProblems(Protocol):
    """Optional: a workflow that keeps running but wants the operator to know something
    (e.g. an ROI update it refused). Its problems show as the job's warning."""

    @property
    def problems(self) -> Sequence[str]: ...


@runtime_checkable
class ReportsStateSize(Protocol):
    """Optional: a workflow that counts the bytes its state holds (cheaply and exactly).
    Others are measured by walking their attributes (``livedata.core.memory``)."""

    def state_nbytes(self) -> int: ...


@runtime_checkable
class ReportsEventsLeftOut(Protocol):
    """Optional: a workflow that histograms events tells how many it left out since it
    was built or last cleared (a job reset), by reason (e.g. ``pixel_out_of_range``;
    ``livedata.workflows.left_out`` lists the names). Read with every service heartbeat,
    so it must be cheap: running totals the histogram kernels keep anyway, never a pass
    over events. Reasons with nothing left out may be omitted."""

    def events_left_out(self) -> Mapping[str, int]: ...


class WorkflowFactory(Protocol):
    """Builds a workflow for one source with validated params."""

    def __call__(
        self,
        *,
        source_name: str,
        params: Any,
        aux_source_names: Mapping[str, str],
    ) -> Workflow: ...


class NoParams(pydantic.BaseModel):
    """Params model of workflows that take none."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputSpec:
    """One output: its title, and an empty DataArray showing dims, coords and unit."""

    title: str
    template: sc.DataArray
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuxSource:
    """A role a workflow needs filled by one of ``choices`` (the first is the default)."""

    choices: tuple[str, ...]
    required: bool = True
    description: str = ""
    window: bool = False
    """False: the workflow gets the stream's newest value every window (context such as
    a motor position). True: it gets the stream's data of this window, combined like
    primary data (all monitor events of the window), and no entry in a window without
    any; ``required`` then means "has ever sent something"."""

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError("an auxiliary source needs at least one choice")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowSpec:
    """The importable description of a workflow."""

    workflow_id: WorkflowId
    service: str
    title: str
    description: str
    source_names: tuple[str, ...]
    params: type[pydantic.BaseModel] = NoParams
    outputs: Mapping[str, OutputSpec] = field(default_factory=dict)
    aux_sources: Mapping[str, AuxSource] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.source_names:
            raise ValueError(f"workflow {self.workflow_id} accepts no source names")
        if self.params.model_config.get("extra") != "forbid":
            raise ValueError(
                f"params model of {self.workflow_id} must forbid extra fields "
                "(model_config = ConfigDict(extra='forbid'))"
            )

    def resolve_aux_sources(self, requested: Mapping[str, str]) -> dict[str, str]:
        """Fill every role from ``requested`` or its default; raise ``ValueError`` if bad."""
        unknown = set(requested) - set(self.aux_sources)
        if unknown:
            raise ValueError(f"unknown auxiliary source roles: {sorted(unknown)}")
        resolved: dict[str, str] = {}
        for role, aux in self.aux_sources.items():
            name = requested.get(role, aux.choices[0])
            if name not in aux.choices:
                raise ValueError(
                    f"auxiliary source {name!r} is not allowed for role {role!r}; "
                    f"choose one of {list(aux.choices)}"
                )
            resolved[role] = name
        return resolved


@dataclass(frozen=True, slots=True)
class RegisteredWorkflow:
    spec: WorkflowSpec
    factory: WorkflowFactory


class WorkflowRegistry:
    """Specs and factories by workflow id; built by plain code, never on import."""

    def __init__(self) -> None:
        self._entries: dict[WorkflowId, RegisteredWorkflow] = {}

    def register(self, spec: WorkflowSpec, factory: WorkflowFactory) -> None:
        if spec.workflow_id in self._entries:
            raise ValueError(f"workflow {spec.workflow_id} is registered twice")
        self._entries[spec.workflow_id] = RegisteredWorkflow(spec, factory)

    def __contains__(self, workflow_id: object) -> bool:
        return workflow_id in self._entries

    def __getitem__(self, workflow_id: WorkflowId) -> RegisteredWorkflow:
        return self._entries[workflow_id]

    def __iter__(self) -> Iterator[WorkflowId]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def specs(self) -> list[WorkflowSpec]:
        return [entry.spec for entry in self._entries.values()]

    def for_service(self, service: str) -> WorkflowRegistry:
        """The subset a given service runs."""
        subset = WorkflowRegistry()
        for entry in self._entries.values():
            if entry.spec.service == service:
                subset.register(entry.spec, entry.factory)
        return subset
