"""ev44 neutron-event messages <-> :class:`~livedata.core.values.EventBatch`."""

from __future__ import annotations

from dataclasses import dataclass

import flatbuffers  # type: ignore[import-untyped]  # ships no type information
import numpy as np
from streaming_data_types.fbschemas.eventdata_ev44 import Event44Message

from livedata.core.values import EventBatch, Int32Array
from livedata.protocol.errors import Buffer, DecodeError, DecodeReason, guard_decoder
from livedata.protocol.flatbuffer_table import I64, FlatTable, little_endian

SCHEMA = "ev44"

MAX_EVENTS = 1 << 24
"""Most events (16.8 M, 134 MB of payload) we accept in one message.

Three times a whole pulse of DREAM at its planned peak (7.5e7 events/s, ~5.4 M events
per 71 ms pulse); EFU messages are far smaller. Checked on the vector header, before
any data is touched, so a forged count never reaches the histogram kernels and their
per-event temporaries.
"""

MAX_PULSES = 1 << 16
"""Most pulses (reference times) in one message: over an hour at 14 Hz, where real
messages carry one or a few."""

_INT32 = little_endian(np.int32)
_INT64 = little_endian(np.int64)

# Field indices of Event44Message in ev44_events.fbs.
_SOURCE_NAME = 0
_MESSAGE_ID = 1
_REFERENCE_TIME = 2
_REFERENCE_TIME_INDEX = 3
_TIME_OF_FLIGHT = 4
_PIXEL_ID = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Ev44Message:
    """A decoded ev44 message.

    ``data_time`` is the last pulse time (ns since epoch), ``None`` when the message has
    no pulses; the caller then uses the Kafka timestamp.
    """

    source_name: str
    message_id: int
    data_time: int | None
    events: EventBatch


@guard_decoder
def decode_ev44(
    buf: Buffer, *, max_events: int = MAX_EVENTS, max_pulses: int = MAX_PULSES
) -> Ev44Message:
    """Decode and validate an ev44 payload; arrays are views into ``buf`` (no copy).

    The views are read-only when ``buf`` is ``bytes`` and keep it alive.
    ``pixel_id`` may be absent (beam monitors), giving ``events.pixel_id is None``;
    absent pulse vectors count as empty (``data_time is None``).
    Pixel ids and times of arrival are not range-checked here: what is in range
    depends on the detector, which the histogram kernels know.

    Raises
    ------
    DecodeError
        For any payload that is not a consistent ev44 message.
    """
    table = FlatTable.root(buf, SCHEMA)
    source_name = table.string(_SOURCE_NAME, name="source_name")
    if source_name is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "ev44 without source_name")
    time_of_arrival = table.vector(_TIME_OF_FLIGHT, _INT32, limit=max_events, name="time_of_flight")
    if time_of_arrival is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "ev44 without time_of_flight")
    n_events = len(time_of_arrival)
    pixel_id = table.vector(_PIXEL_ID, _INT32, limit=max_events, name="pixel_id")
    if pixel_id is not None and len(pixel_id) != n_events:
        raise DecodeError(
            DecodeReason.LENGTH_MISMATCH,
            f"{len(pixel_id)} pixel ids for {n_events} times of flight",
        )
    reference_time = table.vector(_REFERENCE_TIME, _INT64, limit=max_pulses, name="reference_time")
    index = table.vector(
        _REFERENCE_TIME_INDEX, _INT32, limit=max_pulses, name="reference_time_index"
    )
    # An absent pulse vector is an empty one: the message then has no data time.
    if reference_time is None:
        reference_time = np.empty(0, dtype=_INT64)
    if index is None:
        index = np.empty(0, dtype=_INT32)
    if len(reference_time) != len(index):
        raise DecodeError(
            DecodeReason.LENGTH_MISMATCH,
            f"{len(reference_time)} reference times but {len(index)} indices",
        )
    _check_pulse_index(index, n_events)
    return Ev44Message(
        source_name=source_name,
        message_id=table.integer(_MESSAGE_ID, I64),
        data_time=int(reference_time[-1]) if len(reference_time) else None,
        events=EventBatch(
            time_of_arrival=time_of_arrival,
            pixel_id=pixel_id,
            reference_time=reference_time,
            reference_time_index=index,
        ),
    )


def _check_pulse_index(index: Int32Array, n: int) -> None:
    """Each pulse's first event must exist (or be the end) and pulses must not overlap.

    Non-decreasing with both ends in ``[0, n]`` puts every index in bounds, so slicing
    events by pulse can never go out of range downstream.
    """
    if len(index) == 0:
        return
    first, last = int(index[0]), int(index[-1])
    if first < 0 or last > n:
        raise DecodeError(
            DecodeReason.OUT_OF_RANGE,
            f"reference_time_index spans [{first}, {last}], events [0, {n}]",
        )
    if len(index) > 1 and bool(np.any(index[1:] < index[:-1])):
        raise DecodeError(DecodeReason.UNORDERED, "reference_time_index decreases")


def encode_ev44(source_name: str, message_id: int, events: EventBatch) -> bytes:
    """Serialise ``events`` as ev44; ``pixel_id=None`` leaves the vector out."""
    # Room for the vectors up front, so the builder never regrows (copies) its buffer.
    size = 256 + len(source_name.encode()) + 8 * len(events)
    size += 12 * len(events.reference_time)
    builder = flatbuffers.Builder(size)
    builder.ForceDefaults(True)
    name = builder.CreateString(source_name)
    reference_time = builder.CreateNumpyVector(
        np.ascontiguousarray(events.reference_time, dtype=_INT64)
    )
    index = builder.CreateNumpyVector(
        np.ascontiguousarray(events.reference_time_index, dtype=_INT32)
    )
    time_of_flight = builder.CreateNumpyVector(
        np.ascontiguousarray(events.time_of_arrival, dtype=_INT32)
    )
    pixel_id = (
        None
        if events.pixel_id is None
        else builder.CreateNumpyVector(np.ascontiguousarray(events.pixel_id, dtype=_INT32))
    )
    Event44Message.Start(builder)
    Event44Message.AddSourceName(builder, name)
    Event44Message.AddMessageId(builder, message_id)
    Event44Message.AddReferenceTime(builder, reference_time)
    Event44Message.AddReferenceTimeIndex(builder, index)
    Event44Message.AddTimeOfFlight(builder, time_of_flight)
    if pixel_id is not None:
        Event44Message.AddPixelId(builder, pixel_id)
    builder.Finish(Event44Message.End(builder), file_identifier=SCHEMA.encode())
    return bytes(builder.Output())
