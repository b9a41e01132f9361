"""A memory budget for the embedded broker, kept by rotating its bulk topics.

The embedded broker keeps every byte produced until a topic is deleted (ADR 0006). The
``BrokerGuard`` polls its resident memory and, before it reaches the budget, rotates
(``livedata.kafka.rotation``) the topics whose old messages nobody reads again, in
tiers:

1. **raw data** (``_detector``, ``_beam_monitor``, ``_area_detector``, ``_motion``):
   services read only the newest data; nearly all the bytes at high event rates;
2. **results** (``_livedata_data``): readers start from the newest result; a couple of
   MB/s, the larger part at low event rates. Rotated only if memory is still above the
   low-water mark after the raw topics were.

Commands, responses, heartbeats, ROIs, run transitions and job snapshots are never
rotated: their recent messages matter (answers awaited, jobs to restore).

The guard publishes nothing; ``stats()`` is what a status line or the dashboard shows,
and each rotation is logged (``broker_rotated``) with the memory before and after.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from livedata.config.topics import RAW_DATA_TOPICS, Topic
from livedata.core.memory import GIB, MIB, machine_memory_bytes
from livedata.kafka.embedded_broker import BrokerError
from livedata.kafka.rotation import GRACE_S, RotationError
from livedata.kafka.topics import TopicPlan, topic_plan

logger = structlog.get_logger(__name__)


DEFAULT_BUDGET_CAP = 4 * GIB
"""Default budget: a quarter of the machine's memory, at most 4 GiB. The rest is for
the services (each may queue up to 1 GiB of data under overload), the dashboard, a
browser and an IDE; beyond 4 GiB a larger budget only makes rotations rarer (every ~40 s
at 1e7 events/s, every few hours at the demo's default rates)."""

MIN_BUDGET = 256 * MIB
"""The empty broker takes ~20 MB and a day of control messages some hundred MB; below
this the guard would rotate all the time and still not fit."""

HIGH_WATER = 0.75
"""Rotate when memory reaches this fraction of the budget (earlier when it grows fast):
the broker keeps growing until the topics are deleted, a grace period plus one poll
later, and that growth must fit under the budget."""

LOW_WATER = 0.5
"""After rotating the raw topics, rotate the results too if memory is still above this
fraction: the next raw rotation would otherwise come ever sooner."""

REARM_GAIN = 0.1
"""After a rotation, wait until memory has grown by this fraction of the budget before
the next: when what cannot be rotated fills the budget, rotating again frees nothing."""

POLL_S = 1.0
"""Resident memory is read from /proc every second (microseconds of work)."""

SETTLE_S = 1.0
"""Margin for the broker to hand freed memory back and for a late poll."""

RECENT_ROTATIONS = 5
"""Rotations whose growth is remembered: enough to ride out one quiet rotation, few
enough that a burst of load long past stops lowering the trigger."""

OVERSHOOT_MARGIN = 1.25
"""The next rotation starts early enough that the largest growth seen during one
rotation (grace period, deleting gigabytes under load, a producer catching up on what
it queued), a quarter more, still fits under the budget."""

GROWTH_SMOOTHING = 0.3
"""Weight of the newest growth sample in the running estimate (bytes/s). The trigger
uses the larger of the estimate and the newest sample, so a sudden burst counts at once
and a lull does not forget a steady rate."""

WARNING_INTERVAL_S = 60.0
"""Warnings that persist (over budget, nothing left to rotate) are repeated this often."""


def default_budget_bytes(total: int | None = None) -> int:
    """A quarter of the machine's memory (or of this process's cgroup limit, if lower),
    at most 4 GiB, at least ``MIN_BUDGET``."""
    total = machine_memory_bytes() if total is None else total
    return max(MIN_BUDGET, min(DEFAULT_BUDGET_CAP, total // 4))


@dataclass(frozen=True, slots=True)
class MemoryBudget:
    """The most resident memory the embedded broker may use, with its thresholds."""

    limit: int

    def __post_init__(self) -> None:
        if self.limit < MIN_BUDGET:
            raise ValueError(
                f"a broker memory budget under {MIN_BUDGET // MIB} MiB cannot be kept "
                f"(got {self.limit / MIB:.0f} MiB)"
            )

    @property
    def high_water(self) -> int:
        return int(self.limit * HIGH_WATER)

    @property
    def low_water(self) -> int:
        return int(self.limit * LOW_WATER)


@dataclass(frozen=True, slots=True)
class RotationTier:
    """Topics rotated together, named for logs and counters."""

    name: str
    plans: tuple[TopicPlan, ...]


def rotation_tiers(instruments: Sequence[str]) -> list[RotationTier]:
    """The raw topics, then the results topics, of every instrument."""
    plans = [p for instrument in instruments for p in topic_plan(instrument)]
    return [
        RotationTier("raw", tuple(p for p in plans if p.role in RAW_DATA_TOPICS)),
        RotationTier("results", tuple(p for p in plans if p.role is Topic.DATA)),
    ]


@dataclass(frozen=True, slots=True)
class RotationRecord:
    tier: str
    topics: tuple[str, ...]
    rss_before: int
    rss_after: int
    seconds: float
    at: float
    """Wall-clock time (s since the epoch) the rotation ended."""


@dataclass(frozen=True, slots=True)
class GuardStats:
    """What the guard knows, for a status line or a dashboard."""

    rss_bytes: int | None
    budget_bytes: int
    trigger_bytes: int
    """Memory at which the next rotation starts (high-water mark, lower when growing fast)."""
    peak_rss_bytes: int
    growth_bytes_per_s: float
    rotations: dict[str, int] = field(default_factory=dict)
    """Rotations per tier."""
    last_rotation: RotationRecord | None = None
    over_budget_polls: int = 0
    rotating: bool = False

    @property
    def total_rotations(self) -> int:
        return sum(self.rotations.values())


class BrokerGuard:
    """Keeps a broker's resident memory under a budget by rotating topic tiers.

    Parameters
    ----------
    rss:
        Reads the broker's resident memory in bytes (``EmbeddedBroker.rss_bytes``).
    rotate:
        Rotates some topics, blocking through its grace period
        (``TopicRotator.rotate``); returns False if it was abandoned for a stop.
    tiers:
        Topics to rotate, cheapest loss first (``rotation_tiers``).
    budget:
        The memory budget.
    grace_s:
        The rotator's grace period, to foresee how much the broker grows meanwhile.
    """

    def __init__(
        self,
        *,
        rss: Callable[[], int],
        rotate: Callable[[Sequence[TopicPlan]], bool],
        tiers: Sequence[RotationTier],
        budget: MemoryBudget,
        grace_s: float = GRACE_S,
        poll_s: float = POLL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rss = rss
        self._rotate = rotate
        self._tiers = [t for t in tiers if t.plans]
        self._budget = budget
        self._poll_s = poll_s
        self._lead_s = poll_s + grace_s + SETTLE_S
        self._clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, int] | None = None
        self._rss_now: int | None = None
        self._peak = 0
        self._growth = 0.0
        self._latest_growth = 0.0
        self._growth_samples = 0
        self._rearm_at = 0
        self._rotations: Counter[str] = Counter()
        self._last_rotation: RotationRecord | None = None
        self._over_budget_polls = 0
        self._rotating = False
        self._rotation_start_rss = 0
        self._overshoot = 0
        """Most the broker grew since the start of the rotation under way."""
        self._overshoots: deque[int] = deque(maxlen=RECENT_ROTATIONS)
        """The same for the last few rotations."""
        self._last_warning: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rotation: threading.Thread | None = None

    @property
    def budget(self) -> MemoryBudget:
        return self._budget

    # -- running -------------------------------------------------------------------

    def start(self) -> None:
        """Poll on a daemon thread until ``stop()``."""
        self._thread = threading.Thread(target=self._run, name="broker-guard", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; wait for a rotation under way (abandon it first, through the
        rotator, to make that quick)."""
        self._stop.set()
        for thread in (self._thread, self._rotation):
            if thread is not None:
                thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.check()
            except BrokerError as err:  # the broker died: its owner notices and stops us
                self._warn("broker_guard_no_broker", error=str(err))
            except Exception:  # the guard must outlive any one bad poll
                logger.exception("broker_guard_failed")

    # -- one poll --------------------------------------------------------------------

    def check(self) -> None:
        """Read the broker's memory once and rotate if it is time to.

        Once the guard was started, rotations run on a thread of their own and the
        polls go on meanwhile, so the memory reached during a grace period is seen;
        otherwise (in tests) the rotation runs here.
        """
        with self._lock:
            rotating = self._rotating
        rss = self._measure(sample_growth=not rotating)
        if rss > self._budget.limit:
            with self._lock:
                self._over_budget_polls += 1
            self._warn("broker_over_budget", rss=rss, budget=self._budget.limit)
        if rotating or not self._tiers or rss < self._trigger():
            return
        with self._lock:
            self._rotating = True
            self._rotation_start_rss = rss
            self._overshoot = 0
        if self._thread is None:
            self._rotate_tiers()
            return
        self._rotation = threading.Thread(
            target=self._rotate_tiers, name="broker-rotation", daemon=True
        )
        self._rotation.start()

    def _rotate_tiers(self) -> None:
        """Rotate tier after tier until memory is under the low-water mark."""
        after = None
        try:
            for tier in self._tiers:
                before = self._measure(sample_growth=False)
                started = self._clock()
                try:
                    completed = self._rotate(tier.plans)
                except RotationError as err:
                    logger.error("broker_rotation_failed", tier=tier.name, error=str(err))
                    completed = False
                if not completed:
                    return
                after = self._measure(sample_growth=False)
                self._record(tier, before, after, self._clock() - started)
                if after < self._budget.low_water:
                    break
            else:
                self._warn(
                    "broker_memory_floor",
                    rss=after,
                    low_water=self._budget.low_water,
                    hint="what remains is control topics and the broker itself; "
                    "restart the broker to free it",
                )
        finally:
            with self._lock:
                if after is not None:
                    self._rearm_at = after + int(REARM_GAIN * self._budget.limit)
                self._last = None  # the next growth sample must not span the rotation
                self._overshoots.append(self._overshoot)
                self._rotating = False

    def _measure(self, *, sample_growth: bool = True) -> int:
        rss = self._rss()
        now = self._clock()
        with self._lock:
            if sample_growth and self._last is not None and now > self._last[0]:
                rate = max(0.0, (rss - self._last[1]) / (now - self._last[0]))
                weight = GROWTH_SMOOTHING if self._growth_samples else 1.0
                self._growth += weight * (rate - self._growth)
                self._latest_growth = rate
                self._growth_samples += 1
            self._last = (now, rss)
            self._rss_now = rss
            self._peak = max(self._peak, rss)
            if self._rotating:
                self._overshoot = max(self._overshoot, rss - self._rotation_start_rss)
        return rss

    def _trigger(self) -> int:
        """Rotate at the high-water mark, or earlier when the broker grows so fast that
        it would pass the budget before a rotation completes (foreseen from the growth
        rate, and from the growth seen during past rotations); never below the low-water
        mark, and not before memory grew again after the last rotation."""
        with self._lock:
            growth = max(self._growth, self._latest_growth)
            foreseen = self._budget.limit - max(
                int(growth * self._lead_s),
                int(OVERSHOOT_MARGIN * max(self._overshoots, default=0)),
            )
            trigger = min(self._budget.high_water, max(self._budget.low_water, foreseen))
            return max(trigger, self._rearm_at)

    def _record(self, tier: RotationTier, before: int, after: int, seconds: float) -> None:
        record = RotationRecord(
            tier=tier.name,
            topics=tuple(p.name for p in tier.plans),
            rss_before=before,
            rss_after=after,
            seconds=seconds,
            at=time.time(),
        )
        with self._lock:
            self._rotations[tier.name] += 1
            self._last_rotation = record
            count = self._rotations[tier.name]
        logger.info(
            "broker_rotated",
            tier=tier.name,
            topics=list(record.topics),
            rss_before=before,
            rss_after=after,
            freed=before - after,
            budget=self._budget.limit,
            seconds=round(seconds, 2),
            count=count,
        )

    def _warn(self, event: str, **fields: object) -> None:
        now = self._clock()
        if now - self._last_warning.get(event, -WARNING_INTERVAL_S) >= WARNING_INTERVAL_S:
            self._last_warning[event] = now
            logger.warning(event, **fields)

    # -- what it knows ---------------------------------------------------------------

    def stats(self) -> GuardStats:
        trigger = self._trigger()
        with self._lock:
            return GuardStats(
                rss_bytes=self._rss_now,
                budget_bytes=self._budget.limit,
                trigger_bytes=trigger,
                peak_rss_bytes=self._peak,
                growth_bytes_per_s=self._growth,
                rotations=dict(self._rotations),
                last_rotation=self._last_rotation,
                over_budget_polls=self._over_budget_polls,
                rotating=self._rotating,
            )
