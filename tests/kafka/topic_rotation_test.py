"""Rotating topics on the embedded broker, and why consumers must be warned first."""

import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from livedata.kafka.embedded_broker import EmbeddedBroker, free_port
from livedata.kafka.rotation import EMBEDDED_CLUSTER_ID, TopicRotator, marker_name
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import TopicPlan

pytestmark = pytest.mark.integration


def topics(settings: KafkaSettings) -> set[str]:
    with AdminClient(settings.client_config()) as admin:
        return set(admin.list_topics(timeout=10).topics)


def watermarks(settings: KafkaSettings, topic: str) -> tuple[int, int]:
    consumer = Consumer({**settings.client_config(), "group.id": "wm"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return low, high
    finally:
        consumer.close()


@pytest.fixture
def topic(kafka_settings: KafkaSettings) -> str:
    name = f"t{uuid.uuid4().hex[:8]}_detector"
    with AdminClient(kafka_settings.client_config()) as admin:
        admin.create_topics([NewTopic(name, 1)])[name].result(10)
    with Producer(kafka_settings.client_config()) as producer:
        for _ in range(10):
            producer.produce(name, b"x" * 1000)
        assert producer.flush(10) == 0
    return name


def test_the_embedded_broker_says_it_is_the_one_that_rotates(
    kafka_settings: KafkaSettings,
) -> None:
    consumer = Consumer({**kafka_settings.client_config(), "group.id": "cid"})
    try:
        assert consumer.list_topics(timeout=10).cluster_id == EMBEDDED_CLUSTER_ID
    finally:
        consumer.close()


def test_a_rotation_empties_the_topics_and_leaves_no_marker(
    kafka_settings: KafkaSettings, topic: str
) -> None:
    assert watermarks(kafka_settings, topic)[1] > 0
    seen_marker = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not seen_marker.is_set():
            if marker_name(topic) in topics(kafka_settings):
                seen_marker.set()
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    assert TopicRotator(kafka_settings, grace_s=0.5).rotate([TopicPlan(topic, {})])
    watcher.join()
    assert seen_marker.is_set()
    assert time.monotonic() - started >= 0.5
    assert topic in topics(kafka_settings)
    assert marker_name(topic) not in topics(kafka_settings)
    assert watermarks(kafka_settings, topic) == (0, 0)


def test_an_abandoned_rotation_deletes_nothing(kafka_settings: KafkaSettings, topic: str) -> None:
    before = watermarks(kafka_settings, topic)
    rotator = TopicRotator(kafka_settings, grace_s=30)
    threading.Timer(0.5, rotator.abandon).start()
    started = time.monotonic()
    assert not rotator.rotate([TopicPlan(topic, {})])
    assert time.monotonic() - started < 10
    assert watermarks(kafka_settings, topic) == before != (0, 0)
    assert marker_name(topic) not in topics(kafka_settings)


CONSUMER_OF_A_DELETED_TOPIC = textwrap.dedent(
    """
    import sys, time
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient
    bootstrap, topic = sys.argv[1:]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "doomed"})
    consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
    consumer.consume(10, 1.0)
    with AdminClient({"bootstrap.servers": bootstrap}) as admin:
        admin.delete_topics([topic])[topic].result(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        consumer.consume(10, 0.1)
    print("survived")
    """
)


@pytest.mark.slow
def test_deleting_a_topic_under_a_plain_consumer_kills_it() -> None:
    """Why rotations warn consumers first (``livedata.kafka.rotation``): Tansu 0.6
    answers a fetch of a deleted topic with a zero topic id, and librdkafka 2.16 then
    dereferences a null topic name. If this starts to fail, one of them was fixed and
    the marker protocol may be simplified (ADR 0006)."""
    with EmbeddedBroker(port=free_port()) as broker:
        with AdminClient({"bootstrap.servers": broker.bootstrap}) as admin:
            admin.create_topics([NewTopic("doomed", 1)])["doomed"].result(10)
        result = subprocess.run(
            [sys.executable, "-c", CONSUMER_OF_A_DELETED_TOPIC, broker.bootstrap, "doomed"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert "survived" not in result.stdout
    assert result.returncode == -11  # SIGSEGV
