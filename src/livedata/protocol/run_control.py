"""Run transitions from the file writer: pl72 -> ``RunStart``, 6s4t -> ``RunStop``.

Both schemas count milliseconds since the epoch (uint64); livedata counts nanoseconds
(int64), so times are scaled on the way in and truncated to whole milliseconds on the
way out. A time of 0 means "now" to the file writer: the decoder then uses the caller's
``fallback_time`` (the Kafka timestamp).
"""

from __future__ import annotations

from streaming_data_types import serialise_6s4t, serialise_pl72

from livedata.core.values import RunStart, RunStop
from livedata.protocol.errors import (
    Buffer,
    DecodeError,
    DecodeReason,
    EncodeError,
    guard_decoder,
)
from livedata.protocol.flatbuffer_table import U64, FlatTable

RUN_START_SCHEMA = "pl72"
RUN_STOP_SCHEMA = "6s4t"

NS_PER_MS = 1_000_000
_MAX_MS = (2**63 - 1) // NS_PER_MS
"""Latest millisecond time (year 2262) whose nanoseconds still fit in an int64."""

# Field indices of RunStart (pl72_run_start.fbs) and RunStop (6s4t_run_stop.fbs).
_START_START_TIME = 0
_START_STOP_TIME = 1
_START_RUN_NAME = 2
_STOP_STOP_TIME = 0
_STOP_RUN_NAME = 1


def _ms_to_ns(ms: int, field: str) -> int:
    if ms > _MAX_MS:
        raise DecodeError(
            DecodeReason.OUT_OF_RANGE, f"{field} of {ms} ms is beyond int64 nanoseconds"
        )
    return ms * NS_PER_MS


@guard_decoder
def decode_pl72(buf: Buffer, *, fallback_time: int) -> RunStart:
    """Decode a run start; ``stop_time`` is ``None`` unless the message sets one.

    Parameters
    ----------
    buf:
        The pl72 payload.
    fallback_time:
        Start time (ns since epoch) to use when the message's start time is 0.
    """
    table = FlatTable.root(buf, RUN_START_SCHEMA)
    start_ms = table.integer(_START_START_TIME, U64)
    stop_ms = table.integer(_START_STOP_TIME, U64)
    return RunStart(
        run_name=table.string(_START_RUN_NAME, name="run_name") or "",
        start_time=_ms_to_ns(start_ms, "start_time") if start_ms else fallback_time,
        stop_time=_ms_to_ns(stop_ms, "stop_time") if stop_ms else None,
    )


@guard_decoder
def decode_6s4t(buf: Buffer, *, fallback_time: int) -> RunStop:
    """Decode a run stop.

    Parameters
    ----------
    buf:
        The 6s4t payload.
    fallback_time:
        Stop time (ns since epoch) to use when the message's stop time is 0 ("now").
    """
    table = FlatTable.root(buf, RUN_STOP_SCHEMA)
    stop_ms = table.integer(_STOP_STOP_TIME, U64)
    return RunStop(
        run_name=table.string(_STOP_RUN_NAME, name="run_name") or "",
        stop_time=_ms_to_ns(stop_ms, "stop_time") if stop_ms else fallback_time,
    )


def _ns_to_ms(ns: int, field: str) -> int:
    if ns < 0:
        raise EncodeError(f"{field} {ns} ns is before the epoch; pl72/6s4t are unsigned")
    return ns // NS_PER_MS


def encode_pl72(run: RunStart, *, job_id: str = "", filename: str = "") -> bytes:
    """Serialise ``run`` as pl72 (times truncated to whole milliseconds)."""
    result: bytes = serialise_pl72(
        job_id,
        filename,
        start_time=_ns_to_ms(run.start_time, "start_time"),
        stop_time=None if run.stop_time is None else _ns_to_ms(run.stop_time, "stop_time"),
        run_name=run.run_name,
    )
    return result


def encode_6s4t(stop: RunStop, *, job_id: str = "") -> bytes:
    """Serialise ``stop`` as 6s4t (time truncated to whole milliseconds)."""
    result: bytes = serialise_6s4t(
        job_id, run_name=stop.run_name, stop_time=_ns_to_ms(stop.stop_time, "stop_time")
    )
    return result
