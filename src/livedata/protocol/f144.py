"""f144 slow-control log messages <-> :class:`~livedata.core.values.LogSample`."""

from __future__ import annotations

import math
import struct

import numpy as np
import numpy.typing as npt
from streaming_data_types import serialise_f144

from livedata.core.values import LogSample
from livedata.protocol.errors import (
    Buffer,
    DecodeError,
    DecodeReason,
    EncodeError,
    guard_decoder,
)
from livedata.protocol.flatbuffer_table import (
    F32,
    F64,
    I8,
    I32,
    I64,
    U8,
    U32,
    U64,
    FlatTable,
    little_endian,
)

SCHEMA = "f144"

MAX_ARRAY_LENGTH = 1 << 20
"""Longest array value we accept (8 MB as float64). Array PVs are waveforms of at most
a few thousand points; a log series keeps many samples, so each must stay small."""

# Field indices of f144_LogData in f144_logdata.fbs; union members hold field 0.
_SOURCE_NAME = 0
_TIMESTAMP = 1
_VALUE_TYPE = 2
_VALUE = 3
_MEMBER_VALUE = 0

_SCALAR_LAYOUTS: dict[int, struct.Struct] = {
    1: I8,  # Byte
    2: U8,  # UByte
    3: struct.Struct("<h"),  # Short
    4: struct.Struct("<H"),  # UShort
    5: I32,  # Int
    6: U32,  # UInt
    7: I64,  # Long
    8: U64,  # ULong
}
"""Integer members of the ``Value`` union, by type tag."""

_FLOAT_LAYOUTS = {9: F32, 10: F64}  # Float, Double

_ARRAY_DTYPES: dict[int, np.dtype[np.number]] = {
    11: little_endian(np.int8),
    12: little_endian(np.uint8),
    13: little_endian(np.int16),
    14: little_endian(np.uint16),
    15: little_endian(np.int32),
    16: little_endian(np.uint32),
    17: little_endian(np.int64),
    18: little_endian(np.uint64),
    19: little_endian(np.float32),
    20: little_endian(np.float64),
}
"""Array members of the ``Value`` union, by type tag."""


@guard_decoder
def decode_f144(buf: Buffer, *, max_array_length: int = MAX_ARRAY_LENGTH) -> tuple[str, LogSample]:
    """Decode an f144 payload into its source name and sample.

    Values become float64 (64-bit integers beyond 2**53 lose precision). NaN stays
    NaN and +-inf becomes NaN, the one "no reading" marker downstream uses. The
    timestamp is passed on unchecked: placing implausible times is the batcher's job.

    Raises
    ------
    DecodeError
        For any payload that is not an f144 message with a numeric value.
    """
    table = FlatTable.root(buf, SCHEMA)
    source_name = table.string(_SOURCE_NAME, name="source_name")
    if source_name is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "f144 without source_name")
    value_type = table.integer(_VALUE_TYPE, U8)
    member = table.table(_VALUE)
    if value_type == 0 or member is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "f144 without value")
    value: float | npt.NDArray[np.float64]
    if (layout := _SCALAR_LAYOUTS.get(value_type)) is not None:
        value = float(member.integer(_MEMBER_VALUE, layout))
    elif (layout := _FLOAT_LAYOUTS.get(value_type)) is not None:
        value = member.real(_MEMBER_VALUE, layout)
        if math.isinf(value):
            value = math.nan
    elif (dtype := _ARRAY_DTYPES.get(value_type)) is not None:
        array = member.vector(_MEMBER_VALUE, dtype, limit=max_array_length, name="value")
        if array is None:
            raise DecodeError(DecodeReason.MISSING_FIELD, "f144 array value absent")
        value = _as_float64(array)
    else:
        raise DecodeError(DecodeReason.UNSUPPORTED, f"f144 value type {value_type}")
    return source_name, LogSample(time=table.integer(_TIMESTAMP, I64), value=value)


def _as_float64(array: npt.NDArray[np.number]) -> npt.NDArray[np.float64]:
    """Float64 values with infinities as NaN; a float64 view stays a view if finite."""
    values = np.asarray(array, dtype=np.float64)
    infinite = np.isinf(values)
    if infinite.any():
        values = np.where(infinite, np.nan, values)
    return values


def encode_f144(source_name: str, sample: LogSample) -> bytes:
    """Serialise ``sample`` as f144 (a float64 scalar or a 1-D array)."""
    value = np.asarray(sample.value)
    if value.ndim > 1:
        raise EncodeError(f"f144 carries scalars and 1-D arrays, not {value.ndim}-D")
    if value.dtype.kind not in "iuf" or value.dtype.itemsize > 8:
        raise EncodeError(f"f144 cannot carry values of dtype {value.dtype}")
    value = value.astype(value.dtype.newbyteorder("="), copy=False)
    result: bytes = serialise_f144(source_name, value, sample.time)
    return result
