"""The Kafka source's queue on the embedded broker: latest wins, commands are never shed."""

import time
import uuid
from collections.abc import Callable

import pytest

from livedata.config.instrument import Instrument
from livedata.config.topics import Topic
from livedata.core.control import WorkflowConfig
from livedata.core.identity import JobId, WorkflowId
from livedata.core.message import StreamKind
from livedata.kafka.ingress import Ingress
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.source import KafkaSource
from livedata.protocol.commands import encode_command
from livedata.protocol.ev44 import encode_ev44
from livedata.testing.stack import RawProducer, pulses

pytestmark = pytest.mark.integration

MAX_AGE_S = 1.0


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_data_that_waited_too_long_while_falling_behind_is_shed_but_commands_are_kept(
    dummy: Instrument, kafka_settings: KafkaSettings, raw: RawProducer
) -> None:
    ingress = Ingress(instrument=dummy.name, streams=dummy.streams(dev=True))
    clock = FakeClock()
    source = KafkaSource(
        settings=kafka_settings,
        ingress=ingress,
        group_id="test",
        max_queue_age_s=MAX_AGE_S,
        clock=clock,
    )
    source.start()
    try:
        # A processor whose steps grow: 0.1 s, then 1 s (slow), then 2 s (slow again).
        for step_s in (0.1, 0.1, 1.0):
            source.get_messages()
            clock.now += step_s
        source.get_messages()
        batches = list(pulses(4, 10))
        for i, batch in enumerate(batches[:3]):
            raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
        command = WorkflowConfig(
            message_id=str(uuid.uuid4()),
            workflow_id=WorkflowId(instrument=dummy.name, name="panel_0_xy", version=1),
            job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
        )
        raw.send(Topic.COMMANDS, encode_command(command))
        raw.flush()
        wait_until(lambda: source.pending_messages() >= 4)
        clock.now += 2.0
        raw.send(Topic.DETECTOR, encode_ev44("panel_0", 3, batches[3]))
        raw.flush()
        wait_until(lambda: source.pending_messages() >= 5)

        messages = source.get_messages()

        assert [m.stream.kind for m in messages] == [
            StreamKind.COMMANDS,
            StreamKind.DETECTOR_EVENTS,
        ]
        assert messages[0].value == command
        assert messages[1].value.reference_time[0] == batches[3].reference_time[0]
        assert source.stats()["dropped_messages"] == 3
        assert source.stats()["dropped_by_age"] == 3
    finally:
        source.close()
