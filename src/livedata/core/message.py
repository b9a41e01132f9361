"""The one envelope every value travels in inside a service, and its stream identity."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class StreamKind(StrEnum):
    """What a stream carries; decides how it is decoded, accumulated and routed."""

    DETECTOR_EVENTS = "detector_events"
    MONITOR_EVENTS = "monitor_events"
    MONITOR_COUNTS = "monitor_counts"
    AREA_DETECTOR = "area_detector"
    LOG = "log"
    RUN_CONTROL = "run_control"
    COMMANDS = "commands"
    ROI = "roi"
    # What a service publishes:
    RESULTS = "results"
    RESPONSES = "responses"
    STATUS = "status"
    JOBS = "jobs"


CONTROL_KINDS = frozenset({StreamKind.COMMANDS, StreamKind.ROI, StreamKind.RUN_CONTROL})
"""Streams that steer the processor rather than feed workflows with data."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamId:
    """Internal identity of a stream; Kafka topic and source name never get past ingress."""

    kind: StreamKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind.value}/{self.name}"

    @property
    def is_control(self) -> bool:
        return self.kind in CONTROL_KINDS


@dataclass(frozen=True, slots=True, kw_only=True)
class Message(Generic[T]):
    """A decoded value, the data time it belongs to (ns since epoch), and its stream."""

    timestamp: int
    stream: StreamId
    value: T
