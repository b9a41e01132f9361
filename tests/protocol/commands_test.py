import json
import math
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livedata.core.control import (
    Command,
    JobAction,
    JobCommand,
    Schedule,
    WorkflowConfig,
)
from livedata.core.identity import JobId, WorkflowId
from livedata.protocol.commands import (
    MAX_AUX_SOURCES,
    MAX_COMMAND_BYTES,
    InvalidCommandError,
    decode_command,
    encode_command,
)
from livedata.protocol.errors import DecodeError, DecodeReason
from livedata.protocol.wire_errors import MAX_ERROR_TEXT, WireFormatError

MESSAGE_ID = "6a1f0c52-3e4b-4d8a-9c7e-1b2d3f4a5b6c"
JOB_NUMBER = "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"

WORKFLOW_CONFIG_JSON = f"""
{{
  "kind": "workflow_config",
  "identifier": {{"instrument": "dummy", "name": "detector_view", "version": 1}},
  "message_id": "{MESSAGE_ID}",
  "job_id": {{"source_name": "panel_0", "job_number": "{JOB_NUMBER}"}},
  "schedule": {{"start_time": 1700000000000000000, "end_time": null}},
  "aux_source_names": {{"monitor": "monitor_1"}},
  "params": {{"toa_range": {{"start": 0.0, "stop": 71.0, "unit": "ms"}}, "bins": 100}}
}}
"""


def workflow_config_dict() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(WORKFLOW_CONFIG_JSON)
    return result


def job_command_dict(**extra: Any) -> dict[str, Any]:
    return {"kind": "job_command", "message_id": MESSAGE_ID, "action": "stop", **extra}


def encode_json(value: Any) -> bytes:
    return json.dumps(value).encode()


def decode_error(buf: bytes) -> WireFormatError:
    with pytest.raises(WireFormatError) as info:
        decode_command(buf)
    return info.value


EXPECTED_CONFIG = WorkflowConfig(
    message_id=MESSAGE_ID,
    workflow_id=WorkflowId(instrument="dummy", name="detector_view", version=1),
    job_id=JobId(source_name="panel_0", job_number=uuid.UUID(JOB_NUMBER)),
    schedule=Schedule(start_time=1_700_000_000_000_000_000, end_time=None),
    aux_source_names={"monitor": "monitor_1"},
    params={"toa_range": {"start": 0.0, "stop": 71.0, "unit": "ms"}, "bins": 100},
)


def test_wire_example_workflow_config_decodes() -> None:
    assert decode_command(WORKFLOW_CONFIG_JSON.encode()) == EXPECTED_CONFIG


def test_workflow_config_optional_fields_default() -> None:
    raw = workflow_config_dict()
    for key in ("schedule", "aux_source_names", "params"):
        del raw[key]
    command = decode_command(encode_json(raw))
    assert isinstance(command, WorkflowConfig)
    assert command.schedule == Schedule()
    assert command.aux_source_names == {}
    assert command.params == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f'{{"kind": "job_command", "message_id": "{MESSAGE_ID}", "action": "stop",'
            f' "job_id": {{"source_name": "panel_0", "job_number": "{JOB_NUMBER}"}}}}',
            JobCommand(
                message_id=MESSAGE_ID,
                action=JobAction.STOP,
                job_id=JobId(source_name="panel_0", job_number=uuid.UUID(JOB_NUMBER)),
            ),
        ),
        (
            f'{{"kind": "job_command", "message_id": "{MESSAGE_ID}", "action": "reset",'
            ' "workflow_id": "dummy/detector_view/1"}',
            JobCommand(
                message_id=MESSAGE_ID,
                action=JobAction.RESET,
                workflow_id=WorkflowId(instrument="dummy", name="detector_view", version=1),
            ),
        ),
        (
            f'{{"kind": "job_command", "message_id": "{MESSAGE_ID}", "action": "pause"}}',
            JobCommand(message_id=MESSAGE_ID, action=JobAction.PAUSE),
        ),
        (
            f'{{"kind": "job_command", "message_id": "{MESSAGE_ID}", "action": "resume",'
            ' "job_id": null, "workflow_id": null}',
            JobCommand(message_id=MESSAGE_ID, action=JobAction.RESUME),
        ),
    ],
)
def test_wire_example_job_commands_decode(text: str, expected: JobCommand) -> None:
    assert decode_command(text.encode()) == expected


ROUND_TRIP_COMMANDS: list[Command] = [
    EXPECTED_CONFIG,
    WorkflowConfig(
        message_id=MESSAGE_ID,
        workflow_id=WorkflowId(instrument="dream", name="powder", version=0),
        job_id=JobId(source_name="YMIR-SEE:TEMP", job_number=uuid.uuid4()),
        schedule=Schedule(start_time=0, end_time=2**63 - 1),
        aux_source_names={f"role_{i}": f"stream_{i}" for i in range(MAX_AUX_SOURCES)},
        params={
            "edges": [float(i) / 3 for i in range(1000)],
            "nested": {"a": [{"b": None}, True, -(2**63)]},
            "text": "ünïcode ✓",
        },
    ),
    *[
        JobCommand(
            message_id=MESSAGE_ID,
            action=action,
            job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
        )
        for action in JobAction
    ],
    JobCommand(
        message_id=MESSAGE_ID,
        action=JobAction.STOP,
        workflow_id=WorkflowId(instrument="dummy", name="view", version=3),
    ),
    JobCommand(message_id=MESSAGE_ID, action=JobAction.RESET),
]


@pytest.mark.parametrize("command", ROUND_TRIP_COMMANDS)
def test_round_trip(command: Command) -> None:
    assert decode_command(encode_command(command)) == command


def test_encoding_is_compact_and_in_wire_order() -> None:
    command = JobCommand(
        message_id=MESSAGE_ID,
        action=JobAction.STOP,
        job_id=JobId(source_name="panel_0", job_number=uuid.UUID(JOB_NUMBER)),
    )
    assert (
        encode_command(command)
        == (
            f'{{"kind":"job_command","message_id":"{MESSAGE_ID}","action":"stop",'
            f'"job_id":{{"source_name":"panel_0","job_number":"{JOB_NUMBER}"}},'
            '"workflow_id":null}'
        ).encode()
    )


def test_encoded_workflow_config_has_the_wire_shape() -> None:
    assert json.loads(encode_command(EXPECTED_CONFIG)) == {
        "kind": "workflow_config",
        **{k: v for k, v in workflow_config_dict().items() if k != "kind"},
    }


def test_decode_accepts_bytearray_and_memoryview() -> None:
    buf = WORKFLOW_CONFIG_JSON.encode()
    assert decode_command(bytearray(buf)) == EXPECTED_CONFIG
    assert decode_command(memoryview(buf)) == EXPECTED_CONFIG


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    raw = workflow_config_dict()
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return raw


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


INVALID_COMMANDS: dict[str, tuple[dict[str, Any], str]] = {
    "extra top-level field": (_with(("topic",), "x"), "Extra inputs are not permitted"),
    "extra nested field": (
        _with(("job_id", "broker"), "x"),
        "Extra inputs are not permitted",
    ),
    "unknown kind": (_with(("kind",), "exec"), "'kind' must be one of"),
    "missing kind": ({"message_id": MESSAGE_ID}, "Unable to extract tag"),
    "bad message_id": (_with(("message_id",), "not-a-uuid"), "message_id"),
    "bad job_number": (_with(("job_id", "job_number"), "123"), "canonical"),
    "bigint param": (_with(("params", "x"), 2**70), "int64"),
    "deep params": (_with(("params", "x"), _deep(17)), "nested deeper than 16"),
    "many params": (_with(("params", "x"), list(range(10_001))), "more than 10000"),
    "long param string": (_with(("params", "x"), "s" * 4097), "string longer"),
    "start after end": (
        _with(("schedule",), {"start_time": 2, "end_time": 1}),
        "start_time is after end_time",
    ),
    "negative start": (_with(("schedule", "start_time"), -1), "greater than or equal"),
    "time beyond int64": (_with(("schedule", "end_time"), 2**63), "less than or equal"),
    "float time": (_with(("schedule", "end_time"), 1.5), "valid integer"),
    "string time": (_with(("schedule", "end_time"), "1"), "valid integer"),
    "path-like source": (_with(("job_id", "source_name"), "../etc"), "pattern"),
    "url-like source": (_with(("job_id", "source_name"), "kafka://x"), "pattern"),
    "path-like workflow name": (_with(("identifier", "name"), "/bin/sh"), "pattern"),
    "url-like instrument": (
        _with(("identifier", "instrument"), "http://x"),
        "pattern",
    ),
    "path-like aux stream": (
        _with(("aux_source_names",), {"monitor": "../../etc/passwd"}),
        "pattern",
    ),
    "path-like aux role": (
        _with(("aux_source_names",), {"a/b": "monitor_1"}),
        "pattern",
    ),
    "too many aux sources": (
        _with(
            ("aux_source_names",),
            {f"r{i}": "m" for i in range(MAX_AUX_SOURCES + 1)},
        ),
        "at most 32",
    ),
    "bool version": (_with(("identifier", "version"), True), "valid integer"),
    "params not an object": (_with(("params",), [1, 2]), "expected a JSON object"),
    "both targets": (
        job_command_dict(
            job_id={"source_name": "panel_0", "job_number": JOB_NUMBER},
            workflow_id="dummy/view/1",
        ),
        "not both",
    ),
    "unknown action": (job_command_dict(action="delete"), "action"),
    "url-like workflow_id": (
        job_command_dict(workflow_id="kafka://broker/x/1"),
        "instrument/name/version",
    ),
    "path-like workflow_id": (
        job_command_dict(workflow_id="../../etc"),
        "instrument/name/version",
    ),
    "workflow_id as object": (
        job_command_dict(workflow_id={"instrument": "dummy", "name": "view", "version": 1}),
        "valid string",
    ),
    "job command with params": (job_command_dict(params={}), "Extra inputs"),
}


@pytest.mark.parametrize(("raw", "match"), INVALID_COMMANDS.values(), ids=INVALID_COMMANDS.keys())
def test_invalid_commands_are_rejected_with_a_clear_message(
    raw: dict[str, Any], match: str
) -> None:
    error = decode_error(encode_json(raw))
    assert error.reason is DecodeReason.INVALID_VALUE
    assert match in error.message
    assert isinstance(error, DecodeError)


@pytest.mark.parametrize(
    ("buf", "reason", "match"),
    [
        (b'{"params": {"x": NaN}}', DecodeReason.MALFORMED, "NaN and Infinity"),
        (b'{"params": {"x": Infinity}}', DecodeReason.MALFORMED, "NaN and Infinity"),
        (b'{"params": {"x": -Infinity}}', DecodeReason.MALFORMED, "NaN and Infinity"),
        (b"\xff\xfe{}", DecodeReason.MALFORMED, "not UTF-8"),
        (b'{"kind": "job_command", "x": "\xc3"}', DecodeReason.MALFORMED, "not UTF-8"),
        (b"[1, 2]", DecodeReason.MALFORMED, "got a JSON array"),
        (b'"job_command"', DecodeReason.MALFORMED, "got a JSON string"),
        (b"null", DecodeReason.MALFORMED, "got a JSON null"),
        (b"42", DecodeReason.MALFORMED, "got a JSON number"),
        (b"{", DecodeReason.MALFORMED, "not strict JSON"),
        (b"{} trailing", DecodeReason.MALFORMED, "not strict JSON"),
        (b"", DecodeReason.EMPTY, "empty"),
        (
            b'{"params": {"x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}",
            DecodeReason.MALFORMED,
            "recursion limit",
        ),
        (
            b'{"params": "' + b"x" * MAX_COMMAND_BYTES + b'"}',
            DecodeReason.TOO_LARGE,
            "exceeds",
        ),
    ],
)
def test_undecodable_payloads_are_rejected(buf: bytes, reason: DecodeReason, match: str) -> None:
    error = decode_error(buf)
    assert error.reason is reason
    assert match in error.message


def test_message_id_is_recovered_from_a_rejected_command() -> None:
    error = decode_error(encode_json(_with(("job_id", "source_name"), "../etc")))
    assert error.message_id == MESSAGE_ID
    error = decode_error(encode_json(job_command_dict(action="explode")))
    assert error.message_id == MESSAGE_ID


@pytest.mark.parametrize(
    ("command", "device"),
    [
        # The device the sender waits for: the source of a workflow_config ...
        (_with(("params",), {"bins": "many"}) | {"extra": 1}, "panel_0"),
        # ... the job of a job_command, or "all" for a workflow or broadcast command.
        (
            job_command_dict(
                action="explode", job_id={"source_name": "m1", "job_number": JOB_NUMBER}
            ),
            f"m1/{JOB_NUMBER}",
        ),
        (
            job_command_dict(
                action="explode", job_id={"source_name": "m1", "job_number": JOB_NUMBER.upper()}
            ),
            f"m1/{JOB_NUMBER}",
        ),
        (job_command_dict(action="explode"), "all"),
        (job_command_dict(action="stop", workflow_id="a/b/1", extra=True), "all"),
        # Unreadable: no device, so no answer can name the one the sender waits for.
        (_with(("job_id", "source_name"), "../etc"), None),
        (_with(("job_id",), "panel_0"), None),
        (job_command_dict(action="explode", job_id={"source_name": "m1", "job_number": "x"}), None),
        (job_command_dict(action="explode", job_id=[1]), None),
        ({"kind": "launch", "message_id": MESSAGE_ID, "job_id": {"source_name": "m1"}}, None),
    ],
)
def test_device_is_recovered_from_a_rejected_command(
    command: dict[str, Any], device: str | None
) -> None:
    error = decode_error(encode_json(command))
    assert isinstance(error, InvalidCommandError)
    assert error.reason is DecodeReason.INVALID_VALUE
    assert error.message_id == MESSAGE_ID
    assert error.device == device


def test_device_needs_a_message_id() -> None:
    error = decode_error(encode_json(_with(("message_id",), "x")))
    assert isinstance(error, InvalidCommandError)
    assert (error.message_id, error.device) == (None, None)


def test_message_id_is_not_recovered_when_unreadable() -> None:
    assert decode_error(encode_json(_with(("message_id",), "x"))).message_id is None
    assert decode_error(encode_json(_with(("message_id",), 5))).message_id is None
    raw = WORKFLOW_CONFIG_JSON.replace('"bins": 100', '"bins": NaN').encode()
    assert decode_error(raw).message_id is None


def test_error_text_is_bounded_and_does_not_echo_the_input() -> None:
    secret = "s3cr3t" * 1000
    raw = _with(("kind",), secret)
    raw["identifier"]["name"] = secret
    error = decode_error(encode_json(raw))
    assert len(error.message) <= MAX_ERROR_TEXT
    assert "s3cr3t" not in error.message
    assert "https://errors.pydantic.dev" not in error.message


def test_many_errors_are_listed_and_cut() -> None:
    raw = _with(("params",), {})
    raw["aux_source_names"] = {f"../r{i}": "x" for i in range(MAX_AUX_SOURCES)}
    error = decode_error(encode_json(raw))
    assert error.message.startswith("32 validation errors:")
    assert len(error.message) <= MAX_ERROR_TEXT


def test_huge_dict_keys_are_cut_in_error_locations() -> None:
    raw = _with(("aux_source_names",), {"k" * 10_000: "x"})
    error = decode_error(encode_json(raw))
    assert "k" * 41 not in error.message
    assert "aux_source_names.kkkk" in error.message


def test_overflowing_float_param_is_rejected() -> None:
    # 1e400 is valid JSON syntax but overflows to inf when parsed.
    error = decode_error(WORKFLOW_CONFIG_JSON.replace('"bins": 100', '"bins": 1e400').encode())
    assert error.reason is DecodeReason.INVALID_VALUE
    assert "params: Value error, bins: number must be finite" in error.message
    assert error.message_id == MESSAGE_ID


@pytest.mark.parametrize(
    "command",
    [
        WorkflowConfig(
            message_id=MESSAGE_ID,
            workflow_id=WorkflowId(instrument="dummy", name="../x", version=1),
            job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
        ),
        WorkflowConfig(
            message_id="not-a-uuid",
            workflow_id=WorkflowId(instrument="dummy", name="view", version=1),
            job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
        ),
        WorkflowConfig(
            message_id=MESSAGE_ID,
            workflow_id=WorkflowId(instrument="dummy", name="view", version=1),
            job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
            params={"x": math.nan},
        ),
        WorkflowConfig(
            message_id=MESSAGE_ID,
            workflow_id=WorkflowId(instrument="dummy", name="view", version=1),
            job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
            params={"x": {1, 2}},
        ),
        WorkflowConfig(
            message_id=MESSAGE_ID,
            workflow_id=WorkflowId(instrument="dummy", name="view", version=1),
            job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
            schedule=Schedule(start_time=5, end_time=4),
        ),
        JobCommand(
            message_id=MESSAGE_ID,
            action=JobAction.STOP,
            workflow_id=WorkflowId(instrument="a/b", name="c", version=1),
        ),
    ],
)
def test_encode_refuses_what_a_receiver_would_reject(command: Command) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError
        encode_command(command)


def test_encode_refuses_oversized_commands() -> None:
    command = WorkflowConfig(
        message_id=MESSAGE_ID,
        workflow_id=WorkflowId(instrument="dummy", name="view", version=1),
        job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
        params={f"k{i}": "x" * 4000 for i in range(100)},
    )
    with pytest.raises(ValueError, match="exceeds"):
        encode_command(command)


# ---------------------------------------------------------------- property tests

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
finite_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
uuids = st.uuids().map(str)
good_names = st.sampled_from(["dummy", "panel_0", "YMIR-SEE:TEMP", "mon.1", "A" * 100])
bad_names = st.sampled_from(["../etc", "kafka://x", "", "a/b", "a b", "x" * 101])
names = st.one_of(good_names, good_names, good_names, bad_names)
times = st.none() | st.integers(-10, 2**64)


@st.composite
def command_like(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly valid commands; about half get one or two fields replaced or dropped."""
    job_id = st.fixed_dictionaries({"source_name": names, "job_number": uuids})
    raw: dict[str, Any]
    if draw(st.booleans()):
        raw = {
            "kind": "workflow_config",
            "identifier": {
                "instrument": draw(names),
                "name": draw(names),
                "version": draw(st.integers(-1, 1_000_000)),
            },
            "message_id": draw(uuids),
            "job_id": draw(job_id),
            "schedule": {"start_time": draw(times), "end_time": draw(times)},
            "aux_source_names": draw(st.dictionaries(names, names, max_size=3)),
            "params": draw(st.dictionaries(st.text(max_size=8), finite_json_values, max_size=4)),
        }
    else:
        raw = {
            "kind": "job_command",
            "message_id": draw(uuids),
            "action": draw(st.sampled_from([*JobAction, "explode"])),
        }
        target = draw(st.sampled_from(["job_id", "workflow_id", "both", "neither"]))
        if target in ("job_id", "both"):
            raw["job_id"] = draw(job_id)
        if target in ("workflow_id", "both"):
            raw["workflow_id"] = draw(st.sampled_from(["dummy/view/1", "a/b", "x/y/z"]))
    if draw(st.booleans()):
        keys = st.sampled_from([*sorted(raw), "extra"])
        for key in draw(st.sets(keys, min_size=1, max_size=2)):
            if key in raw and draw(st.booleans()):
                del raw[key]
            else:
                raw[key] = draw(json_values)
    return raw


payloads = (
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | command_like().map(lambda v: json.dumps(v).encode())
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads)
def test_decode_raises_only_its_typed_error(buf: bytes) -> None:
    try:
        command = decode_command(buf)
    except WireFormatError as exc:
        error = exc
    else:
        # Whatever is accepted encodes back to the same command.
        assert decode_command(encode_command(command)) == command
        return
    assert isinstance(error.reason, DecodeReason)
    assert error.message
