"""What a service publishes about its jobs so that a restart can bring them back."""

from __future__ import annotations

from dataclasses import dataclass

from livedata.core.control import WorkflowConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSnapshot:
    """The full set of jobs one worker runs, as the commands that created them.

    The newest snapshot of a worker supersedes all earlier ones, so no keys, compaction
    or tombstones are needed and a short retention suffices (ADR 0005).
    """

    instrument: str
    service_name: str
    worker_id: str
    time: int
    """Wall-clock time of the snapshot, ns since epoch."""
    jobs: tuple[WorkflowConfig, ...]
