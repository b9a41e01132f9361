"""Names of workflows, jobs and results, as the rest of the system refers to them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class WorkflowId:
    """``instrument/name/version``: what a workflow is, independent of any run of it."""

    instrument: str
    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.instrument}/{self.name}/{self.version}"

    @staticmethod
    def parse(text: str) -> WorkflowId:
        """Read ``"inst/name/version"``; raises ``ValueError`` on any other shape."""
        parts = text.split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"workflow id {text!r} is not 'instrument/name/version'")
        instrument, name, version = parts
        return WorkflowId(instrument=instrument, name=name, version=int(version))


@dataclass(frozen=True, slots=True, kw_only=True)
class JobId:
    """One job: a workflow running for one source; jobs started together share a number."""

    source_name: str
    job_number: uuid.UUID

    def __str__(self) -> str:
        return f"{self.source_name}/{self.job_number}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultKey:
    """Names one output of one job; it becomes the da00 ``source_name`` on the wire."""

    workflow_id: WorkflowId
    job_id: JobId
    output_name: str
