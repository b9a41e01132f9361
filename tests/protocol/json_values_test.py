from enum import StrEnum
from typing import Any

import pytest

from livedata.protocol.errors import DecodeError, DecodeReason
from livedata.protocol.json_values import (
    JsonLimits,
    checked_json_object,
    load_json_object,
    parse_json_object,
)

LIMITS = JsonLimits(max_depth=3, max_nodes=20, max_key_length=10, max_string_length=10)


class Colour(StrEnum):
    RED = "red"


def test_plain_json_is_copied() -> None:
    value: dict[str, Any] = {"a": [1, 2.5, None, True, "x", {"b": []}], "c": {}}
    copy = checked_json_object(value, LIMITS)
    assert copy == value
    assert copy is not value
    assert copy["a"] is not value["a"]


def test_tuples_become_lists_and_str_enums_plain_strings() -> None:
    copy = checked_json_object({"a": (1, (2,)), "c": Colour.RED}, LIMITS)
    assert copy == {"a": [1, [2]], "c": "red"}
    assert type(copy["c"]) is str


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"a": float("nan")}, "finite"),
        ({"a": [float("inf")]}, "finite"),
        ({"a": {"b": -float("inf")}}, "finite"),
        ({"a": 2**63}, "int64"),
        ({"a": -(2**63) - 1}, "int64"),
        ({"a": [[[[1]]]]}, "deeper than 3"),
        ({"a": list(range(30))}, "more than 20"),
        ({"k" * 11: 1}, "key longer"),
        ({"a": "s" * 11}, "string longer"),
        ({1: 1}, "keys must be strings"),
        ({"a": object()}, "not a JSON value"),
        ({"a": {1, 2}}, "not a JSON value"),
        ({"a": b"x"}, "not a JSON value"),
        ([1], "expected a JSON object"),
    ],
)
def test_bounds_and_types_are_enforced(value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        checked_json_object(value, LIMITS)


def test_int64_extremes_are_accepted() -> None:
    value = {"a": [2**63 - 1, -(2**63)]}
    assert checked_json_object(value, LIMITS) == value


def test_depth_limit_is_not_python_recursion() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(5000):
        child: dict[str, object] = {}
        node["a"] = child
        node = child
    limits = JsonLimits(max_depth=10_000, max_nodes=100_000, max_key_length=5, max_string_length=5)
    # Deeper than Python's default recursion limit, yet within the bound: accepted.
    copy = checked_json_object(deep, limits)
    depth = 0
    while copy:
        copy = copy["a"]
        depth += 1
    assert depth == 5000
    with pytest.raises(ValueError, match="deeper than 3"):
        checked_json_object(deep, LIMITS)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_parser_refuses_non_finite_literals(text: str) -> None:
    with pytest.raises(ValueError, match="NaN and Infinity are refused"):
        parse_json_object(f'{{"a": {text}}}')


def test_parser_stops_at_its_depth_limit() -> None:
    with pytest.raises(ValueError, match="recursion limit"):
        parse_json_object(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}")


@pytest.mark.parametrize(
    ("buf", "reason"),
    [
        (b"", DecodeReason.EMPTY),
        (b"x" * 101, DecodeReason.TOO_LARGE),
        ("é" * 60, DecodeReason.TOO_LARGE),
        (b"\xff{}", DecodeReason.MALFORMED),
        ('{"a": "\ud800"}', DecodeReason.MALFORMED),
        (b"[]", DecodeReason.MALFORMED),
        (b"{} {}", DecodeReason.MALFORMED),
    ],
)
def test_load_raises_decode_error(buf: bytes | str, reason: DecodeReason) -> None:
    with pytest.raises(DecodeError) as info:
        load_json_object(buf, max_bytes=100, what="thing")
    assert info.value.reason is reason


def test_load_accepts_bytes_like_and_str() -> None:
    for buf in (b'{"a":1}', bytearray(b'{"a":1}'), memoryview(b'{"a":1}'), '{"a":1}'):
        assert load_json_object(buf, max_bytes=100, what="thing") == {"a": 1}
