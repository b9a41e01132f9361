"""Who is using the dashboard and what they may do: roles, the role check, and the
throttle on password guessing. No Panel here (tested with plain pytest).

Two roles: an operator may do everything; a viewer sees plots, status and workflows but
sends nothing (no commands, no ROIs). Without authentication (loopback development) the
one user is ``local``, an operator.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    """Sees everything; starts, stops and resets jobs; draws ROIs."""
    VIEWER = "viewer"
    """Sees everything; sends nothing."""


@dataclass(frozen=True, slots=True)
class User:
    """The person behind one browser session."""

    name: str
    role: Role
    client: str | None = None
    """The browser's address as the server saw it (None when unknown)."""
    authenticated: bool = False
    """True when the name comes from a login (False: loopback without authentication)."""

    @property
    def may_command(self) -> bool:
        return may_command(self)


LOCAL_USER = User(name="local", role=Role.OPERATOR)
"""The user of a dashboard served on loopback without authentication."""


def may_command(user: User) -> bool:
    """Whether ``user`` may send commands and ROIs (operators only)."""
    return user.role is Role.OPERATOR


class CommandRefusedError(ValueError):
    """The session's user may not send this (a viewer); nothing was sent.

    A ``ValueError`` so that every place that shows a refused command (a bad source, a
    bound broken) shows this one as well.
    """

    def __init__(self, message: str, user: User, reason: str = "viewer") -> None:
        super().__init__(message)
        self.user = user
        self.reason = reason
        """Why, in a word or two for the audit log: ``viewer``, ``not a user``, ..."""


def check_may_command(user: User, what: str) -> None:
    """Raise ``CommandRefusedError`` unless ``user`` may send commands.

    Raises
    ------
    CommandRefusedError
        For a viewer.
    """
    if not may_command(user):
        raise CommandRefusedError(
            f"{user.name} is a {user.role.value}: viewers cannot {what}", user
        )


MAX_LOGIN_FAILURES = 5
"""Wrong passwords one client may try per window before it must wait: enough for typos,
far too few for guessing (each try also costs a deliberately slow password hash)."""

LOGIN_WINDOW_S = 60.0

MAX_TRACKED_CLIENTS = 10_000
"""Clients whose failures are remembered; beyond this the oldest are forgotten, so a
flood of addresses cannot exhaust memory."""


class LoginThrottle:
    """Counts failed logins per client: a client that failed ``max_failures`` times
    within the last ``window_s`` seconds may not try again until then. Thread-safe.

    A login ``reserve``s its attempt before checking the password: the attempt counts as
    a failure from then on, and ``succeeded`` takes it back. Checking first and counting
    after would let a client send many guesses at once, all checked before any counted.
    """

    def __init__(
        self,
        *,
        max_failures: int = MAX_LOGIN_FAILURES,
        window_s: float = LOGIN_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def reserve(self, client: str) -> bool:
        """Count an attempt of ``client`` as failed now, if it may try; False (nothing
        counted) once it failed ``max_failures`` times in the window. Check and count are
        one step, so parallel attempts cannot all pass the check."""
        with self._lock:
            recent = self._recent(client)
            if len(recent) >= self.max_failures:
                return False
            self._count(client, recent)
            return True

    def _count(self, client: str, recent: deque[float]) -> None:
        recent.append(self._clock())
        self._failures[client] = recent
        while len(self._failures) > MAX_TRACKED_CLIENTS:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)

    def _recent(self, client: str) -> deque[float]:
        times = self._failures.pop(client, deque())
        cutoff = self._clock() - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        if times:
            self._failures[client] = times  # re-inserted: the dict stays oldest-first
        return times
