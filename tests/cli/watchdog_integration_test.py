"""The demo's watchdog against a real service process and the real broker: a stalled
(SIGSTOPped) service is restarted once, not again within the window, and the restarted
one sends heartbeats."""

from __future__ import annotations

import io
import signal
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from livedata.cli.processes import Child
from livedata.cli.supervisor import HeartbeatMonitor, Supervisor
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.services.watchdog import Verdict, WatchdogPolicy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STALE_S = 5.0
"""Short, to keep the test quick; the demo's default is 30 s."""


def eventually(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout_s} s"
        time.sleep(0.2)


@pytest.fixture
def monitor(kafka_settings: KafkaSettings) -> Iterator[HeartbeatMonitor]:
    create_topics(kafka_settings, "dummy")  # services load instruments by name
    watching = HeartbeatMonitor(kafka_settings, "dummy")
    yield watching
    watching.close()


def test_a_stalled_service_is_restarted_once_per_window(
    kafka_settings: KafkaSettings, monitor: HeartbeatMonitor
) -> None:
    worker = f"w-{uuid.uuid4().hex[:8]}"
    args = ["--instrument", "dummy", "--worker-id", worker]
    out = io.StringIO()
    child = Child(
        "detector_data",
        "livedata.services.detector_data",
        [*args, "--no-restore"],
        env={"KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers},
        out=out,
        restart_args=args,
    )
    said: list[str] = []
    supervisor = Supervisor(
        [child],
        monitor,
        policy=WatchdogPolicy(stale_s=STALE_S, startup_s=60, window_s=300),
        report=said.append,
    )
    processes = [child.process]
    try:
        first = child.process
        eventually(
            lambda: monitor.heard("detector_data", first.pid) is not None, 60, "first heartbeat"
        )
        assert [d.verdict for d in supervisor.check()] == [Verdict.HEALTHY]

        first.send_signal(signal.SIGSTOP)  # wedged: no heartbeats, process alive
        stalled_at = time.monotonic()
        eventually(lambda: bool(supervisor.check()) and bool(supervisor.restarts), 30, "restart")
        assert time.monotonic() - stalled_at >= STALE_S
        (restart,) = supervisor.restarts
        assert restart.reason.startswith("no heartbeat for ")
        # SIGCONT went with the SIGTERM: the stalled service still stopped cleanly.
        assert restart.exit_code == 0
        assert first.poll() == 0
        second = child.process
        processes.append(second)
        assert second.pid != first.pid
        eventually(
            lambda: monitor.heard("detector_data", second.pid) is not None,
            60,
            "a heartbeat of the restarted service",
        )

        # Stalled again within the window: reported, not restarted.
        second.send_signal(signal.SIGSTOP)
        time.sleep(STALE_S + 2)
        (decision,) = supervisor.check()
        assert decision.verdict is Verdict.HOLD
        assert child.process is second
        assert len(supervisor.restarts) == 1
        assert any("not restarting" in text for text in said)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()
