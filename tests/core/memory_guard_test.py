"""The memory guard: which job it stops, when, and what the service then reports."""

import uuid

import pytest

from livedata.core.batching import NS_PER_S, DataTimeBatcher
from livedata.core.control import JobAction
from livedata.core.identity import JobId
from livedata.core.job_manager import JobManager
from livedata.core.memory import GIB, MIB
from livedata.core.memory_guard import (
    CHECK_INTERVAL_NS,
    SIZES_MAX_AGE_NS,
    STOP_INTERVAL_NS,
    MemoryGuard,
    job_to_stop,
)
from livedata.core.status import JobState
from livedata.core.workflow import WorkflowRegistry
from livedata.testing import FakeClock, FakeSource
from livedata.testing.messages import T0, event_message, job_command, start_command
from livedata.testing.workflows import (
    event_count_factory,
    event_count_spec,
    runaway_factory,
    runaway_spec,
)

S = NS_PER_S


def job(name: str) -> JobId:
    return JobId(source_name=name, job_number=uuid.uuid4())


# -- the decision --------------------------------------------------------------------


def test_under_the_limit_no_job_is_stopped() -> None:
    assert job_to_stop(rss=3 * GIB, limit=3 * GIB, sizes={"a": 2 * GIB}) is None


def test_over_the_limit_the_job_holding_the_most_is_stopped() -> None:
    sizes = {"small": 10 * MIB, "big": 2 * GIB, "medium": 500 * MIB}
    assert job_to_stop(rss=3 * GIB + 1, limit=3 * GIB, sizes=sizes) == "big"


def test_a_job_holding_a_small_share_of_the_limit_is_not_blamed() -> None:
    sizes = {"a": 200 * MIB, "b": 250 * MIB}
    rss = 3 * GIB + 100 * MIB
    assert job_to_stop(rss=rss, limit=3 * GIB, sizes=sizes) is None
    assert job_to_stop(rss=rss, limit=3 * GIB, sizes=sizes, min_share=0.05) == "b"


def test_a_job_smaller_than_the_overshoot_is_not_blamed() -> None:
    # Stopping it would leave the service over its limit: the memory is held elsewhere.
    sizes = {"pixel_x_toa": 600 * MIB, "small": 10 * MIB}
    assert job_to_stop(rss=5 * GIB, limit=4 * GIB, sizes=sizes) is None
    assert job_to_stop(rss=4 * GIB + 500 * MIB, limit=4 * GIB, sizes=sizes) == "pixel_x_toa"


def test_no_job_is_blamed_when_the_buffers_account_for_the_overshoot() -> None:
    sizes = {"pixel_x_toa": 600 * MIB}
    over = 4 * GIB + 500 * MIB
    assert job_to_stop(rss=over, limit=4 * GIB, sizes=sizes, buffered=GIB) is None
    assert job_to_stop(rss=over, limit=4 * GIB, sizes=sizes, buffered=400 * MIB) == "pixel_x_toa"


def test_a_runaway_job_covering_the_overshoot_is_blamed_despite_full_buffers() -> None:
    sizes = {"runaway": 3 * GIB, "pixel_x_toa": 600 * MIB}
    assert job_to_stop(rss=6 * GIB, limit=4 * GIB, sizes=sizes, buffered=GIB) == "runaway"


def test_without_jobs_nobody_is_blamed() -> None:
    assert job_to_stop(rss=4 * GIB, limit=3 * GIB, sizes={}) is None


# -- the guard, on fakes -------------------------------------------------------------


class FakeJobs:
    """Job sizes by id; records the jobs halted and their reasons."""

    def __init__(self, sizes: dict[JobId, int]) -> None:
        self.sizes = sizes
        self.halted: dict[JobId, str] = {}
        self.size_reads = 0

    def state_sizes(self) -> dict[JobId, int]:
        self.size_reads += 1
        return {k: v for k, v in self.sizes.items() if k not in self.halted}

    def halt(self, job_id: JobId, reason: str) -> None:
        self.halted[job_id] = reason


class FakeMemory:
    """An RSS reading a test sets, and a count of releases."""

    def __init__(self, rss: int) -> None:
        self.rss = rss
        self.reads = 0
        self.releases = 0

    def read(self) -> int:
        self.reads += 1
        return self.rss

    def release(self) -> None:
        self.releases += 1


def guard_with(memory: FakeMemory, limit: int = 3 * GIB) -> MemoryGuard:
    return MemoryGuard(limit_bytes=limit, read_rss=memory.read, release=memory.release)


def test_the_runaway_job_is_halted_with_a_message_naming_the_sizes() -> None:
    runaway, quiet = job("panel_0"), job("panel_1")
    jobs = FakeJobs({runaway: int(2.8 * GIB), quiet: 5 * MIB})
    memory = FakeMemory(int(3.1 * GIB))
    guard = guard_with(memory)
    assert guard.check(T0, jobs)
    assert list(jobs.halted) == [runaway]
    assert jobs.halted[runaway] == (
        "stopped by the memory guard: service RSS 3.1 GiB over the limit 3.0 GiB; "
        "this job held 2.8 GiB"
    )
    assert memory.releases == 1
    assert guard.stats()["jobs_stopped"] == 1
    assert guard.problem is None


def test_under_the_limit_nothing_is_sized_or_stopped() -> None:
    jobs = FakeJobs({job("panel_0"): 2 * GIB})
    memory = FakeMemory(2 * GIB)
    guard = guard_with(memory)
    assert not guard.check(T0, jobs)
    assert jobs.size_reads == 0  # walking the jobs' state is only for when it matters
    assert jobs.halted == {}
    assert guard.stats() == {
        "rss_bytes": 2 * GIB,
        "peak_rss_bytes": 2 * GIB,
        "limit_bytes": 3 * GIB,
        "buffered_bytes": 0,
        "jobs_stopped": 0,
        "over_limit_checks": 0,
    }


def test_memory_is_read_once_per_interval() -> None:
    memory = FakeMemory(GIB)
    guard = guard_with(memory)
    jobs = FakeJobs({})
    for t in range(0, 3 * CHECK_INTERVAL_NS, CHECK_INTERVAL_NS // 10):
        guard.check(T0 + t, jobs)
    assert memory.reads == 3


def test_after_a_stop_the_next_job_is_blamed_only_once_memory_had_time_to_fall() -> None:
    first, second = job("panel_0"), job("panel_1")
    jobs = FakeJobs({first: 2 * GIB, second: GIB})
    memory = FakeMemory(4 * GIB)
    guard = guard_with(memory)
    assert guard.check(T0, jobs)
    assert not guard.check(T0 + CHECK_INTERVAL_NS, jobs)  # still over, but settling
    assert list(jobs.halted) == [first]
    assert guard.check(T0 + STOP_INTERVAL_NS, jobs)  # still over after settling: the next
    assert list(jobs.halted) == [first, second]
    assert guard.stats()["over_limit_checks"] == 3


def test_over_the_limit_with_no_job_to_blame_is_reported_not_acted_on() -> None:
    jobs = FakeJobs({job("panel_0"): 20 * MIB})
    memory = FakeMemory(int(3.5 * GIB))
    guard = guard_with(memory)
    assert not guard.check(T0, jobs)
    assert jobs.halted == {}
    assert guard.problem == (
        "service RSS 3.5 GiB over the limit 3.0 GiB; no job to blame "
        "(largest job 20.0 MiB, buffers 0 B)"
    )
    memory.rss = GIB
    guard.check(T0 + CHECK_INTERVAL_NS, jobs)
    assert guard.problem is None
    assert guard.stats()["peak_rss_bytes"] == int(3.5 * GIB)


def test_high_memory_from_buffers_stops_no_job() -> None:
    moderate = job("panel_0")
    jobs = FakeJobs({moderate: 600 * MIB, job("panel_1"): 50 * MIB})
    memory = FakeMemory(4 * GIB + 500 * MIB)
    guard = guard_with(memory, limit=4 * GIB)
    assert not guard.check(T0, jobs, lambda: int(1.5 * GIB))
    assert jobs.halted == {}
    assert guard.problem == (
        "service RSS 4.5 GiB over the limit 4.0 GiB; no job to blame "
        "(largest job 600.0 MiB, buffers 1.5 GiB)"
    )
    assert guard.stats()["buffered_bytes"] == int(1.5 * GIB)


def test_buffers_that_just_drained_still_count_for_a_while() -> None:
    # The allocator keeps what a drained queue held: the next reading is not the truth.
    jobs = FakeJobs({job("panel_0"): 600 * MIB})
    memory = FakeMemory(4 * GIB + 500 * MIB)
    guard = guard_with(memory, limit=4 * GIB)
    buffered = [int(1.5 * GIB), 0]
    assert not guard.check(T0, jobs, lambda: buffered[0])
    assert not guard.check(T0 + CHECK_INTERVAL_NS, jobs, lambda: buffered[1])
    assert jobs.halted == {}


def test_a_runaway_job_covering_the_overshoot_is_stopped_despite_full_buffers() -> None:
    runaway, moderate = job("panel_0"), job("panel_1")
    jobs = FakeJobs({runaway: 3 * GIB, moderate: 600 * MIB})
    guard = guard_with(FakeMemory(6 * GIB), limit=4 * GIB)
    assert guard.check(T0, jobs, lambda: GIB)
    assert list(jobs.halted) == [runaway]


def test_at_most_one_job_is_stopped_per_interval() -> None:
    first, second = job("panel_0"), job("panel_1")
    jobs = FakeJobs({first: 3 * GIB, second: 3 * GIB})
    guard = guard_with(FakeMemory(6 * GIB), limit=4 * GIB)
    stops = [guard.check(T0 + t, jobs) for t in range(0, 10 * S, CHECK_INTERVAL_NS)]
    assert stops.count(True) == 1
    assert list(jobs.halted) == [first]
    assert guard.check(T0 + STOP_INTERVAL_NS, jobs)
    assert list(jobs.halted) == [first, second]


def test_job_sizes_are_not_measured_at_every_check_while_nobody_is_to_blame() -> None:
    jobs = FakeJobs({job("panel_0"): 20 * MIB})
    guard = guard_with(FakeMemory(int(3.5 * GIB)))
    for t in range(0, SIZES_MAX_AGE_NS, CHECK_INTERVAL_NS):
        guard.check(T0 + t, jobs)
    assert jobs.size_reads == 1
    guard.check(T0 + SIZES_MAX_AGE_NS, jobs)
    assert jobs.size_reads == 2


def test_job_sizes_are_measured_again_when_memory_grows_fast() -> None:
    runaway = job("panel_0")
    jobs = FakeJobs({runaway: 200 * MIB})
    memory = FakeMemory(int(3.5 * GIB))
    guard = guard_with(memory)
    assert not guard.check(T0, jobs)
    jobs.sizes[runaway] = 2 * GIB
    memory.rss = 4 * GIB  # grew by a sixth of the limit within a second
    assert guard.check(T0 + CHECK_INTERVAL_NS, jobs)
    assert list(jobs.halted) == [runaway]
    assert jobs.size_reads == 2


def test_a_job_is_never_stopped_on_an_old_measure_of_its_size() -> None:
    reset = job("panel_0")
    jobs = FakeJobs({reset: 400 * MIB})
    memory = FakeMemory(int(3.5 * GIB))
    guard = guard_with(memory)
    assert not guard.check(T0, jobs)  # 400 MiB does not cover 512 MiB over
    jobs.sizes[reset] = 10 * MIB  # an operator reset it; memory falls a little
    memory.rss = 3 * GIB + 200 * MIB  # the cached 400 MiB would now cover the overshoot
    assert not guard.check(T0 + CHECK_INTERVAL_NS, jobs)
    assert jobs.halted == {}
    assert jobs.size_reads == 2


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        MemoryGuard(limit_bytes=0)


# -- jobs and the job manager ----------------------------------------------------------

RUNAWAY = runaway_spec()
COUNT = event_count_spec()


WORKFLOWS = [(RUNAWAY, runaway_factory), (COUNT, event_count_factory)]


def manager() -> JobManager:
    registry = WorkflowRegistry()
    for spec, factory in WORKFLOWS:
        registry.register(spec, factory)
    return JobManager(instrument="test", registry=registry)


def feed(jobs: JobManager, windows: int, events: int = 1000) -> None:
    for i in range(windows):
        data = {"panel_0": event_message(T0 + i * S, events).value}
        jobs.process_window(start=T0 + i * S, end=T0 + (i + 1) * S, data=data, latest=data)


def test_job_sizes_follow_what_their_state_holds() -> None:
    jobs = manager()
    jobs.handle(start_command(RUNAWAY.workflow_id, "panel_0").value)
    jobs.handle(start_command(COUNT.workflow_id, "panel_0").value)
    runaway_id, count_id = (j.job_id for j in jobs.jobs)
    feed(jobs, 1)
    one = jobs.state_sizes()
    feed(jobs, 10, events=100_000)
    ten = jobs.state_sizes()
    assert ten[runaway_id] - one[runaway_id] >= 10 * 100_000 * 4  # int32 times kept
    assert ten[count_id] - one[count_id] < 10_000


def test_a_halted_job_drops_its_state_reports_the_error_and_computes_nothing() -> None:
    jobs = manager()
    jobs.handle(start_command(RUNAWAY.workflow_id, "panel_0").value)
    (runaway,) = jobs.jobs
    feed(jobs, 5, events=100_000)
    changes = jobs.changes
    jobs.halt(runaway.job_id, "stopped by the memory guard: too big")
    assert runaway.state_nbytes() < 1000
    assert jobs.state_sizes() == {}
    assert runaway.streams == set()
    assert jobs.configs() == []  # a restart does not bring it back
    assert jobs.changes == changes + 1
    feed(jobs, 1)
    jobs.handle(job_command(JobAction.RESET, job_id=runaway.job_id).value)
    jobs.handle(job_command(JobAction.PAUSE, job_id=runaway.job_id).value)
    (status,) = jobs.statuses()
    assert status.state is JobState.ERROR
    assert status.error == "stopped by the memory guard: too big"
    assert status.warning is None


def test_a_halted_job_ends_when_an_operator_stops_it() -> None:
    jobs = manager()
    jobs.handle(start_command(RUNAWAY.workflow_id, "panel_0").value)
    (runaway,) = jobs.jobs
    feed(jobs, 1)
    jobs.halt(runaway.job_id, "stopped by the memory guard: too big")
    (answer,) = jobs.handle(job_command(JobAction.STOP, job_id=runaway.job_id).value)
    assert answer.ok
    (status,) = jobs.statuses()
    assert status.state is JobState.STOPPED
    assert status.error == "stopped by the memory guard: too big"
    assert jobs.jobs == []


# -- in the processor ------------------------------------------------------------------


def guarded_rig(make_rig, *, limit: int, source: FakeSource | None = None):
    """The conftest processor rig with a memory guard, and the RSS reading the test sets."""
    memory = FakeMemory(GIB)
    rig = make_rig(workflows=WORKFLOWS, source=source, memory_guard=guard_with(memory, limit))
    return rig, memory


def test_the_service_stops_the_runaway_job_publishes_why_and_keeps_serving(make_rig) -> None:
    rig, memory = guarded_rig(make_rig, limit=GIB)  # a tenth of it: ~100 MB of state is to blame
    start_runaway = start_command(
        RUNAWAY.workflow_id, "panel_0", params={"ballast_bytes_per_window": 64 * MIB}
    )
    start_count = start_command(COUNT.workflow_id, "panel_0")
    rig.step(start_runaway, start_count)
    runaway_id = start_runaway.value.job_id
    count_id = start_count.value.job_id
    for i in range(1, 3):
        rig.step(event_message(T0 + i * S, 10), advance_s=1)
    halted_at = len(rig.sink.job_statuses)
    memory.rss = GIB + 100 * MIB  # the runaway job holds 128 MiB of ballast by now
    rig.step(event_message(T0 + 3 * S, 10), advance_s=1)
    # Published in the same step, without waiting for the next heartbeat period.
    (error,) = [s for s in rig.sink.job_statuses[halted_at:] if s.job_id == runaway_id]
    assert error.state is JobState.ERROR
    assert error.error.startswith("stopped by the memory guard: service RSS 1.1 GiB")
    assert error.error.endswith("this job held 128.0 MiB")
    memory.rss = GIB
    count_results = len(rig.sink.outputs("cumulative"))
    for i in range(4, 8):
        rig.step(event_message(T0 + i * S, 10), advance_s=1)
    assert len(rig.sink.outputs("cumulative")) == count_results + 4  # the other job goes on
    assert all(r.key.job_id == count_id for r in rig.sink.outputs("cumulative")[-4:])
    assert rig.sink.outputs("kept_events")[-1].data.coords["time"].value <= T0 + 3 * S
    service = rig.sink.service_statuses[-1]
    assert service.stream_stats["memory"]["jobs_stopped"] == 1
    assert service.error is None
    newest = {s.job_id: s for s in rig.sink.job_statuses}
    assert newest[runaway_id].state is JobState.ERROR
    assert newest[count_id].state is JobState.ACTIVE


def test_the_service_heartbeat_says_when_memory_is_over_with_nobody_to_blame(make_rig) -> None:
    rig, memory = guarded_rig(make_rig, limit=GIB)
    rig.step(start_command(COUNT.workflow_id, "panel_0"))
    memory.rss = 2 * GIB
    rig.step(event_message(T0 + S, 10), advance_s=2)
    service = rig.sink.service_statuses[-1]
    assert service.error.startswith("service RSS 2.0 GiB over the limit 1.0 GiB; no job")
    assert service.stream_stats["memory"]["rss_bytes"] == 2 * GIB
    assert rig.sink.job_statuses  # reported, and not stopped:
    assert all(s.state is not JobState.ERROR for s in rig.sink.job_statuses)
    assert len(rig.jobs.state_sizes()) == 1


class BufferingSource(FakeSource):
    """A source that says how many bytes its queue holds (``ReportsBufferedBytes``)."""

    def __init__(self) -> None:
        super().__init__()
        self.queued = 0

    def buffered_bytes(self) -> int:
        return self.queued


def test_the_service_blames_no_job_for_what_its_source_queue_holds(make_rig) -> None:
    source = BufferingSource()
    rig, memory = guarded_rig(make_rig, limit=GIB, source=source)
    start_runaway = start_command(
        RUNAWAY.workflow_id, "panel_0", params={"ballast_bytes_per_window": 64 * MIB}
    )
    rig.step(start_runaway)
    for i in range(1, 4):
        rig.step(event_message(T0 + i * S, 10), advance_s=1)
    source.queued = 512 * MIB  # overload: the queue fills towards its bound
    memory.rss = GIB + 100 * MIB
    rig.step(event_message(T0 + 4 * S, 10), advance_s=2)
    service = rig.sink.service_statuses[-1]
    assert service.error.endswith("buffers 512.0 MiB)")
    assert service.stream_stats["memory"]["jobs_stopped"] == 0
    assert all(s.state is not JobState.ERROR for s in rig.sink.job_statuses)


def test_the_batchers_open_window_counts_as_buffered() -> None:
    batcher = DataTimeBatcher(clock=FakeClock(T0))
    assert batcher.buffered_bytes() == 0
    batcher.add([event_message(T0, 100_000)])
    assert batcher.buffered_bytes() >= 100_000 * 8
    batcher.flush()
    assert batcher.buffered_bytes() == 0
