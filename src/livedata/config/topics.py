"""Topic roles and their development names (WIRE.md): ``{instrument}_{role}``."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    DETECTOR = "detector"
    BEAM_MONITOR = "beam_monitor"
    AREA_DETECTOR = "area_detector"
    MOTION = "motion"
    FILEWRITER = "filewriter"
    COMMANDS = "livedata_commands"
    RESPONSES = "livedata_responses"
    DATA = "livedata_data"
    ROI = "livedata_roi"
    HEARTBEAT = "livedata_heartbeat"
    JOBS = "livedata_jobs"
    """livedata extension (ADR 0005): job snapshots for recovery after a restart."""


RAW_DATA_TOPICS = frozenset({Topic.DETECTOR, Topic.BEAM_MONITOR, Topic.AREA_DETECTOR, Topic.MOTION})
"""High-volume inputs; livedata only ever reads their newest data."""


def topic_name(instrument: str, role: Topic) -> str:
    return f"{instrument}_{role.value}"


def instrument_topics(instrument: str) -> dict[Topic, str]:
    return {role: topic_name(instrument, role) for role in Topic}
