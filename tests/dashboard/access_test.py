"""Roles and the throttle on password guessing."""

from __future__ import annotations

import threading

import pytest

from livedata.dashboard.access import (
    LOCAL_USER,
    CommandRefusedError,
    LoginThrottle,
    Role,
    User,
    check_may_command,
    may_command,
)


def test_operators_may_command_and_viewers_may_not() -> None:
    assert may_command(User("alice", Role.OPERATOR))
    assert not may_command(User("bob", Role.VIEWER))
    check_may_command(User("alice", Role.OPERATOR), "start workflows")
    with pytest.raises(CommandRefusedError, match="bob is a viewer: viewers cannot stop jobs"):
        check_may_command(User("bob", Role.VIEWER), "stop jobs")


def test_without_authentication_the_user_is_a_local_operator() -> None:
    assert LOCAL_USER.name == "local"
    assert LOCAL_USER.may_command
    assert not LOCAL_USER.authenticated


def test_a_refusal_is_a_value_error_so_the_ui_shows_it_like_other_refusals() -> None:
    assert issubclass(CommandRefusedError, ValueError)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_is_throttled_after_repeated_failures_until_the_window_passes() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(max_failures=3, window_s=60, clock=clock)
    for _ in range(3):
        assert throttle.reserve("10.0.0.1")  # and the password was wrong
    assert not throttle.reserve("10.0.0.1")
    assert throttle.reserve("10.0.0.2"), "another client is not affected"
    clock.now += 61
    assert throttle.reserve("10.0.0.1")


def test_a_success_forgets_the_failures() -> None:
    throttle = LoginThrottle(max_failures=2, window_s=60, clock=FakeClock())
    assert throttle.reserve("c")  # failed
    assert throttle.reserve("c")  # succeeded:
    throttle.succeeded("c")
    assert throttle.reserve("c")
    assert throttle.reserve("c")


def test_reserving_counts_the_attempt_before_the_check() -> None:
    throttle = LoginThrottle(max_failures=3, window_s=60, clock=FakeClock())
    assert [throttle.reserve("c") for _ in range(5)] == [True, True, True, False, False]
    throttle.succeeded("c")
    assert throttle.reserve("c")


def test_parallel_attempts_cannot_all_pass_the_throttle() -> None:
    throttle = LoginThrottle(max_failures=5, window_s=60)
    start = threading.Barrier(40)
    passed: list[bool] = []

    def attempt() -> None:
        start.wait()
        passed.append(throttle.reserve("10.0.0.1"))

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert passed.count(True) == 5
