"""The demo's watchdog on real child processes, with heartbeats faked (no Kafka)."""

from __future__ import annotations

import io
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from livedata.cli.processes import Child
from livedata.cli.supervisor import Heard, Supervisor
from livedata.services.watchdog import Verdict, WatchdogPolicy

SLEEPER = "import sys, time\nprint('up', sys.argv[1:], flush=True)\ntime.sleep(60)\n"
QUITTER = "print('bye', flush=True)\n"
STUBBORN = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ignoring', flush=True)\ntime.sleep(60)\n"
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeHeartbeats:
    """Heartbeats by pid, set by the test."""

    def __init__(self) -> None:
        self.by_pid: dict[int, Heard] = {}
        self.forgotten: list[int] = []

    def heard(self, service_name: str, pid: int) -> Heard | None:
        return self.by_pid.get(pid)

    def forget(self, pid: int) -> None:
        self.forgotten.append(pid)


def wait_for_text(out: io.StringIO, text: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in out.getvalue():
        assert time.monotonic() < deadline, f"{text!r} not in {out.getvalue()!r}"
        time.sleep(0.02)


@pytest.fixture
def modules(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "sleeper.py").write_text(SLEEPER)
    (tmp_path / "quitter.py").write_text(QUITTER)
    (tmp_path / "stubborn.py").write_text(STUBBORN)
    return {"PYTHONPATH": str(tmp_path)}


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        if child.running:
            child.process.kill()
            child.process.wait()


def test_a_silent_child_is_restarted_once_per_window(modules, children) -> None:
    out = io.StringIO()
    child = Child("svc", "sleeper", ["first"], env=modules, out=out, restart_args=["again"])
    children.append(child)
    clock = FakeClock()
    beats = FakeHeartbeats()
    said: list[str] = []
    supervisor = Supervisor(
        [child],
        beats,
        policy=WatchdogPolicy(stale_s=30, startup_s=60, window_s=300),
        report=said.append,
        clock=clock,
        stop_grace_s=5,
    )
    wait_for_text(out, "svc            | up ['first']")  # the output keeps its prefix
    first_pid = child.process.pid
    beats.by_pid[first_pid] = Heard(last_heartbeat=clock.now, last_progress=clock.now)
    clock.now += 29
    assert [d.verdict for d in supervisor.check()] == [Verdict.HEALTHY]

    clock.now += 2  # 31 s without a heartbeat
    assert [d.verdict for d in supervisor.check()] == [Verdict.RESTART]
    assert child.process.pid != first_pid
    assert child.running
    assert beats.forgotten == [first_pid]
    assert said[0] == "watchdog: restarting svc: no heartbeat for 31 s"
    assert said[1].startswith(f"watchdog: svc restarted (was pid {first_pid}, exit code ")
    (restart,) = supervisor.restarts
    assert restart.exit_code == -signal.SIGTERM  # the sleeper does not handle SIGTERM
    assert "no heartbeat for 31 s" in supervisor.summary()

    # The new process never sends a heartbeat: after its startup time it is failing,
    # but it was restarted less than a window ago.
    clock.now += 61
    (held,) = supervisor.check()
    assert held.verdict is Verdict.HOLD
    assert held.restart_allowed_at == clock.now - 61 + 300
    assert len(supervisor.restarts) == 1
    assert "held: svc" in supervisor.summary()
    supervisor.check()
    assert len([s for s in said if "not restarting" in s]) == 1  # said once, not every check

    clock.now += 240  # the window has passed
    assert [d.verdict for d in supervisor.check()] == [Verdict.RESTART]
    assert len(supervisor.restarts) == 2
    wait_for_text(out, "svc            | up ['again']")  # restarts get the restart args


def test_an_exited_child_is_restarted_and_then_left_dead_within_the_window(
    modules, children
) -> None:
    child = Child("svc", "quitter", [], env=modules, out=io.StringIO())
    children.append(child)
    child.process.wait(10)
    clock = FakeClock()
    supervisor = Supervisor(
        [child],
        FakeHeartbeats(),
        policy=WatchdogPolicy(window_s=300),
        report=lambda _text: None,
        clock=clock,
    )
    (decision,) = supervisor.check()
    assert decision.verdict is Verdict.RESTART
    assert decision.reason == "process exited"
    child.process.wait(10)
    clock.now += 10
    (decision,) = supervisor.check()
    assert decision.verdict is Verdict.HOLD
    assert not child.running  # the demo stops when a held service is dead


def test_terminate_reaches_a_stopped_process(modules, children) -> None:
    child = Child("svc", "sleeper", [], env=modules, out=io.StringIO())
    children.append(child)
    child.process.send_signal(signal.SIGSTOP)
    started = time.monotonic()
    # SIGCONT goes with the SIGTERM, so even a stopped process gets to act on it.
    assert child.terminate(grace_s=5) == -signal.SIGTERM
    assert time.monotonic() - started < 5


def test_terminate_kills_a_process_that_ignores_sigterm_after_the_grace(modules, children) -> None:
    out = io.StringIO()
    child = Child("svc", "stubborn", [], env=modules, out=out)
    children.append(child)
    wait_for_text(out, "ignoring")
    started = time.monotonic()
    assert child.terminate(grace_s=0.5) == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - started < 5


def test_a_child_that_exits_with_a_configuration_error_is_left_dead_and_said_once(
    modules, children, tmp_path: Path
) -> None:
    (tmp_path / "misconfigured.py").write_text("import sys\nsys.exit(2)\n")
    child = Child("svc", "misconfigured", [], env=modules, out=io.StringIO())
    children.append(child)
    child.process.wait(10)
    pid = child.process.pid
    said: list[str] = []
    supervisor = Supervisor(
        [child], FakeHeartbeats(), policy=WatchdogPolicy(), report=said.append, clock=FakeClock()
    )
    for _ in range(3):
        (decision,) = supervisor.check()
        assert decision.verdict is Verdict.GIVE_UP
    assert child.process.pid == pid  # never restarted
    assert supervisor.restarts == []
    assert said == [
        "watchdog: svc exited with code 2, a configuration error; not restarting it "
        "(its own output says what to fix)"
    ]
