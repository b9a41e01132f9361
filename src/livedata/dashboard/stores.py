"""The dashboard's shared state: results, service and job status, notifications.

Each store has ONE writer (the backend's consumer thread) and many readers (Panel
sessions on their own threads). Entries are immutable and replaced, never changed, so a
reader holding one is never surprised; a lock is held only around a dict mutation or a
copy, never around decoding or rendering. Every store has a ``version`` that the writer
bumps on each change, so a session compares one integer to know whether to look closer.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipp as sc

from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.core.status import JobState, JobStatus, ServiceState
from livedata.dashboard.contract import (
    JobRow,
    Level,
    Liveness,
    Notification,
    NotificationsView,
    ResultEntry,
    ResultsView,
    ServiceRow,
    StatusView,
)
from livedata.protocol.heartbeats import JobHeartbeat, ServiceHeartbeat

NS_PER_S = 1_000_000_000

MAX_RESULT_KEYS = 4_000
"""Outputs kept at once. 100 jobs of a detector view publish ~8 outputs each (images,
totals, ROI spectra and echoes); twice that leaves room for jobs being replaced. Past
the bound the output updated least recently is forgotten (a stopped job's last frame)."""

MAX_RESULT_BYTES = 2 << 30
"""Memory the newest results may hold together: a 1.5 M-pixel DREAM image with
variances is 24 MB, so tens of them fit; past the bound the least recently updated
entries go first (the entry just written always stays)."""

HISTORY_POINTS = 10_000
"""Points kept per 0-d output: 2.8 hours at one update per second, enough for a shift's
trend plot; a ring, so memory stays flat (16 bytes a point)."""

_HISTORY_INITIAL = 64
"""A history grows by doubling up to ``HISTORY_POINTS``: outputs that are never plotted
over time do not each pin 160 kB."""

SERVICE_STALE_S = 30.0
"""WIRE.md: a consumer treats a worker as gone after 30 s of silence."""

JOB_STALE_S = 60.0
"""WIRE.md: ... and a job after 60 s."""

FORGET_AFTER_S = 600.0
"""Rows silent for ten minutes are dropped: long enough to see what died, and the status
table of a dashboard that runs for weeks does not grow with every job ever started."""

MAX_STATUS_ENTRIES = 10_000
"""Services plus jobs tracked at once; real instruments run tens to hundreds."""

MAX_NOTIFICATIONS = 500
"""Notifications kept (newest last): a shift's worth of command feedback."""

ROUTINE_REJECTIONS = frozenset({"not_wanted"})
"""Ingress reasons that are not problems: a shared topic carries streams others read."""


# -- results ---------------------------------------------------------------------------


class _History:
    """A growing ring of (data time, value) pairs; the writer appends, readers copy."""

    __slots__ = ("_capacity", "_size", "_start", "_times", "_values")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        size = min(_HISTORY_INITIAL, capacity)
        self._times = np.empty(size, dtype=np.int64)
        self._values = np.empty(size, dtype=np.float64)
        self._start = 0
        self._size = 0

    @property
    def last_time(self) -> int | None:
        if not self._size:
            return None
        return int(self._times[(self._start + self._size - 1) % len(self._times)])

    def append(self, time_ns: int, value: float) -> None:
        n = len(self._times)
        if self._size == n and n < self._capacity:
            self._grow(min(2 * n, self._capacity))
            n = len(self._times)
        if self._size < n:
            i = (self._start + self._size) % n
            self._size += 1
        else:  # full at capacity: overwrite the oldest
            i = self._start
            self._start = (self._start + 1) % n
        self._times[i] = time_ns
        self._values[i] = value

    def _grow(self, size: int) -> None:
        times, values = self.copy()
        self._times = np.empty(size, dtype=np.int64)
        self._values = np.empty(size, dtype=np.float64)
        self._times[: len(times)] = times
        self._values[: len(values)] = values
        self._start = 0

    def copy(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        n = len(self._times)
        end = self._start + self._size
        if end <= n:
            return self._times[self._start : end].copy(), self._values[self._start : end].copy()
        return (
            np.concatenate((self._times[self._start :], self._times[: end - n])),
            np.concatenate((self._values[self._start :], self._values[: end - n])),
        )


def scalar_point(data: sc.DataArray, received_ns: int) -> tuple[int, float] | None:
    """(data time, value) of a 0-d numeric result, or None if it is not one.

    The time is the 0-d ``time`` coord (end of the data window, WIRE.md); without one,
    the time it was received.
    """
    if data.ndim != 0 or data.dtype not in (
        sc.DType.float64,
        sc.DType.float32,
        sc.DType.int64,
        sc.DType.int32,
    ):
        return None
    coord = data.coords.get("time")
    when = received_ns
    if coord is not None and coord.ndim == 0 and coord.dtype in (sc.DType.int64, sc.DType.int32):
        when = int(coord.value)
    return when, float(data.value)


_EMPTY_HISTORY = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))

_OutputId = tuple[WorkflowId, str, str]


def _output_id(key: ResultKey) -> _OutputId:
    return (key.workflow_id, key.job_id.source_name, key.output_name)


class ResultStore:
    """The newest result of every output (a ``ResultsView``), with history of 0-d ones.

    Parameters
    ----------
    max_keys, max_bytes:
        Bounds on what is kept; the least recently updated outputs are forgotten first.
    history_points:
        Ring size of the history of each 0-d output.
    """

    def __init__(
        self,
        *,
        max_keys: int = MAX_RESULT_KEYS,
        max_bytes: int = MAX_RESULT_BYTES,
        history_points: int = HISTORY_POINTS,
    ) -> None:
        if max_keys < 1 or history_points < 1:
            raise ValueError("a result store keeps at least one key and one history point")
        self._max_keys = max_keys
        self._max_bytes = max_bytes
        self._history_points = history_points
        self._lock = threading.Lock()
        # Least recently updated first: eviction pops from the front.
        self._entries: OrderedDict[ResultKey, ResultEntry] = OrderedDict()
        self._sizes: dict[ResultKey, int] = {}
        self._bytes = 0
        self._latest: dict[_OutputId, ResultKey] = {}
        self._histories: dict[ResultKey, _History] = {}
        self._version = 0
        self.counters: Counter[str] = Counter()
        """writes, evicted, history_points, history_out_of_order (writer thread only)."""

    # -- ResultsView ---------------------------------------------------------------

    @property
    def version(self) -> int:
        return self._version

    def keys(self) -> list[ResultKey]:
        with self._lock:
            return list(self._entries)

    def get(self, key: ResultKey) -> ResultEntry | None:
        with self._lock:
            return self._entries.get(key)

    def history(self, key: ResultKey) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        with self._lock:
            history = self._histories.get(key)
            if history is None:
                return _EMPTY_HISTORY[0].copy(), _EMPTY_HISTORY[1].copy()
            return history.copy()

    def latest(
        self, workflow_id: WorkflowId, source_name: str, output_name: str
    ) -> ResultEntry | None:
        with self._lock:
            key = self._latest.get((workflow_id, source_name, output_name))
            return None if key is None else self._entries.get(key)

    # -- writer ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Memory held by the kept results (their scipp buffers)."""
        return self._bytes

    def put(self, key: ResultKey, data: sc.DataArray, *, received_ns: int) -> ResultEntry:
        """Keep ``data`` as the newest result of ``key`` (the caller never changes it)."""
        size = int(data.underlying_size())
        point = scalar_point(data, received_ns)
        with self._lock:
            self._version += 1
            entry = ResultEntry(key=key, data=data, received_ns=received_ns, version=self._version)
            self._bytes += size - self._sizes.get(key, 0)
            self._sizes[key] = size
            self._entries[key] = entry
            self._entries.move_to_end(key)
            self._latest[_output_id(key)] = key
            if point is not None:
                self._record(key, *point)
            self._evict()
        self.counters["writes"] += 1
        return entry

    def _record(self, key: ResultKey, time_ns: int, value: float) -> None:
        history = self._histories.get(key)
        if history is None:
            history = self._histories[key] = _History(self._history_points)
        last = history.last_time
        if last is not None and time_ns <= last:
            # A re-delivered or reordered result: the series must stay time-ordered.
            self.counters["history_out_of_order"] += 1
            return
        history.append(time_ns, value)
        self.counters["history_points"] += 1

    def _evict(self) -> None:
        while len(self._entries) > 1 and (
            len(self._entries) > self._max_keys or self._bytes > self._max_bytes
        ):
            key, _ = self._entries.popitem(last=False)
            self._bytes -= self._sizes.pop(key)
            self._histories.pop(key, None)
            self.counters["evicted"] += 1
            output = _output_id(key)
            if self._latest.get(output) == key:
                # Fall back to the newest other job of the same output, if any.
                other = next((k for k in reversed(self._entries) if _output_id(k) == output), None)
                if other is None:
                    del self._latest[output]
                else:
                    self._latest[output] = other


# -- status ------------------------------------------------------------------------------


def count_total(value: Any, *, skip: frozenset[str] = frozenset()) -> int:
    """Sum every integer in a nested counter mapping, leaving out keys in ``skip``.

    Tolerant on purpose: ``stream_stats`` is free-form JSON whose shape grows with the
    services, and a status view must not fail on a counter it does not know.
    """
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, Mapping):
        return sum(count_total(v, skip=skip) for k, v in value.items() if k not in skip)
    return 0


@dataclass(frozen=True, slots=True)
class _ServiceSeen:
    heartbeat: ServiceHeartbeat
    sent_ns: int
    messages: int
    rate_hz: float | None


@dataclass(frozen=True, slots=True)
class _JobSeen:
    heartbeat: JobHeartbeat
    sent_ns: int


def _liveness(stopped: bool, age_ns: int, stale_s: float) -> Liveness:
    if stopped:
        return Liveness.GONE
    return Liveness.STALE if age_ns > stale_s * NS_PER_S else Liveness.LIVE


class StatusStore:
    """The newest heartbeat of every service and job (a ``StatusView``).

    ``version`` changes when a row gains, loses or changes content (state, message
    counts, errors), not when only its age grows: liveness depends on the reader's
    ``now``, so a status table re-reads its rows at least once a second anyway.
    """

    def __init__(
        self,
        *,
        service_stale_s: float = SERVICE_STALE_S,
        job_stale_s: float = JOB_STALE_S,
        forget_after_s: float = FORGET_AFTER_S,
        max_entries: int = MAX_STATUS_ENTRIES,
    ) -> None:
        self._service_stale_s = service_stale_s
        self._job_stale_s = job_stale_s
        self._forget_after_ns = int(forget_after_s * NS_PER_S)
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._services: dict[str, _ServiceSeen] = {}
        self._jobs: dict[JobId, _JobSeen] = {}
        self._version = 0
        self.counters: Counter[str] = Counter()
        """observed, older_ignored, forgotten (writer thread only)."""

    @property
    def version(self) -> int:
        return self._version

    def observe(self, heartbeat: ServiceHeartbeat | JobHeartbeat, sent_ns: int) -> bool:
        """Keep ``heartbeat`` if it is the newest of its sender; True if a row changed."""
        self.counters["observed"] += 1
        if isinstance(heartbeat, ServiceHeartbeat):
            return self._observe_service(heartbeat, sent_ns)
        return self._observe_job(heartbeat, sent_ns)

    def _observe_service(self, heartbeat: ServiceHeartbeat, sent_ns: int) -> bool:
        key = heartbeat.service_id
        previous = self._services.get(key)
        if previous is not None and sent_ns < previous.sent_ns:
            self.counters["older_ignored"] += 1
            return False
        messages = count_total(heartbeat.status.stream_stats.get("messages"))
        rate = None
        if (
            previous is not None
            and previous.heartbeat.status.started_at == heartbeat.status.started_at
            and sent_ns > previous.sent_ns
            and messages >= previous.messages
        ):
            rate = (messages - previous.messages) * NS_PER_S / (sent_ns - previous.sent_ns)
        elif previous is not None and sent_ns == previous.sent_ns:
            rate = previous.rate_hz
        seen = _ServiceSeen(heartbeat, sent_ns, messages, rate)
        with self._lock:
            self._services[key] = seen
            self._bound()
            # Every service heartbeat carries new counts: always a visible change.
            self._version += 1
        return True

    def _observe_job(self, heartbeat: JobHeartbeat, sent_ns: int) -> bool:
        key = heartbeat.status.job_id
        previous = self._jobs.get(key)
        if previous is not None and sent_ns < previous.sent_ns:
            self.counters["older_ignored"] += 1
            return False
        changed = (
            previous is None
            or previous.heartbeat.status != heartbeat.status
            or previous.heartbeat.code != heartbeat.code
            # A silence long enough to have shown as stale ends: liveness flips back.
            or sent_ns - previous.sent_ns > self._job_stale_s * NS_PER_S
        )
        with self._lock:
            self._jobs[key] = _JobSeen(heartbeat, sent_ns)
            if changed:
                self._bound()
                self._version += 1
        return changed

    def _bound(self) -> None:
        while len(self._services) + len(self._jobs) > self._max_entries:
            # Forget the job (or, with no jobs left, the service) heard from longest ago.
            table: dict[Any, Any] = self._jobs if self._jobs else self._services
            oldest = min(table, key=lambda k: table[k].sent_ns)
            del table[oldest]
            self.counters["forgotten"] += 1

    def prune(self, now_ns: int) -> int:
        """Forget rows silent for ``forget_after_s``; return how many went."""
        cutoff = now_ns - self._forget_after_ns
        with self._lock:
            services = [k for k, v in self._services.items() if v.sent_ns < cutoff]
            jobs = [k for k, v in self._jobs.items() if v.sent_ns < cutoff]
            for key in services:
                del self._services[key]
            for job in jobs:
                del self._jobs[job]
            if services or jobs:
                self._version += 1
        self.counters["forgotten"] += len(services) + len(jobs)
        return len(services) + len(jobs)

    # -- StatusView ------------------------------------------------------------------

    def services(self, now_ns: int) -> list[ServiceRow]:
        with self._lock:
            seen = list(self._services.values())
        rows = [self._service_row(s, now_ns) for s in seen]
        rows.sort(key=lambda r: (r.status.service_name, r.status.worker_id, r.service_id))
        return rows

    def jobs(self, now_ns: int) -> list[JobRow]:
        with self._lock:
            seen = list(self._jobs.values())
        rows = [
            JobRow(
                status=s.heartbeat.status,
                last_seen_ns=s.sent_ns,
                liveness=_liveness(
                    s.heartbeat.status.state is JobState.STOPPED,
                    now_ns - s.sent_ns,
                    self._job_stale_s,
                ),
            )
            for s in seen
        ]
        rows.sort(
            key=lambda r: (
                str(r.status.workflow_id),
                r.status.job_id.source_name,
                str(r.status.job_id.job_number),
            )
        )
        return rows

    def job(self, job_id: JobId) -> JobStatus | None:
        """The newest status of one job, if it was heard from."""
        with self._lock:
            seen = self._jobs.get(job_id)
        return None if seen is None else seen.heartbeat.status

    def _service_row(self, seen: _ServiceSeen, now_ns: int) -> ServiceRow:
        heartbeat = seen.heartbeat
        status = heartbeat.status
        stats = status.stream_stats
        ingress = stats.get("ingress")
        ingress = ingress if isinstance(ingress, Mapping) else {}
        return ServiceRow(
            service_id=heartbeat.service_id,
            status=status,
            software_version=heartbeat.software_version,
            host_name=heartbeat.host_name,
            last_seen_ns=seen.sent_ns,
            liveness=_liveness(
                status.state is ServiceState.STOPPED,
                now_ns - seen.sent_ns,
                self._service_stale_s,
            ),
            process_id=heartbeat.process_id,
            messages=seen.messages,
            message_rate_hz=seen.rate_hz,
            dropped=count_total(ingress.get("dropped_messages")),
            rejected=count_total(ingress.get("rejected"), skip=ROUTINE_REJECTIONS),
        )


# -- notifications -----------------------------------------------------------------------


class NotificationLog:
    """Command feedback and errors, newest last, bounded (a ``NotificationsView``)."""

    def __init__(
        self,
        *,
        max_entries: int = MAX_NOTIFICATIONS,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._entries: deque[Notification] = deque(maxlen=max_entries)
        self._lock = threading.Lock()
        self._clock = clock
        self._version = 0

    @property
    def version(self) -> int:
        return self._version

    def add(self, level: Level, text: str) -> Notification:
        notification = Notification(time_ns=self._clock(), level=level, text=text)
        with self._lock:
            self._entries.append(notification)
            self._version += 1
        return notification

    def entries(self) -> list[Notification]:
        with self._lock:
            return list(self._entries)


def _conforms(
    results: ResultStore, status: StatusStore, notifications: NotificationLog
) -> tuple[ResultsView, StatusView, NotificationsView]:
    """Never called: mypy checks here that the stores keep the UI's contract."""
    return results, status, notifications
