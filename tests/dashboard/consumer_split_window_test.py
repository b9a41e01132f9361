"""The consumer hands each result's publish time (da00 timestamp) to the store, so the
last-N-seconds sums tell the parts of a split window from a re-delivered frame."""

from __future__ import annotations

import time
import uuid

import numpy as np
import scipp as sc

from livedata.config.topics import Topic, topic_name
from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.dashboard.consumer import DashboardConsumer
from livedata.dashboard.status_store import StatusStore
from livedata.dashboard.stores import ResultStore
from livedata.kafka.settings import KafkaSettings
from livedata.protocol.da00 import encode_da00
from livedata.protocol.result_key import encode_result_key

S = 1_000_000_000
KEY = ResultKey(
    workflow_id=WorkflowId(instrument="dummy", name="panel_0_xy", version=1),
    job_id=JobId(source_name="panel_0", job_number=uuid.UUID(int=1)),
    output_name="current",
)


class FakeMessage:
    """What the consumer reads of a confluent-kafka message."""

    def __init__(self, value: bytes, timestamp_ms: int) -> None:
        self._value = value
        self._timestamp_ms = timestamp_ms

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, self._timestamp_ms)

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return topic_name("dummy", Topic.DATA)


def part(value: float, published_ns: int) -> FakeMessage:
    da = sc.DataArray(sc.array(dims=["x"], values=[value], variances=[value], unit="counts"))
    da.coords["start_time"] = sc.scalar(1 * S, unit="ns", dtype="int64")
    da.coords["time"] = sc.scalar(2 * S, unit="ns", dtype="int64")
    payload = encode_da00(encode_result_key(KEY), da, timestamp_ns=published_ns)
    return FakeMessage(payload, published_ns // 1_000_000)


def test_both_parts_of_a_split_window_reach_the_sum_and_a_redelivery_does_not() -> None:
    results = ResultStore()
    consumer = DashboardConsumer(
        KafkaSettings(bootstrap_servers="127.0.0.1:9"),  # no broker: batches fed by hand
        "dummy",
        results=results,
        status=StatusStore(),
        on_response=lambda _: None,
        on_tick=lambda: None,
    )
    results.windowed(KEY.workflow_id, "panel_0", "current", 10.0)  # someone reads the sum
    now = time.time_ns() + S
    first, second = part(2.0, now), part(3.0, now + 5_000_000)
    try:
        for batch in ([first], [second], [second]):  # the last poll re-reads a batch
            consumer._take_results(batch)  # type: ignore[arg-type]
    finally:
        consumer.close()
    entry = results.windowed(KEY.workflow_id, "panel_0", "current", 10.0)
    assert entry is not None
    np.testing.assert_array_equal(entry.data.values, [5.0])
