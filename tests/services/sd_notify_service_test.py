"""A real service process under a make-believe systemd: ``NOTIFY_SOCKET`` and
``WATCHDOG_USEC`` set as systemd sets them, its notifications read from the socket."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WATCHDOG_S = 2.0


def receive(systemd: socket.socket, timeout_s: float) -> bytes | None:
    systemd.settimeout(timeout_s)
    try:
        return systemd.recv(4096)
    except TimeoutError:
        return None


def test_service_says_ready_pings_while_turning_and_stops_pinging_when_stalled(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings, "dummy")
    path = str(tmp_path / "notify")
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(path)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "NOTIFY_SOCKET": path,
        "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6)),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livedata.services.timeseries",
            "--instrument",
            "dummy",
            "--worker-id",
            f"w-{uuid.uuid4().hex[:8]}",
            "--no-restore",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert receive(systemd, 60) == b"READY=1"
        # Pings every half interval while the loop turns (its step waits 0.1 s at most).
        pings = []
        deadline = time.monotonic() + 3 * WATCHDOG_S
        while time.monotonic() < deadline:
            message = receive(systemd, WATCHDOG_S)
            assert message == b"WATCHDOG=1", message
            pings.append(time.monotonic())
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert len(pings) >= 5
        assert all(gap < WATCHDOG_S for gap in gaps), gaps

        process.send_signal(signal.SIGSTOP)  # a wedged loop: no more pings
        while receive(systemd, 0.1) is not None:
            pass  # one may have been on its way
        assert receive(systemd, 2 * WATCHDOG_S) is None

        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGCONT)
        seen = []
        while (message := receive(systemd, 10)) is not None:
            seen.append(message)
            if message == b"STOPPING=1":
                break
        assert seen[-1] == b"STOPPING=1"
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
            process.wait()
        systemd.close()
