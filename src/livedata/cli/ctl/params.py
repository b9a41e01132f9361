"""Turning ``--param``, ``--params-file``, ``--aux`` and time options into plain values.

Nothing here touches Kafka. Later settings win: the params file first, then each
``--param`` in order. A dotted key (``toa_range.start_ns``) sets a nested field.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from livedata.cli.ctl.errors import UsageError

MAX_PARAMS_FILE_BYTES = 1024 * 1024
"""A params file holds a few kB (explicit bin edges maybe tens); anything above 1 MiB
is a data file given by mistake, and is refused before it is parsed."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INTEGER = re.compile(r"-?[0-9]+")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def parse_value(text: str) -> Any:
    """The value as JSON if it is (finite) JSON, else the text itself.

    ``5`` is a number, ``true`` a bool, ``null`` None, ``[1, 2]`` a list,
    ``{"a": 1}`` an object; ``counts``, ``NaN`` or ``{oops`` stay strings.
    """
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:  # json.JSONDecodeError is a ValueError
        return text


def set_dotted(target: dict[str, Any], key: str, value: Any) -> None:
    """Set ``target[a][b][c] = value`` for ``key = "a.b.c"``, creating objects on the way.

    A later setting wins: a non-object on the path is replaced by an object.
    """
    parts = key.split(".")
    if not all(part.strip() for part in parts):
        raise UsageError(f"--param {key!r}: every part of a dotted name must be non-empty")
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def parse_param_args(items: Sequence[str], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Apply ``key=value`` settings, in order, on top of a copy of ``base``."""
    params: dict[str, Any] = copy.deepcopy(dict(base or {}))
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r}: expected key=value (e.g. bins=200)")
        set_dotted(params, key.strip(), parse_value(text))
    return params


def check_plain_json(value: Any, where: str) -> None:
    """Refuse what a JSON command cannot carry: non-string keys, NaN/inf, dates, ..."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise UsageError(f"{where}: key {key!r} is not a string")
            check_plain_json(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_plain_json(item, f"{where}[{index}]")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise UsageError(f"{where}: {value} is not a finite number")
    elif value is not None and not isinstance(value, str | int | bool):
        raise UsageError(f"{where}: a {type(value).__name__} cannot be sent as JSON")


def load_params_file(path: Path) -> dict[str, Any]:
    """Read params from a JSON file (``.json``) or YAML (anything else, ``safe_load``)."""
    try:
        size = path.stat().st_size
        if size > MAX_PARAMS_FILE_BYTES:
            raise UsageError(
                f"--params-file {path}: {size} bytes is more than a params file should hold "
                f"({MAX_PARAMS_FILE_BYTES} at most)"
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"--params-file {path}: cannot read it ({err})") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text, parse_constant=_no_constant)
        else:
            data = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise UsageError(f"--params-file {path}: not valid {_format(path)}: {err}") from None
    if data is None:
        return {}  # an empty file
    if not isinstance(data, dict):
        raise UsageError(
            f"--params-file {path}: expected a mapping of param names to values, "
            f"got a {type(data).__name__}"
        )
    check_plain_json(data, f"--params-file {path}")
    return data


def _format(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "YAML"


def parse_assignments(items: Sequence[str], option: str) -> dict[str, str]:
    """``role=stream`` pairs (``--aux``); each role at most once."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise UsageError(f"{option} {item!r}: expected role=stream")
        if key in out:
            raise UsageError(f"{option}: role {key!r} given twice")
        out[key] = value
    return out


def parse_time(text: str, option: str) -> int:
    """An ISO 8601 time (naive means local time) or an integer of ns since the epoch."""
    text = text.strip()
    if _INTEGER.fullmatch(text):
        value = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(
                f"{option} {text!r}: give an ISO time (2026-03-01T14:00:00Z, local time "
                "without a zone) or nanoseconds since the epoch"
            ) from None
        if moment.tzinfo is None:
            moment = moment.astimezone()  # naive: the user's local time
        value = (moment - _EPOCH) // timedelta(microseconds=1) * 1000
    if value < 0:
        raise UsageError(f"{option} {text!r} is before 1970")
    return value
