"""The dashboard stores: versions, bounds, history, staleness, and concurrent readers."""

import threading
import time
import uuid

import numpy as np
import pytest
import scipp as sc

from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.core.status import JobState, JobStatus, ServiceState, ServiceStatus
from livedata.dashboard.contract import Level, Liveness
from livedata.dashboard.status_store import NotificationLog, StatusStore
from livedata.dashboard.stores import ResultStore
from livedata.protocol.heartbeats import JobHeartbeat, NicosStatus, ServiceHeartbeat

S = 1_000_000_000
WORKFLOW = WorkflowId(instrument="dummy", name="panel_0_xy", version=1)


def key(output: str = "counts_total", job: JobId | None = None) -> ResultKey:
    job = job or JobId(source_name="panel_0", job_number=uuid.UUID(int=1))
    return ResultKey(workflow_id=WORKFLOW, job_id=job, output_name=output)


def scalar(value: float, time_ns: int | None = None) -> sc.DataArray:
    da = sc.DataArray(sc.scalar(value, unit="counts"))
    if time_ns is not None:
        da.coords["time"] = sc.scalar(time_ns, unit="ns", dtype="int64")
    return da


def image(side: int = 4) -> sc.DataArray:
    return sc.DataArray(sc.array(dims=["y", "x"], values=np.ones((side, side)), unit="counts"))


# -- results ---------------------------------------------------------------------------------


def test_every_write_bumps_the_version_and_stamps_the_entry() -> None:
    store = ResultStore()
    assert store.version == 0
    assert store.get(key()) is None
    first = store.put(key(), scalar(1.0), received_ns=5)
    second = store.put(key("current"), image(), received_ns=6)
    assert (first.version, second.version, store.version) == (1, 2, 2)
    assert store.get(key()) == first
    assert store.get(key()).received_ns == 5
    assert set(store.keys()) == {key(), key("current")}
    third = store.put(key(), scalar(2.0), received_ns=7)
    assert store.get(key()) is third
    assert third.version == store.version == 3


def test_latest_is_the_most_recently_updated_job_of_an_output() -> None:
    store = ResultStore()
    old = JobId(source_name="panel_0", job_number=uuid.UUID(int=1))
    new = JobId(source_name="panel_0", job_number=uuid.UUID(int=2))
    store.put(key(job=old), scalar(1.0), received_ns=0)
    assert store.latest(WORKFLOW, "panel_0", "counts_total").key.job_id == old
    store.put(key(job=new), scalar(2.0), received_ns=0)
    assert store.latest(WORKFLOW, "panel_0", "counts_total").key.job_id == new
    assert store.latest(WORKFLOW, "panel_0", "current") is None
    assert store.latest(WORKFLOW, "monitor1", "counts_total") is None


def test_history_of_a_0d_output_uses_the_time_coord_and_is_bounded() -> None:
    store = ResultStore(history_points=5)
    for i in range(8):
        store.put(key(), scalar(float(i), time_ns=(i + 1) * S), received_ns=0)
    times, values = store.history(key())
    assert times.tolist() == [4 * S, 5 * S, 6 * S, 7 * S, 8 * S]
    assert values.tolist() == [3.0, 4.0, 5.0, 6.0, 7.0]
    # Copies: a reader cannot disturb the ring.
    values[:] = -1
    assert store.history(key())[1].tolist() == [3.0, 4.0, 5.0, 6.0, 7.0]


def test_history_grows_past_its_first_allocation_in_order() -> None:
    store = ResultStore(history_points=1000)
    for i in range(300):
        store.put(key(), scalar(float(i), time_ns=i + 1), received_ns=0)
    times, values = store.history(key())
    assert times.tolist() == list(range(1, 301))
    assert values.tolist() == [float(i) for i in range(300)]


def test_history_skips_repeated_and_older_points_and_falls_back_to_receipt_time() -> None:
    store = ResultStore()
    store.put(key(), scalar(1.0, time_ns=10), received_ns=0)
    store.put(key(), scalar(2.0, time_ns=10), received_ns=0)  # re-delivered
    store.put(key(), scalar(3.0, time_ns=5), received_ns=0)  # older
    store.put(key("untimed"), scalar(4.0), received_ns=99)
    assert store.history(key())[1].tolist() == [1.0]
    assert store.counters["history_out_of_order"] == 2
    assert store.history(key("untimed"))[0].tolist() == [99]
    # NaN (a masked total) is kept: the plot shows a gap.
    store.put(key(), scalar(float("nan"), time_ns=11), received_ns=0)
    assert np.isnan(store.history(key())[1][-1])


def test_only_0d_outputs_have_history() -> None:
    store = ResultStore()
    store.put(key("current"), image(), received_ns=0)
    times, values = store.history(key("current"))
    assert times.size == values.size == 0
    assert store.history(key("never"))[0].size == 0


def test_the_least_recently_updated_key_is_evicted_past_the_key_bound() -> None:
    store = ResultStore(max_keys=3)
    for name in ("a", "b", "c"):
        store.put(key(name), scalar(1.0, time_ns=1), received_ns=0)
    store.put(key("a"), scalar(2.0, time_ns=2), received_ns=0)  # a is fresh again
    store.put(key("d"), scalar(1.0, time_ns=1), received_ns=0)
    assert set(store.keys()) == {key("a"), key("c"), key("d")}
    assert store.get(key("b")) is None
    assert store.history(key("b"))[0].size == 0
    assert store.latest(WORKFLOW, "panel_0", "b") is None
    assert store.counters["evicted"] == 1


def test_eviction_of_the_newest_job_falls_back_to_an_older_one() -> None:
    store = ResultStore(max_keys=2)
    old = JobId(source_name="panel_0", job_number=uuid.UUID(int=1))
    new = JobId(source_name="panel_0", job_number=uuid.UUID(int=2))
    store.put(key(job=new), scalar(2.0), received_ns=0)
    store.put(key(job=old), scalar(1.0), received_ns=0)  # the old job publishes last
    store.put(key("other"), scalar(1.0), received_ns=0)  # evicts the new job's entry
    assert store.latest(WORKFLOW, "panel_0", "counts_total").key.job_id == old


def test_the_byte_bound_evicts_but_keeps_the_entry_just_written() -> None:
    one = image(64).underlying_size()
    store = ResultStore(max_bytes=int(2.5 * one))
    for name in ("a", "b", "c"):
        store.put(key(name), image(64), received_ns=0)
    assert set(store.keys()) == {key("b"), key("c")}
    assert store.nbytes <= 2.5 * one
    huge = sc.DataArray(sc.zeros(dims=["x"], shape=[100_000]))
    store.put(key("huge"), huge, received_ns=0)
    assert store.keys() == [key("huge")]


def test_readers_on_other_threads_never_see_a_torn_store() -> None:
    store = ResultStore(max_keys=50, history_points=100)
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                keys = store.keys()  # a copy: the writer may add and evict meanwhile
                for k in keys:
                    entry = store.get(k)
                    assert entry is None or entry.key == k
                    times, values = store.history(k)
                    assert len(times) == len(values)
                    assert np.all(np.diff(times) > 0)
                store.latest(WORKFLOW, "panel_0", "k3")
                time.sleep(0)  # let the writer run: readers of a session poll, not spin
        except BaseException as err:  # noqa: BLE001 - handed to the main thread
            errors.append(err)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    for i in range(4_000):
        store.put(key(f"k{i % 80}"), scalar(float(i), time_ns=i + 1), received_ns=i)
    stop.set()
    for reader in readers:
        reader.join()
    assert errors == []
    assert len(store.keys()) == 50


# -- status ------------------------------------------------------------------------------------


def service_heartbeat(
    worker: str = "w1",
    state: ServiceState = ServiceState.RUNNING,
    messages: int = 0,
    service: str = "detector_data",
) -> ServiceHeartbeat:
    return ServiceHeartbeat(
        software_name="livedata",
        software_version="0.1.0",
        service_id=f"dummy:{service}:{worker}",
        host_name="host",
        process_id=42,
        update_interval_ms=2000,
        code=NicosStatus.OK,
        status=ServiceStatus(
            instrument="dummy",
            service_name=service,
            worker_id=worker,
            state=state,
            started_at=1,
            active_job_count=1,
            batch_interval_s=1.0,
            stream_stats={
                "messages": {"panel_0": messages},
                "ingress": {
                    "dropped_messages": 3,
                    "rejected": {"panel_0": {"not_wanted": 100, "truncated": 2}},
                },
            },
        ),
    )


def job_heartbeat(number: int = 1, state: JobState = JobState.ACTIVE) -> JobHeartbeat:
    job_id = JobId(source_name="panel_0", job_number=uuid.UUID(int=number))
    return JobHeartbeat(
        software_name="livedata",
        software_version="0.1.0",
        service_id=f"panel_0:{job_id.job_number}",
        host_name="host",
        process_id=42,
        update_interval_ms=2000,
        code=NicosStatus.OK,
        status=JobStatus(job_id=job_id, workflow_id=WORKFLOW, state=state),
    )


def test_services_go_stale_after_30_s_and_jobs_after_60_s() -> None:
    store = StatusStore()
    store.observe(service_heartbeat(), 100 * S)
    store.observe(job_heartbeat(), 100 * S)
    assert store.services(129 * S)[0].liveness is Liveness.LIVE
    assert store.services(131 * S)[0].liveness is Liveness.STALE
    assert store.jobs(159 * S)[0].liveness is Liveness.LIVE
    assert store.jobs(161 * S)[0].liveness is Liveness.STALE


def test_a_final_stopped_heartbeat_marks_gone_never_stale() -> None:
    store = StatusStore()
    store.observe(service_heartbeat(), 100 * S)
    store.observe(job_heartbeat(), 100 * S)
    store.observe(service_heartbeat(state=ServiceState.STOPPED), 101 * S)
    store.observe(job_heartbeat(state=JobState.STOPPED), 101 * S)
    assert store.services(500 * S)[0].liveness is Liveness.GONE
    assert store.jobs(500 * S)[0].liveness is Liveness.GONE


def test_an_older_heartbeat_does_not_replace_a_newer_one() -> None:
    store = StatusStore()
    store.observe(job_heartbeat(state=JobState.STOPPED), 100 * S)
    assert not store.observe(job_heartbeat(state=JobState.ACTIVE), 99 * S)
    assert store.jobs(100 * S)[0].status.state is JobState.STOPPED


def test_service_rows_carry_counts_and_the_message_rate() -> None:
    store = StatusStore()
    store.observe(service_heartbeat(messages=100), 100 * S)
    first = store.services(100 * S)[0]
    assert first.message_rate_hz is None
    store.observe(service_heartbeat(messages=300), 102 * S)
    row = store.services(102 * S)[0]
    assert row.message_rate_hz == pytest.approx(100.0)
    assert (row.messages, row.dropped, row.rejected) == (300, 3, 2)  # not_wanted is routine
    assert (row.host_name, row.software_version, row.process_id) == ("host", "0.1.0", 42)
    assert row.last_seen_ns == 102 * S


def test_rows_are_sorted_stably() -> None:
    store = StatusStore()
    for worker, service in (("b", "monitor_data"), ("a", "monitor_data"), ("z", "detector_data")):
        store.observe(service_heartbeat(worker, service=service), S)
    for number in (3, 1, 2):
        store.observe(job_heartbeat(number), S)
    assert [(r.status.service_name, r.status.worker_id) for r in store.services(S)] == [
        ("detector_data", "z"),
        ("monitor_data", "a"),
        ("monitor_data", "b"),
    ]
    assert [r.status.job_id.job_number.int for r in store.jobs(S)] == [1, 2, 3]


def test_the_version_moves_on_visible_changes_only() -> None:
    store = StatusStore()
    store.observe(job_heartbeat(), 100 * S)
    version = store.version
    assert not store.observe(job_heartbeat(), 102 * S)  # same content, only newer
    assert store.version == version
    assert store.observe(job_heartbeat(state=JobState.WARNING), 104 * S)
    assert store.version > version
    version = store.version
    assert store.observe(job_heartbeat(state=JobState.WARNING), 200 * S)  # back from stale
    assert store.version > version


def test_rows_silent_for_ten_minutes_are_forgotten() -> None:
    store = StatusStore()
    store.observe(service_heartbeat(), 100 * S)
    store.observe(job_heartbeat(), 100 * S)
    store.observe(job_heartbeat(2), 500 * S)
    assert store.prune(701 * S) == 2
    assert store.services(701 * S) == []
    assert [r.status.job_id.job_number.int for r in store.jobs(701 * S)] == [2]
    assert store.job(JobId(source_name="panel_0", job_number=uuid.UUID(int=2))) is not None


def test_the_number_of_rows_is_bounded() -> None:
    store = StatusStore(max_entries=5)
    for number in range(10):
        store.observe(job_heartbeat(number + 1), (number + 1) * S)
    assert [r.status.job_id.job_number.int for r in store.jobs(10 * S)] == [6, 7, 8, 9, 10]


# -- notifications -------------------------------------------------------------------------------


def test_notifications_are_bounded_versioned_and_newest_last() -> None:
    log = NotificationLog(max_entries=3, clock=lambda: 7)
    for i in range(5):
        log.add(Level.INFO, f"n{i}")
    assert log.version == 5
    assert [n.text for n in log.entries()] == ["n2", "n3", "n4"]
    assert log.entries()[0].time_ns == 7


# -- last-N-seconds sums ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def frame(end_s: int, value: float = 1.0) -> sc.DataArray:
    da = sc.DataArray(
        sc.array(dims=["y", "x"], values=np.full((2, 2), value), variances=np.full((2, 2), value))
    )
    da.data.unit = "counts"
    da.coords["start_time"] = sc.scalar((end_s - 1) * S, unit="ns", dtype="int64")
    da.coords["time"] = sc.scalar(end_s * S, unit="ns", dtype="int64")
    return da


def windowed(store: ResultStore, last_s: float = 10.0):
    return store.windowed(WORKFLOW, "panel_0", "current", last_s)


def test_a_sum_starts_at_the_first_ask_and_follows_every_frame() -> None:
    store = ResultStore()
    store.put(key("current"), frame(1), received_ns=0)
    assert windowed(store) is None, "nothing summed before anyone asked"
    for end in range(2, 20):
        store.put(key("current"), frame(end), received_ns=0)
    entry = windowed(store)
    assert entry is not None
    assert entry.data.values[0, 0] == 10.0
    assert entry.data.coords["start_time"].value == 9 * S
    assert entry.version == store.latest(WORKFLOW, "panel_0", "current").version
    assert entry.key == key("current")
    assert windowed(store, 3.0) is None, "each window length is its own sum"


def test_a_sum_is_computed_once_per_frame_however_many_sessions_read_it() -> None:
    store = ResultStore()
    windowed(store)
    for end in range(1, 6):
        store.put(key("current"), frame(end), received_ns=0)
        for _session in range(10):
            windowed(store)
    assert store.counters["window_frames"] == 5


def test_a_new_job_starts_its_own_sum() -> None:
    store = ResultStore()
    windowed(store)
    for end in range(1, 4):
        store.put(key("current"), frame(end), received_ns=0)
    other = JobId(source_name="panel_0", job_number=uuid.UUID(int=2))
    store.put(key("current", job=other), frame(4, value=7.0), received_ns=0)
    entry = windowed(store)
    assert entry.key.job_id == other
    assert entry.data.values[0, 0] == 7.0


def test_a_sum_nobody_reads_is_dropped() -> None:
    clock = Clock()
    store = ResultStore(window_idle_s=60.0, clock=clock)
    windowed(store)
    store.put(key("current"), frame(1), received_ns=0)
    assert store.window_nbytes > 0
    clock.now = 10**12  # much later, nobody asked since
    store.put(key("current"), frame(2), received_ns=0)
    assert store.window_nbytes == 0
    assert store.counters["windows_dropped"] == 1
    assert windowed(store) is None, "asking again starts afresh"


def test_sums_share_a_memory_budget_the_least_recently_read_going_first() -> None:
    clock = Clock()
    one = 4 * 8 * 2  # a 2 x 2 frame with variances
    budget = 8 * one  # the four sums below need 11 frames' worth after nine frames
    store = ResultStore(window_bytes=budget, window_sum_bytes=one * 4, clock=clock)
    for last_s in (10.0, 20.0, 30.0, 40.0):
        clock.now += 1
        windowed(store, last_s)
    for end in range(1, 10):
        store.put(key("current"), frame(end), received_ns=0)
    assert store.window_nbytes <= budget
    assert store.counters["windows_dropped"] >= 1
    assert windowed(store, 10.0) is None, "read first: dropped first"
    assert windowed(store, 40.0) is not None


def test_the_number_of_sums_asked_for_is_bounded() -> None:
    store = ResultStore(max_windows=2)
    windowed(store, 1.0)
    windowed(store, 2.0)
    assert windowed(store, 3.0) is None
    assert store.counters["windows_refused"] == 1
    for end in range(1, 3):
        store.put(key("current"), frame(end), received_ns=0)
    assert windowed(store, 3.0) is None
    assert windowed(store, 2.0) is not None


def test_a_sum_counts_both_parts_of_a_split_window_and_a_redelivery_once() -> None:
    store = ResultStore()
    windowed(store)
    store.put(key("current"), frame(1), received_ns=0, published_ns=10)
    store.put(key("current"), frame(2, value=2.0), received_ns=0, published_ns=20)
    store.put(key("current"), frame(2, value=3.0), received_ns=0, published_ns=25)
    store.put(key("current"), frame(2, value=3.0), received_ns=0, published_ns=25)  # again
    entry = windowed(store)
    assert entry is not None
    assert entry.data.values[0, 0] == 6.0
    assert store.counters["window_frames"] == 3
