import json
from types import ModuleType
from typing import Any

import pytest

from livedata.core.control import CommandResponse
from livedata.protocol.errors import DecodeReason
from livedata.protocol.responses import (
    MAX_RESPONSE_BYTES,
    MAX_RESPONSE_MESSAGE_CHARS,
    UNSPECIFIED_ERROR,
    decode_response,
    encode_response,
)
from livedata.protocol.wire_errors import WireFormatError

MESSAGE_ID = "6a1f0c52-3e4b-4d8a-9c7e-1b2d3f4a5b6c"
JOB_NUMBER = "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"


RESPONSES = [
    CommandResponse(message_id=MESSAGE_ID, device="panel_0"),
    CommandResponse(message_id=MESSAGE_ID, device=f"panel_0/{JOB_NUMBER}"),
    CommandResponse(message_id=MESSAGE_ID, device="all"),
    CommandResponse(message_id=MESSAGE_ID, device="YMIR-SEE:TEMP", error="bad params"),
    CommandResponse(message_id=MESSAGE_ID, device="all", error="ünïcode ✓ failure"),
]


@pytest.mark.parametrize("response", RESPONSES)
def test_round_trip(response: CommandResponse) -> None:
    assert decode_response(encode_response(response)) == response


@pytest.mark.parametrize("response", RESPONSES)
def test_encoded_responses_pass_the_wire_checker(
    response: CommandResponse, wire_check: ModuleType
) -> None:
    assert wire_check.check_response(encode_response(response)) == []


def test_ack_has_the_wire_shape() -> None:
    response = CommandResponse(message_id=MESSAGE_ID, device=f"panel_0/{JOB_NUMBER}")
    assert (
        encode_response(response)
        == (
            f'{{"message_id":"{MESSAGE_ID}","device":"panel_0/{JOB_NUMBER}",'
            '"response":"ACK","message":null}'
        ).encode()
    )


def test_literal_wire_examples_decode() -> None:
    ack = f'{{"message_id": "{MESSAGE_ID}", "device": "all", "response": "ACK", "message": null}}'
    err = (
        f'{{"message_id": "{MESSAGE_ID}", "device": "panel_0", "response": "ERR",'
        ' "message": "unknown workflow"}'
    )
    assert decode_response(ack.encode()) == CommandResponse(message_id=MESSAGE_ID, device="all")
    assert decode_response(err.encode()) == CommandResponse(
        message_id=MESSAGE_ID, device="panel_0", error="unknown workflow"
    )


def test_long_errors_are_cut_on_encoding() -> None:
    response = CommandResponse(message_id=MESSAGE_ID, device="all", error="x" * 10_000)
    decoded = decode_response(encode_response(response))
    assert decoded.error is not None
    assert len(decoded.error) == MAX_RESPONSE_MESSAGE_CHARS
    assert decoded.error.endswith("...")


@pytest.mark.parametrize("error", ["", "   "])
def test_blank_errors_still_send_a_message(error: str) -> None:
    response = CommandResponse(message_id=MESSAGE_ID, device="all", error=error)
    decoded = decode_response(encode_response(response))
    assert decoded.error == UNSPECIFIED_ERROR
    assert not decoded.ok


@pytest.mark.parametrize(
    "response",
    [
        CommandResponse(message_id="not-a-uuid", device="all"),
        CommandResponse(message_id=MESSAGE_ID, device="../etc"),
        CommandResponse(message_id=MESSAGE_ID, device="panel_0/not-a-uuid"),
    ],
)
def test_encode_refuses_invalid_responses(response: CommandResponse) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError
        encode_response(response)


def _response(**changes: Any) -> bytes:
    raw: dict[str, Any] = {
        "message_id": MESSAGE_ID,
        "device": "all",
        "response": "ERR",
        "message": "boom",
    }
    raw.update(changes)
    return json.dumps({k: v for k, v in raw.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("buf", "reason", "match"),
    [
        (_response(response="ACK"), DecodeReason.INVALID_VALUE, "ACK carries message null"),
        (_response(message=None), DecodeReason.INVALID_VALUE, "ERR needs a non-empty"),
        (_response(message=" "), DecodeReason.INVALID_VALUE, "ERR needs a non-empty"),
        (_response(response="OK"), DecodeReason.INVALID_VALUE, "'ACK' or 'ERR'"),
        (_response(message=...), DecodeReason.INVALID_VALUE, "message: Field required"),
        (_response(extra=1), DecodeReason.INVALID_VALUE, "Extra inputs"),
        (_response(device="kafka://x"), DecodeReason.INVALID_VALUE, "pattern"),
        (_response(message_id="1"), DecodeReason.INVALID_VALUE, "pattern"),
        (
            _response(message="x" * (MAX_RESPONSE_MESSAGE_CHARS + 1)),
            DecodeReason.INVALID_VALUE,
            "at most 4000",
        ),
        (b"[]", DecodeReason.MALFORMED, "JSON array"),
        (b"\xff", DecodeReason.MALFORMED, "UTF-8"),
        (b"", DecodeReason.EMPTY, "empty"),
        (b" " * (MAX_RESPONSE_BYTES + 1), DecodeReason.TOO_LARGE, "exceeds"),
    ],
)
def test_invalid_responses_are_rejected(buf: bytes, reason: DecodeReason, match: str) -> None:
    with pytest.raises(WireFormatError) as info:
        decode_response(buf)
    assert info.value.reason is reason
    assert match in info.value.message
