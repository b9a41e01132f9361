"""Child processes of the demo: started in their own session, logs merged and prefixed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TextIO

STOP_TIMEOUT_S = 10.0
"""A SIGINT'd service exits within ~5 s; twice that before it is killed."""


class Child:
    """One ``python -m module`` child whose output lines are prefixed with its name."""

    def __init__(
        self,
        name: str,
        module: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        out: TextIO = sys.stdout,
        lock: threading.Lock | None = None,
    ) -> None:
        self.name = name
        self._out = out
        self._lock = lock or threading.Lock()
        # Own session: a terminal's Ctrl-C reaches only the demo, which stops children
        # in order (producers and services first, so their last heartbeats get out).
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._pump, name=f"log-{name}", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        width = 15
        for line in self.process.stdout:
            with self._lock:
                self._out.write(f"{self.name[:width]:<{width}}| {line}")
                self._out.flush()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def interrupt(self) -> None:
        if self.running:
            self.process.send_signal(signal.SIGINT)

    def wait(self, deadline: float) -> int:
        try:
            return self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def stop_all(children: Sequence[Child], timeout_s: float = STOP_TIMEOUT_S) -> dict[str, int]:
    """SIGINT every child, wait for all together, kill what overruns; exit codes by name."""
    for child in children:
        child.interrupt()
    deadline = time.monotonic() + timeout_s
    return {child.name: child.wait(deadline) for child in children}
