"""ad00 area-detector frames <-> :class:`~livedata.core.values.AreaFrame`."""

from __future__ import annotations

import math

import numpy as np
from streaming_data_types import serialise_ad00

from livedata.core.values import AreaFrame
from livedata.protocol.errors import (
    Buffer,
    DecodeError,
    DecodeReason,
    EncodeError,
    guard_decoder,
)
from livedata.protocol.flatbuffer_table import I8, I32, I64, FlatTable, little_endian

SCHEMA = "ad00"

MAX_PIXELS = 1 << 25
"""Most pixels (33.5 M) in one frame: twice a 4096 x 4096 camera. Frames are summed
into float64 images, so a bound on pixels bounds what one message makes us allocate."""

MAX_DIMENSIONS = 8
"""More dimensions than any frame has; only bounds how much of a forged header we read."""

# Field indices of ad00_ADArray in ad00_area_detector_array.fbs.
_SOURCE_NAME = 0
_ID = 1
_TIMESTAMP = 2
_DIMENSIONS = 3
_DATA_TYPE = 4
_DATA = 5

_DTYPES: dict[int, np.dtype[np.number]] = {
    0: little_endian(np.int8),
    1: little_endian(np.uint8),
    2: little_endian(np.int16),
    3: little_endian(np.uint16),
    4: little_endian(np.int32),
    5: little_endian(np.uint32),
    6: little_endian(np.int64),
    7: little_endian(np.uint64),
    8: little_endian(np.float32),
    9: little_endian(np.float64),
}
"""The ad00 ``DType`` enum; 10 (``c_string``) is not an image and is refused."""

_UINT8 = little_endian(np.uint8)
_INT64 = little_endian(np.int64)


@guard_decoder
def decode_ad00(buf: Buffer, *, max_pixels: int = MAX_PIXELS) -> tuple[str, AreaFrame]:
    """Decode an ad00 payload into its source name and a 2-D frame.

    ``frame.data`` is a read-only view into ``buf`` (possibly unaligned, which numpy
    handles); it is not copied.

    Raises
    ------
    DecodeError
        For any payload that is not a consistent 2-D numeric ad00 frame.
    """
    table = FlatTable.root(buf, SCHEMA)
    source_name = table.string(_SOURCE_NAME, name="source_name")
    if source_name is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "ad00 without source_name")
    # The type first: a c_string "frame" is 1-D, but "not an image" is the real reason.
    data_type = table.integer(_DATA_TYPE, I8)
    dtype = _DTYPES.get(data_type)
    if dtype is None:
        raise DecodeError(DecodeReason.UNSUPPORTED, f"ad00 data type {data_type}")
    dims = table.vector(_DIMENSIONS, _INT64, limit=MAX_DIMENSIONS, name="dimensions")
    if dims is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "ad00 without dimensions")
    shape = tuple(int(d) for d in dims)
    if len(shape) != 2 or min(shape) < 0:
        raise DecodeError(DecodeReason.BAD_SHAPE, f"ad00 frame of shape {shape}, need 2-D")
    # Python ints: a forged shape cannot overflow the product.
    n_pixels = math.prod(shape)
    if n_pixels > max_pixels:
        raise DecodeError(
            DecodeReason.TOO_LARGE, f"ad00 frame of {n_pixels} pixels, limit {max_pixels}"
        )
    raw = table.vector(_DATA, _UINT8, limit=max_pixels * dtype.itemsize, name="data")
    if raw is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "ad00 without data")
    if len(raw) != n_pixels * dtype.itemsize:
        raise DecodeError(
            DecodeReason.LENGTH_MISMATCH,
            f"ad00 data has {len(raw)} bytes, shape {shape} of {dtype} needs "
            f"{n_pixels * dtype.itemsize}",
        )
    frame = AreaFrame(
        unique_id=table.integer(_ID, I32),
        time=table.integer(_TIMESTAMP, I64),
        data=raw.view(dtype).reshape(shape),
    )
    return source_name, frame


def encode_ad00(source_name: str, frame: AreaFrame) -> bytes:
    """Serialise a 2-D numeric ``frame`` as ad00 (without attributes)."""
    data = np.asarray(frame.data)
    if data.ndim != 2:
        raise EncodeError(f"ad00 frames are 2-D, not {data.ndim}-D")
    native = data.dtype.newbyteorder("=")
    if native not in _DTYPES.values():
        raise EncodeError(f"ad00 cannot carry pixels of dtype {data.dtype}")
    data = data.astype(native, copy=False)
    result: bytes = serialise_ad00(source_name, frame.unique_id, frame.time, data)
    return result
