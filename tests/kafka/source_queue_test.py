"""The source queue sheds by age only while its processor falls behind (fake clock)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livedata.core.endpoints import ReportsBufferedBytes
from livedata.core.message import Message, StreamId, StreamKind
from livedata.kafka.source import KafkaSource
from livedata.kafka.source_queue import SourceQueue

DATA = StreamId(kind=StreamKind.DETECTOR_EVENTS, name="panel_0")
LOG = StreamId(kind=StreamKind.LOG, name="motor_x")
COMMANDS = StreamId(kind=StreamKind.COMMANDS, name="commands")

CHUNK_EVERY_S = 0.1
MAX_AGE_S = 1.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def message(stream: StreamId, seq: int) -> Message[Any]:
    return Message(timestamp=seq, stream=stream, value=seq)


def drive(
    queue: SourceQueue,
    clock: FakeClock,
    *,
    step_s: Callable[[list[Message[Any]]], float],
    duration_s: float,
    streams: Callable[[int], list[StreamId]] = lambda seq: [DATA],
) -> tuple[list[Message[Any]], list[tuple[float, float]]]:
    """A chunk arrives every ``CHUNK_EVERY_S``; the processor takes the queue, then is
    busy for ``step_s(taken)``. Returns what it took and (time, oldest age) per take."""
    sent_at: dict[int, float] = {}
    taken: list[Message[Any]] = []
    ages: list[tuple[float, float]] = []
    seq = 0
    next_take = clock.now
    end = clock.now + duration_s
    while clock.now < end:
        if clock.now >= next_take:
            got = queue.take(0)
            data = [m for m in got if m.stream == DATA]
            if data:
                ages.append((clock.now, clock.now - min(sent_at[m.value] for m in data)))
            taken.extend(got)
            next_take = clock.now + step_s(got)
        queue.put([message(s, seq) for s in streams(seq)], nbytes=100)
        sent_at[seq] = clock.now
        seq += 1
        clock.now = round(clock.now + CHUNK_EVERY_S, 9)
    return taken, ages


def test_a_processor_that_keeps_up_with_long_steps_loses_nothing() -> None:
    clock = FakeClock()
    queue = SourceQueue(max_bytes=1 << 30, max_age_s=MAX_AGE_S, clock=clock)
    steps = iter([1.3, 1.3, 2.0, 1.0, 2.0, 1.0, 1.9, 1.2, 1.3] * 20)

    taken, _ = drive(queue, clock, step_s=lambda _: next(steps), duration_s=60)

    sent = round(60 / CHUNK_EVERY_S)
    assert len(taken) >= sent - 25  # all but what arrived during the last step
    assert queue.counters["dropped_messages"] == 0
    assert not queue.falling_behind


def test_short_steps_with_a_long_publishing_step_each_second_lose_nothing() -> None:
    clock = FakeClock()
    queue = SourceQueue(max_bytes=1 << 30, max_age_s=MAX_AGE_S, clock=clock)
    steps = iter(([0.1] * 9 + [1.5]) * 100)  # a window published, an image downsampled

    drive(queue, clock, step_s=lambda _: next(steps), duration_s=60)

    assert queue.counters["dropped_messages"] == 0


def test_sustained_overload_sheds_counted_old_data_and_keeps_it_fresh() -> None:
    clock = FakeClock()
    queue = SourceQueue(max_bytes=1 << 30, max_age_s=MAX_AGE_S, clock=clock)

    # Three times too slow: a step takes 3 s per second of data it was given.
    taken, ages = drive(
        queue, clock, step_s=lambda got: 0.05 + 3 * CHUNK_EVERY_S * len(got), duration_s=120
    )

    assert queue.falling_behind
    assert queue.counters["dropped_by_age"] > 0
    assert queue.counters["dropped_by_age"] == queue.counters["dropped_messages"]
    assert "dropped_by_bytes" not in queue.counters
    assert len(taken) + queue.counters["dropped_messages"] + queue.pending_messages() == 1200
    settled = [age for at, age in ages if at > 130]
    assert settled
    assert max(settled) <= MAX_AGE_S + CHUNK_EVERY_S  # steps of ~3 s, data of <= 1 s


def test_overload_is_found_when_the_work_comes_in_every_other_step() -> None:
    clock = FakeClock()
    queue = SourceQueue(max_bytes=1 << 30, max_age_s=MAX_AGE_S, clock=clock)
    held: list[Message[Any]] = []

    def step(got: list[Message[Any]]) -> float:
        # Like a processor closing a window only every other step: what it took is held,
        # then paid for, three times too slowly, all at once.
        held.extend(got)
        if len(held) <= len(got):
            return 0.05
        cost = 3 * CHUNK_EVERY_S * len(held)
        held.clear()
        return cost

    _, ages = drive(queue, clock, step_s=step, duration_s=120)

    assert queue.counters["dropped_by_age"] > 0
    settled = [age for at, age in ages if at > 130]
    assert max(settled) <= MAX_AGE_S + CHUNK_EVERY_S


def test_log_samples_and_commands_are_never_shed_under_overload() -> None:
    clock = FakeClock()
    queue = SourceQueue(max_bytes=1 << 30, max_age_s=MAX_AGE_S, clock=clock)

    def streams(seq: int) -> list[StreamId]:
        return [DATA, LOG] + ([COMMANDS] if seq % 7 == 0 else [])

    taken, _ = drive(
        queue,
        clock,
        step_s=lambda got: 3 * CHUNK_EVERY_S * sum(m.stream == DATA for m in got),
        duration_s=60,
        streams=streams,
    )
    taken += queue.take(0)

    sent = round(60 / CHUNK_EVERY_S)
    assert queue.counters["dropped_by_age"] > 0
    assert [m.value for m in taken if m.stream == LOG] == list(range(sent))
    assert [m.value for m in taken if m.stream == COMMANDS] == list(range(0, sent, 7))


def test_data_over_the_byte_budget_is_counted_apart_from_age() -> None:
    clock = FakeClock()
    queue = SourceQueue(max_bytes=250, max_age_s=MAX_AGE_S, clock=clock)
    for seq in range(5):
        queue.put([message(DATA, seq), message(LOG, seq)], nbytes=100)

    taken = queue.take(0)

    assert [m.value for m in taken if m.stream == DATA] == [3, 4]
    assert [m.value for m in taken if m.stream == LOG] == [0, 1, 2, 3, 4]
    assert queue.counters == {"dropped_chunks": 3, "dropped_messages": 3, "dropped_by_bytes": 3}


def test_queued_bytes_are_reported_until_taken() -> None:
    clock = FakeClock()
    queue = SourceQueue(max_bytes=10_000, max_age_s=MAX_AGE_S, clock=clock)
    queue.put([message(DATA, 1)], 300)
    queue.put([message(DATA, 2)], 200)
    assert queue.buffered_bytes() == 500
    queue.take(0.0)
    assert queue.buffered_bytes() == 0


def test_the_kafka_source_reports_its_queue_to_the_memory_guard() -> None:
    assert issubclass(KafkaSource, ReportsBufferedBytes)
