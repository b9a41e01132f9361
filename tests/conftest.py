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
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from livedata.kafka.embedded_broker import EmbeddedBroker, free_port
from livedata.kafka.settings import KafkaSettings

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
