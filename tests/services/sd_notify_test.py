"""systemd notifications over a real unix datagram socket: ready, watchdog, stopping."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from livedata.core.service import EXIT_OK, Service
from livedata.services.sd_notify import (
    SystemdNotifier,
    socket_address,
    watchdog_interval_s,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Listener:
    """systemd's end: a bound datagram socket collecting what arrives."""

    def __init__(self, address: str | bytes) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(address)
        self.socket.settimeout(0.5)

    def received(self) -> list[bytes]:
        """Everything sent so far (datagrams to a local socket arrive at once)."""
        messages = []
        self.socket.setblocking(False)
        try:
            while True:
                messages.append(self.socket.recv(4096))
        except BlockingIOError:
            pass
        finally:
            self.socket.settimeout(0.5)
        return messages

    def next(self) -> bytes:
        return self.socket.recv(4096)


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, Listener]]:
    path = str(tmp_path / "notify")
    assert len(path) < 100  # sun_path holds 108 bytes
    listening = Listener(path)
    yield path, listening
    listening.socket.close()


def test_without_notify_socket_there_is_no_notifier() -> None:
    assert SystemdNotifier.from_env({}) is None
    assert SystemdNotifier.from_env({"NOTIFY_SOCKET": ""}) is None


def test_abstract_socket_names_start_with_a_nul_byte() -> None:
    assert socket_address("@sd/notify") == b"\0sd/notify"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"


def test_watchdog_interval_comes_from_watchdog_usec_for_our_pid_only() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}, pid=42) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 42) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, 42) is None
    assert watchdog_interval_s({}, pid=42) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}, pid=42) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}, pid=42) is None


def test_ready_watchdog_and_stopping_reach_the_socket(listener) -> None:
    path, systemd = listener
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    assert notifier is not None
    assert notifier.watchdog_s == 2.0
    notifier.ready()
    notifier.stopping()
    notifier.close()
    assert systemd.received() == [b"READY=1", b"WATCHDOG=1", b"STOPPING=1"]


def test_pings_go_out_at_most_every_half_interval(listener) -> None:
    path, systemd = listener
    clock = FakeClock()
    notifier = SystemdNotifier(path, watchdog_s=10.0, clock=clock)
    notifier.ready()
    systemd.received()
    for _ in range(20):  # the loop turns every 0.25 s (exact in binary: no float drift)
        clock.now += 0.25
        notifier.progress()
    # 5 s of progress: one ping, at 5.0 s (the ready ping was at 0)
    assert systemd.received() == [b"WATCHDOG=1"]
    clock.now += 4.75
    notifier.progress()
    assert systemd.received() == []
    clock.now += 0.25
    notifier.progress()
    assert systemd.received() == [b"WATCHDOG=1"]
    notifier.close()


def test_no_pings_when_the_watchdog_is_meant_for_another_process(listener) -> None:
    path, systemd = listener
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000", "WATCHDOG_PID": str(os.getpid() + 1)}
    notifier = SystemdNotifier.from_env(env)
    assert notifier is not None
    notifier.ready()
    notifier.progress()
    notifier.close()
    assert systemd.received() == [b"READY=1"]


def test_abstract_socket() -> None:
    name = f"@livedata-test-{uuid.uuid4().hex}"
    systemd = Listener(socket_address(name))
    try:
        notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": name})
        assert notifier is not None
        notifier.ready()
        notifier.close()
        assert systemd.next() == b"READY=1"
    finally:
        systemd.socket.close()


def test_a_gone_socket_never_breaks_the_service(tmp_path: Path) -> None:
    notifier = SystemdNotifier(str(tmp_path / "nobody"), watchdog_s=1.0)
    notifier.ready()
    notifier.progress()
    notifier.stopping()
    notifier.close()


class Steps:
    """A processor whose third step wedges until released (a workflow stuck in compute)."""

    def __init__(self) -> None:
        self.steps = 0
        self.wedged = threading.Event()
        self.release = threading.Event()
        self.service: Service | None = None

    def process(self) -> None:
        self.steps += 1
        if self.steps == 3:
            self.wedged.set()
            self.release.wait(10)
            assert self.service is not None
            self.service.request_stop()

    def shutdown(self, *, error: str | None = None) -> None:
        pass


def test_a_wedged_loop_stops_pinging(listener) -> None:
    path, systemd = listener
    clock = FakeClock()
    notifier = SystemdNotifier(path, watchdog_s=0.2, clock=clock)
    processor = Steps()
    service = Service(name="t", processor=processor, liveness=AdvancingLiveness(notifier, clock))
    processor.service = service
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(service.run()))
    runner.start()
    assert processor.wedged.wait(5)
    # Two steps turned, each a fake 0.1 s later: ready's ping and one per step.
    assert systemd.received() == [b"READY=1", b"WATCHDOG=1", b"WATCHDOG=1", b"WATCHDOG=1"]
    clock.now += 10.0  # however long it stays wedged: no step completes, no ping
    assert systemd.received() == []
    processor.release.set()
    runner.join(5)
    assert codes == [EXIT_OK]
    # The wedged step finally completed (one ping), then the loop stopped.
    assert systemd.received() == [b"WATCHDOG=1", b"STOPPING=1"]
    notifier.close()


class AdvancingLiveness:
    """Moves the fake clock on by a step's length before each progress report."""

    def __init__(self, notifier: SystemdNotifier, clock: FakeClock) -> None:
        self._notifier = notifier
        self._clock = clock

    def ready(self) -> None:
        self._notifier.ready()

    def progress(self) -> None:
        self._clock.now += 0.1
        self._notifier.progress()

    def stopping(self) -> None:
        self._notifier.stopping()
