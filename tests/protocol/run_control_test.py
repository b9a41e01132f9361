import pytest
from streaming_data_types import (
    deserialise_6s4t,
    deserialise_pl72,
    serialise_6s4t,
    serialise_pl72,
)

from livedata.core.values import RunStart, RunStop
from livedata.protocol.errors import EncodeError
from livedata.protocol.run_control import (
    decode_6s4t,
    decode_pl72,
    encode_6s4t,
    encode_pl72,
)

START_NS = 1_700_000_000_123_000_000
STOP_NS = 1_700_000_600_456_000_000


def test_run_start_round_trip() -> None:
    run = RunStart(run_name="run_0042", start_time=START_NS, stop_time=STOP_NS)
    assert decode_pl72(encode_pl72(run), fallback_time=0) == run


def test_run_start_without_stop_time() -> None:
    run = RunStart(run_name="run_0042", start_time=START_NS)
    decoded = decode_pl72(encode_pl72(run, job_id="job", filename="f.nxs"), fallback_time=0)
    assert decoded.stop_time is None
    assert decoded.start_time == START_NS


def test_run_stop_round_trip() -> None:
    stop = RunStop(run_name="run_0042", stop_time=STOP_NS)
    assert decode_6s4t(encode_6s4t(stop), fallback_time=0) == stop


def test_times_are_milliseconds_on_the_wire() -> None:
    payload = encode_pl72(RunStart(run_name="r", start_time=START_NS, stop_time=STOP_NS))
    info = deserialise_pl72(payload)
    assert info.start_time == START_NS // 1_000_000
    assert info.stop_time == STOP_NS // 1_000_000
    assert deserialise_6s4t(encode_6s4t(RunStop(run_name="r", stop_time=STOP_NS))).stop_time == (
        STOP_NS // 1_000_000
    )


def test_sub_millisecond_part_is_truncated_on_encode() -> None:
    run = RunStart(run_name="r", start_time=START_NS + 999_999)
    assert decode_pl72(encode_pl72(run), fallback_time=0).start_time == START_NS


def test_decodes_what_streaming_data_types_serialises() -> None:
    start = decode_pl72(
        serialise_pl72("job", "file.nxs", start_time=1000, stop_time=2000, run_name="x"),
        fallback_time=0,
    )
    assert start == RunStart(run_name="x", start_time=10**9, stop_time=2 * 10**9)
    stop = decode_6s4t(serialise_6s4t("job", run_name="x", stop_time=3000), fallback_time=0)
    assert stop == RunStop(run_name="x", stop_time=3 * 10**9)


def test_zero_start_time_means_now() -> None:
    payload = serialise_pl72("job", "f", start_time=0, run_name="x")
    assert decode_pl72(payload, fallback_time=555).start_time == 555


def test_zero_stop_time_means_now() -> None:
    payload = serialise_6s4t("job", run_name="x", stop_time=0)
    assert decode_6s4t(payload, fallback_time=777).stop_time == 777


def test_encode_refuses_pre_epoch_times() -> None:
    with pytest.raises(EncodeError, match="before the epoch"):
        encode_6s4t(RunStop(run_name="r", stop_time=-1))
