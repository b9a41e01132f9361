import contextlib
import json
import uuid
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from streaming_data_types.status_x5f2 import deserialise_x5f2, serialise_x5f2

from livedata.core.identity import JobId, WorkflowId
from livedata.core.status import JobState, JobStatus, ServiceState, ServiceStatus
from livedata.protocol.errors import DecodeError, DecodeReason
from livedata.protocol.heartbeats import (
    JOB_STATUS_CODES,
    MAX_HEARTBEAT_BYTES,
    MAX_STATUS_TEXT_CHARS,
    SERVICE_STATUS_CODES,
    JobHeartbeat,
    NicosStatus,
    ServiceHeartbeat,
    decode_heartbeat,
    encode_job_heartbeat,
    encode_service_heartbeat,
)

JOB_NUMBER = "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"
ENVELOPE: dict[str, Any] = {
    "software_version": "0.1.0",
    "host_name": "ws-01.example.org",
    "process_id": 4242,
    "update_interval_ms": 2000,
}


def service_status(state: ServiceState = ServiceState.RUNNING, **changes: Any) -> ServiceStatus:
    fields: dict[str, Any] = {
        "instrument": "dummy",
        "service_name": "detector_data",
        "worker_id": "worker-0",
        "state": state,
        "started_at": 1_700_000_000_000_000_000,
        "active_job_count": 3,
        "batch_interval_s": 1.0,
        "error": "broker unreachable" if state is ServiceState.ERROR else None,
        "stream_stats": {
            "detector_events/panel_0": {"messages": 1400, "dropped": {"wrong_schema": 2}}
        },
    }
    fields.update(changes)
    return ServiceStatus(**fields)


def job_status(state: JobState = JobState.ACTIVE, **changes: Any) -> JobStatus:
    fields: dict[str, Any] = {
        "job_id": JobId(source_name="panel_0", job_number=uuid.UUID(JOB_NUMBER)),
        "workflow_id": WorkflowId(instrument="dummy", name="detector_view", version=1),
        "state": state,
        "start_time": 1_700_000_000_000_000_000,
        "end_time": None,
        "warning": "no monitor data" if state is JobState.WARNING else None,
        "error": "division by zero" if state is JobState.ERROR else None,
    }
    fields.update(changes)
    return JobStatus(**fields)


def test_status_mapping_is_the_one_wire_md_gives() -> None:
    assert {state.value: code.value for state, code in JOB_STATUS_CODES.items()} == {
        "active": 200,
        "finishing": 200,
        "warning": 210,
        "pending_context": 210,
        "scheduled": 235,
        "error": 240,
        "stopped": 235,  # our choice: WIRE.md gives none
    }
    assert {s.value: c.value for s, c in SERVICE_STATUS_CODES.items()} == {
        "running": 200,
        "starting": 235,
        "stopped": 235,
        "error": 240,
    }
    assert {code.name: code.value for code in NicosStatus} == {
        "OK": 200,
        "WARNING": 210,
        "BUSY": 220,
        "NOTREACHED": 230,
        "DISABLED": 235,
        "ERROR": 240,
        "UNKNOWN": 999,
    }


@pytest.mark.parametrize("state", list(ServiceState))
def test_service_heartbeat_passes_the_checker_and_round_trips(
    state: ServiceState, wire_check: ModuleType
) -> None:
    status = service_status(state)
    buf = encode_service_heartbeat(status, **ENVELOPE)
    assert wire_check.check_heartbeat(buf) == []
    decoded = decode_heartbeat(buf)
    assert isinstance(decoded, ServiceHeartbeat)
    assert decoded.status == status
    assert decoded.code is SERVICE_STATUS_CODES[state]
    assert decoded.service_id == "dummy:detector_data:worker-0"
    assert decoded.software_name == "livedata"
    assert decoded.software_version == "0.1.0"
    assert decoded.host_name == "ws-01.example.org"
    assert decoded.process_id == 4242
    assert decoded.update_interval_ms == 2000


@pytest.mark.parametrize("state", list(JobState))
@pytest.mark.parametrize("end_time", [None, 1_700_000_001_000_000_000])
def test_job_heartbeat_passes_the_checker_and_round_trips(
    state: JobState, end_time: int | None, wire_check: ModuleType
) -> None:
    status = job_status(state, end_time=end_time)
    buf = encode_job_heartbeat(status, **ENVELOPE)
    assert wire_check.check_heartbeat(buf) == []
    decoded = decode_heartbeat(buf)
    assert isinstance(decoded, JobHeartbeat)
    assert decoded.status == status
    assert decoded.code is JOB_STATUS_CODES[state]
    assert decoded.service_id == f"panel_0:{JOB_NUMBER}"


def test_service_status_json_has_the_wire_shape() -> None:
    x = deserialise_x5f2(encode_service_heartbeat(service_status(), **ENVELOPE))
    assert x.software_name == "livedata"
    assert x.service_id == "dummy:detector_data:worker-0"
    assert x.update_interval == 2000
    assert json.loads(x.status_json) == {
        "status": 200,
        "message": {
            "message_type": "service",
            "instrument": "dummy",
            "service_name": "detector_data",
            "worker_id": "worker-0",
            "state": "running",
            "started_at": 1_700_000_000_000_000_000,
            "active_job_count": 3,
            "error": None,
            "batch_interval_s": 1.0,
            "stream_stats": {
                "detector_events/panel_0": {
                    "messages": 1400,
                    "dropped": {"wrong_schema": 2},
                }
            },
        },
    }


def test_job_status_json_has_the_wire_shape() -> None:
    x = deserialise_x5f2(encode_job_heartbeat(job_status(JobState.WARNING), **ENVELOPE))
    assert x.service_id == f"panel_0:{JOB_NUMBER}"
    assert json.loads(x.status_json) == {
        "status": 210,
        "message": {
            "message_type": "job",
            "state": "warning",
            "warning": "no monitor data",
            "error": None,
            "job_id": {"source_name": "panel_0", "job_number": JOB_NUMBER},
            "workflow_id": "dummy/detector_view/1",
            "start_time": 1_700_000_000_000_000_000,
            "end_time": None,
        },
    }


JOB_STATUS_JSON = f"""
{{"status": 240, "message": {{
  "message_type": "job", "state": "error", "warning": null, "error": "boom",
  "job_id": {{"source_name": "panel_0", "job_number": "{JOB_NUMBER}"}},
  "workflow_id": "dummy/detector_view/1", "start_time": null, "end_time": null}}}}
"""


def x5f2(
    status_json: str,
    *,
    service_id: str = f"panel_0:{JOB_NUMBER}",
    software_name: str = "livedata",
    update_interval: int = 2000,
    host_name: str = "ws-01",
) -> bytes:
    buf: bytes = serialise_x5f2(
        software_name, "0.1.0", service_id, host_name, 7, update_interval, status_json
    )
    return buf


def test_literal_job_heartbeat_decodes() -> None:
    decoded = decode_heartbeat(x5f2(JOB_STATUS_JSON))
    assert decoded == JobHeartbeat(
        software_name="livedata",
        software_version="0.1.0",
        service_id=f"panel_0:{JOB_NUMBER}",
        host_name="ws-01",
        process_id=7,
        update_interval_ms=2000,
        code=NicosStatus.ERROR,
        status=job_status(JobState.ERROR, start_time=None, error="boom"),
    )


@pytest.mark.parametrize("code", [c.value for c in NicosStatus])
def test_a_stopped_job_may_carry_any_nicos_code(code: int) -> None:
    status_json = JOB_STATUS_JSON.replace('"state": "error"', '"state": "stopped"')
    decoded = decode_heartbeat(x5f2(status_json.replace("240", str(code))))
    assert decoded.code.value == code
    assert decoded.status.state is JobState.STOPPED


def test_long_texts_are_cut_on_encoding() -> None:
    status = job_status(JobState.ERROR, error="e" * 10_000)
    decoded = decode_heartbeat(encode_job_heartbeat(status, **ENVELOPE))
    assert isinstance(decoded, JobHeartbeat)
    assert decoded.status.error is not None
    assert len(decoded.status.error) == MAX_STATUS_TEXT_CHARS


@pytest.mark.parametrize(
    ("status", "envelope"),
    [
        (service_status(stream_stats={"a": float("nan")}), {}),
        (service_status(stream_stats={"a": [[[[[1]]]]]}), {}),
        (service_status(worker_id="../w"), {}),
        (service_status(instrument="a:b"), {}),
        (service_status(started_at=-1), {}),
        (service_status(batch_interval_s=float("inf")), {}),
        (service_status(active_job_count=-1), {}),
        (service_status(), {"process_id": 2**32}),
        (service_status(), {"update_interval_ms": 0}),
        (service_status(), {"host_name": "h" * 256}),
    ],
)
def test_encode_service_refuses_out_of_bounds_values(
    status: ServiceStatus, envelope: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError
        encode_service_heartbeat(status, **{**ENVELOPE, **envelope})


@pytest.mark.parametrize(
    "status",
    [
        job_status(start_time=2**63),
        job_status(job_id=JobId(source_name="kafka://x", job_number=uuid.uuid4())),
        job_status(workflow_id=WorkflowId(instrument="a/b", name="c", version=1)),
    ],
)
def test_encode_job_refuses_out_of_bounds_values(status: JobStatus) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError
        encode_job_heartbeat(status, **ENVELOPE)


def _status_json(**message_changes: Any) -> str:
    raw = json.loads(JOB_STATUS_JSON)
    raw["message"].update(message_changes)
    return json.dumps(raw)


@pytest.mark.parametrize(
    ("buf", "reason", "match"),
    [
        (x5f2(JOB_STATUS_JSON, software_name="nicos"), DecodeReason.INVALID_VALUE, "software_name"),
        (
            x5f2(JOB_STATUS_JSON, update_interval=0),
            DecodeReason.INVALID_VALUE,
            "update_interval_ms",
        ),
        (x5f2(JOB_STATUS_JSON, service_id="other:1"), DecodeReason.INVALID_VALUE, "does not match"),
        (x5f2(JOB_STATUS_JSON, host_name="h" * 300), DecodeReason.INVALID_VALUE, "host_name"),
        (x5f2(JOB_STATUS_JSON.replace("240", "200")), DecodeReason.INVALID_VALUE, "want 240"),
        (x5f2(JOB_STATUS_JSON.replace("240", "201")), DecodeReason.INVALID_VALUE, "status"),
        (x5f2(_status_json(extra=1)), DecodeReason.INVALID_VALUE, "Extra inputs"),
        (x5f2(_status_json(message_type="x")), DecodeReason.INVALID_VALUE, "message_type"),
        (x5f2(_status_json(state="running")), DecodeReason.INVALID_VALUE, "state"),
        (
            x5f2(_status_json(workflow_id="a/b")),
            DecodeReason.INVALID_VALUE,
            "instrument/name/version",
        ),
        (x5f2(_status_json(end_time=-5)), DecodeReason.INVALID_VALUE, "end_time"),
        (x5f2('{"status": 200, "message": {"stats": NaN}}'), DecodeReason.MALFORMED, "NaN"),
        (x5f2("not json"), DecodeReason.MALFORMED, "status_json"),
        (x5f2("[]"), DecodeReason.MALFORMED, "JSON array"),
        (b"", DecodeReason.EMPTY, "empty"),
        (b"\x00\x01", DecodeReason.TRUNCATED, "header"),
        (b"\x00" * 4 + b"ev44" + b"\x00" * 40, DecodeReason.WRONG_SCHEMA, "ev44"),
        (b"\x00" * 4 + b"x5f2" + b"\xff" * 40, DecodeReason.MALFORMED, ""),
        (b"\x00" * 4 + b"x5f2" + b"\x00" * MAX_HEARTBEAT_BYTES, DecodeReason.TOO_LARGE, "exceeds"),
    ],
)
def test_invalid_heartbeats_are_rejected(buf: bytes, reason: DecodeReason, match: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_heartbeat(buf)
    assert info.value.reason is reason
    assert match in info.value.message


def test_non_finite_stream_stats_are_rejected_on_decode() -> None:
    status = json.dumps(
        {
            "status": 200,
            "message": {
                "message_type": "service",
                "instrument": "dummy",
                "service_name": "detector_data",
                "worker_id": "w",
                "state": "running",
                "started_at": 0,
                "active_job_count": 0,
                "error": None,
                "batch_interval_s": 1,
                "stream_stats": {"rate": 1e400},
            },
        }
    )
    assert "Infinity" in status
    with pytest.raises(DecodeError) as info:
        decode_heartbeat(x5f2(status, service_id="dummy:detector_data:w"))
    assert info.value.reason is DecodeReason.MALFORMED
    # Valid JSON syntax that overflows to inf when parsed.
    status = status.replace("Infinity", "1e400")
    with pytest.raises(DecodeError) as info:
        decode_heartbeat(x5f2(status, service_id="dummy:detector_data:w"))
    assert info.value.reason is DecodeReason.INVALID_VALUE
    assert "rate: number must be finite" in info.value.message


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 200))
def test_decode_raises_only_decode_error(garbage: bytes, cut: int) -> None:
    valid = encode_job_heartbeat(job_status(), **ENVELOPE)
    for buf in (garbage, b"\x00" * 4 + b"x5f2" + garbage, valid[:cut], valid[:cut] + garbage):
        with contextlib.suppress(DecodeError):
            decode_heartbeat(buf)
