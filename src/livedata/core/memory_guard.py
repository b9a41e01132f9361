"""The memory guard: stops the job that pushed a service over its memory limit.

The kernel's OOM killer ends the whole process, every job with it, and nobody is told
why. The guard acts first: from the processing loop it reads the service's resident
memory every second and, over the limit, stops the job that accounts for the overshoot
with an error its heartbeat carries, drops that state and hands the memory back.

A job is blamed only if the memory over the limit is not held by the service's own
bounded buffers (source queue, open window, producer queue: they drain by themselves)
and the job holds at least the overshoot, so stopping it brings the service back under
its limit. Otherwise a service under overload, whose buffers fill up to their bounds,
would lose one healthy job after another. When no job can be blamed, the guard says so
in the service heartbeat and stops nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, Protocol, TypeVar

import structlog

from livedata.core.identity import JobId
from livedata.core.memory import (
    MemoryLimit,
    describe_bytes,
    machine_memory_bytes,
    process_rss_bytes,
    release_freed_memory,
)

logger = structlog.get_logger(__name__)

DEFAULT_MEMORY_LIMIT = MemoryLimit(share=0.25)
"""A quarter of the machine's memory per service: four services and the embedded
broker's budget (also a quarter, at most 4 GiB) fit on one machine together, and one
runaway service is stopped long before the machine runs out."""

CHECK_INTERVAL_NS = 1_000_000_000
"""Resident memory is read every second: reading /proc costs microseconds, and a job
that keeps every event grows ~80 MB/s at 1e7 events/s, so the guard overshoots its
limit by about that much at most."""

STOP_INTERVAL_NS = 10_000_000_000
"""At most one job is stopped in this long. A window being published may still hold the
stopped job's last data, and the memory it releases must show in the resident size
before the guard judges again; and a burst nobody caused must not stop one job after
another every few seconds."""

BLAME_MIN_SHARE = 0.1
"""A job is stopped only if its state holds at least this share of the limit. One that
holds less did not push the service over; stopping it would lose an operator's job
and free next to nothing."""

SIZES_MAX_AGE_NS = 10_000_000_000
"""While the service is over its limit with no job to blame, the jobs' sizes are
measured again at most this often: walking a job's state can take up to ~1 s, and the
guard runs in the processing loop."""

SIZES_GROWTH_SHARE = 0.1
"""...unless the resident size grew by this share of the limit since they were measured:
a job growing fast is still found long before the machine runs out."""

BUFFERS_HOLD_NS = 10_000_000_000
"""The buffers' largest size in this long counts as theirs: they drain at every step,
but the allocator does not hand the memory they held back at once."""

WARNING_INTERVAL_NS = 60_000_000_000
"""An over-limit state nobody can be blamed for is logged again this often."""

K = TypeVar("K", bound=Hashable)


def job_to_stop(
    *,
    rss: int,
    limit: int,
    sizes: Mapping[K, int],
    buffered: int = 0,
    min_share: float = BLAME_MIN_SHARE,
) -> K | None:
    """The job to stop when the service holds ``rss`` bytes against ``limit``.

    ``sizes`` are the bytes each job's state holds, ``buffered`` the bytes in the
    service's bounded buffers. None when under the limit; when the buffers account for
    the overshoot (``rss - buffered <= limit``); or when no job holds both the overshoot
    (``rss - limit``: stopping a smaller one would leave the service over) and
    ``min_share`` of the limit. Otherwise the job holding the most (ties: listed first).
    """
    over = rss - limit
    if over <= 0 or rss - buffered <= limit or not sizes:
        return None
    largest = max(sizes, key=lambda job: sizes[job])
    held = sizes[largest]
    return largest if held >= over and held >= min_share * limit else None


def _nothing_buffered() -> int:
    return 0


class GuardedJobs(Protocol):
    """What the guard needs of a job manager."""

    def state_sizes(self) -> Mapping[JobId, int]:
        """Bytes each running job's state holds (may walk the state: called rarely)."""
        ...

    def halt(self, job_id: JobId, reason: str) -> None:
        """Stop the job at once with ``reason`` as its error, dropping its state."""
        ...


class MemoryGuard:
    """Checks a service's resident memory from its loop and stops a runaway job.

    ``read_rss`` and ``release`` are seams: tests give fixed numbers and count calls.
    """

    def __init__(
        self,
        *,
        limit_bytes: int,
        read_rss: Callable[[], int] = process_rss_bytes,
        release: Callable[[], None] = release_freed_memory,
        interval_ns: int = CHECK_INTERVAL_NS,
        stop_interval_ns: int = STOP_INTERVAL_NS,
        sizes_max_age_ns: int = SIZES_MAX_AGE_NS,
    ) -> None:
        if limit_bytes <= 0:
            raise ValueError(f"memory limit must be positive, got {limit_bytes}")
        self.limit_bytes = limit_bytes
        self._read_rss = read_rss
        self._release = release
        self._interval_ns = interval_ns
        self._stop_interval_ns = stop_interval_ns
        self._sizes_max_age_ns = sizes_max_age_ns
        self._next_check = 0
        self._next_stop = 0
        self._next_warning = 0
        self._sizes: Mapping[JobId, int] | None = None
        """Job sizes measured while nothing could be blamed, reused for a while."""
        self._sizes_at = 0
        self._sizes_rss = 0
        self._buffers_peak = 0
        self._buffers_peak_until = 0
        self.rss_bytes = 0
        self.peak_rss_bytes = 0
        self.buffered_bytes = 0
        self.jobs_stopped = 0
        self.over_limit_checks = 0
        self.problem: str | None = None
        """Why the service is over its limit with no job to blame; None otherwise."""

    @classmethod
    def from_limit(cls, limit: MemoryLimit, **kwargs: Any) -> MemoryGuard:
        """A guard for ``limit`` on this machine (or cgroup)."""
        return cls(limit_bytes=limit.bytes_of(machine_memory_bytes()), **kwargs)

    def check(
        self,
        now_ns: int,
        jobs: GuardedJobs,
        buffered_bytes: Callable[[], int] = _nothing_buffered,
    ) -> bool:
        """Read memory if a check is due; True if a job was stopped (report it now).

        ``buffered_bytes`` gives the bytes now in the service's bounded buffers (read
        at every check; it must be cheap)."""
        if now_ns < self._next_check:
            return False
        self._next_check = now_ns + self._interval_ns
        rss = self.rss_bytes = self._read_rss()
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
        buffered = self.buffered_bytes = self._recent_buffers(now_ns, buffered_bytes())
        if rss <= self.limit_bytes:
            self.problem = None
            self._sizes = None
            return False
        self.over_limit_checks += 1
        if now_ns < self._next_stop:
            return False  # the last stopped job's memory may still be on its way out
        sizes, fresh = self._job_sizes(now_ns, rss, jobs)
        job_id = job_to_stop(rss=rss, limit=self.limit_bytes, sizes=sizes, buffered=buffered)
        if job_id is not None and not fresh:
            # Never stop a job on an old measure (it may have been reset since).
            sizes = self._measure(now_ns, rss, jobs)
            job_id = job_to_stop(rss=rss, limit=self.limit_bytes, sizes=sizes, buffered=buffered)
        over = (
            f"service RSS {describe_bytes(rss)} over the limit {describe_bytes(self.limit_bytes)}"
        )
        if job_id is None:
            largest = max(sizes.values(), default=0)
            self.problem = (
                f"{over}; no job to blame (largest job {describe_bytes(largest)}, "
                f"buffers {describe_bytes(buffered)})"
            )
            if now_ns >= self._next_warning:
                self._next_warning = now_ns + WARNING_INTERVAL_NS
                logger.warning(
                    "memory_over_limit_unblamed",
                    rss=rss,
                    limit=self.limit_bytes,
                    largest_job_bytes=largest,
                    buffered_bytes=buffered,
                )
            return False
        held = sizes[job_id]
        jobs.halt(
            job_id, f"stopped by the memory guard: {over}; this job held {describe_bytes(held)}"
        )
        self._release()
        self._next_stop = now_ns + self._stop_interval_ns
        self._sizes = None
        self.jobs_stopped += 1
        self.problem = None
        logger.error(
            "job_stopped_by_memory_guard",
            job=str(job_id),
            rss=rss,
            limit=self.limit_bytes,
            job_bytes=held,
            buffered_bytes=buffered,
            rss_after=self._read_rss(),
        )
        return True

    def _recent_buffers(self, now_ns: int, buffered: int) -> int:
        """The largest buffer size of the last ``BUFFERS_HOLD_NS``, now included."""
        if buffered >= self._buffers_peak or now_ns >= self._buffers_peak_until:
            self._buffers_peak = buffered
            self._buffers_peak_until = now_ns + BUFFERS_HOLD_NS
        return self._buffers_peak

    def _job_sizes(
        self, now_ns: int, rss: int, jobs: GuardedJobs
    ) -> tuple[Mapping[JobId, int], bool]:
        """Job sizes, and whether they were measured just now (else: the cached ones)."""
        cached = self._sizes
        if (
            cached is not None
            and now_ns < self._sizes_at + self._sizes_max_age_ns
            and rss < self._sizes_rss + SIZES_GROWTH_SHARE * self.limit_bytes
        ):
            return cached, False
        return self._measure(now_ns, rss, jobs), True

    def _measure(self, now_ns: int, rss: int, jobs: GuardedJobs) -> Mapping[JobId, int]:
        self._sizes = jobs.state_sizes()
        self._sizes_at = now_ns
        self._sizes_rss = rss
        return self._sizes

    def stats(self) -> dict[str, int]:
        """For the service heartbeat (``stream_stats["memory"]``)."""
        return {
            "rss_bytes": self.rss_bytes,
            "peak_rss_bytes": self.peak_rss_bytes,
            "limit_bytes": self.limit_bytes,
            "buffered_bytes": self.buffered_bytes,
            "jobs_stopped": self.jobs_stopped,
            "over_limit_checks": self.over_limit_checks,
        }
