"""Running processing services in-process against the real broker, and talking to them."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from livedata.cli.watch import tail_consumer
from livedata.config.instrument import Instrument
from livedata.config.registry import load_instrument
from livedata.config.topics import Topic, topic_name
from livedata.core.service import Service
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.protocol.da00 import decode_da00
from livedata.protocol.errors import DecodeError
from livedata.protocol.result_key import decode_result_key
from livedata.services.runner import ServiceOptions, build_service


class RunningService:
    """A service's loop on a thread; ``stop()`` asks for the clean exit and waits."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.exit_code: int | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.exit_code = self.service.run()

    def stop(self, timeout: float = 10.0) -> int | None:
        self.service.request_stop()
        self._thread.join(timeout)
        return self.exit_code


@pytest.fixture
def dummy(instrument_name: str, kafka_settings: KafkaSettings) -> Instrument:
    """The dummy instrument under a unique name, with its topics created."""
    instrument = dataclasses.replace(load_instrument("dummy"), name=instrument_name)
    create_topics(kafka_settings, instrument_name)
    return instrument


@pytest.fixture
def start_service(
    kafka_settings: KafkaSettings,
) -> Iterator[Callable[[str, Instrument], RunningService]]:
    running: list[RunningService] = []

    def start(name: str, instrument: Instrument) -> RunningService:
        options = ServiceOptions(service_name=name, instrument=instrument.name)
        service = RunningService(
            build_service(options, settings=kafka_settings, instrument=instrument)
        )
        running.append(service)
        return service

    yield start
    for service in running:
        service.stop()


class ResultReader:
    """Collects decoded results of one instrument from the moment it is created."""

    def __init__(self, settings: KafkaSettings, instrument: str) -> None:
        self._consumer = tail_consumer(settings, topic_name(instrument, Topic.DATA))
        self.seen: list = []  # type: ignore[type-arg]

    def wait_for(self, predicate: Callable[..., bool], timeout_s: float = 30.0):  # type: ignore[no-untyped-def]
        """Return the first (key, data), seen before or arriving, with ``predicate(key, data)``."""
        for key, data in self.seen:
            if predicate(key, data):
                return key, data
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in self._consumer.consume(100, 0.2):
                if message.error() is not None:
                    continue
                try:
                    source_name, _, data = decode_da00(message.value())
                    key = decode_result_key(source_name)
                except DecodeError:
                    continue
                self.seen.append((key, data))
                if predicate(key, data):
                    return key, data
        raise AssertionError(
            f"no matching result within {timeout_s} s ({len(self.seen)} results seen)"
        )

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture
def results(kafka_settings: KafkaSettings, dummy: Instrument) -> Iterator[ResultReader]:
    reader = ResultReader(kafka_settings, dummy.name)
    yield reader
    reader.close()


class RawProducer:
    """Publishes encoded instrument data to an instrument's raw topics."""

    def __init__(self, settings: KafkaSettings, instrument: str) -> None:
        from confluent_kafka import Producer

        from livedata.kafka.sink import producer_config

        self._instrument = instrument
        self._producer = Producer(producer_config(settings))

    def send(self, role: Topic, payload: bytes) -> None:
        self._producer.produce(topic_name(self._instrument, role), payload)

    def flush(self) -> None:
        assert self._producer.flush(10) == 0


@pytest.fixture
def raw(kafka_settings: KafkaSettings, dummy: Instrument) -> Iterator[RawProducer]:
    producer = RawProducer(kafka_settings, dummy.name)
    yield producer
    producer.flush()


def start_job(settings: KafkaSettings, instrument: Instrument, workflow: str, source: str):  # type: ignore[no-untyped-def]
    """Send a ``workflow_config`` with default params; return the JobId once ACKed."""
    import uuid

    from livedata.core.control import WorkflowConfig
    from livedata.core.identity import JobId, WorkflowId
    from livedata.kafka.command_client import CommandClient

    command = WorkflowConfig(
        message_id=str(uuid.uuid4()),
        workflow_id=WorkflowId(instrument=instrument.name, name=workflow, version=1),
        job_id=JobId(source_name=source, job_number=uuid.uuid4()),
    )
    with CommandClient(settings=settings, instrument=instrument.name) as client:
        for _attempt in range(6):  # the service may still be starting
            client.send([command])
            answers = client.wait_for(command.message_id, [source], timeout_s=5)
            if answers.responses:
                assert answers.ok, answers.responses
                return command.job_id
    raise AssertionError(f"no answer to starting {workflow} for {source}")
