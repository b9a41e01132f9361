"""The open window's data is bounded in bytes: past the bound it is handed out in parts."""

import pytest

from livedata.core.batching import NS_PER_S, DataTimeBatcher
from livedata.core.job_manager import JobManager
from livedata.core.processor import OrchestratingProcessor, ServiceIdentity
from livedata.core.workflow import WorkflowRegistry
from livedata.testing import FakeClock, FakeSink, FakeSource
from livedata.testing.messages import T0, event_message, start_command
from livedata.testing.workflows import event_count_factory, event_count_spec

S = NS_PER_S
EVENTS = 5000
"""Events per message: 40 kB of times and pixel ids."""


def test_a_window_holding_too_much_is_handed_out_early_and_stays_open() -> None:
    batcher = DataTimeBatcher(clock=FakeClock(T0), max_pending_bytes=100_000)
    messages = [event_message(T0 + i * S // 14, EVENTS) for i in range(7)]
    batches = batcher.add(messages)
    assert [len(b.messages) for b in batches] == [3, 3]  # 120 kB each time
    assert all((b.start, b.end) == (T0, T0 + S) for b in batches)
    assert batcher.open_window == (T0, T0 + S)
    (rest,) = batcher.add([event_message(T0 + S, 1)])
    assert (rest.start, len(rest.messages)) == (T0, 1)
    assert batcher.stats()["split_windows"] == 2
    assert batcher.stats()["batches"] == 3


def test_small_windows_are_not_split() -> None:
    batcher = DataTimeBatcher(clock=FakeClock(T0), max_pending_bytes=1 << 30)
    assert batcher.add([event_message(T0 + i * S // 14, EVENTS) for i in range(14)]) == []
    assert batcher.stats()["split_windows"] == 0


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_pending_bytes"):
        DataTimeBatcher(clock=FakeClock(T0), max_pending_bytes=0)


def test_every_event_of_a_split_window_is_counted_once() -> None:
    clock = FakeClock(T0)
    source, sink = FakeSource(), FakeSink()
    registry = WorkflowRegistry()
    spec = event_count_spec()
    registry.register(spec, event_count_factory)
    processor = OrchestratingProcessor(
        identity=ServiceIdentity(instrument="test", service_name="detector_data", worker_id="w"),
        source=source,
        sink=sink,
        batcher=DataTimeBatcher(clock=clock, max_pending_bytes=100_000),
        job_manager=JobManager(instrument="test", registry=registry),
        clock=clock,
    )
    source.push(start_command(spec.workflow_id, "panel_0"))
    processor.process()
    sent = 0
    for window in range(3):
        clock.set(T0 + (window + 1) * S)  # the wall clock follows the data, as it does live
        source.push(*[event_message(T0 + window * S + k * S // 14, EVENTS) for k in range(14)])
        sent += 14 * EVENTS
        processor.process()
    source.push(event_message(T0 + 3 * S, 1))
    processor.process()
    assert sink.outputs("cumulative")[-1].data.value == sent
    assert processor.status().stream_stats["batching"]["split_windows"] >= 3 * 4


def test_an_event_batch_is_counted_by_its_arrays_without_a_walk() -> None:
    batcher = DataTimeBatcher(clock=FakeClock(T0), max_pending_bytes=1 << 30)
    messages = [event_message(T0 + i * S // 14, EVENTS) for i in range(3)]
    batcher.add(messages)
    assert batcher.buffered_bytes() == sum(m.value.nbytes for m in messages)
    assert messages[0].value.nbytes >= EVENTS * 8  # int32 times and pixel ids
