"""ACK/ERR answers on ``{inst}_livedata_responses``, to and from core ``CommandResponse``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Strict,
    StringConstraints,
    ValidationError,
    model_validator,
)

from livedata.core.control import CommandResponse
from livedata.protocol.errors import Buffer, DecodeReason
from livedata.protocol.json_values import load_json_object
from livedata.protocol.wire_errors import (
    WireFormatError,
    describe_validation_error,
    truncate,
)
from livedata.protocol.wire_ids import SOURCE_NAME_PATTERN, UUID_PATTERN, UuidString

MAX_RESPONSE_MESSAGE_CHARS = 4000
"""Longest error text in an ERR. A validation error listing many fields fits; a longer
text (a traceback) is cut on encoding rather than making the answer itself fail."""

MAX_RESPONSE_BYTES = 32 * 1024
"""Largest response payload a reader accepts: the text bound above plus the envelope,
with room for multi-byte characters."""

UNSPECIFIED_ERROR = "unspecified error"
"""Sent when a core response marks a failure with an empty text: ERR must say something."""

DEVICE_PATTERN = SOURCE_NAME_PATTERN[:-1] + "(/" + UUID_PATTERN[1:-1] + ")?$"
"""A source name (``workflow_config``), ``source_name/job_number`` or ``all``."""

Device = Annotated[str, Strict(), StringConstraints(pattern=DEVICE_PATTERN)]


class ResponseMessage(BaseModel):
    """``{message_id, device, response, message}``; ``message`` is null exactly on ACK."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    message_id: UuidString
    device: Device
    response: Literal["ACK", "ERR"]
    message: (
        Annotated[str, Strict(), StringConstraints(max_length=MAX_RESPONSE_MESSAGE_CHARS)] | None
    )

    @model_validator(mode="after")
    def _message_matches_response(self) -> ResponseMessage:
        if self.response == "ACK" and self.message is not None:
            raise ValueError("an ACK carries message null")
        if self.response == "ERR" and not (self.message and self.message.strip()):
            raise ValueError("an ERR needs a non-empty message")
        return self

    def to_domain(self) -> CommandResponse:
        return CommandResponse(message_id=self.message_id, device=self.device, error=self.message)

    @classmethod
    def from_domain(cls, response: CommandResponse) -> ResponseMessage:
        """Build the wire answer; long error texts are cut, empty ones replaced."""
        message = None
        if response.error is not None:
            text = response.error if response.error.strip() else UNSPECIFIED_ERROR
            message = truncate(text, MAX_RESPONSE_MESSAGE_CHARS)
        return cls(
            message_id=response.message_id,
            device=response.device,
            response="ACK" if message is None else "ERR",
            message=message,
        )


def encode_response(response: CommandResponse) -> bytes:
    """Serialise a core response as compact JSON (fields in WIRE.md order).

    Raises
    ------
    ValueError
        If the message id is not a uuid or the device is not a valid device name.
    """
    return ResponseMessage.from_domain(response).model_dump_json().encode("utf-8")


def decode_response(buf: Buffer) -> CommandResponse:
    """Validate one response payload.

    Raises
    ------
    WireFormatError
        The only exception raised (a ``DecodeError``); ``reason`` is ``too_large``,
        ``empty``, ``malformed`` (not UTF-8 JSON object) or ``invalid_value``.
    """
    raw = load_json_object(buf, max_bytes=MAX_RESPONSE_BYTES, what="response")
    try:
        return ResponseMessage.model_validate(raw).to_domain()
    except ValidationError as error:
        raise WireFormatError(
            DecodeReason.INVALID_VALUE, describe_validation_error(error)
        ) from None
