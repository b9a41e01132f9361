"""Why a payload could not be decoded, and the cheap checks made before decoding.

Every ``decode_*`` function of ``livedata.protocol`` raises :class:`DecodeError` and
nothing else for bad input, so ingress can drop, count (per stream and ``reason``) and
move on with a single ``except DecodeError``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

Buffer = bytes | bytearray | memoryview
"""Anything a Kafka client hands us as a message value."""

SCHEMA_ID_SLICE = slice(4, 8)
"""Where a flatbuffer keeps its 4-character file identifier (after the root offset)."""


class DecodeReason(StrEnum):
    """Machine-readable cause of a :class:`DecodeError`; a label for drop counters."""

    EMPTY = "empty"
    """The payload has no bytes at all."""
    WRONG_SCHEMA = "wrong_schema"
    """The flatbuffer file identifier is not the one this decoder reads."""
    TRUNCATED = "truncated"
    """A length or offset points past the end of the payload."""
    MALFORMED = "malformed"
    """The bytes do not form a valid flatbuffer (bad vtable, bad UTF-8, ...)."""
    MISSING_FIELD = "missing_field"
    """A field the schema or our contract requires is absent."""
    LENGTH_MISMATCH = "length_mismatch"
    """Arrays that must agree in length (or shape and byte count) do not."""
    BAD_SHAPE = "bad_shape"
    """Wrong number of dimensions, negative extents, or axes that do not fit."""
    OUT_OF_RANGE = "out_of_range"
    """An index or time outside the range it must lie in."""
    UNORDERED = "unordered"
    """Indices that must not decrease (event offsets of pulses) do decrease."""
    NON_FINITE = "non_finite"
    """NaN or infinity where only finite numbers are meaningful (ROI geometry)."""
    TOO_LARGE = "too_large"
    """More elements than we accept in one message; refused before any allocation."""
    UNSUPPORTED = "unsupported"
    """A type tag we do not handle (strings, unknown union or dtype values)."""
    INVALID_VALUE = "invalid_value"
    """A value that parses but means nothing to us (bad unit, uuid, ROI name)."""


class DecodeError(Exception):
    """A payload that cannot become a domain value.

    Parameters
    ----------
    reason:
        Machine-readable cause, stable across releases (used as a metric label).
    message:
        Human-readable detail for logs; never parsed.
    """

    def __init__(self, reason: DecodeReason, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message


class EncodeError(ValueError):
    """A domain value that the wire format cannot carry (a programming error)."""


def schema_id(buf: Buffer) -> str | None:
    """Return the flatbuffer file identifier of ``buf``, or ``None`` if it is too short.

    Latin-1 maps every byte to a character, so garbage never raises here.
    """
    if len(buf) < SCHEMA_ID_SLICE.stop:
        return None
    return bytes(buf[SCHEMA_ID_SLICE]).decode("latin-1")


def require_schema(buf: Buffer, expected: str) -> None:
    """Raise :class:`DecodeError` unless ``buf`` is a flatbuffer tagged ``expected``.

    This is the cheap first check: a payload of the wrong schema for its topic is
    rejected without touching anything beyond its first 8 bytes.
    """
    if len(buf) == 0:
        raise DecodeError(DecodeReason.EMPTY, f"empty payload, expected {expected}")
    found = schema_id(buf)
    if found is None:
        raise DecodeError(
            DecodeReason.TRUNCATED,
            f"{len(buf)} bytes cannot hold a flatbuffer header, expected {expected}",
        )
    if found != expected:
        raise DecodeError(DecodeReason.WRONG_SCHEMA, f"schema id {found!r}, expected {expected!r}")


def guard_decoder(func: Callable[P, R]) -> Callable[P, R]:
    """Make ``func`` raise only :class:`DecodeError` for whatever bytes it is given.

    Our decoders check bounds before reading, so this is the safety net for what we
    did not foresee (numpy, scipp or struct raising on some odd input): such
    exceptions become ``DecodeError(MALFORMED)`` instead of killing the service.
    """

    @functools.wraps(func)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except DecodeError:
            raise
        # Deliberately blind: bad input must never escape as anything else.
        except Exception as exc:
            raise DecodeError(DecodeReason.MALFORMED, f"{type(exc).__name__}: {exc}") from exc

    return guarded
