import json
import uuid

import pytest

from livedata.core.control import RunPolicy, Schedule, WorkflowConfig
from livedata.core.identity import JobId, WorkflowId
from livedata.core.snapshot import JobSnapshot
from livedata.protocol.commands import decode_command, encode_command
from livedata.protocol.errors import DecodeError
from livedata.protocol.job_snapshot import decode_job_snapshot, encode_job_snapshot


def job(policy: RunPolicy = RunPolicy.KEEP) -> WorkflowConfig:
    return WorkflowConfig(
        message_id=str(uuid.uuid4()),
        workflow_id=WorkflowId(instrument="dummy", name="panel_0_xy", version=1),
        job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
        schedule=Schedule(start_time=5, end_time=None),
        aux_source_names={"position": "motion1"},
        params={"toa_range": {"start_ns": 0, "stop_ns": 1000}},
        run_policy=policy,
    )


def test_snapshot_round_trip() -> None:
    snapshot = JobSnapshot(
        instrument="dummy",
        service_name="detector_data",
        worker_id="host-1",
        time=1_700_000_000_000_000_000,
        jobs=(job(), job(RunPolicy.PUBLISH_AND_RESET)),
    )
    assert decode_job_snapshot(encode_job_snapshot(snapshot)) == snapshot


def test_empty_snapshot_round_trip() -> None:
    snapshot = JobSnapshot(
        instrument="dummy", service_name="timeseries", worker_id="h", time=0, jobs=()
    )
    assert decode_job_snapshot(encode_job_snapshot(snapshot)) == snapshot


@pytest.mark.parametrize(
    "payload",
    [b"", b"[]", b'{"kind": "job_snapshot"}', b"\xff", b'{"instrument": "../x"}'],
)
def test_bad_snapshots_raise_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_job_snapshot(payload)


def test_run_policy_travels_only_when_not_the_default() -> None:
    keep = job()
    assert "run_policy" not in json.loads(encode_command(keep))
    assert decode_command(encode_command(keep)) == keep
    reset = job(RunPolicy.RESET_AT_START)
    assert json.loads(encode_command(reset))["run_policy"] == "reset_at_start"
    assert decode_command(encode_command(reset)) == reset


def test_unknown_run_policy_is_rejected() -> None:
    raw = json.loads(encode_command(job()))
    raw["run_policy"] = "sometimes"
    with pytest.raises(DecodeError, match="run_policy"):
        decode_command(json.dumps(raw).encode())
