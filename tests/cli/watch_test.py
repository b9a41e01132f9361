"""Reading what services publish: a result message decodes to its key and data."""

import uuid

import pytest
import scipp as sc

from livedata.cli.watch import decode_result
from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.protocol.da00 import encode_da00
from livedata.protocol.errors import DecodeError
from livedata.protocol.result_key import encode_result_key

KEY = ResultKey(
    workflow_id=WorkflowId(instrument="dummy", name="panel_0_xy", version=1),
    job_id=JobId(source_name="panel_0", job_number=uuid.UUID(int=7)),
    output_name="counts_total",
)


def test_a_result_decodes_to_its_key_and_data() -> None:
    data = sc.DataArray(sc.scalar(42.0, unit="counts"))
    key, decoded = decode_result(encode_da00(encode_result_key(KEY), data, timestamp_ns=1))
    assert key == KEY
    assert sc.identical(decoded, data)


@pytest.mark.parametrize("payload", [None, b"", b"not da00"])
def test_anything_else_is_a_decode_error(payload: bytes | None) -> None:
    with pytest.raises(DecodeError):
        decode_result(payload)


def test_a_source_name_that_is_no_result_key_is_a_decode_error() -> None:
    payload = encode_da00("panel_0", sc.DataArray(sc.scalar(1.0)), timestamp_ns=1)
    with pytest.raises(DecodeError):
        decode_result(payload)
