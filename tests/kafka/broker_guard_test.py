"""The broker's memory budget and the guard's decisions, with a fake broker and clock."""

from collections.abc import Sequence

import pytest

from livedata.core.memory import GIB, MIB
from livedata.kafka import broker_guard
from livedata.kafka.broker_guard import (
    MIN_BUDGET,
    REARM_GAIN,
    BrokerGuard,
    MemoryBudget,
    RotationTier,
    default_budget_bytes,
    rotation_tiers,
)
from livedata.kafka.rotation import RotationError
from livedata.kafka.topics import TopicPlan

BUDGET = MemoryBudget(4 * GIB)


def test_default_budget_is_a_quarter_of_memory_at_most_4_gib() -> None:
    assert default_budget_bytes(8 * GIB) == 2 * GIB
    assert default_budget_bytes(24 * GIB) == 4 * GIB
    assert default_budget_bytes(256 * GIB) == 4 * GIB
    assert default_budget_bytes(512 * MIB) == MIN_BUDGET
    assert MIN_BUDGET <= default_budget_bytes() <= 4 * GIB


def test_a_budget_too_small_to_keep_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be kept"):
        MemoryBudget(MIN_BUDGET - 1)
    assert MemoryBudget(4 * GIB).low_water < MemoryBudget(4 * GIB).high_water < 4 * GIB


def test_raw_topics_rotate_first_then_results_and_control_topics_never() -> None:
    raw, results = rotation_tiers(["dummy", "other"])
    assert raw.name == "raw"
    assert {p.name for p in raw.plans} == {
        f"{i}_{t}"
        for i in ("dummy", "other")
        for t in ("detector", "beam_monitor", "area_detector", "motion")
    }
    assert {p.name for p in results.plans} == {"dummy_livedata_data", "other_livedata_data"}


class FakeBroker:
    """Resident memory that grows with the clock and drops when topics rotate."""

    def __init__(self, rss: int, *, frees: dict[str, int]) -> None:
        self.rss = rss
        self.frees = frees
        self.rotated: list[list[str]] = []
        self.fail = False
        self.abandon = False
        self.grows_while_rotating = 0
        """Bytes produced during a rotation's grace period, before the topics go."""
        self.peak = rss

    def rotate(self, plans: Sequence[TopicPlan]) -> bool:
        if self.fail:
            raise RotationError("broker said no")
        if self.abandon:
            return False
        names = [p.name for p in plans]
        self.rotated.append(names)
        self.rss += self.grows_while_rotating
        self.peak = max(self.peak, self.rss)
        self.rss -= sum(self.frees.get(n, 0) for n in names)
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


TIERS = [
    RotationTier("raw", (TopicPlan("i_detector", {}),)),
    RotationTier("results", (TopicPlan("i_livedata_data", {}),)),
]


def guard_for(broker: FakeBroker, clock: FakeClock, budget: MemoryBudget = BUDGET) -> BrokerGuard:
    return BrokerGuard(
        rss=lambda: broker.rss,
        rotate=broker.rotate,
        tiers=TIERS,
        budget=budget,
        grace_s=3.0,
        poll_s=1.0,
        clock=clock,
    )


def test_nothing_rotates_below_the_high_water_mark() -> None:
    broker = FakeBroker(BUDGET.high_water - 1, frees={})
    guard = guard_for(broker, FakeClock())
    guard.check()
    assert broker.rotated == []
    stats = guard.stats()
    assert stats.rss_bytes == BUDGET.high_water - 1
    assert stats.total_rotations == 0
    assert stats.trigger_bytes == BUDGET.high_water


def test_at_the_high_water_mark_the_raw_topics_rotate() -> None:
    broker = FakeBroker(BUDGET.high_water, frees={"i_detector": 2 * GIB})
    guard = guard_for(broker, FakeClock())
    guard.check()
    assert broker.rotated == [["i_detector"]]
    stats = guard.stats()
    assert stats.rotations == {"raw": 1}
    assert stats.last_rotation is not None
    assert stats.last_rotation.rss_before == BUDGET.high_water
    assert stats.last_rotation.rss_after == BUDGET.high_water - 2 * GIB


def test_results_rotate_too_when_raw_data_was_not_what_filled_the_budget() -> None:
    broker = FakeBroker(BUDGET.high_water, frees={"i_detector": 100 * MIB, "i_livedata_data": GIB})
    guard = guard_for(broker, FakeClock())
    guard.check()
    assert broker.rotated == [["i_detector"], ["i_livedata_data"]]
    assert guard.stats().rotations == {"raw": 1, "results": 1}


def test_when_nothing_rotatable_is_left_the_guard_waits_for_new_growth() -> None:
    broker = FakeBroker(BUDGET.high_water, frees={})  # all of it is control topics
    clock = FakeClock()
    guard = guard_for(broker, clock)
    guard.check()
    assert len(broker.rotated) == 2
    clock.now += 1
    guard.check()
    assert len(broker.rotated) == 2  # rotating again would free nothing
    broker.rss += int(REARM_GAIN * BUDGET.limit)
    clock.now += 1
    guard.check()
    assert len(broker.rotated) == 4


def test_fast_growth_rotates_early_enough_to_stay_under_the_budget() -> None:
    rate = 300 * MIB  # per second: the broker gains ~1.2 GiB while a rotation waits
    broker = FakeBroker(GIB, frees={"i_detector": 3 * GIB})
    broker.grows_while_rotating = 4 * rate  # one poll plus the 3 s grace period
    clock = FakeClock()
    guard = guard_for(broker, clock)
    for _ in range(30):
        clock.now += 1
        broker.rss += rate
        broker.peak = max(broker.peak, broker.rss)
        guard.check()
    assert len(broker.rotated) >= 3
    assert guard.stats().trigger_bytes < BUDGET.high_water
    assert broker.peak <= BUDGET.limit
    assert guard.stats().over_budget_polls == 0


def test_growth_estimate_and_peak_are_reported() -> None:
    broker = FakeBroker(GIB, frees={})
    clock = FakeClock()
    guard = guard_for(broker, clock)
    for _ in range(20):
        guard.check()
        clock.now += 1
        broker.rss += 10 * MIB
    stats = guard.stats()
    assert stats.growth_bytes_per_s == pytest.approx(10 * MIB, rel=0.01)
    assert stats.peak_rss_bytes == GIB + 19 * 10 * MIB


def test_over_budget_is_counted() -> None:
    broker = FakeBroker(BUDGET.limit + 1, frees={})
    guard = guard_for(broker, FakeClock())
    guard.check()
    assert guard.stats().over_budget_polls == 1


def test_a_failed_or_abandoned_rotation_is_not_counted_and_the_guard_goes_on() -> None:
    broker = FakeBroker(BUDGET.high_water, frees={"i_detector": 2 * GIB})
    clock = FakeClock()
    guard = guard_for(broker, clock)
    broker.fail = True
    guard.check()
    broker.fail, broker.abandon = False, True
    clock.now += 1
    guard.check()
    assert guard.stats().total_rotations == 0
    broker.abandon = False
    clock.now += 1
    guard.check()
    assert guard.stats().rotations == {"raw": 1}


def test_growth_seen_during_rotations_brings_the_next_one_forward() -> None:
    """Deleting gigabytes under load, or a producer catching up on what it queued, can
    grow the broker more during a rotation than its growth rate foretells."""
    broker = FakeBroker(BUDGET.high_water, frees={"i_detector": 3 * GIB})
    guards: list[BrokerGuard] = []

    def rotate_slowly(plans: Sequence[TopicPlan]) -> bool:
        broker.rss += GIB
        guards[0].check()  # a poll while the rotation waits out its grace period
        return broker.rotate(plans)

    guard = BrokerGuard(
        rss=lambda: broker.rss, rotate=rotate_slowly, tiers=TIERS, budget=BUDGET, clock=FakeClock()
    )
    guards.append(guard)
    assert guard.stats().trigger_bytes == BUDGET.high_water
    guard.check()
    assert guard.stats().rotations == {"raw": 1}
    assert guard.stats().peak_rss_bytes == BUDGET.high_water + GIB
    assert guard.stats().trigger_bytes <= BUDGET.limit - int(1.25 * GIB)


def test_the_default_budget_follows_a_cgroup_limit_below_the_machines_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A container's memory limit, not the host's RAM (``core.memory``, as the
    services' memory guard reads it)."""
    monkeypatch.setattr(broker_guard, "machine_memory_bytes", lambda: 2 * GIB)
    assert default_budget_bytes() == GIB // 2
