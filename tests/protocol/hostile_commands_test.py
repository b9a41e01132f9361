"""Commands that try to name a broker, a topic, a file or code are refused.

A command steers a service, so it is untrusted input. None of the command models has
a field that could hold an address, a topic, a path or an expression, and names are
allow-listed; these tables try each way in and check the decoder refuses it with a
reason (and keeps the message id, so the sender can be answered). Params are free-form
JSON on the wire and are checked by the workflow's params model inside the service;
the last tests show every params model of every instrument has no free-form text and
bounded numbers, so params cannot smuggle a path or code either.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from livedata.config.registry import available_instruments, load_instrument
from livedata.core.workflow import WorkflowSpec
from livedata.protocol.commands import MAX_COMMAND_BYTES, decode_command
from livedata.protocol.errors import DecodeReason
from livedata.protocol.wire_errors import MAX_ERROR_TEXT, WireFormatError

MESSAGE_ID = "0b7e3c1a-2d4f-4e6a-8b9c-0d1e2f3a4b5c"
JOB_NUMBER = "5e4d3c2b-1a09-4f8e-8d7c-6b5a4f3e2d1c"


def workflow_config(**changes: Any) -> dict[str, Any]:
    command: dict[str, Any] = {
        "kind": "workflow_config",
        "identifier": {"instrument": "dummy", "name": "panel_0_xy", "version": 1},
        "message_id": MESSAGE_ID,
        "job_id": {"source_name": "panel_0", "job_number": JOB_NUMBER},
        "schedule": {"start_time": None, "end_time": None},
        "aux_source_names": {},
        "params": {},
    }
    return _apply(command, changes)


def job_command(**changes: Any) -> dict[str, Any]:
    command: dict[str, Any] = {"kind": "job_command", "message_id": MESSAGE_ID, "action": "stop"}
    return _apply(command, changes)


def _apply(command: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` keys are paths (``job_id/topic``): keys may hold dots."""
    for path, value in changes.items():
        node = command
        *parents, leaf = path.split("/")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return command


def test_the_valid_commands_used_here_decode() -> None:
    decode_command(json.dumps(workflow_config()).encode())
    decode_command(json.dumps(job_command()).encode())


# -- fields that would name a broker, a topic, a file or code ---------------------------

SMUGGLING_KEYS = [
    "bootstrap_servers",
    "bootstrap.servers",
    "broker",
    "topic",
    "output_topic",
    "kafka",
    "path",
    "file",
    "filename",
    "config_file",
    "url",
    "__import__",
    "__class__",
    "__proto__",
    "eval",
    "exec",
    "code",
    "script",
    "command",
    "sasl.password",
]
EXTRA_KEY_PLACES = {
    "workflow_config": lambda key: workflow_config(**{key: "x"}),
    "identifier": lambda key: workflow_config(**{f"identifier/{key}": "x"}),
    "job_id": lambda key: workflow_config(**{f"job_id/{key}": "x"}),
    "schedule": lambda key: workflow_config(**{f"schedule/{key}": "x"}),
    "job_command": lambda key: job_command(**{key: "x"}),
    "job_command.job_id": lambda key: job_command(
        job_id={"source_name": "panel_0", "job_number": JOB_NUMBER, key: "x"}
    ),
}


@pytest.mark.parametrize("place", EXTRA_KEY_PLACES)
@pytest.mark.parametrize("key", SMUGGLING_KEYS)
def test_an_extra_field_is_refused_wherever_it_is(place: str, key: str) -> None:
    raw = json.dumps(EXTRA_KEY_PLACES[place](key)).encode()
    with pytest.raises(WireFormatError) as info:
        decode_command(raw)
    assert info.value.reason is DecodeReason.INVALID_VALUE
    assert "Extra inputs are not permitted" in info.value.message
    assert info.value.message_id == MESSAGE_ID  # so the sender can be answered


# -- names that spell a path, an address or code ----------------------------------------

HOSTILE_NAMES = {
    "absolute path": "/etc/passwd",
    "relative path": "../../etc/passwd",
    "dot dot": "..",
    "hidden file": ".bashrc",
    "home": "~/secret",
    "windows path": "C:\\Windows\\win.ini",
    "file url": "file:///etc/passwd",
    "kafka url": "kafka://evil:9092",
    "url-encoded path": "%2e%2e%2fetc",
    "shell substitution": "$(rm -rf /)",
    "backticks": "`id`",
    "shell chain": "x;rm -rf /",
    "python": "__import__('os').system('id')",
    "template": "{{7*7}}",
    "space": "panel 0",
    "newline": "panel_0\nlevel=critical",
    "nul": "panel\x000",
    "empty": "",
    "too long": "p" * 101,
    "non-ascii": "pänel",
}
NAME_FIELDS = {
    "source_name": lambda name: workflow_config(**{"job_id/source_name": name}),
    "instrument": lambda name: workflow_config(**{"identifier/instrument": name}),
    "workflow name": lambda name: workflow_config(**{"identifier/name": name}),
    "aux role": lambda name: workflow_config(aux_source_names={name: "monitor1"}),
    "aux stream": lambda name: workflow_config(aux_source_names={"monitor": name}),
    "job_command source": lambda name: job_command(
        job_id={"source_name": name, "job_number": JOB_NUMBER}
    ),
    "job_command workflow_id": lambda name: job_command(workflow_id=f"dummy/{name}/1"),
}


@pytest.mark.parametrize("field", NAME_FIELDS)
@pytest.mark.parametrize("name", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_a_name_that_spells_a_path_an_address_or_code_is_refused(field: str, name: str) -> None:
    raw = json.dumps(NAME_FIELDS[field](name)).encode()
    with pytest.raises(WireFormatError) as info:
        decode_command(raw)
    assert info.value.reason is DecodeReason.INVALID_VALUE
    assert info.value.message_id == MESSAGE_ID
    assert len(info.value.message) <= MAX_ERROR_TEXT


def test_a_source_name_may_hold_a_colon_but_never_a_scheme_or_a_slash() -> None:
    # EPICS names use ':' (YMIR-SEE:TEMP); "host:port" then passes the syntax check,
    # but it is only ever a key into the instrument's stream table: the service
    # answers ERR for any source its workflow does not list (services tests).
    decode_command(json.dumps(workflow_config(**{"job_id/source_name": "kafka:9092"})).encode())
    for name in ("kafka://x:9092", "kafka:9092/topic", "//kafka:9092"):
        with pytest.raises(WireFormatError):
            decode_command(json.dumps(workflow_config(**{"job_id/source_name": name})).encode())


# -- values that are not what they claim, and oversized input -------------------------


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


HOSTILE_VALUES: dict[str, tuple[bytes, DecodeReason, str]] = {
    "NaN literal": (
        json.dumps(workflow_config()).replace('"params": {}', '"params": {"x": NaN}').encode(),
        DecodeReason.MALFORMED,
        "NaN and Infinity",
    ),
    "Infinity literal": (
        json.dumps(workflow_config())
        .replace('"params": {}', '"params": {"x": -Infinity}')
        .encode(),
        DecodeReason.MALFORMED,
        "NaN and Infinity",
    ),
    "float overflowing to inf": (
        json.dumps(workflow_config()).replace('"params": {}', '"params": {"x": 1e999}').encode(),
        DecodeReason.INVALID_VALUE,
        "finite",
    ),
    "huge integer param": (
        json.dumps(workflow_config(params={"bins": 10**30})).encode(),
        DecodeReason.INVALID_VALUE,
        "int64",
    ),
    "huge version": (
        json.dumps(workflow_config(**{"identifier/version": 10**30})).encode(),
        DecodeReason.INVALID_VALUE,
        "less than or equal",
    ),
    "negative time": (
        json.dumps(workflow_config(**{"schedule/start_time": -(2**70)})).encode(),
        DecodeReason.INVALID_VALUE,
        "greater than or equal",
    ),
    "time as float": (
        json.dumps(workflow_config(**{"schedule/end_time": 1e18})).encode(),
        DecodeReason.INVALID_VALUE,
        "valid integer",
    ),
    "deeply nested params": (
        json.dumps(workflow_config(params={"x": _nested(40)})).encode(),
        DecodeReason.INVALID_VALUE,
        "nested deeper than 16",
    ),
    "deep JSON beyond the parser's limit": (
        b'{"message_id": "' + MESSAGE_ID.encode() + b'", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        DecodeReason.MALFORMED,
        "recursion limit",
    ),
    "oversize string param": (
        json.dumps(workflow_config(params={"title": "A" * 5000})).encode(),
        DecodeReason.INVALID_VALUE,
        "string longer than 4096",
    ),
    "oversize payload": (
        json.dumps(workflow_config(params={"x": "A" * MAX_COMMAND_BYTES})).encode(),
        DecodeReason.TOO_LARGE,
        "exceeds",
    ),
    "many params": (
        json.dumps(workflow_config(params={f"k{i}": i for i in range(10_001)})).encode(),
        DecodeReason.INVALID_VALUE,
        "more than 10000",
    ),
    "params as code string": (
        json.dumps(workflow_config(params="__import__('os').system('id')")).encode(),
        DecodeReason.INVALID_VALUE,
        "expected a JSON object",
    ),
    "message id as object": (
        json.dumps(workflow_config(message_id={"$ne": None})).encode(),
        DecodeReason.INVALID_VALUE,
        "message_id",
    ),
    "kind naming code": (
        json.dumps(workflow_config(kind="exec")).encode(),
        DecodeReason.INVALID_VALUE,
        "'kind' must be one of",
    ),
    "action naming code": (
        json.dumps(job_command(action="os.system")).encode(),
        DecodeReason.INVALID_VALUE,
        "action",
    ),
    "duplicate key smuggling a second kind": (
        b'{"kind": "job_command", "kind": "eval", "message_id": "' + MESSAGE_ID.encode() + b'"}',
        DecodeReason.INVALID_VALUE,
        "'kind' must be one of",
    ),
    "not UTF-8": (b'{"kind": "\xff"}', DecodeReason.MALFORMED, "not UTF-8"),
    "pickle": (b"\x80\x04\x95\x00", DecodeReason.MALFORMED, "not UTF-8"),
    "YAML with a Python tag": (
        b"!!python/object/apply:os.system ['id']",
        DecodeReason.MALFORMED,
        "not strict JSON",
    ),
}


@pytest.mark.parametrize(
    ("raw", "reason", "match"), HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys()
)
def test_hostile_values_are_refused_with_a_reason(
    raw: bytes, reason: DecodeReason, match: str
) -> None:
    with pytest.raises(WireFormatError) as info:
        decode_command(raw)
    assert info.value.reason is reason
    assert match in info.value.message
    assert len(info.value.message) <= MAX_ERROR_TEXT


# -- params: what every params model lets through -------------------------------------


def _all_specs() -> Iterator[tuple[str, WorkflowSpec]]:
    for name in available_instruments():
        instrument = load_instrument(name)
        for spec in instrument.build_workflows(instrument).specs():
            yield f"{spec.workflow_id}", spec


SPECS = dict(_all_specs())


def _schema_nodes(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every sub-schema with a ``type``, with a dotted path, following ``$ref``s."""
    definitions = schema.get("$defs", {})
    todo: list[tuple[str, Any]] = [("", schema)]
    seen: set[str] = set()
    while todo:
        path, node = todo.pop()
        if isinstance(node, list):
            todo.extend((path, item) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        reference = node.get("$ref")
        if reference is not None and reference not in seen:
            seen.add(reference)
            todo.append((path, definitions[reference.rpartition("/")[2]]))
        if "type" in node:
            yield path, node
        for key, value in node.items():
            if key == "properties":
                todo.extend((f"{path}.{name}", sub) for name, sub in value.items())
            elif key in ("items", "anyOf", "allOf", "oneOf", "additionalProperties"):
                todo.append((path, value))


@pytest.mark.parametrize("workflow", SPECS)
def test_params_models_hold_no_free_text_and_only_bounded_numbers(workflow: str) -> None:
    schema = SPECS[workflow].params.model_json_schema()
    for path, node in _schema_nodes(schema):
        kind = node["type"]
        if kind == "string":
            assert "enum" in node or "const" in node, f"{workflow} params{path}: free text"
        elif kind in ("integer", "number"):
            assert {"minimum", "exclusiveMinimum"} & node.keys(), f"{workflow} params{path}"
            assert {"maximum", "exclusiveMaximum"} & node.keys(), f"{workflow} params{path}"
        elif kind == "array":
            assert "maxItems" in node, f"{workflow} params{path}: unbounded list"
        elif kind == "object":
            assert node.get("additionalProperties") is False, f"{workflow} params{path}"


@pytest.mark.parametrize("workflow", SPECS)
@pytest.mark.parametrize(
    "params",
    [
        {"path": "/etc/passwd"},
        {"file": "../../x"},
        {"topic": "other_instrument_data"},
        {"bootstrap_servers": "evil:9092"},
        {"__import__": "os"},
    ],
    ids=["path", "file", "topic", "broker", "import"],
)
def test_params_naming_a_path_a_topic_a_broker_or_code_are_refused(
    workflow: str, params: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        SPECS[workflow].params.model_validate(params)
