"""Ingress: a Kafka message becomes a routed domain message, or a counted drop.

This is the only place that sees Kafka coordinates: ``(topic, source_name)`` is
turned into an internal ``StreamId`` here, once, and never seen again downstream.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog

from livedata.config.instrument import StreamMapping
from livedata.config.topics import Topic, topic_name
from livedata.core.control import InvalidCommand
from livedata.core.message import Message, StreamId, StreamKind
from livedata.core.values import EventBatch
from livedata.protocol.ad00 import decode_ad00
from livedata.protocol.commands import InvalidCommandError, decode_command
from livedata.protocol.da00 import decode_da00
from livedata.protocol.errors import Buffer, DecodeError, schema_id
from livedata.protocol.ev44 import decode_ev44
from livedata.protocol.f144 import decode_f144
from livedata.protocol.roi import decode_roi
from livedata.protocol.run_control import decode_6s4t, decode_pl72

logger = structlog.get_logger(__name__)

REJECTION_LOG_INTERVAL_S = 10.0
"""A stream of bad messages is logged once per interval with its count, not per message."""

COMMANDS_STREAM = StreamId(kind=StreamKind.COMMANDS, name="commands")
ROI_STREAM = StreamId(kind=StreamKind.ROI, name="roi")
RUN_CONTROL_STREAM = StreamId(kind=StreamKind.RUN_CONTROL, name="run_control")
DETECTOR = StreamKind.DETECTOR_EVENTS


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded payload before routing: who sent it, when, and what."""

    source_name: str
    timestamp: int | None
    value: Any


def _events(buf: Buffer) -> Decoded:
    message = decode_ev44(buf)
    return Decoded(message.source_name, message.data_time, message.events)


def _log(buf: Buffer) -> Decoded:
    source, sample = decode_f144(buf)
    # The forwarder re-publishes unchanged values with their original (old) timestamp;
    # placed by that stamp every re-publish would count as late. A log message belongs
    # to the window it arrives in; the sample keeps its own time for the series.
    return Decoded(source, None, sample)


def _frame(buf: Buffer) -> Decoded:
    source, frame = decode_ad00(buf)
    return Decoded(source, frame.time, frame)


def _histogram(buf: Buffer) -> Decoded:
    source, timestamp, histogram = decode_da00(buf)
    return Decoded(source, timestamp, histogram)


@dataclass(frozen=True, slots=True)
class DataSchema:
    decode: Callable[[Buffer], Decoded]
    kinds: frozenset[StreamKind]
    """Stream kinds that may carry this schema; anything else is a wrong schema."""


# Data topics are decoded by the payload's flatbuffer identifier, not by topic name, so
# production topics (named per instrument, sometimes mixing schemas) need no special case.
DATA_SCHEMAS: Mapping[str, DataSchema] = {
    "ev44": DataSchema(_events, frozenset({StreamKind.DETECTOR_EVENTS, StreamKind.MONITOR_EVENTS})),
    "da00": DataSchema(_histogram, frozenset({StreamKind.MONITOR_COUNTS})),
    "f144": DataSchema(_log, frozenset({StreamKind.LOG})),
    "ad00": DataSchema(_frame, frozenset({StreamKind.AREA_DETECTOR})),
}


def _control(buf: Buffer, topic: Topic, kafka_ns: int) -> Message[Any]:
    if topic is Topic.COMMANDS:
        return Message(timestamp=kafka_ns, stream=COMMANDS_STREAM, value=decode_command(buf))
    if topic is Topic.ROI:
        return Message(timestamp=kafka_ns, stream=ROI_STREAM, value=decode_roi(buf))
    run = decode_6s4t if schema_id(buf) == "6s4t" else decode_pl72
    value = run(buf, fallback_time=kafka_ns)
    return Message(timestamp=kafka_ns, stream=RUN_CONTROL_STREAM, value=value)


CONTROL_TOPICS = (Topic.COMMANDS, Topic.ROI, Topic.FILEWRITER)


def _refusal(err: InvalidCommandError, kafka_ns: int) -> Message[Any] | None:
    """An invalid command that still names its message id and device, to be refused
    with ERR by the instrument's designated responder; ``None`` if it names neither."""
    if err.message_id is None or err.device is None:
        return None
    value = InvalidCommand(message_id=err.message_id, device=err.device, error=err.message)
    return Message(timestamp=kafka_ns, stream=COMMANDS_STREAM, value=value)


class Ingress:
    """Decodes and routes one instrument's messages; counts every drop by stream and reason.

    ``wanted`` limits routing to some stream names (a service reads only what its
    workflows need); messages of other known streams are dropped as ``not_wanted``.
    """

    def __init__(
        self,
        *,
        instrument: str,
        streams: StreamMapping,
        wanted: Collection[str] | None = None,
    ) -> None:
        self._streams = dict(streams)
        self._wanted = None if wanted is None else frozenset(wanted)
        self._data_topics = {topic for topic, _ in self._streams}
        self._control_topics = {topic_name(instrument, t): t for t in CONTROL_TOPICS}
        self.rejected: Counter[tuple[str, str]] = Counter()
        """Dropped messages by (stream or topic, reason)."""
        self._last_logged: dict[tuple[str, str], float] = {}

    def topics(self) -> list[str]:
        """Every topic this ingress reads: control topics and those of wanted streams."""
        data = {
            topic
            for (topic, _), stream in self._streams.items()
            if self._wanted is None or stream.name in self._wanted
        }
        return sorted(data | set(self._control_topics))

    def control_topics(self) -> set[str]:
        """Low-volume topics that steer the service (commands, ROIs, run transitions)."""
        return set(self._control_topics)

    def route(
        self, topic: str, value: Buffer | None, kafka_timestamp_ns: int
    ) -> Message[Any] | None:
        """Decode and route one Kafka message; ``None`` when it was dropped (and counted)."""
        if not value:
            self._reject(topic, "empty")
            return None
        control = self._control_topics.get(topic)
        try:
            if control is not None:
                return _control(value, control, kafka_timestamp_ns)
            if topic not in self._data_topics:
                self._reject(topic, "unknown_topic")
                return None
            found = schema_id(value)
            if found is None:
                self._reject(topic, "truncated", detail=f"{len(value)} bytes, no flatbuffer header")
                return None
            schema = DATA_SCHEMAS.get(found)
            if schema is None:
                self._reject(topic, "wrong_schema", detail=repr(bytes(value[4:8])))
                return None
            decoded = schema.decode(value)
        except InvalidCommandError as err:
            self._reject(topic, err.reason.value, detail=err.message)
            return _refusal(err, kafka_timestamp_ns)
        except DecodeError as err:
            self._reject(topic, err.reason.value, detail=err.message)
            return None
        stream = self._streams.get((topic, decoded.source_name))
        if stream is None:
            self._reject(topic, "unknown_source", detail=decoded.source_name[:100])
            return None
        if stream.kind not in schema.kinds:
            self._reject(stream.name, "wrong_schema", detail=f"{stream.kind} stream")
            return None
        if self._wanted is not None and stream.name not in self._wanted:
            self._reject(stream.name, "not_wanted")
            return None
        data = decoded.value
        if isinstance(data, EventBatch) and data.pixel_id is None and stream.kind is DETECTOR:
            # Joined with good events in a window, events without pixel ids would strip
            # theirs too: refuse them. An empty message only marks time: keep it.
            if len(data):
                self._reject(
                    stream.name, "missing_field", detail="detector events without pixel_id"
                )
                return None
            data = EventBatch(
                time_of_arrival=data.time_of_arrival,
                pixel_id=np.empty(0, dtype=np.int32),
                reference_time=data.reference_time,
                reference_time_index=data.reference_time_index,
            )
        timestamp = decoded.timestamp if decoded.timestamp is not None else kafka_timestamp_ns
        return Message(timestamp=timestamp, stream=stream, value=data)

    def stats(self) -> dict[str, dict[str, int]]:
        """Rejections as ``{label: {reason: count}}`` for the heartbeat."""
        out: dict[str, dict[str, int]] = {}
        for (label, reason), count in self.rejected.items():
            out.setdefault(label, {})[reason] = count
        return out

    def _reject(self, label: str, reason: str, detail: str = "") -> None:
        key = (label, reason)
        self.rejected[key] += 1
        if reason == "not_wanted":
            return  # routine: a shared topic carries streams other services read
        now = time.monotonic()
        if now - self._last_logged.get(key, -REJECTION_LOG_INTERVAL_S) >= REJECTION_LOG_INTERVAL_S:
            self._last_logged[key] = now
            logger.warning(
                "message_rejected",
                stream=label,
                reason=reason,
                count=self.rejected[key],
                detail=detail[:200],
            )
