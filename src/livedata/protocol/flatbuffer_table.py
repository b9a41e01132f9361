"""A bounds-checked reader of flatbuffer tables, for bytes we do not trust.

The generated ``streaming_data_types`` readers assume a well-formed buffer: a hostile
vtable offset makes them read from the wrong end of the buffer (Python's ``struct``
accepts negative offsets), a truncated string comes back silently shortened, and a
forged vector length makes their loops run for billions of iterations. This reader
checks every offset and length against the buffer before it reads, refuses vectors
longer than a caller-given limit *before* touching their contents, and returns numeric
vectors as zero-copy numpy views. Field indices follow the ``.fbs`` schemas (field
``i`` of a table lives at vtable slot ``4 + 2 * i``).
"""

from __future__ import annotations

import struct
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from livedata.protocol.errors import Buffer, DecodeError, DecodeReason, require_schema

ScalarT = TypeVar("ScalarT", bound=np.generic)

U8 = struct.Struct("<B")
I8 = struct.Struct("<b")
I32 = struct.Struct("<i")
U32 = struct.Struct("<I")
I64 = struct.Struct("<q")
U64 = struct.Struct("<Q")
F32 = struct.Struct("<f")
F64 = struct.Struct("<d")
_U16 = struct.Struct("<H")
_VTABLE_HEADER = struct.Struct("<HH")

_OFFSET_SIZE = 4
"""Bytes of a ``uoffset_t``, also of a vector's length prefix and a table's soffset."""

MAX_STRING_BYTES = 64 * 1024
"""Longest string field we read; names are short, and nothing we use is a document."""


def little_endian(scalar: type[ScalarT]) -> np.dtype[ScalarT]:
    """The dtype of ``scalar`` in flatbuffer byte order (native on every host we run)."""
    return np.dtype(scalar).newbyteorder("<")


def _truncated(what: str, end: int, size: int) -> DecodeError:
    return DecodeError(DecodeReason.TRUNCATED, f"{what} ends at byte {end}, payload has {size}")


class FlatTable:
    """One table inside a flatbuffer, with its vtable validated.

    Parameters
    ----------
    buf:
        The whole payload; views returned by :meth:`vector` keep it alive.
    pos:
        Absolute position of the table (of its ``soffset`` to the vtable).
    """

    __slots__ = ("_buf", "_object_size", "_pos", "_size", "_vtable", "_vtable_size")

    def __init__(self, buf: bytes | memoryview, pos: int) -> None:
        size = len(buf)
        if pos + _OFFSET_SIZE > size:
            raise _truncated("table header", pos + _OFFSET_SIZE, size)
        # soffset is signed: the vtable may sit before or after the table. Reject
        # anything outside the buffer, which struct would otherwise wrap around.
        vtable = pos - I32.unpack_from(buf, pos)[0]
        if vtable < 0 or vtable + _VTABLE_HEADER.size > size:
            raise DecodeError(DecodeReason.MALFORMED, f"vtable at {vtable} is outside the payload")
        vtable_size, object_size = _VTABLE_HEADER.unpack_from(buf, vtable)
        if vtable_size < _VTABLE_HEADER.size or vtable_size % 2:
            raise DecodeError(DecodeReason.MALFORMED, f"vtable at {vtable} has size {vtable_size}")
        if object_size < _OFFSET_SIZE:
            raise DecodeError(DecodeReason.MALFORMED, f"table at {pos} has size {object_size}")
        if vtable + vtable_size > size:
            raise _truncated("vtable", vtable + vtable_size, size)
        if pos + object_size > size:
            raise _truncated("table", pos + object_size, size)
        self._buf = buf
        self._size = size
        self._pos = pos
        self._vtable = vtable
        self._vtable_size = vtable_size
        self._object_size = object_size

    @staticmethod
    def root(buf: Buffer, schema: str) -> FlatTable:
        """Check the file identifier of ``buf`` and return its root table."""
        require_schema(buf, schema)
        # Cast so that len() counts bytes whatever the memoryview's item format.
        data = buf if isinstance(buf, bytes) else memoryview(buf).cast("B")
        return FlatTable(data, U32.unpack_from(data, 0)[0])

    def _field(self, index: int, width: int) -> int:
        """Absolute position of field ``index`` (``width`` bytes), 0 when absent."""
        slot = _VTABLE_HEADER.size + 2 * index
        if slot + 2 > self._vtable_size:
            return 0
        offset: int = _U16.unpack_from(self._buf, self._vtable + slot)[0]
        if offset == 0:
            return 0
        if offset + width > self._object_size:
            raise DecodeError(
                DecodeReason.MALFORMED,
                f"field {index} at offset {offset} lies outside its table",
            )
        return self._pos + offset

    def _target(self, index: int) -> int:
        """Where the offset stored in field ``index`` points to, 0 when absent."""
        at = self._field(index, _OFFSET_SIZE)
        if at == 0:
            return 0
        target: int = at + U32.unpack_from(self._buf, at)[0]
        return target

    def integer(self, index: int, kind: struct.Struct, default: int = 0) -> int:
        """Read an integer scalar field of layout ``kind`` (one of the module structs)."""
        at = self._field(index, kind.size)
        if at == 0:
            return default
        value: int = kind.unpack_from(self._buf, at)[0]
        return value

    def real(self, index: int, kind: struct.Struct, default: float = 0.0) -> float:
        """Read a floating-point scalar field of layout ``kind`` (``F32`` or ``F64``)."""
        at = self._field(index, kind.size)
        if at == 0:
            return default
        value: float = kind.unpack_from(self._buf, at)[0]
        return value

    def _vector(self, index: int, itemsize: int, limit: int, name: str) -> tuple[int, int] | None:
        """Start of the elements and the length of vector field ``index``."""
        start = self._target(index)
        if start == 0:
            return None
        if start + _OFFSET_SIZE > self._size:
            raise _truncated(f"length of {name}", start + _OFFSET_SIZE, self._size)
        length: int = U32.unpack_from(self._buf, start)[0]
        # Before any bounds check: a forged length is refused as too large, not read.
        if length > limit:
            raise DecodeError(
                DecodeReason.TOO_LARGE, f"{name} has {length} elements, limit {limit}"
            )
        data = start + _OFFSET_SIZE
        end = data + length * itemsize
        if end > self._size:
            raise _truncated(name, end, self._size)
        return data, length

    def vector(
        self, index: int, dtype: np.dtype[ScalarT], *, limit: int, name: str
    ) -> npt.NDArray[ScalarT] | None:
        """Vector field ``index`` as a read-only view into the payload, or ``None``."""
        header = self._vector(index, dtype.itemsize, limit, name)
        if header is None:
            return None
        data, length = header
        return np.frombuffer(self._buf, dtype=dtype, count=length, offset=data)

    def string(self, index: int, *, name: str, limit: int = MAX_STRING_BYTES) -> str | None:
        """UTF-8 string field ``index``, or ``None`` when absent."""
        header = self._vector(index, 1, limit, name)
        if header is None:
            return None
        return self._decode_string(*header, name)

    def _decode_string(self, data: int, length: int, name: str) -> str:
        end = data + length
        # The terminating NUL is part of the format; a missing one means a cut buffer.
        if end >= self._size:
            raise _truncated(name, end + 1, self._size)
        try:
            return str(self._buf[data:end], "utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                DecodeReason.MALFORMED, f"{name} is not UTF-8: {exc.reason}"
            ) from None

    def strings(self, index: int, *, limit: int, name: str) -> list[str] | None:
        """Vector-of-strings field ``index``, or ``None`` when absent."""
        header = self._vector(index, _OFFSET_SIZE, limit, name)
        if header is None:
            return None
        data, length = header
        result = []
        for i in range(length):
            at = data + _OFFSET_SIZE * i
            start = at + U32.unpack_from(self._buf, at)[0]
            if start + _OFFSET_SIZE > self._size:
                raise _truncated(f"{name}[{i}]", start + _OFFSET_SIZE, self._size)
            size: int = U32.unpack_from(self._buf, start)[0]
            if size > MAX_STRING_BYTES:
                raise DecodeError(DecodeReason.TOO_LARGE, f"{name}[{i}] has {size} bytes")
            result.append(self._decode_string(start + _OFFSET_SIZE, size, name))
        return result

    def table(self, index: int) -> FlatTable | None:
        """Sub-table field ``index`` (also a union's value), or ``None``."""
        target = self._target(index)
        return None if target == 0 else FlatTable(self._buf, target)

    def tables(self, index: int, *, limit: int, name: str) -> list[FlatTable] | None:
        """Vector-of-tables field ``index``, or ``None`` when absent."""
        header = self._vector(index, _OFFSET_SIZE, limit, name)
        if header is None:
            return None
        data, length = header
        result = []
        for i in range(length):
            at = data + _OFFSET_SIZE * i
            result.append(FlatTable(self._buf, at + U32.unpack_from(self._buf, at)[0]))
        return result
