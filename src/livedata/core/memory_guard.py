"""The memory guard: stops the job that pushed a service over its memory limit.

The kernel's OOM killer ends the whole process, every job with it, and nobody is told
why. The guard acts first: from the processing loop it reads the service's resident
memory every second and, over the limit, stops the job whose state holds the most
(if it holds a real share of the limit) with an error its heartbeat carries, drops that
state and hands the memory back. When no job can be blamed (the memory is held
elsewhere), it says so in the service heartbeat and stops nothing.
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

SETTLE_NS = 3_000_000_000
"""After stopping a job, the next one is not blamed for this long: a window being
published may still hold the stopped job's last data, and the memory it releases must
show in the resident size before the guard judges again."""

BLAME_MIN_SHARE = 0.1
"""A job is stopped only if its state holds at least this share of the limit. One that
holds less did not push the service over; stopping it would lose an operator's job
and free next to nothing."""

WARNING_INTERVAL_NS = 60_000_000_000
"""An over-limit state nobody can be blamed for is logged again this often."""

K = TypeVar("K", bound=Hashable)


def job_to_stop(
    *, rss: int, limit: int, sizes: Mapping[K, int], min_share: float = BLAME_MIN_SHARE
) -> K | None:
    """The job to stop when the service holds ``rss`` bytes against ``limit``.

    None when under the limit, or when no job's state (``sizes``, bytes per job) holds
    at least ``min_share`` of the limit. Ties go to the job listed first.
    """
    if rss <= limit or not sizes:
        return None
    largest = max(sizes, key=lambda job: sizes[job])
    return largest if sizes[largest] >= min_share * limit else None


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
        settle_ns: int = SETTLE_NS,
    ) -> None:
        if limit_bytes <= 0:
            raise ValueError(f"memory limit must be positive, got {limit_bytes}")
        self.limit_bytes = limit_bytes
        self._read_rss = read_rss
        self._release = release
        self._interval_ns = interval_ns
        self._settle_ns = settle_ns
        self._next_check = 0
        self._settled_at = 0
        self._next_warning = 0
        self.rss_bytes = 0
        self.peak_rss_bytes = 0
        self.jobs_stopped = 0
        self.over_limit_checks = 0
        self.problem: str | None = None
        """Why the service is over its limit with no job to blame; None otherwise."""

    @classmethod
    def from_limit(cls, limit: MemoryLimit, **kwargs: Any) -> MemoryGuard:
        """A guard for ``limit`` on this machine (or cgroup)."""
        return cls(limit_bytes=limit.bytes_of(machine_memory_bytes()), **kwargs)

    def check(self, now_ns: int, jobs: GuardedJobs) -> bool:
        """Read memory if a check is due; True if a job was stopped (report it now)."""
        if now_ns < self._next_check:
            return False
        self._next_check = now_ns + self._interval_ns
        rss = self.rss_bytes = self._read_rss()
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
        if rss <= self.limit_bytes:
            self.problem = None
            return False
        self.over_limit_checks += 1
        if now_ns < self._settled_at:
            return False  # the last stopped job's memory may still be on its way out
        sizes = jobs.state_sizes()
        job_id = job_to_stop(rss=rss, limit=self.limit_bytes, sizes=sizes)
        over = (
            f"service RSS {describe_bytes(rss)} over the limit {describe_bytes(self.limit_bytes)}"
        )
        if job_id is None:
            largest = max(sizes.values(), default=0)
            self.problem = (
                f"{over}; no job holds enough to blame (largest {describe_bytes(largest)})"
            )
            if now_ns >= self._next_warning:
                self._next_warning = now_ns + WARNING_INTERVAL_NS
                logger.warning(
                    "memory_over_limit_unblamed",
                    rss=rss,
                    limit=self.limit_bytes,
                    largest_job_bytes=largest,
                )
            return False
        held = sizes[job_id]
        jobs.halt(
            job_id, f"stopped by the memory guard: {over}; this job held {describe_bytes(held)}"
        )
        self._release()
        self._settled_at = now_ns + self._settle_ns
        self.jobs_stopped += 1
        self.problem = None
        logger.error(
            "job_stopped_by_memory_guard",
            job=str(job_id),
            rss=rss,
            limit=self.limit_bytes,
            job_bytes=held,
            rss_after=self._read_rss(),
        )
        return True

    def stats(self) -> dict[str, int]:
        """For the service heartbeat (``stream_stats["memory"]``)."""
        return {
            "rss_bytes": self.rss_bytes,
            "peak_rss_bytes": self.peak_rss_bytes,
            "limit_bytes": self.limit_bytes,
            "jobs_stopped": self.jobs_stopped,
            "over_limit_checks": self.over_limit_checks,
        }
