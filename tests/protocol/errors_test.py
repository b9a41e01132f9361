import pytest

from livedata.protocol.errors import (
    DecodeError,
    DecodeReason,
    guard_decoder,
    require_schema,
    schema_id,
)


def test_schema_id_reads_the_file_identifier() -> None:
    assert schema_id(b"\x10\x00\x00\x00ev44rest") == "ev44"


def test_schema_id_of_a_short_buffer_is_none() -> None:
    assert schema_id(b"\x00\x00\x00\x00ev4") is None


def test_schema_id_never_raises_on_non_ascii() -> None:
    assert schema_id(b"\x00\x00\x00\x00\xff\xfe\x80\x00") == "\xff\xfe\x80\x00"


def test_schema_id_accepts_memoryview_and_bytearray() -> None:
    payload = b"\x10\x00\x00\x00da00"
    assert schema_id(memoryview(payload)) == "da00"
    assert schema_id(bytearray(payload)) == "da00"


@pytest.mark.parametrize(
    ("buf", "reason"),
    [
        (b"", DecodeReason.EMPTY),
        (b"\x00\x00\x00", DecodeReason.TRUNCATED),
        (b"\x00\x00\x00\x00f144", DecodeReason.WRONG_SCHEMA),
    ],
)
def test_require_schema_rejects(buf: bytes, reason: DecodeReason) -> None:
    with pytest.raises(DecodeError) as info:
        require_schema(buf, "ev44")
    assert info.value.reason is reason


def test_require_schema_accepts_matching_identifier() -> None:
    require_schema(b"\x00\x00\x00\x00ev44", "ev44")


def test_decode_error_carries_reason_and_message() -> None:
    error = DecodeError(DecodeReason.TOO_LARGE, "12 events, limit 10")
    assert error.reason is DecodeReason.TOO_LARGE
    assert error.message == "12 events, limit 10"
    assert str(error) == "too_large: 12 events, limit 10"


def test_guard_turns_any_exception_into_malformed() -> None:
    @guard_decoder
    def decode(buf: bytes) -> int:
        return buf[100]

    with pytest.raises(DecodeError) as info:
        decode(b"short")
    assert info.value.reason is DecodeReason.MALFORMED
    assert "IndexError" in info.value.message
    assert isinstance(info.value.__cause__, IndexError)


def test_guard_passes_decode_errors_and_results_through() -> None:
    @guard_decoder
    def decode(buf: bytes) -> int:
        if not buf:
            raise DecodeError(DecodeReason.EMPTY, "nothing")
        return len(buf)

    assert decode(b"abc") == 3
    with pytest.raises(DecodeError) as info:
        decode(b"")
    assert info.value.reason is DecodeReason.EMPTY
