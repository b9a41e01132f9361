"""Builders of flatbuffers that no well-behaved producer would send.

The ``streaming_data_types`` serialisers always write every vector and derive shapes
from the data, so they cannot express absent fields or inconsistent headers; these
builders write exactly the fields they are given.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import flatbuffers
import numpy as np
import scipp as sc
from streaming_data_types.fbschemas.area_detector_ad00 import ad00_ADArray
from streaming_data_types.fbschemas.dataarray_da00 import da00_DataArray, da00_Variable
from streaming_data_types.fbschemas.eventdata_ev44 import Event44Message
from streaming_data_types.fbschemas.logdata_f144 import f144_LogData

from livedata.core.control import Roi, RoiUpdate
from livedata.core.identity import JobId
from livedata.core.values import AreaFrame, EventBatch, LogSample, RunStart, RunStop
from livedata.protocol.ad00 import decode_ad00, encode_ad00
from livedata.protocol.da00 import decode_da00, decode_da00_variables, encode_da00
from livedata.protocol.ev44 import decode_ev44, encode_ev44
from livedata.protocol.f144 import decode_f144, encode_f144
from livedata.protocol.roi import decode_roi, encode_roi
from livedata.protocol.run_control import decode_6s4t, decode_pl72, encode_6s4t, encode_pl72

Decoder = Callable[[bytes], Any]

# --- the decoders under test and one valid payload of each --------------------------


decode_pl72_now = partial(decode_pl72, fallback_time=0)
decode_6s4t_now = partial(decode_6s4t, fallback_time=0)

JOB = JobId(source_name="panel_0", job_number=uuid.UUID("3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"))
TOF = np.array([1111, 2222, 3333, 4444], dtype=np.int32)

VALID_EV44 = encode_ev44(
    "panel_0",
    1,
    EventBatch(
        time_of_arrival=TOF,
        pixel_id=np.array([1, 2, 3, 4], dtype=np.int32),
        reference_time=np.array([1_700_000_000_000_000_000]),
        reference_time_index=np.array([0], dtype=np.int32),
    ),
)
VALID_F144 = encode_f144("YMIR:TEMP", LogSample(time=1, value=np.array([1.0, 2.0])))
VALID_AD00 = encode_ad00("camera", AreaFrame(unique_id=1, time=2, data=np.ones((4, 4))))
VALID_DA00 = encode_da00(
    "key",
    sc.DataArray(
        sc.array(dims=["x"], values=[1.0, 2.0], variances=[1.0, 1.0], unit="counts"),
        coords={"x": sc.arange("x", 3.0, unit="m")},
    ),
    timestamp_ns=5,
)
VALID_PL72 = encode_pl72(RunStart(run_name="run_1", start_time=10**18))
VALID_6S4T = encode_6s4t(RunStop(run_name="run_1", stop_time=10**18))
VALID_ROI = encode_roi(
    RoiUpdate(job_id=JOB, shape="rectangle", rois={0: Roi(shape="rectangle", x=(0, 1), y=(0, 1))})
)

DECODERS: dict[str, Decoder] = {
    "ev44": decode_ev44,
    "f144": decode_f144,
    "ad00": decode_ad00,
    "da00": decode_da00,
    "da00_variables": decode_da00_variables,
    "pl72": decode_pl72_now,
    "6s4t": decode_6s4t_now,
    "roi": decode_roi,
}

VALID: dict[str, bytes] = {
    "ev44": VALID_EV44,
    "f144": VALID_F144,
    "ad00": VALID_AD00,
    "da00": VALID_DA00,
    "da00_variables": VALID_DA00,
    "pl72": VALID_PL72,
    "6s4t": VALID_6S4T,
    "roi": VALID_ROI,
}

SCHEMA_IDS: dict[str, bytes] = {
    "ev44": b"ev44",
    "f144": b"f144",
    "ad00": b"ad00",
    "da00": b"da00",
    "da00_variables": b"da00",
    "pl72": b"pl72",
    "6s4t": b"6s4t",
    "roi": b"da00",
}

# --- builders of payloads the serialisers cannot express ---------------------------


def _vector(builder: flatbuffers.Builder, values: object, dtype: str) -> int:
    return builder.CreateNumpyVector(np.asarray(values, dtype=dtype))


def ev44(
    *,
    source_name: str | bytes | None = "panel_0",
    message_id: int = 1,
    reference_time: object = (1_000,),
    reference_time_index: object = (0,),
    time_of_flight: object = (10, 20, 30),
    pixel_id: object = (1, 2, 3),
) -> bytes:
    """An ev44 message with any field left out (``None``) or inconsistent."""
    builder = flatbuffers.Builder(1024)
    name = None
    if source_name is not None:
        name = builder.CreateString(source_name)
    offsets = {}
    for key, values, dtype in (
        ("reference_time", reference_time, "<i8"),
        ("reference_time_index", reference_time_index, "<i4"),
        ("time_of_flight", time_of_flight, "<i4"),
        ("pixel_id", pixel_id, "<i4"),
    ):
        if values is not None:
            offsets[key] = _vector(builder, values, dtype)
    Event44Message.Start(builder)
    if name is not None:
        Event44Message.AddSourceName(builder, name)
    Event44Message.AddMessageId(builder, message_id)
    if "reference_time" in offsets:
        Event44Message.AddReferenceTime(builder, offsets["reference_time"])
    if "reference_time_index" in offsets:
        Event44Message.AddReferenceTimeIndex(builder, offsets["reference_time_index"])
    if "time_of_flight" in offsets:
        Event44Message.AddTimeOfFlight(builder, offsets["time_of_flight"])
    if "pixel_id" in offsets:
        Event44Message.AddPixelId(builder, offsets["pixel_id"])
    builder.Finish(Event44Message.End(builder), file_identifier=b"ev44")
    return bytes(builder.Output())


def f144_with_string_member(*, value_type: int, text: str = "open") -> bytes:
    """An f144 whose ``value`` union member is a table holding a string.

    f144 has no string member; this is what a producer with a newer or foreign schema
    (say, a string PV) would put on the wire.
    """
    builder = flatbuffers.Builder(256)
    text_offset = builder.CreateString(text)
    builder.StartObject(1)
    builder.PrependUOffsetTRelativeSlot(0, text_offset, 0)
    member = builder.EndObject()
    name = builder.CreateString("YMIR:VALVE")
    f144_LogData.f144_LogDataStart(builder)
    f144_LogData.f144_LogDataAddSourceName(builder, name)
    f144_LogData.f144_LogDataAddTimestamp(builder, 5)
    f144_LogData.f144_LogDataAddValueType(builder, value_type)
    f144_LogData.f144_LogDataAddValue(builder, member)
    builder.Finish(f144_LogData.f144_LogDataEnd(builder), file_identifier=b"f144")
    return bytes(builder.Output())


def ad00(*, dimensions: object, data: bytes, data_type: int = 1) -> bytes:
    """An ad00 frame with independent ``dimensions`` and raw ``data`` bytes."""
    builder = flatbuffers.Builder(1024)
    name = builder.CreateString("camera")
    dims = _vector(builder, dimensions, "<i8")
    raw = _vector(builder, np.frombuffer(data, dtype=np.uint8), "u1")
    ad00_ADArray.Start(builder)
    ad00_ADArray.AddSourceName(builder, name)
    ad00_ADArray.AddId(builder, 1)
    ad00_ADArray.AddTimestamp(builder, 2)
    ad00_ADArray.AddDimensions(builder, dims)
    ad00_ADArray.AddDataType(builder, data_type)
    ad00_ADArray.AddData(builder, raw)
    builder.Finish(ad00_ADArray.End(builder), file_identifier=b"ad00")
    return bytes(builder.Output())


DA00_FLOAT64 = 10
DA00_INT64 = 7
DA00_C_STRING = 11


@dataclass
class RawVariable:
    """A da00 variable whose shape, axes and data are written as given."""

    name: str
    data: bytes
    axes: list[str] = field(default_factory=list)
    shape: list[int] | None = None
    data_type: int = DA00_FLOAT64
    unit: str | None = None

    @staticmethod
    def of(name: str, values: np.ndarray, axes: list[str], unit: str | None = None) -> RawVariable:
        tags = {np.dtype(np.float64): DA00_FLOAT64, np.dtype(np.int64): DA00_INT64}
        return RawVariable(
            name=name,
            data=values.tobytes(),
            axes=axes,
            shape=list(values.shape),
            data_type=tags[values.dtype],
            unit=unit,
        )


def da00(variables: list[RawVariable], *, source_name: str = "key") -> bytes:
    """A da00 message of raw variables."""
    builder = flatbuffers.Builder(1024)
    packed = []
    for var in variables:
        name = builder.CreateString(var.name)
        unit = None if var.unit is None else builder.CreateString(var.unit)
        axes = [builder.CreateString(a) for a in var.axes]
        da00_Variable.StartAxesVector(builder, len(axes))
        for axis in reversed(axes):
            builder.PrependUOffsetTRelative(axis)
        axes_offset = builder.EndVector()
        shape = None if var.shape is None else _vector(builder, var.shape, "<i8")
        data = _vector(builder, np.frombuffer(var.data, dtype=np.uint8), "u1")
        da00_Variable.Start(builder)
        da00_Variable.AddName(builder, name)
        if unit is not None:
            da00_Variable.AddUnit(builder, unit)
        da00_Variable.AddDataType(builder, var.data_type)
        da00_Variable.AddAxes(builder, axes_offset)
        if shape is not None:
            da00_Variable.AddShape(builder, shape)
        da00_Variable.AddData(builder, data)
        packed.append(da00_Variable.End(builder))
    da00_DataArray.StartDataVector(builder, len(packed))
    for offset in reversed(packed):
        builder.PrependUOffsetTRelative(offset)
    data_vector = builder.EndVector()
    name = builder.CreateString(source_name)
    da00_DataArray.Start(builder)
    da00_DataArray.AddSourceName(builder, name)
    da00_DataArray.AddTimestamp(builder, 0)
    da00_DataArray.AddData(builder, data_vector)
    builder.Finish(da00_DataArray.End(builder), file_identifier=b"da00")
    return bytes(builder.Output())


def cut(payload: bytes, at: int) -> bytes:
    """The first ``at`` bytes of ``payload``: a message the network or a producer cut short."""
    return payload[:at]


GARBAGE = np.random.default_rng(seed=20).integers(0, 256, size=300, dtype=np.uint8).tobytes()
"""Random bytes: no schema identifier, no structure."""


def roi_payload(
    *,
    shape: str = "rectangle",
    x: list[float],
    y: list[float],
    index: list[int],
    dim: str = "bounds",
    x_unit: str | None = None,
    y_unit: str | None = None,
    index_dtype: str = "int32",
    job_number: str = str(JOB.job_number),
    source_name: str = "panel_0",
) -> bytes:
    """An ROI message built straight from arrays, bypassing the encoder's checks."""
    n = len(x)
    data = sc.DataArray(
        sc.ones(dims=[dim], shape=[n], dtype="int32", unit=None),
        coords={
            "x": sc.array(dims=[dim], values=np.array(x, dtype=float), unit=x_unit),
            "y": sc.array(dims=[dim], values=np.array(y, dtype=float), unit=y_unit),
            "roi_index": sc.array(dims=[dim], values=index, dtype=index_dtype, unit=None),
        },
    )
    return encode_da00(f"{source_name}/{job_number}/roi_{shape}", data, timestamp_ns=0)


def with_vector_length(payload: bytes, elements: np.ndarray, length: int) -> bytes:
    """Overwrite the length prefix of the vector holding ``elements`` with ``length``.

    Forges the header of a huge message without allocating its body.
    """
    start = payload.index(elements.tobytes())
    patched = bytearray(payload)
    struct.pack_into("<I", patched, start - 4, length)
    return bytes(patched)
