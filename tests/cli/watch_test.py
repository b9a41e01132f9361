"""Reading what services publish: a result message decodes to its key and data; the
demo's wait for its services."""

import threading
import time
import uuid

import pytest
import scipp as sc

from livedata.cli.watch import decode_result, wait_for_services
from livedata.config.topics import Topic
from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.protocol.da00 import encode_da00
from livedata.protocol.errors import DecodeError
from livedata.protocol.heartbeats import encode_service_heartbeat
from livedata.protocol.result_key import encode_result_key
from livedata.testing.messages import service_status
from livedata.testing.stack import RawProducer

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


def running_heartbeat(instrument: str) -> bytes:
    return encode_service_heartbeat(
        service_status({}, instrument=instrument),
        software_version="1.0",
        host_name="host",
        process_id=42,
        update_interval_ms=2000,
    )


@pytest.mark.integration
def test_waiting_for_services_ends_at_once_when_one_exits(
    kafka_settings: KafkaSettings, instrument_name: str
) -> None:
    """Not at the timeout, minutes later: a service that died while starting (a bad
    option, a refused login) sends no heartbeat, ever."""
    create_topics(kafka_settings, instrument_name)
    said: list[str] = []
    started = time.monotonic()
    ready = wait_for_services(
        kafka_settings,
        instrument_name,
        ["detector_data", "monitor_data"],
        timeout_s=60,
        stop=threading.Event(),
        report=said.append,
        exited=lambda: ["detector_data"],
    )
    assert not ready
    assert time.monotonic() - started < 10
    assert said == ["error: detector_data exited while starting (its log is above)"]


@pytest.mark.integration
def test_waiting_for_services_ends_when_all_run(
    kafka_settings: KafkaSettings, instrument_name: str
) -> None:
    create_topics(kafka_settings, instrument_name)
    said: list[str] = []
    stop = threading.Event()
    result: list[bool] = []
    waiter = threading.Thread(
        target=lambda: result.append(
            wait_for_services(
                kafka_settings,
                instrument_name,
                ["detector_data"],
                timeout_s=30,
                stop=stop,
                report=said.append,
            )
        )
    )
    waiter.start()
    try:
        raw = RawProducer(kafka_settings, instrument_name)
        deadline = time.monotonic() + 20
        while waiter.is_alive() and time.monotonic() < deadline:
            raw.send(Topic.HEARTBEAT, running_heartbeat(instrument_name))
            raw.flush()
            waiter.join(0.5)
    finally:
        stop.set()
        waiter.join(10)
    assert result == [True]
    assert said == ["detector_data is running (1/1)"]
