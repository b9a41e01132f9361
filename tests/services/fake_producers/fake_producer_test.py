"""The producer loop and the Kafka transport, with a stepping clock and fake producers."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import structlog.testing
from confluent_kafka import KafkaError, KafkaException

from livedata.config.instrument import Instrument
from livedata.protocol.ev44 import decode_ev44
from livedata.protocol.run_control import decode_6s4t
from livedata.services.fake_producers.cli import ProducerOptions, build_producer
from livedata.services.fake_producers.pacing import NS_PER_S, Pulse, pulse_at, pulse_time
from livedata.services.fake_producers.sources import Kind, Outgoing, SourceOptions
from livedata.services.fake_producers.transport import KafkaTransport


class ListTransport:
    """Keeps what is sent; can pretend to drop."""

    def __init__(self, *, drop_topics: frozenset[str] = frozenset()) -> None:
        self.sent: list[tuple[str, bytes, int]] = []
        self.flushes: list[float] = []
        self._drop = drop_topics
        self.dropped = 0

    def send(self, topic: str, payload: bytes, timestamp_ns: int) -> bool:
        if topic in self._drop:
            self.dropped += 1
            return False
        self.sent.append((topic, payload, timestamp_ns))
        return True

    def poll(self) -> None:
        pass

    def flush(self, timeout_s: float) -> int:
        self.flushes.append(timeout_s)
        return 0

    def counters(self) -> dict[str, int]:
        return {"dropped_queue_full": self.dropped}

    def payloads(self, topic: str) -> list[bytes]:
        return [p for t, p, _ in self.sent if t == topic]


def producer_options(kinds: set[Kind], event_rate: int = 14_000) -> ProducerOptions:
    return ProducerOptions(
        instrument="fakeinst",
        sources=SourceOptions(
            kinds=frozenset(kinds), event_rate=event_rate, monitor_rate=1400, frame_rate=1.0
        ),
        seed=1,
    )


def test_two_seconds_of_data_in_real_time(instrument: Instrument, clock: Any) -> None:
    transport = ListTransport()
    start = clock.now_ns()
    producer = build_producer(
        instrument, producer_options(set(Kind)), transport=transport, clock=clock
    )
    stats = producer.run(duration_s=2.0)
    # Every pulse whose frame ended within the two seconds, each sent once its frame ended.
    first, last = pulse_at(start), pulse_at(start + 2 * NS_PER_S) - 1
    events = [decode_ev44(p) for p in transport.payloads("fakeinst_detector")]
    assert [e.data_time for e in events] == [pulse_time(k) for k in range(first, last + 1)]
    assert stats["pulses"] == last - first + 1 == 28
    assert stats["skipped_pulses"] == 0
    assert stats["events"]["panel_0"] == sum(len(e.events) for e in events)
    assert stats["events"]["panel_0"] == pytest.approx(28_000, abs=1)
    assert stats["messages"]["detector"] == 28
    assert stats["messages"]["monitor"] == 56
    assert sum(clock.sleeps) == pytest.approx(2.0, abs=0.08)
    # On exit the run is stopped and the queue flushed, within a bound.
    (stop,) = transport.payloads("fakeinst_filewriter")[-1:]
    assert decode_6s4t(stop, fallback_time=0).run_name == "fakeinst-fake-0001"
    assert transport.flushes == [pytest.approx(5.0)]


class SlowSource:
    """A source whose work takes ``seconds`` of (fake) wall-clock time per pulse."""

    kind = Kind.DETECTOR
    name = "slow"

    def __init__(self, clock: Any, seconds: float) -> None:
        self._clock = clock
        self._seconds = seconds
        self.pulses: list[Pulse] = []

    def poll(self, pulse: Pulse) -> list[Outgoing]:
        self.pulses.append(pulse)
        self._clock.advance(self._seconds)
        return [Outgoing("t", b"x", pulse.time_ns, self.name, events=1)]

    def close(self, now_ns: int) -> list[Outgoing]:
        return []


def test_a_slow_producer_skips_pulses_instead_of_bursting(clock: Any) -> None:
    from livedata.services.fake_producers.producer import FakeProducer

    source = SlowSource(clock, seconds=0.2)  # each pulse's work takes 2.8 frames
    producer = FakeProducer(sources=[source], transport=ListTransport(), clock=clock)
    stats = producer.run(duration_s=3.0)
    indices = [p.index for p in source.pulses]
    gaps = {b - a for a, b in itertools.pairwise(indices)}
    assert gaps <= {2, 3, 4}  # never a run of back-to-back stale pulses
    assert stats["skipped_pulses"] == indices[-1] - indices[0] + 1 - len(indices)
    assert stats["pulses"] == len(indices)
    assert stats["skipped_pulses"] > 20
    assert clock.sleeps == [] or max(clock.sleeps) < 0.08


def test_stop_request_ends_the_run(instrument: Instrument, clock: Any) -> None:
    transport = ListTransport()
    producer = build_producer(
        instrument, producer_options({Kind.DETECTOR}), transport=transport, clock=clock
    )
    calls = iter(range(1000))
    stats = producer.run(should_stop=lambda: next(calls) >= 40)
    assert 0 < stats["pulses"] < 40
    assert transport.flushes


def test_dropped_messages_are_not_counted_as_sent(instrument: Instrument, clock: Any) -> None:
    transport = ListTransport(drop_topics=frozenset({"fakeinst_detector"}))
    producer = build_producer(
        instrument,
        producer_options({Kind.DETECTOR, Kind.MONITOR}),
        transport=transport,
        clock=clock,
    )
    stats = producer.run(duration_s=1.0)
    assert "panel_0" not in stats["events"]
    assert stats["events"]["monitor1"] == 1400
    assert stats["dropped_queue_full"] == 14


def test_progress_is_logged(instrument: Instrument, clock: Any) -> None:
    from livedata.services.fake_producers.producer import FakeProducer
    from livedata.services.fake_producers.sources import build_sources

    sources = build_sources(
        instrument,
        producer_options({Kind.DETECTOR}).sources,
        rng=np.random.default_rng(),
        start_ns=clock.now_ns(),
    )
    producer = FakeProducer(
        sources=sources, transport=ListTransport(), clock=clock, progress_interval_s=1.0
    )
    with structlog.testing.capture_logs() as logs:
        producer.run(duration_s=3.5)
    progress = [entry for entry in logs if entry["event"] == "producer_progress"]
    assert len(progress) == 3
    assert progress[-1]["event_rate"] == 14_000
    assert progress[-1]["skipped_pulses"] == 0
    assert progress[-1]["dropped"] == 0
    assert progress[-1]["events"] == pytest.approx(3 * 14_000, abs=1000)
    (stopped,) = [entry for entry in logs if entry["event"] == "producer_stopped"]
    assert stopped["pulses"] == 49


class FakeKafkaProducer:
    """Stands in for confluent_kafka.Producer: a queue that is full ``full_for`` times."""

    def __init__(self, full_for: int = 0, error: KafkaException | None = None) -> None:
        self.full_for = full_for
        self.error = error
        self.produced: list[tuple[str, bytes, int]] = []
        self.polls: list[float] = []
        self.callbacks: list[Any] = []

    def produce(self, topic: str, value: bytes, *, timestamp: int, on_delivery: Any) -> None:
        if self.error is not None:
            raise self.error
        if self.full_for > 0:
            self.full_for -= 1
            raise BufferError("Local: Queue full")
        self.produced.append((topic, value, timestamp))
        self.callbacks.append(on_delivery)

    def poll(self, timeout: float) -> int:
        self.polls.append(timeout)
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def test_full_queue_is_polled_and_retried() -> None:
    fake = FakeKafkaProducer(full_for=2)
    transport = KafkaTransport(fake)
    assert transport.send("t", b"payload", 1_700_000_000_123_456_789)
    assert fake.produced == [("t", b"payload", 1_700_000_000_123)]
    assert len(fake.polls) == 2
    assert transport.counters() == {"produced": 1}


def test_queue_that_stays_full_drops_and_counts() -> None:
    transport = KafkaTransport(FakeKafkaProducer(full_for=100))
    assert not transport.send("t", b"payload", 0)
    assert not transport.send("t", b"payload", 0)
    assert transport.counters() == {"dropped_queue_full": 2}


def test_produce_errors_and_failed_deliveries_are_counted() -> None:
    error = KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    transport = KafkaTransport(FakeKafkaProducer(error=error))
    assert not transport.send("t", b"payload", 0)
    assert transport.counters() == {"produce_failed": 1}

    fake = FakeKafkaProducer()
    transport = KafkaTransport(fake)
    transport.send("t", b"a", 0)
    transport.send("t", b"b", 0)
    fake.callbacks[0](None, None)
    fake.callbacks[1](KafkaError(KafkaError._MSG_TIMED_OUT), None)
    assert transport.counters() == {"produced": 2, "delivered": 1, "delivery_failed": 1}
