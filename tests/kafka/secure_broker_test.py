"""Connecting with TLS and SASL/SCRAM, configured from ``KAFKA_*`` variables only.

Tansu 0.6 cannot serve TLS or SCRAM itself (see docs/user/security.md), so each test
puts ``livedata.testing.secure_front`` in front of its own embedded broker: the front
terminates TLS and checks SCRAM proofs as a Kafka listener does, and the broker
advertises the front's address so every connection after bootstrap goes through it.
The clients are livedata's own (settings from the environment, its producer and
consumer configuration, a whole processing service), speaking real TLS and SCRAM.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from livedata.config.registry import load_instrument
from livedata.config.topics import Topic
from livedata.kafka.embedded_broker import EmbeddedBroker, free_port
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.sink import producer_config
from livedata.kafka.topics import create_topics
from livedata.protocol.ev44 import encode_ev44
from livedata.services.runner import ServiceOptions, build_service
from livedata.testing.certificates import TestPki, make_test_pki, openssl_available
from livedata.testing.secure_front import ScramUsers, SecureFront, TlsServerFiles
from livedata.testing.stack import RawProducer, ResultReader, RunningService, pulses, start_job

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not openssl_available(), reason="needs the openssl command"),
]

USER = "livedata"
PASSWORD = "scram-Pa55word-%&"
KEY_PASSWORD = "client-key-Pa55phrase"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(tmp_path_factory.mktemp("pki"), client_key_password=KEY_PASSWORD)


SecureStack = Callable[..., SecureFront]


@pytest.fixture
def secure_broker() -> Iterator[SecureStack]:
    """Start a broker behind a front: ``secure_broker(tls=..., scram=...)``."""
    started: list[tuple[SecureFront, EmbeddedBroker]] = []

    def start(*, tls: TlsServerFiles | None = None, scram: ScramUsers | None = None) -> SecureFront:
        port = free_port()
        front = SecureFront(f"127.0.0.1:{port}", tls=tls, scram=scram)
        front.start()
        broker = EmbeddedBroker(port=port, advertised=front.address)
        started.append((front, broker))
        broker.start()
        broker.wait_ready()
        return front

    yield start
    for front, broker in started:
        broker.stop()
        front.close()


def server_tls(pki: TestPki, *, mutual: bool = False) -> TlsServerFiles:
    return TlsServerFiles(
        certificate=pki.server_certificate,
        key=pki.server_key,
        client_ca=pki.ca if mutual else None,
    )


def scram_users(mechanism: str = "SCRAM-SHA-512") -> ScramUsers:
    return ScramUsers(mechanism=mechanism, passwords={USER: PASSWORD})


def env_for(front: SecureFront, protocol: str, **variables: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": front.address,
        "KAFKA_SECURITY_PROTOCOL": protocol,
        **variables,
    }


def sasl(password: str = PASSWORD, **extra: str) -> dict[str, str]:
    return {"KAFKA_SASL_USERNAME": USER, "KAFKA_SASL_PASSWORD": password, **extra}


def round_trip(settings: KafkaSettings) -> bytes | None:
    """Produce one message with livedata's producer settings and read it back."""
    topic = f"secure_{uuid.uuid4().hex[:8]}"
    with AdminClient(settings.client_config()) as admin:
        for future in admin.create_topics([NewTopic(topic, 1)]).values():
            future.result(10)
    producer = Producer(producer_config(settings))
    producer.produce(topic, b"over a secured connection")
    assert producer.flush(10) == 0
    consumer = Consumer(
        {**settings.client_config(), "group.id": "secure-test", "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                return message.value()
        return None
    finally:
        consumer.close()


def connection_errors(settings: KafkaSettings, wait_s: float = 5.0) -> list[str]:
    """The errors librdkafka reports while trying to reach the broker (none: it answered)."""
    errors: list[str] = []
    config = {
        **settings.client_config(),
        "log_level": 0,
        "error_cb": lambda e: errors.append(str(e)),
    }
    producer = Producer(config)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            producer.list_topics(timeout=0.5)
            return []
        except KafkaException:
            producer.poll(0.1)  # serves error_cb
        if errors:
            return errors
    raise AssertionError(f"neither an answer nor an error report within {wait_s} s")


# -- TLS ------------------------------------------------------------------------------


def test_ssl_with_a_private_certificate_authority(secure_broker, pki: TestPki) -> None:
    front = secure_broker(tls=server_tls(pki))
    env = env_for(front, "SSL", KAFKA_SSL_CA_LOCATION=str(pki.ca))
    assert round_trip(KafkaSettings.from_env(env)) == b"over a secured connection"


def test_mutual_tls_with_an_encrypted_key_and_its_password_in_a_file(
    secure_broker, pki: TestPki, tmp_path: Path
) -> None:
    front = secure_broker(tls=server_tls(pki, mutual=True))
    password_file = tmp_path / "key-password"
    password_file.write_text(KEY_PASSWORD + "\n")
    env = env_for(
        front,
        "SSL",
        KAFKA_SSL_CA_LOCATION=str(pki.ca),
        KAFKA_SSL_CERTIFICATE_LOCATION=str(pki.client_certificate),
        KAFKA_SSL_KEY_LOCATION=str(pki.client_key),
        KAFKA_SSL_KEY_PASSWORD_FILE=str(password_file),
    )
    assert round_trip(KafkaSettings.from_env(env)) == b"over a secured connection"


def test_mutual_tls_refuses_a_client_without_a_certificate(secure_broker, pki: TestPki) -> None:
    front = secure_broker(tls=server_tls(pki, mutual=True))
    env = env_for(front, "SSL", KAFKA_SSL_CA_LOCATION=str(pki.ca))
    errors = connection_errors(KafkaSettings.from_env(env))
    assert any("SSL" in error for error in errors), errors
    assert front.tls_failures > 0


def test_a_server_certificate_from_an_untrusted_authority_is_refused(
    secure_broker, pki: TestPki
) -> None:
    front = secure_broker(tls=server_tls(pki))
    env = env_for(front, "SSL", KAFKA_SSL_CA_LOCATION=str(pki.other_ca))
    errors = connection_errors(KafkaSettings.from_env(env))
    assert any("certificate verify failed" in error for error in errors), errors


def test_the_broker_host_name_is_checked_unless_switched_off(secure_broker, tmp_path: Path) -> None:
    # A certificate for "localhost" only, while we connect to 127.0.0.1.
    localhost_pki = make_test_pki(tmp_path, server_names=("localhost",))
    front = secure_broker(tls=server_tls(localhost_pki))
    env = env_for(front, "SSL", KAFKA_SSL_CA_LOCATION=str(localhost_pki.ca))
    errors = connection_errors(KafkaSettings.from_env(env))
    assert any("certificate verify failed" in error for error in errors), errors
    unchecked = KafkaSettings.from_env({**env, "KAFKA_SSL_ENDPOINT_IDENTIFICATION": "none"})
    assert round_trip(unchecked) == b"over a secured connection"


# -- SASL/SCRAM -----------------------------------------------------------------------


def test_sasl_ssl_with_scram_sha_512(secure_broker, pki: TestPki) -> None:
    front = secure_broker(tls=server_tls(pki), scram=scram_users())
    env = env_for(front, "SASL_SSL", KAFKA_SSL_CA_LOCATION=str(pki.ca), **sasl())
    assert round_trip(KafkaSettings.from_env(env)) == b"over a secured connection"
    assert USER in front.authenticated_users
    assert front.authentication_failures == 0


def test_sasl_plaintext_with_scram_sha_256_and_the_password_in_a_file(
    secure_broker, tmp_path: Path
) -> None:
    front = secure_broker(scram=scram_users("SCRAM-SHA-256"))
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    env = env_for(
        front,
        "SASL_PLAINTEXT",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
        KAFKA_SASL_USERNAME=USER,
        KAFKA_SASL_PASSWORD_FILE=str(password_file),
    )
    assert round_trip(KafkaSettings.from_env(env)) == b"over a secured connection"
    assert USER in front.authenticated_users


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
def test_a_wrong_password_is_refused_with_a_clear_error(
    secure_broker, pki: TestPki, protocol: str
) -> None:
    tls = server_tls(pki) if protocol == "SASL_SSL" else None
    front = secure_broker(tls=tls, scram=scram_users())
    variables = {"KAFKA_SSL_CA_LOCATION": str(pki.ca)} if tls else {}
    wrong = "not-the-Pa55word"
    env = env_for(front, protocol, **variables, **sasl(wrong))
    errors = connection_errors(KafkaSettings.from_env(env))
    assert any("SASL authentication error: Authentication failed" in e for e in errors), errors
    assert not any(wrong in error or PASSWORD in error for error in errors)
    assert front.authentication_failures > 0
    assert front.authenticated_users == []


def test_a_mechanism_the_broker_does_not_offer_is_refused(secure_broker) -> None:
    front = secure_broker(scram=scram_users("SCRAM-SHA-512"))
    env = env_for(front, "SASL_PLAINTEXT", KAFKA_SASL_MECHANISM="SCRAM-SHA-256", **sasl())
    errors = connection_errors(KafkaSettings.from_env(env))
    assert any("Unsupported SASL mechanism" in error for error in errors), errors


def test_a_plaintext_client_gets_nothing_from_a_sasl_listener(secure_broker) -> None:
    front = secure_broker(scram=scram_users())
    settings = KafkaSettings.from_env(env_for(front, "PLAINTEXT"))
    admin = AdminClient({**settings.client_config(), "log_level": 0})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=3)
    assert front.authenticated_users == []


# -- a whole service ------------------------------------------------------------------


def test_a_processing_service_runs_over_sasl_ssl_with_mutual_tls(
    secure_broker, pki: TestPki
) -> None:
    front = secure_broker(tls=server_tls(pki, mutual=True), scram=scram_users())
    env = env_for(
        front,
        "SASL_SSL",
        KAFKA_SSL_CA_LOCATION=str(pki.ca),
        KAFKA_SSL_CERTIFICATE_LOCATION=str(pki.client_certificate),
        KAFKA_SSL_KEY_LOCATION=str(pki.client_key),
        KAFKA_SSL_KEY_PASSWORD=KEY_PASSWORD,
        **sasl(),
    )
    settings = KafkaSettings.from_env(env)
    instrument = dataclasses.replace(load_instrument("dummy"), name=f"s{uuid.uuid4().hex[:8]}")
    create_topics(settings, instrument.name)
    service = RunningService(
        build_service(
            ServiceOptions(service_name="detector_data", instrument=instrument.name),
            settings=settings,
            instrument=instrument,
        )
    )
    results = ResultReader(settings, instrument.name)
    try:
        job_id = start_job(settings, instrument, "panel_0_xy", "panel_0")
        raw = RawProducer(settings, instrument.name)
        sent = 0
        for i, batch in enumerate(pulses(14, 200)):
            raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
            sent += len(batch)
        raw.flush()
        results.wait_for(
            lambda key, data: (
                key.job_id == job_id
                and key.output_name == "counts_total_cumulative"
                and float(data.sum().value) == sent
            )
        )
    finally:
        results.close()
        service.stop()
    assert front.authentication_failures == 0


# -- the broker option that makes this possible ---------------------------------------


def test_the_broker_advertises_the_address_it_is_given() -> None:
    broker = EmbeddedBroker(port=19092, advertised="127.0.0.1:19093", binary="/bin/tansu")
    command = broker.command()
    assert command[command.index("--listener-url") + 1] == "tcp://127.0.0.1:19092"
    assert command[command.index("--advertised-listener-url") + 1] == "tcp://127.0.0.1:19093"
    plain = EmbeddedBroker(port=19092, binary="/bin/tansu").command()
    assert plain[plain.index("--advertised-listener-url") + 1] == "tcp://127.0.0.1:19092"


@pytest.mark.parametrize("advertised", ["10.0.0.1:9093", "127.0.0.1", "127.0.0.1:0", "x:9093"])
def test_the_advertised_address_must_be_a_loopback_host_and_port(advertised: str) -> None:
    with pytest.raises(ValueError, match=r"loopback|port"):
        EmbeddedBroker(port=19092, advertised=advertised)
