"""AssignedConsumer on the embedded broker: missing topics, rotations, the time filter."""

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from livedata.cli.watch import tail_consumer
from livedata.kafka.assigned_consumer import AssignedConsumer, _Unproven
from livedata.kafka.rotation import TopicRotator, marker_name
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import TopicPlan

pytestmark = pytest.mark.integration


@pytest.fixture
def topic(kafka_settings: KafkaSettings) -> str:
    name = f"t{uuid.uuid4().hex[:8]}_detector"
    create(kafka_settings, name)
    return name


def create(settings: KafkaSettings, *names: str) -> None:
    with AdminClient(settings.client_config()) as admin:
        for future in admin.create_topics([NewTopic(n, 1) for n in names]).values():
            future.result(10)


def delete(settings: KafkaSettings, *names: str) -> None:
    with AdminClient(settings.client_config()) as admin:
        for future in admin.delete_topics(list(names)).values():
            future.result(10)


@pytest.fixture
def producer(kafka_settings: KafkaSettings) -> Iterator[Producer]:
    producer = Producer({**kafka_settings.client_config(), "linger.ms": 5})
    yield producer
    producer.flush(5)


def consumer_of(settings: KafkaSettings, *topics: str) -> AssignedConsumer:
    return AssignedConsumer(
        {**settings.client_config(), "group.id": "test", "enable.auto.commit": False},
        dict.fromkeys(topics, OFFSET_END),
    )


def read(consumer: AssignedConsumer, seconds: float) -> list[bytes]:
    values = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        values += [m.value() for m in consumer.consume(100, 0.1) if m.error() is None]
    return values


def read_until(consumer: AssignedConsumer, wanted: set[bytes], timeout: float = 10) -> list[bytes]:
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    while not wanted <= set(values) and time.monotonic() < deadline:
        values += [m.value() for m in consumer.consume(100, 0.1) if m.error() is None]
    return values


def send(producer: Producer, topic: str, *values: bytes) -> None:
    for value in values:
        producer.produce(topic, value)
    assert producer.flush(10) == 0


def test_reads_what_is_sent_after_construction(
    kafka_settings: KafkaSettings, topic: str, producer: Producer
) -> None:
    send(producer, topic, b"before")
    consumer = consumer_of(kafka_settings, topic)
    try:
        assert consumer.assigned_topics() == [topic]
        send(producer, topic, b"after")  # before the first consume: still read
        values = read_until(consumer, {b"after"})
        assert b"after" in values
        assert not consumer.follows_rotations or consumer.held_topics() == []
    finally:
        consumer.close()


def test_a_control_topic_is_assigned_at_its_concrete_first_offset(
    kafka_settings: KafkaSettings, topic: str, producer: Producer
) -> None:
    """Not at the logical "beginning": librdkafka's own lookup of it can fail when an
    oversized fetch on the same connection breaks it, and it then starts at the end,
    skipping the commands queued before the service started."""
    send(producer, topic, b"queued-1", b"queued-2")
    consumer = AssignedConsumer(
        {**kafka_settings.client_config(), "group.id": "test", "enable.auto.commit": False},
        {topic: OFFSET_BEGINNING},
    )
    try:
        (assigned,) = consumer.assignment()
        low, _ = consumer.get_watermark_offsets(assigned, timeout=5)
        assert assigned.offset == low >= 0
        assert {b"queued-1", b"queued-2"} <= set(read_until(consumer, {b"queued-1", b"queued-2"}))
    finally:
        consumer.close()


def test_a_missing_topic_is_assigned_once_it_exists(
    kafka_settings: KafkaSettings, producer: Producer
) -> None:
    name = f"t{uuid.uuid4().hex[:8]}_late"
    consumer = consumer_of(kafka_settings, name)
    try:
        assert consumer.assigned_topics() == []
        create(kafka_settings, name)
        deadline = time.monotonic() + 10
        while not consumer.assigned_topics() and time.monotonic() < deadline:
            consumer.consume(10, 0.1)
        assert consumer.assigned_topics() == [name]
        send(producer, name, b"hello")
        assert b"hello" in read_until(consumer, {b"hello"})
    finally:
        consumer.close()


def test_follows_a_rotation_and_reads_the_fresh_topic_from_its_start(
    kafka_settings: KafkaSettings, topic: str, producer: Producer
) -> None:
    consumer = consumer_of(kafka_settings, topic)
    rotator = TopicRotator(kafka_settings, grace_s=1.5)
    try:
        assert consumer.follows_rotations  # the session broker is the embedded one
        send(producer, topic, b"old")
        assert b"old" in read_until(consumer, {b"old"})

        rotation = threading.Thread(target=rotator.rotate, args=([TopicPlan(topic, {})],))
        rotation.start()
        deadline = time.monotonic() + 5
        while consumer.held_topics() != [topic] and time.monotonic() < deadline:
            consumer.consume(10, 0.05)
        assert consumer.held_topics() == [topic]
        assert consumer.assigned_topics() == []
        send(producer, topic, b"doomed")  # into the topic about to be deleted
        values = read(consumer, 0.5)
        rotation.join()
        send(producer, topic, b"fresh")
        values += read_until(consumer, {b"fresh"})

        assert values == [b"fresh"]  # the doomed message is gone with its topic
        assert consumer.assigned_topics() == [topic]
        assert consumer.counters["rotations_followed"] == 1
        assert consumer.counters["topics_reassigned"] == 1
    finally:
        consumer.close()


def test_a_consumer_started_during_a_rotation_waits_for_it(
    kafka_settings: KafkaSettings, topic: str, producer: Producer
) -> None:
    create(kafka_settings, marker_name(topic))
    consumer = consumer_of(kafka_settings, topic)
    try:
        assert consumer.assigned_topics() == []
        assert consumer.held_topics() == [topic]
        delete(kafka_settings, topic)
        create(kafka_settings, topic)
        delete(kafka_settings, marker_name(topic))
        send(producer, topic, b"first")  # may land before the consumer looks again
        assert read_until(consumer, {b"first"}) == [b"first"]
        assert consumer.counters["rotations_followed"] == 1
    finally:
        consumer.close()


def test_a_tail_consumer_reads_only_what_was_sent_after_its_creation(
    kafka_settings: KafkaSettings, topic: str, producer: Producer
) -> None:
    send(producer, topic, *[b"old"] * 5)
    consumer = tail_consumer(kafka_settings, topic)
    try:
        # From a concrete offset that the embedded broker may report one batch late:
        # whatever it re-delivers is older than the consumer, and dropped.
        time.sleep(0.01)
        send(producer, topic, b"new")
        values = read_until(consumer, {b"new"})
        assert values == [b"new"]
    finally:
        consumer.close()


def test_an_idle_reader_gets_each_message_of_a_rotated_topic_once(
    kafka_settings: KafkaSettings, topic: str, producer: Producer
) -> None:
    """A topic assigned again must deliver or be assigned once more (librdkafka can leave
    it idle); a reader that does not read meanwhile must not see anything twice."""
    consumer = consumer_of(kafka_settings, topic)
    try:
        # Longer than a marker poll plus a fetch in flight (0.25 s + 0.5 s).
        assert TopicRotator(kafka_settings, grace_s=1.5).rotate([TopicPlan(topic, {})])
        send(producer, topic, b"a", b"b", b"c")
        time.sleep(3.5)  # the consumer's own thread re-assigns it meanwhile
        assert consumer.counters["reassign_retries"] >= 1
        values = read_until(consumer, {b"a", b"b", b"c"})
        values += read(consumer, 0.5)
        assert values == [b"a", b"b", b"c"]
    finally:
        consumer.close()


def thread_cpu_s(thread: threading.Thread) -> float:
    """CPU time a thread of this process has used (``/proc``, in clock ticks)."""
    fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1]
    utime, stime = fields.split()[11:13]
    return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")


def test_the_lookup_thread_sleeps_while_a_reader_holds_the_consumer(
    kafka_settings: KafkaSettings, topic: str
) -> None:
    """A lookup falls due while ``consume`` holds the consumer (it does the lookup itself
    next time): the thread must wait, not spin. It used to wait 0 s in a loop for as long
    as a consume lasted, most of the time in every service."""
    consumer = consumer_of(kafka_settings, topic)
    try:
        before = thread_cpu_s(consumer._watcher)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            consumer.consume(100, 0.2)  # as a service's reader: an idle topic, 0.2 s each
        used = thread_cpu_s(consumer._watcher) - before
        assert used < 0.3, f"the lookup thread used {used:.2f} s of CPU in 3 s"
    finally:
        consumer.close()


def test_a_control_topic_whose_start_cannot_be_looked_up_waits_for_the_next_lookup(
    kafka_settings: KafkaSettings, topic: str, producer: Producer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Assigned at the logical beginning, it would start at the end should librdkafka's
    own lookup fail too (an oversized fetch breaking the connection): not assigned yet
    is better, and it is looked up again."""
    send(producer, topic, b"queued")

    def broken(*args: object, **kwargs: object) -> tuple[int, int]:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    monkeypatch.setattr(AssignedConsumer, "get_watermark_offsets", broken)
    consumer = AssignedConsumer(
        {**kafka_settings.client_config(), "group.id": "test", "enable.auto.commit": False},
        {topic: OFFSET_BEGINNING},
    )
    try:
        assert consumer.assigned_topics() == []
        monkeypatch.undo()
        assert b"queued" in read_until(consumer, {b"queued"})
        (assigned,) = consumer.assignment()
        assert assigned.offset >= 0
    finally:
        consumer.close()


def test_a_topic_retried_for_not_delivering_restarts_where_it_was_assigned(
    kafka_settings: KafkaSettings, topic: str, producer: Producer
) -> None:
    """Not at the topic's first offset: a data topic taken again after a loss starts at
    its end, and what was there before must not be read on a retry."""
    # Two batches: the embedded broker's end can lag by one, so "old-2" may be read
    # again at the end (services filter it by timestamp), but never "old-1".
    send(producer, topic, b"old-1")
    send(producer, topic, b"old-2")
    consumer = consumer_of(kafka_settings, topic)
    try:
        (assigned,) = consumer.assignment()
        assert assigned.offset > 0  # at the end, past the old messages
        with consumer._lock:  # as if taken again after a loss and silent since
            consumer._unproven[topic] = _Unproven(0.0, 0, {0: assigned.offset})
            consumer._check_flow()
        assert b"old-1" not in read(consumer, 1.5)
    finally:
        consumer.close()
