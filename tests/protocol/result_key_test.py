import json
import uuid
from types import ModuleType

import numpy as np
import pytest
from streaming_data_types import serialise_da00
from streaming_data_types.dataarray_da00 import Variable

from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.protocol.errors import DecodeReason
from livedata.protocol.result_key import (
    MAX_RESULT_KEY_BYTES,
    decode_result_key,
    encode_result_key,
)
from livedata.protocol.wire_errors import WireFormatError

JOB_NUMBER = "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"

KEY = ResultKey(
    workflow_id=WorkflowId(instrument="dummy", name="detector_view", version=1),
    job_id=JobId(source_name="panel_0", job_number=uuid.UUID(JOB_NUMBER)),
    output_name="cumulative",
)
KEY_TEXT = (
    '{"workflow_id":{"instrument":"dummy","name":"detector_view","version":1},'
    f'"job_id":{{"source_name":"panel_0","job_number":"{JOB_NUMBER}"}},'
    '"output_name":"cumulative"}'
)


def test_encoding_is_exact_compact_and_ordered() -> None:
    assert encode_result_key(KEY) == KEY_TEXT


def test_equal_keys_encode_identically() -> None:
    same = ResultKey(
        output_name="cumulative",
        job_id=JobId(job_number=uuid.UUID(JOB_NUMBER.upper()), source_name="panel_0"),
        workflow_id=WorkflowId(version=1, name="detector_view", instrument="dummy"),
    )
    assert encode_result_key(same) == encode_result_key(KEY)


def test_round_trip() -> None:
    key = ResultKey(
        workflow_id=WorkflowId(instrument="dream", name="powder.v2", version=999_999),
        job_id=JobId(source_name="YMIR-SEE:TEMP", job_number=uuid.uuid4()),
        output_name="roi_spectra_current",
    )
    assert decode_result_key(encode_result_key(key)) == key


def test_literal_json_in_any_order_and_spacing_decodes() -> None:
    text = (
        '{ "output_name": "cumulative",\n'
        f'  "job_id": {{"job_number": "{JOB_NUMBER}", "source_name": "panel_0"}},\n'
        '  "workflow_id": {"version": 1, "name": "detector_view", "instrument": "dummy"} }'
    )
    assert decode_result_key(text) == KEY
    assert decode_result_key(text.encode()) == KEY


def test_key_passes_the_wire_checker_as_da00_source_name(wire_check: ModuleType) -> None:
    buf = serialise_da00(
        source_name=encode_result_key(KEY),
        timestamp_ns=2,
        data=[
            Variable(name="signal", data=np.ones(3), axes=["x"], shape=(3,)),
            Variable(name="start_time", data=np.array(1, dtype=np.int64), axes=[]),
            Variable(name="time", data=np.array(2, dtype=np.int64), axes=[]),
        ],
    )
    assert wire_check.check_data(buf) == []


def test_encode_refuses_unsafe_names() -> None:
    key = ResultKey(workflow_id=KEY.workflow_id, job_id=KEY.job_id, output_name="../../x")
    with pytest.raises(ValueError, match="pattern"):
        encode_result_key(key)


def _key_with(**changes: object) -> str:
    raw = json.loads(KEY_TEXT)
    raw.update(changes)
    return json.dumps(raw)


@pytest.mark.parametrize(
    ("text", "reason", "match"),
    [
        (_key_with(extra=1), DecodeReason.INVALID_VALUE, "Extra inputs"),
        (_key_with(output_name=None), DecodeReason.INVALID_VALUE, "output_name"),
        (_key_with(output_name="a/b"), DecodeReason.INVALID_VALUE, "pattern"),
        (
            _key_with(workflow_id="dummy/detector_view/1"),
            DecodeReason.INVALID_VALUE,
            "workflow_id",
        ),
        (
            _key_with(job_id={"source_name": "panel_0", "job_number": "1"}),
            DecodeReason.INVALID_VALUE,
            "job_number",
        ),
        ("panel_0", DecodeReason.MALFORMED, "not strict JSON"),
        ("[]", DecodeReason.MALFORMED, "JSON array"),
        ("", DecodeReason.EMPTY, "empty"),
        (" " * (MAX_RESULT_KEY_BYTES + 1), DecodeReason.TOO_LARGE, "exceeds"),
    ],
)
def test_invalid_keys_are_rejected(text: str, reason: DecodeReason, match: str) -> None:
    with pytest.raises(WireFormatError) as info:
        decode_result_key(text)
    assert info.value.reason is reason
    assert match in info.value.message
