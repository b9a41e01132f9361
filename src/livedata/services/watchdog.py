"""When a supervisor should restart a service: pure decisions, no processes, no Kafka.

A service is failing when its process has exited, when no heartbeat of it has been
seen for ``stale_s`` (or none at all within ``startup_s`` of its start), or when its
heartbeats keep coming but none says it is working (``starting`` or ``running``) for
``stale_s``. Heartbeats are published by the processing loop itself, every 2 s, so a
loop wedged inside one step (a workflow stuck in compute) stops them.

A failing service is restarted at most once per ``window_s``: a second failure within
the window is held (reported, not restarted), so a service that cannot stay up does not
restart in a tight loop, and the operator sees why. A service that exited with code 2, a
configuration error (a bad option, Kafka refusing its login), is never restarted: it
would fail the same way (systemd's unit says the same with RestartPreventExitStatus=2).

Times are seconds on one monotonic clock, chosen by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from livedata.core.service import EXIT_CONFIG

DEFAULT_STALE_S = 30.0
"""Fifteen missed heartbeats (every 2 s): no hiccup of a busy two-core machine (a long
garbage collection, a slow flush) comes near it, and a wedged loop is caught in 30 s.
The dashboard marks a worker stale after the same time."""

DEFAULT_STARTUP_S = 60.0
"""A service imports scipp and reads its job snapshot (up to 10 s) before its first
heartbeat; four of them starting together on two cores take ~10-20 s."""

DEFAULT_WINDOW_S = 300.0
"""At most one restart per service per five minutes (systemd's StartLimitIntervalSec in
``deploy/systemd`` is the same): enough to ride out a rare wedge, too few to hide a
service that keeps failing."""


class Verdict(StrEnum):
    HEALTHY = "healthy"
    RESTART = "restart"
    HOLD = "hold"
    """Failing, but restarted less than a window ago: left as it is and reported."""
    GIVE_UP = "give_up"
    """Exited with a configuration error: a restart would fail the same way."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchdogPolicy:
    stale_s: float = DEFAULT_STALE_S
    startup_s: float = DEFAULT_STARTUP_S
    window_s: float = DEFAULT_WINDOW_S

    def __post_init__(self) -> None:
        if not (self.stale_s > 0 and self.startup_s > 0 and self.window_s >= 0):
            raise ValueError(f"watchdog times must be positive: {self}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceObservation:
    """What a supervisor knows of one service's current process."""

    name: str
    alive: bool
    """The process has not exited."""
    started_at: float
    """When the current process was started."""
    last_heartbeat: float | None = None
    """When the newest heartbeat of the current process arrived; None: none yet."""
    last_progress: float | None = None
    """When the newest heartbeat saying ``starting`` or ``running`` arrived."""
    last_restart: float | None = None
    """When the watchdog last restarted this service; None: never."""
    exit_code: int | None = None
    """The exit code of a process that has exited."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    name: str
    verdict: Verdict
    reason: str = ""
    """Why the service is failing; empty when healthy."""
    restart_allowed_at: float | None = None
    """For a held service: when the window ends and a restart is allowed again."""


def failure(service: ServiceObservation, policy: WatchdogPolicy, now: float) -> str:
    """Why ``service`` needs a restart, or "" when it does not."""
    if not service.alive:
        return "process exited"
    if service.last_heartbeat is None:
        waited = now - service.started_at
        if waited > policy.startup_s:
            return f"no heartbeat within {waited:.0f} s of its start"
        return ""
    silent = now - service.last_heartbeat
    if silent > policy.stale_s:
        return f"no heartbeat for {silent:.0f} s"
    # Heartbeats come, but none has said the service is working for a while: it
    # reports an error or a stop yet has not exited.
    progressed = service.last_progress if service.last_progress is not None else service.started_at
    idle = now - progressed
    if idle > policy.stale_s and now - service.started_at > policy.startup_s:
        return f"heartbeats show no progress for {idle:.0f} s"
    return ""


def decide(
    services: Iterable[ServiceObservation], policy: WatchdogPolicy, now: float
) -> list[Decision]:
    """One decision per service: leave it, restart it, or hold it (window not over)."""
    decisions = []
    for service in services:
        reason = failure(service, policy, now)
        if not reason:
            decisions.append(Decision(name=service.name, verdict=Verdict.HEALTHY))
            continue
        if not service.alive and service.exit_code == EXIT_CONFIG:
            reason = f"exited with code {EXIT_CONFIG}, a configuration error"
            decisions.append(Decision(name=service.name, verdict=Verdict.GIVE_UP, reason=reason))
            continue
        if service.last_restart is not None and now - service.last_restart < policy.window_s:
            decisions.append(
                Decision(
                    name=service.name,
                    verdict=Verdict.HOLD,
                    reason=reason,
                    restart_allowed_at=service.last_restart + policy.window_s,
                )
            )
            continue
        decisions.append(Decision(name=service.name, verdict=Verdict.RESTART, reason=reason))
    return decisions
