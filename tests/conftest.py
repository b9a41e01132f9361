"""Fixtures shared by the whole suite: a Kafka-protocol broker and names that never clash.

Integration tests get the embedded Tansu broker, started once per session on a free
loopback port. Set ``LIVEDATA_TEST_BOOTSTRAP=host:port`` to run them against another
broker (Redpanda, Apache Kafka) instead; its security settings then come from the usual
``KAFKA_*`` variables.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from livedata.config.instrument import Instrument
from livedata.config.registry import load_instrument
from livedata.kafka.embedded_broker import EmbeddedBroker, free_port
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.services.runner import ServiceOptions, build_service
from livedata.testing.stack import RawProducer, ResultReader, RunningService

EXTERNAL_BOOTSTRAP_ENV = "LIVEDATA_TEST_BOOTSTRAP"


@dataclass(frozen=True)
class ExternalBroker:
    """A broker this suite did not start and must not stop."""

    bootstrap: str


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[EmbeddedBroker | ExternalBroker]:
    external = os.environ.get(EXTERNAL_BOOTSTRAP_ENV, "").strip()
    if external:
        yield ExternalBroker(external)
        return
    with EmbeddedBroker(port=free_port()) as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_settings(kafka_broker: EmbeddedBroker | ExternalBroker) -> KafkaSettings:
    if isinstance(kafka_broker, ExternalBroker):
        return dataclasses.replace(
            KafkaSettings.from_env(), bootstrap_servers=kafka_broker.bootstrap, external=True
        )
    return KafkaSettings(bootstrap_servers=kafka_broker.bootstrap)


@pytest.fixture
def instrument_name() -> str:
    """An instrument name no other test uses, so tests never share topics."""
    return f"t{uuid.uuid4().hex[:8]}"


# -- the dummy instrument's stack on the session broker (services, raw data, results) --


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
        # In-process services share the pytest process: its RSS is not theirs to guard.
        options = ServiceOptions(service_name=name, instrument=instrument.name, memory_limit=None)
        service = RunningService(
            build_service(options, settings=kafka_settings, instrument=instrument)
        )
        running.append(service)
        return service

    yield start
    for service in running:
        service.stop()


@pytest.fixture
def results(kafka_settings: KafkaSettings, dummy: Instrument) -> Iterator[ResultReader]:
    reader = ResultReader(kafka_settings, dummy.name)
    yield reader
    reader.close()


@pytest.fixture
def raw(kafka_settings: KafkaSettings, dummy: Instrument) -> Iterator[RawProducer]:
    producer = RawProducer(kafka_settings, dummy.name)
    yield producer
    producer.flush()
