from typing import Any

import pytest

from livedata.core.batching import NS_PER_S, DataTimeBatcher, TimestampIssue
from livedata.core.message import Message, StreamId, StreamKind
from livedata.testing import FakeClock
from livedata.testing.messages import T0

S = NS_PER_S
STREAM = StreamId(kind=StreamKind.DETECTOR_EVENTS, name="panel_0")


def msg(timestamp: int, value: Any = None) -> Message[Any]:
    return Message(timestamp=timestamp, stream=STREAM, value=value)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def batcher(clock: FakeClock) -> DataTimeBatcher:
    return DataTimeBatcher(clock=clock)


def stamps(batch: Any) -> list[int]:
    return [m.timestamp for m in batch.messages]


def test_windows_are_aligned_and_close_when_data_passes_their_end(
    batcher: DataTimeBatcher,
) -> None:
    assert batcher.add([msg(T0 + S // 4), msg(T0 + S // 2)]) == []
    assert batcher.open_window == (T0, T0 + S)
    (batch,) = batcher.add([msg(T0 + S)])
    assert (batch.start, batch.end) == (T0, T0 + S)
    assert stamps(batch) == [T0 + S // 4, T0 + S // 2]
    assert batcher.open_window == (T0 + S, T0 + 2 * S)


def test_out_of_order_messages_within_the_window_stay_in_it(batcher: DataTimeBatcher) -> None:
    batcher.add([msg(T0 + 700), msg(T0 + 100), msg(T0 + 400)])
    (batch,) = batcher.add([msg(T0 + S)])
    assert stamps(batch) == [T0 + 700, T0 + 100, T0 + 400]
    assert batcher.stats()["late_messages"] == 0


def test_late_message_joins_the_open_window_and_is_counted(batcher: DataTimeBatcher) -> None:
    batcher.add([msg(T0 + 10)])
    batcher.add([msg(T0 + S + 10)])  # closes [T0, T0+S)
    assert batcher.add([msg(T0 + 20)]) == []  # late: belongs to a closed window
    (batch,) = batcher.add([msg(T0 + 2 * S)])
    assert stamps(batch) == [T0 + S + 10, T0 + 20]
    assert batcher.stats()["late_messages"] == 1


def test_a_gap_jumps_to_the_window_of_the_next_message(
    batcher: DataTimeBatcher, clock: FakeClock
) -> None:
    batcher.add([msg(T0 + 1)])
    clock.advance(5)
    (batch,) = batcher.add([msg(T0 + 5 * S + 3)])
    assert (batch.start, batch.end) == (T0, T0 + S)
    assert batcher.open_window == (T0 + 5 * S, T0 + 6 * S)
    assert batcher.stats()["skipped_windows"] == 4


def test_one_add_can_close_several_windows_in_order(
    batcher: DataTimeBatcher, clock: FakeClock
) -> None:
    clock.advance(3)  # a backlog: data behind the wall clock arrives at once
    closed = batcher.add([msg(T0), msg(T0 + S), msg(T0 + 2 * S), msg(T0 + 3 * S)])
    assert [(b.start, stamps(b)) for b in closed] == [
        (T0, [T0]),
        (T0 + S, [T0 + S]),
        (T0 + 2 * S, [T0 + 2 * S]),
    ]


@pytest.mark.parametrize(
    ("timestamp", "issue"),
    [
        (-5, TimestampIssue.NEGATIVE),
        (0, TimestampIssue.TOO_OLD),
        (123_456_789, TimestampIssue.TOO_OLD),
        (T0 + 3600 * S, TimestampIssue.FAR_FUTURE),
        (T0 + 3 * S, TimestampIssue.FAR_FUTURE),
    ],
)
def test_implausible_stamps_do_not_place_windows_but_data_is_kept(
    batcher: DataTimeBatcher, timestamp: int, issue: TimestampIssue
) -> None:
    batcher.add([msg(T0 + 1, "a")])
    assert batcher.add([msg(timestamp, "odd")]) == []
    assert batcher.open_window == (T0, T0 + S)  # not dragged anywhere
    (batch,) = batcher.add([msg(T0 + S, "b")])
    assert [m.value for m in batch.messages] == ["a", "odd"]
    assert batcher.stats()["timestamp_issues"] == {issue.value: 1}


def test_far_future_first_message_does_not_stall_the_pipeline(
    batcher: DataTimeBatcher, clock: FakeClock
) -> None:
    batcher.add([msg(T0 + 10 * 365 * 24 * 3600 * S, "future")])
    # The wall clock placed the window; real data continues normally.
    assert batcher.open_window == (T0, T0 + S)
    (batch,) = batcher.add([msg(T0 + S + 5, "real")])
    assert [m.value for m in batch.messages] == ["future"]
    (batch,) = batcher.add([msg(T0 + 2 * S)])
    assert [m.value for m in batch.messages] == ["real"]


def test_backstop_closes_the_window_when_data_stops(
    batcher: DataTimeBatcher, clock: FakeClock
) -> None:
    batcher.add([msg(T0 + 3)])
    clock.advance(1.4)
    assert batcher.poll() == []
    clock.advance(0.2)
    (batch,) = batcher.poll()
    assert (batch.start, stamps(batch)) == (T0, [T0 + 3])
    assert batcher.stats()["closed_by_backstop"] == 1


def test_empty_windows_still_advance_time(batcher: DataTimeBatcher, clock: FakeClock) -> None:
    batcher.add([msg(T0)])
    clock.advance(1.5)
    batcher.poll()
    clock.advance(1.5)
    (empty,) = batcher.poll()
    assert (empty.start, empty.end, list(empty.messages)) == (T0 + S, T0 + 2 * S, [])
    assert batcher.stats()["empty_batches"] == 1


def test_nothing_happens_before_the_first_message(
    batcher: DataTimeBatcher, clock: FakeClock
) -> None:
    clock.advance(100)
    assert batcher.poll() == []
    assert batcher.flush() == []
    assert batcher.open_window is None


def test_flush_splits_the_open_window(batcher: DataTimeBatcher) -> None:
    batcher.add([msg(T0 + 5)])
    (batch,) = batcher.flush()
    assert (batch.start, stamps(batch)) == (T0, [T0 + 5])
    assert batcher.flush() == []
    assert batcher.add([msg(T0 + 9)]) == []
    assert batcher.stats()["late_messages"] == 0  # still the same window
    (rest,) = batcher.add([msg(T0 + S)])
    assert (rest.start, stamps(rest)) == (T0, [T0 + 9])


def test_window_length_is_configurable(clock: FakeClock) -> None:
    batcher = DataTimeBatcher(clock=clock, window_ns=S // 10)
    closed = batcher.add([msg(T0 + i * S // 20) for i in range(5)])
    assert [len(b.messages) for b in closed] == [2, 2]


def test_window_length_must_be_positive(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="positive"):
        DataTimeBatcher(clock=clock, window_ns=0)
