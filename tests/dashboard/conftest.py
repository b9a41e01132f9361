"""Services in-process against the session broker, for the backend's integration tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest

from livedata.config.instrument import Instrument
from livedata.config.registry import load_instrument
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.services.runner import ServiceOptions, build_service
from livedata.testing.stack import RawProducer, RunningService


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


@pytest.fixture
def raw(kafka_settings: KafkaSettings, dummy: Instrument) -> Iterator[RawProducer]:
    producer = RawProducer(kafka_settings, dummy.name)
    yield producer
    producer.flush()
