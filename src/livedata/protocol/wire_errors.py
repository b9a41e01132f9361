"""The error raised for bad JSON wire payloads (commands, responses, keys, heartbeats).

It is a :class:`~livedata.protocol.errors.DecodeError`, so ingress handles it with the
same ``except DecodeError`` as a bad flatbuffer, and its ``reason`` comes from the same
:class:`~livedata.protocol.errors.DecodeReason` vocabulary used for drop counters:

- ``too_large``: over the size bound, refused before parsing;
- ``empty``: no bytes at all;
- ``malformed``: not UTF-8, not strict JSON (``NaN``, trailing garbage, nested past
  the parser's depth limit) or not a JSON object;
- ``invalid_value``: well-formed JSON that breaks the schema (extra field, unknown
  ``kind``, bad uuid, unsafe name, start after end, ...); the message is pydantic's
  description of each problem.
"""

from __future__ import annotations

from pydantic import ValidationError

from livedata.protocol.errors import DecodeError, DecodeReason

MAX_ERROR_TEXT = 2000
"""Longest error text we produce; it is sent back in ERR responses and logged, so an
attacker-sized payload must not become an attacker-sized error."""


MAX_LOCATION_PART = 40
"""Longest piece of an error location (a field name or a user-supplied dict key)."""


class WireFormatError(DecodeError):
    """A JSON payload (or x5f2 heartbeat) that does not follow WIRE.md.

    Parameters
    ----------
    reason:
        Machine-readable cause, a label for drop counters.
    message:
        Human-readable detail, safe to send back in an ERR response (it names fields
        and rules, never echoes the offending input), at most ``MAX_ERROR_TEXT`` long.
    message_id:
        The ``message_id`` of a rejected command when it could still be read (the
        payload was a JSON object with a well-formed ``message_id``), so the caller can
        answer with ERR; ``None`` otherwise.
    """

    def __init__(
        self, reason: DecodeReason, message: str, *, message_id: str | None = None
    ) -> None:
        super().__init__(reason, truncate(message, MAX_ERROR_TEXT))
        self.message_id = message_id


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut."""
    marker = "..."
    return text if len(text) <= limit else text[: limit - len(marker)] + marker


def describe_validation_error(error: ValidationError) -> str:
    """One ``location: message`` per problem, without echoing the input values.

    Pydantic's own ``str()`` repeats each offending input and a documentation URL; this
    text goes back to the sender and into logs, so it names the problem and where it
    is (a dict key in that location is cut to ``MAX_LOCATION_PART`` characters).
    """
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        # Dict keys appear in locations; cut each so a huge key stays a short label.
        location = ".".join(_cut_part(part) for part in item["loc"]) or "<root>"
        message = item["msg"]
        if item["type"] == "union_tag_invalid" and "ctx" in item:
            # Pydantic's text quotes the unknown tag, which can be as long as the
            # payload; name the allowed values instead.
            ctx = item["ctx"]
            message = f"{ctx['discriminator']} must be one of {ctx['expected_tags']}"
        parts.append(f"{location}: {message}")
    count = len(parts)
    head = f"{count} validation error{'s' if count != 1 else ''}"
    return truncate(f"{head}: " + "; ".join(parts), MAX_ERROR_TEXT)


def _cut_part(part: str | int) -> str:
    return truncate(str(part), MAX_LOCATION_PART)
