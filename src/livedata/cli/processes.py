"""Child processes of the demo: started in their own session, logs merged and prefixed.

A child can be restarted in place (the demo's watchdog does): SIGTERM, SIGKILL after a
grace period, then the same command again under a new process.
"""

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

RESTART_GRACE_S = STOP_TIMEOUT_S
"""A SIGTERM'd service exits within ~5 s even when its loop is wedged (its own shutdown
timer ends it); a process that does not is killed after this."""


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
        restart_args: Sequence[str] | None = None,
    ) -> None:
        """``restart_args``: the arguments of every later start (default: ``args``)."""
        self.name = name
        self._command = [sys.executable, "-m", module, *args]
        self._restart_command = [
            sys.executable,
            "-m",
            module,
            *(args if restart_args is None else restart_args),
        ]
        self._env = {**os.environ, **env}
        self._out = out
        self._lock = lock or threading.Lock()
        self.process = self._start()

    def _start(self) -> subprocess.Popen[str]:
        # Own session: a terminal's Ctrl-C reaches only the demo, which stops children
        # in order (producers and services first, so their last heartbeats get out).
        process = subprocess.Popen(
            self._command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self._env,
            start_new_session=True,
            text=True,
            bufsize=1,
        )
        reader = threading.Thread(
            target=self._pump, args=(process,), name=f"log-{self.name}", daemon=True
        )
        reader.start()
        return process

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        width = 15
        with process.stdout:  # closed at EOF: a restarted child must not leak its pipe
            for line in process.stdout:
                with self._lock:
                    self._out.write(f"{self.name[:width]:<{width}}| {line}")
                    self._out.flush()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def interrupt(self) -> None:
        if self.running:
            self.process.send_signal(signal.SIGINT)
            self.process.send_signal(signal.SIGCONT)  # a stopped (hung) one acts on it too

    def terminate(self, grace_s: float = RESTART_GRACE_S) -> int:
        """SIGTERM (and SIGCONT, so a stopped process can act on it), SIGKILL after
        ``grace_s``; the exit code."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            self.process.send_signal(signal.SIGCONT)
        return self.wait(time.monotonic() + grace_s)

    def restart(self, grace_s: float = RESTART_GRACE_S) -> int:
        """Stop the current process (``terminate``) and start the command again (with
        ``restart_args``); the old process's exit code."""
        code = self.terminate(grace_s)
        self._command = self._restart_command
        self.process = self._start()
        return code

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
