"""The service runtime: run a processor in a loop until told to stop.

SIGTERM or SIGINT asks for a clean exit: the loop ends after its current step, the
processor publishes its open window and final ``stopped`` reports, and the process
exits 0. If that takes longer than the grace period, or a second signal arrives,
the process exits at once. An exception escaping a step is logged, reported as a
service ``error``, and ends the process with a non-zero code so a supervisor sees it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Protocol

import structlog

logger = structlog.get_logger(__name__)

SHUTDOWN_GRACE_S = 5.0
"""QUALITY.md: a SIGTERM'd service is gone within ~5 s, final heartbeats sent."""

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 2
"""A configuration error (a bad option, Kafka refusing our login): a restart would fail
the same way, so supervisors do not restart it (systemd: RestartPreventExitStatus=2)."""
EXIT_FORCED = 3
"""Shutdown overran its grace period or a second signal cut it short."""


class Processor(Protocol):
    def process(self) -> None: ...

    def shutdown(self, *, error: str | None = None) -> None: ...


class Liveness(Protocol):
    """Told when the loop is up, each time it turns, and when it stops (e.g. systemd)."""

    def ready(self) -> None: ...

    def progress(self) -> None: ...

    def stopping(self) -> None: ...


class Service:
    """Runs ``processor.process()`` until stopped; ``run`` returns the exit code.

    ``liveness`` hears of every completed step: a loop wedged inside a step (a workflow
    stuck in compute) stops telling it, which is what a supervisor's watchdog watches.
    """

    def __init__(
        self,
        *,
        name: str,
        processor: Processor,
        on_close: Sequence[Callable[[], None]] = (),
        grace_s: float = SHUTDOWN_GRACE_S,
        force_exit: Callable[[int], None] = os._exit,
        liveness: Liveness | None = None,
    ) -> None:
        self._name = name
        self._liveness = liveness
        self._processor = processor
        self._on_close = on_close
        self._grace_s = grace_s
        self._force_exit = force_exit
        self._stop = threading.Event()
        self._watchdog: threading.Timer | None = None

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Ask the loop to end after its current step; safe from any thread."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._watchdog = threading.Timer(self._grace_s, self._overran)
        self._watchdog.daemon = True
        self._watchdog.start()

    def run(self) -> int:
        self._install_signal_handlers()
        logger.info("service_started", service=self._name)
        liveness = self._liveness
        if liveness is not None:
            liveness.ready()
        try:
            while not self._stop.is_set():
                self._processor.process()
                if liveness is not None:
                    liveness.progress()
        except Exception as err:  # report it, then exit non-zero so a supervisor restarts us
            logger.exception("service_failed", service=self._name)
            if liveness is not None:
                liveness.stopping()
            self.request_stop()  # arms the watchdog: the error exit is bounded too
            self._close(error=f"{type(err).__name__}: {err}")
            return EXIT_ERROR
        if liveness is not None:
            liveness.stopping()
        self._close(error=None)
        logger.info("service_stopped", service=self._name)
        return EXIT_OK

    def _close(self, *, error: str | None) -> None:
        try:
            self._processor.shutdown(error=error)
        except Exception:  # still release the resources below
            logger.exception("service_shutdown_failed", service=self._name)
        for close in self._on_close:
            try:
                close()
            except Exception:  # close the rest regardless
                logger.exception("service_close_failed", service=self._name)
        if self._watchdog is not None:
            self._watchdog.cancel()

    def _overran(self) -> None:
        logger.error("service_shutdown_overran", service=self._name, grace_s=self._grace_s)
        self._force_exit(EXIT_FORCED)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals are delivered to the main thread only

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if self._stop.is_set():
                logger.warning("service_forced_exit", service=self._name, signal=signum)
                self._force_exit(EXIT_FORCED)
                return
            logger.info("service_stop_requested", service=self._name, signal=signum)
            self.request_stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
