"""The dashboard's shared status: the newest heartbeat of every service and job, and the
notification log of command feedback and errors.

Like the result store: one writer (the backend's consumer thread), many readers, rows
immutable and replaced, a ``version`` bumped on each change.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from livedata.core.identity import JobId
from livedata.core.rejections import rejected_total
from livedata.core.status import JobState, JobStatus, ServiceState, count_total
from livedata.dashboard.contract import (
    JobRow,
    Level,
    Liveness,
    Notification,
    NotificationsView,
    ServiceRow,
    StatusView,
)
from livedata.protocol.heartbeats import JobHeartbeat, ServiceHeartbeat

NS_PER_S = 1_000_000_000

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


# -- status ------------------------------------------------------------------------------


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
            rejected=rejected_total(status.stream_stats),
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
    status: StatusStore, notifications: NotificationLog
) -> tuple[StatusView, NotificationsView]:
    """Never called: mypy checks here that the stores keep the UI's contract."""
    return status, notifications
