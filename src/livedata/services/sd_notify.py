"""systemd's notify protocol (``sd_notify``), in plain Python: readiness and a watchdog.

Under a unit with ``Type=notify`` systemd names a datagram socket in ``NOTIFY_SOCKET``
(a path, or an abstract name written with a leading ``@``). The service sends
``READY=1`` once its loop runs, ``WATCHDOG=1`` while the loop keeps turning, and
``STOPPING=1`` when it shuts down. With ``WatchdogSec=`` set, systemd passes the
interval in ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``, the process meant) and kills and
restarts (``Restart=on-failure``) a service that has not pinged within it: a loop
wedged inside one step stops pinging, so it is restarted.

Sending never raises: a supervisor that went away must not take the service with it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping

import structlog

logger = structlog.get_logger(__name__)

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"

READY = b"READY=1"
WATCHDOG = b"WATCHDOG=1"
STOPPING = b"STOPPING=1"


def socket_address(name: str) -> str | bytes:
    """The ``AF_UNIX`` address for ``NOTIFY_SOCKET``: ``@name`` is Linux's abstract
    namespace (a leading NUL byte), anything else a file system path."""
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


def watchdog_interval_s(env: Mapping[str, str], pid: int) -> float | None:
    """systemd's watchdog interval for process ``pid``, or None when there is none.

    ``WATCHDOG_PID``, when set, names the one process systemd expects pings from; a
    child that inherited the environment must not ping on its parent's behalf.
    """
    usec = env.get(WATCHDOG_USEC_ENV, "").strip()
    if not usec:
        return None
    watched_pid = env.get(WATCHDOG_PID_ENV, "").strip()
    if watched_pid and watched_pid != str(pid):
        return None
    try:
        interval_us = int(usec)
    except ValueError:
        logger.warning("watchdog_usec_invalid", value=usec)
        return None
    return interval_us / 1e6 if interval_us > 0 else None


class SystemdNotifier:
    """The service loop's ``Liveness`` under systemd: ready, watchdog pings, stopping.

    Pings go out at most once per half watchdog interval (systemd's advice), and only
    from ``progress``, i.e. from the loop itself after a completed step.
    """

    def __init__(
        self,
        address: str | bytes,
        *,
        watchdog_s: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._address = address
        self._ping_every_s = None if watchdog_s is None else watchdog_s / 2
        self._clock = clock
        self._last_ping: float | None = None
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._failures = 0

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, pid: int | None = None
    ) -> SystemdNotifier | None:
        """A notifier when systemd asked for notifications (``NOTIFY_SOCKET``), else None."""
        env = os.environ if env is None else env
        name = env.get(NOTIFY_SOCKET_ENV, "").strip()
        if not name:
            return None
        watchdog_s = watchdog_interval_s(env, os.getpid() if pid is None else pid)
        logger.info("systemd_notify", socket=name, watchdog_s=watchdog_s)
        return cls(socket_address(name), watchdog_s=watchdog_s)

    @property
    def watchdog_s(self) -> float | None:
        return None if self._ping_every_s is None else self._ping_every_s * 2

    def ready(self) -> None:
        self._send(READY)
        self._ping()  # the watchdog clock runs from here; start it with a full interval

    def progress(self) -> None:
        if self._ping_every_s is None:
            return
        if self._last_ping is None or self._clock() - self._last_ping >= self._ping_every_s:
            self._ping()

    def stopping(self) -> None:
        self._send(STOPPING)

    def close(self) -> None:
        self._socket.close()

    def _ping(self) -> None:
        if self._ping_every_s is not None:
            self._last_ping = self._clock()
            self._send(WATCHDOG)

    def _send(self, message: bytes) -> None:
        try:
            self._socket.sendto(message, self._address)
        except OSError as err:
            self._failures += 1
            # Logged the first time and then rarely: a gone socket fails every ping.
            if self._failures == 1 or self._failures % 100 == 0:
                logger.warning(
                    "systemd_notify_failed",
                    message=message.decode(),
                    error=str(err),
                    failures=self._failures,
                )
