"""The sink survives what the producer refuses, and counts it."""

import uuid
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from livedata.core.control import CommandResponse
from livedata.core.message import Message, StreamId, StreamKind
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.sink import KafkaSink

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
