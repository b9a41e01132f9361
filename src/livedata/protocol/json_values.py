"""Bounded, finite, JSON-only values: free-form objects that cross the wire.

Workflow params and heartbeat ``stream_stats`` are open-ended objects whose schema is
checked elsewhere (by the workflow's params model, by the dashboard). Here we only make
sure they are plain JSON of bounded size: no NaN/inf, no bigints, no deep nesting, no
Python objects smuggled in by a client that builds commands in-process.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic_core

from livedata.protocol.errors import Buffer, DecodeReason
from livedata.protocol.wire_errors import WireFormatError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonLimits:
    """How large a free-form JSON object may be.

    ``max_depth`` counts container levels below the object itself; ``max_nodes``
    counts every value, key and container.
    """

    max_depth: int
    max_nodes: int
    max_key_length: int
    max_string_length: int


def parse_json_object(text: bytes | str) -> dict[str, Any]:
    """Parse strict JSON into a dict; raises ``ValueError`` with a short reason.

    pydantic-core's parser refuses ``NaN``/``Infinity`` literals (Python's ``json``
    accepts them) and stops at a fixed nesting depth instead of recursing until a
    ``RecursionError``. Numbers that overflow to inf (``1e400``) still parse, so
    callers must also run :func:`checked_json_object` or finite-float fields.
    """
    try:
        value = pydantic_core.from_json(text, allow_inf_nan=False)
    except ValueError as error:
        raise ValueError(f"not strict JSON (NaN and Infinity are refused): {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got a JSON {_json_type(value)}")
    return value


def load_json_object(buf: Buffer | str, *, max_bytes: int, what: str) -> dict[str, Any]:
    """Bound, decode and parse a JSON-object payload, raising only ``WireFormatError``.

    Parameters
    ----------
    buf:
        The payload; ``str`` for JSON carried inside another format (da00 names).
    max_bytes:
        Largest accepted size, checked before any decoding work.
    what:
        What the payload is (``"command"``), for the error text.

    Raises
    ------
    WireFormatError
        ``too_large``, ``empty`` or ``malformed`` (not UTF-8, not strict JSON, not an
        object).
    """
    # A character is at least one byte, so an over-long str is refused before encoding.
    size = len(buf)
    if isinstance(buf, str) and size <= max_bytes:
        size = len(buf.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise WireFormatError(DecodeReason.TOO_LARGE, f"{what} of {size} bytes exceeds {max_bytes}")
    if size == 0:
        raise WireFormatError(DecodeReason.EMPTY, f"empty {what}")
    try:
        # Strict UTF-8 both ways: a str may hold lone surrogates, which pydantic-core
        # would refuse with a TypeError rather than a ValueError.
        data = buf.encode("utf-8") if isinstance(buf, str) else bytes(buf)
        data.decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError) as error:
        raise WireFormatError(
            DecodeReason.MALFORMED,
            f"{what} is not UTF-8 ({error.reason} at position {error.start})",
        ) from None
    try:
        return parse_json_object(data)
    except ValueError as error:
        raise WireFormatError(DecodeReason.MALFORMED, f"{what}: {error}") from None


def checked_json_object(value: object, limits: JsonLimits) -> dict[str, Any]:
    """Return a plain-JSON copy of ``value`` or raise ``ValueError`` saying what is wrong.

    Tuples become lists (they are JSON arrays). Walks iteratively so that the depth
    bound, not Python's recursion limit, decides what is too deep.
    """
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    root: dict[str, Any] = {}
    nodes = 0
    # Each entry: (source container, its copy, depth of the container, path for errors).
    stack: list[tuple[Any, Any, int, str]] = [(value, root, 0, "")]
    while stack:
        source, target, depth, path = stack.pop()
        items = source.items() if isinstance(source, Mapping) else enumerate(source)
        for key, item in items:
            nodes += 1
            if nodes > limits.max_nodes:
                raise ValueError(f"more than {limits.max_nodes} values")
            if isinstance(source, Mapping):
                if not isinstance(key, str):
                    raise ValueError(f"{path or '<root>'}: keys must be strings")
                if len(key) > limits.max_key_length:
                    raise ValueError(f"{path or '<root>'}: key longer than {limits.max_key_length}")
            where = f"{path}.{key}" if path else str(key)
            copied = _copy_scalar_or_container(item, where, limits)
            if isinstance(copied, dict | list):
                if depth + 1 > limits.max_depth:
                    raise ValueError(f"{where}: nested deeper than {limits.max_depth}")
                stack.append((item, copied, depth + 1, where))
            if isinstance(target, dict):
                target[str.__str__(key)] = copied
            else:
                target.append(copied)
    return root


def _copy_scalar_or_container(item: object, where: str, limits: JsonLimits) -> object:
    # bool before int: bool is an int subclass but is its own JSON type.
    if item is None or isinstance(item, bool):
        return item
    if isinstance(item, int):
        if not INT64_MIN <= item <= INT64_MAX:
            raise ValueError(f"{where}: integer outside the int64 range")
        return int(item)
    if isinstance(item, float):
        if not math.isfinite(item):
            raise ValueError(f"{where}: number must be finite (no NaN or infinity)")
        return float(item)
    if isinstance(item, str):
        if len(item) > limits.max_string_length:
            raise ValueError(f"{where}: string longer than {limits.max_string_length}")
        # A str subclass (e.g. a StrEnum member) becomes the plain string it holds.
        return str.__str__(item)
    if isinstance(item, Mapping):
        return {}
    if isinstance(item, list | tuple):
        return []
    raise ValueError(f"{where}: {type(item).__name__} is not a JSON value")


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"
