import struct

import flatbuffers
import numpy as np
import pytest

from livedata.protocol.errors import DecodeError, DecodeReason
from livedata.protocol.flatbuffer_table import F64, I64, U8, FlatTable, little_endian

INT32 = little_endian(np.int32)


def build(
    *, text: str | None = "hello", numbers: list[int] | None = None, scalar: int | None = 7
) -> bytes:
    """A root table: field 0 string, field 1 int64, field 2 int32 vector, field 3 table."""
    builder = flatbuffers.Builder(128)
    text_offset = None if text is None else builder.CreateString(text)
    numbers_offset = (
        None if numbers is None else builder.CreateNumpyVector(np.array(numbers, dtype="<i4"))
    )
    builder.StartObject(1)
    builder.PrependFloat64Slot(0, 2.5, 0.0)
    child = builder.EndObject()
    builder.StartObject(4)
    if text_offset is not None:
        builder.PrependUOffsetTRelativeSlot(0, text_offset, 0)
    if scalar is not None:
        builder.PrependInt64Slot(1, scalar, 0)
    if numbers_offset is not None:
        builder.PrependUOffsetTRelativeSlot(2, numbers_offset, 0)
    builder.PrependUOffsetTRelativeSlot(3, child, 0)
    builder.Finish(builder.EndObject(), file_identifier=b"test")
    return bytes(builder.Output())


def test_reads_fields() -> None:
    table = FlatTable.root(build(numbers=[1, -2, 3]), "test")
    assert table.string(0, name="text") == "hello"
    assert table.integer(1, I64) == 7
    numbers = table.vector(2, INT32, limit=10, name="numbers")
    assert numbers is not None
    np.testing.assert_array_equal(numbers, [1, -2, 3])
    child = table.table(3)
    assert child is not None
    assert child.real(0, F64) == 2.5


def test_absent_fields_give_none_or_default() -> None:
    table = FlatTable.root(build(text=None, scalar=None), "test")
    assert table.string(0, name="text") is None
    assert table.integer(1, I64, default=-1) == -1
    assert table.vector(2, INT32, limit=10, name="numbers") is None
    # Field 9 is beyond the vtable: absent as well.
    assert table.integer(9, U8, default=3) == 3


def test_vector_is_a_view() -> None:
    payload = build(numbers=[4, 5])
    numbers = FlatTable.root(payload, "test").vector(2, INT32, limit=10, name="n")
    assert numbers is not None
    assert not numbers.flags.owndata


def test_vector_over_limit_is_too_large() -> None:
    table = FlatTable.root(build(numbers=[1, 2, 3]), "test")
    with pytest.raises(DecodeError) as info:
        table.vector(2, INT32, limit=2, name="numbers")
    assert info.value.reason is DecodeReason.TOO_LARGE


def test_string_without_terminator_is_truncated() -> None:
    payload = build(text="abc")
    end = payload.index(b"abc\x00") + 3
    with pytest.raises(DecodeError) as info:
        FlatTable.root(payload[:end], "test").string(0, name="text")
    assert info.value.reason is DecodeReason.TRUNCATED


def test_string_of_invalid_utf8_is_malformed() -> None:
    payload = bytearray(build(text="abc"))
    payload[payload.index(b"abc")] = 0xFF
    with pytest.raises(DecodeError) as info:
        FlatTable.root(bytes(payload), "test").string(0, name="text")
    assert info.value.reason is DecodeReason.MALFORMED


def test_vtable_outside_the_buffer_is_malformed() -> None:
    payload = bytearray(build())
    root = struct.unpack_from("<I", payload, 0)[0]
    # A soffset larger than the table position puts the vtable before byte 0.
    struct.pack_into("<i", payload, root, root + 100)
    with pytest.raises(DecodeError) as info:
        FlatTable.root(bytes(payload), "test")
    assert info.value.reason is DecodeReason.MALFORMED


def test_field_wider_than_its_slot_is_malformed() -> None:
    builder = flatbuffers.Builder(64)
    builder.StartObject(1)
    builder.PrependInt32Slot(0, 5, 0)
    builder.Finish(builder.EndObject(), file_identifier=b"test")
    table = FlatTable.root(bytes(builder.Output()), "test")
    # An int32 field read as int64 (a wrong union tag does this) overruns the table.
    with pytest.raises(DecodeError) as info:
        table.integer(0, I64)
    assert info.value.reason is DecodeReason.MALFORMED


def test_root_checks_schema_first() -> None:
    with pytest.raises(DecodeError) as info:
        FlatTable.root(build(), "ev44")
    assert info.value.reason is DecodeReason.WRONG_SCHEMA
