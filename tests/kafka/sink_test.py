"""The sink survives what the producer or the broker refuses, counts it, and downsamples
results too large for their topic."""

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipp as sc
from confluent_kafka import KafkaError, KafkaException

from livedata.config.topics import Topic, topic_name
from livedata.core.control import CommandResponse
from livedata.core.endpoints import ReportsBufferedBytes
from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.core.message import Message, StreamId, StreamKind
from livedata.core.results import Result
from livedata.core.snapshot import JobSnapshot
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.sink import (
    DELIVERY_TIMEOUT_S,
    KafkaSink,
    control_producer_config,
    producer_config,
)
from livedata.protocol.da00 import decode_da00

RESPONSES = StreamId(kind=StreamKind.RESPONSES, name="responses")


class RefusingProducer:
    """Raises what librdkafka raises for a message over message.max.bytes, then accepts."""

    def __init__(self) -> None:
        self.accepted: list[bytes] = []
        self.calls = 0

    def produce(self, topic: str, payload: bytes, **kwargs: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        self.accepted.append(payload)

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def response(message_id: str) -> Message[CommandResponse]:
    return Message(
        timestamp=1, stream=RESPONSES, value=CommandResponse(message_id=message_id, device="d")
    )


def test_a_refused_message_is_counted_and_the_next_goes_out() -> None:
    producer = RefusingProducer()
    sink = KafkaSink(settings=KafkaSettings(), instrument="inst", producer=producer)  # type: ignore[arg-type]
    sink.publish([response(str(uuid.uuid4())), response(str(uuid.uuid4()))])
    assert sink.stats() == {"rejected_by_producer": 1, "produced": 1}
    assert len(producer.accepted) == 1


RESULTS = StreamId(kind=StreamKind.RESULTS, name="results")
KEY = ResultKey(
    workflow_id=WorkflowId(instrument="inst", name="view", version=1),
    job_id=JobId(source_name="panel", job_number=uuid.uuid4()),
    output_name="image",
)


class SizeLimitedBroker:
    """A producer whose broker refuses, at delivery, messages over ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.delivered: list[bytes] = []
        self._pending: list[tuple[str, bytes, Any]] = []

    def produce(self, topic: str, payload: bytes, **kwargs: Any) -> None:
        self._pending.append((topic, payload, kwargs["on_delivery"]))

    def poll(self, timeout: float) -> int:
        pending, self._pending = self._pending, []
        for topic, payload, on_delivery in pending:
            if len(payload) > self.limit:
                on_delivery(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), Delivered(topic, payload))
            else:
                self.delivered.append(payload)
                on_delivery(None, Delivered(topic, payload))
        return len(pending)

    def flush(self, timeout: float) -> int:
        return self.poll(0)


@dataclass
class Delivered:
    _topic: str
    _value: bytes

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes:
        return self._value


def image_result(shape: tuple[int, int] = (128, 128)) -> Message[Result]:
    counts = np.ones(shape)
    data = sc.DataArray(
        sc.array(dims=["y", "x"], values=counts, variances=counts, unit="counts"),
        coords={
            "y": sc.arange("y", shape[0], unit=None),
            "x": sc.arange("x", shape[1], unit=None),
            "time": sc.scalar(5, unit="ns"),
        },
    )
    return Message(timestamp=1, stream=RESULTS, value=Result(key=KEY, data=data, title="Image"))


def test_after_the_broker_refuses_large_results_the_next_ones_are_downsampled() -> None:
    producer = SizeLimitedBroker(limit=100_000)
    sink = KafkaSink(settings=KafkaSettings(), instrument="inst", producer=producer)  # type: ignore[arg-type]
    # ~260 kB: refused; then ~130 kB (all the first refusal tells): refused; then it fits.
    for _ in range(3):
        sink.publish([image_result()])
    assert sink.stats() == {"produced": 3, "delivery_failed": 2, "downsampled": 2}
    (payload,) = producer.delivered
    _, _, image = decode_da00(payload)
    assert image.sizes == {"y": 64, "x": 64}
    assert image.sum().value == 128 * 128  # counts are added up, not lost
    assert image.variances.sum() == 128 * 128
    assert image.name == "Image (downsampled y/2, x/2)"
    assert list(image.coords["x"].values[:3]) == [0, 2, 4]


def test_a_result_that_cannot_be_downsampled_is_dropped_and_counted() -> None:
    producer = SizeLimitedBroker(limit=2_000)
    sink = KafkaSink(settings=KafkaSettings(), instrument="inst", producer=producer)  # type: ignore[arg-type]
    # A single number, with a title too long for the broker: nothing to downsample.
    scalar = Message(
        timestamp=1,
        stream=RESULTS,
        value=Result(key=KEY, data=sc.DataArray(sc.scalar(1.0)), title="t" * 5_000),
    )
    sink.publish([scalar])  # refused by the broker: the limit is learnt
    sink.publish([scalar, response(str(uuid.uuid4()))])
    assert sink.stats() == {"produced": 2, "delivery_failed": 1, "oversized_dropped": 1}
    assert len(producer.delivered) == 1  # the response went out regardless


class RecordingProducer:
    """Accepts everything; remembers the topics it was given."""

    def __init__(self) -> None:
        self.topics: list[str] = []

    def produce(self, topic: str, payload: bytes, **kwargs: Any) -> None:
        self.topics.append(topic)

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def test_responses_and_job_snapshots_go_through_the_producer_that_waits_longer() -> None:
    data, control = RecordingProducer(), RecordingProducer()
    sink = KafkaSink(
        settings=KafkaSettings(),
        instrument="inst",
        producer=data,  # type: ignore[arg-type]
        control_producer=control,  # type: ignore[arg-type]
    )
    snapshot = JobSnapshot(instrument="inst", service_name="s", worker_id="w", time=1, jobs=())
    sink.publish(
        [
            response(str(uuid.uuid4())),
            Message(
                timestamp=1, stream=StreamId(kind=StreamKind.JOBS, name="jobs"), value=snapshot
            ),
            image_result((4, 4)),
        ]
    )
    assert control.topics == [
        topic_name("inst", Topic.RESPONSES),
        topic_name("inst", Topic.JOBS),
    ]
    assert data.topics == [topic_name("inst", Topic.DATA)]


def test_only_the_control_producer_keeps_undelivered_messages_past_a_few_seconds() -> None:
    settings = KafkaSettings()
    assert producer_config(settings)["message.timeout.ms"] == DELIVERY_TIMEOUT_S * 1000 == 5000
    assert control_producer_config(settings)["message.timeout.ms"] >= 60_000


def test_the_sink_reports_the_bytes_its_producers_hold_until_delivered_or_refused() -> None:
    """For the memory guard: results queued while a broker is away are no job's doing."""
    producer = SizeLimitedBroker(limit=100_000)
    sink = KafkaSink(settings=KafkaSettings(), instrument="inst", producer=producer)  # type: ignore[arg-type]
    assert isinstance(sink, ReportsBufferedBytes)
    small, large = image_result((8, 8)), image_result()
    producer.poll = lambda timeout: 0  # type: ignore[method-assign]  # the broker is away
    sink.publish([small, large])
    queued = sink.buffered_bytes()
    assert queued > 128 * 128 * 16  # the large image's values and variances
    del producer.poll  # the broker is back: one delivered, one refused
    producer.poll(0)
    assert sink.buffered_bytes() == 0
    assert len(producer.delivered) == 1
