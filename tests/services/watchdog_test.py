"""The watchdog's decisions: which service to restart, given heartbeats, restarts, now."""

import pytest

from livedata.services.watchdog import (
    ServiceObservation,
    Verdict,
    WatchdogPolicy,
    decide,
)

POLICY = WatchdogPolicy(stale_s=30, startup_s=60, window_s=300)


def verdict(service: ServiceObservation, now: float) -> Verdict:
    (decision,) = decide([service], POLICY, now)
    return decision.verdict


def beating(*, last: float, restart: float | None = None, alive: bool = True):
    return ServiceObservation(
        name="detector_data",
        alive=alive,
        started_at=0.0,
        last_heartbeat=last,
        last_progress=last,
        last_restart=restart,
    )


def test_a_service_with_fresh_heartbeats_is_left_alone() -> None:
    assert verdict(beating(last=1000.0), now=1029.0) is Verdict.HEALTHY


def test_a_service_silent_for_longer_than_stale_s_is_restarted() -> None:
    (decision,) = decide([beating(last=1000.0)], POLICY, now=1031.0)
    assert decision.verdict is Verdict.RESTART
    assert decision.reason == "no heartbeat for 31 s"


def test_an_exited_process_is_restarted_at_once() -> None:
    (decision,) = decide([beating(last=1000.0, alive=False)], POLICY, now=1001.0)
    assert decision.verdict is Verdict.RESTART
    assert decision.reason == "process exited"


def test_a_new_process_gets_startup_s_for_its_first_heartbeat() -> None:
    starting = ServiceObservation(name="s", alive=True, started_at=100.0)
    assert verdict(starting, now=159.0) is Verdict.HEALTHY
    assert verdict(starting, now=161.0) is Verdict.RESTART


def test_heartbeats_without_progress_count_as_a_stall() -> None:
    # Heartbeats keep coming, but the last that said starting/running is old.
    stuck = ServiceObservation(
        name="s", alive=True, started_at=0.0, last_heartbeat=199.0, last_progress=150.0
    )
    (decision,) = decide([stuck], POLICY, now=200.0)
    assert decision.verdict is Verdict.RESTART
    assert decision.reason == "heartbeats show no progress for 50 s"
    never = ServiceObservation(name="s", alive=True, started_at=0.0, last_heartbeat=199.0)
    assert verdict(never, now=200.0) is Verdict.RESTART
    # ... but not while the process is new: its first heartbeats may still say so.
    young = ServiceObservation(name="s", alive=True, started_at=170.0, last_heartbeat=199.0)
    assert verdict(young, now=200.0) is Verdict.HEALTHY


def test_at_most_one_restart_per_window() -> None:
    failing_again = beating(last=1100.0, restart=1000.0)
    (decision,) = decide([failing_again], POLICY, now=1200.0)
    assert decision.verdict is Verdict.HOLD
    assert decision.restart_allowed_at == 1300.0
    assert decision.reason == "no heartbeat for 100 s"
    # An exited process is held too: the caller decides what a dead, held service means.
    assert verdict(beating(last=1100.0, restart=1000.0, alive=False), now=1200.0) is Verdict.HOLD
    # Once the window has passed, the next restart is allowed.
    assert verdict(failing_again, now=1300.0) is Verdict.RESTART


def test_each_service_is_decided_on_its_own() -> None:
    services = [
        ServiceObservation(
            name="a", alive=True, started_at=0.0, last_heartbeat=95.0, last_progress=95.0
        ),
        ServiceObservation(name="b", alive=False, started_at=0.0),
        ServiceObservation(name="c", alive=False, started_at=0.0, last_restart=50.0),
    ]
    decisions = {d.name: d.verdict for d in decide(services, POLICY, now=100.0)}
    assert decisions == {"a": Verdict.HEALTHY, "b": Verdict.RESTART, "c": Verdict.HOLD}


@pytest.mark.parametrize(
    "bad", [{"stale_s": 0}, {"startup_s": -1}, {"window_s": -1}, {"stale_s": float("nan")}]
)
def test_nonsense_times_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="positive"):
        WatchdogPolicy(**bad)


def test_a_service_that_exited_with_a_configuration_error_is_not_restarted() -> None:
    exited = ServiceObservation(name="detector_data", alive=False, started_at=0.0, exit_code=2)
    (decision,) = decide([exited], POLICY, now=10.0)
    assert decision.verdict is Verdict.GIVE_UP
    assert decision.reason == "exited with code 2, a configuration error"
    crashed = ServiceObservation(name="detector_data", alive=False, started_at=0.0, exit_code=1)
    assert verdict(crashed, now=10.0) is Verdict.RESTART
