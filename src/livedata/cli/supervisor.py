"""The demo's watchdog: restart a service child whose process died or whose heartbeats
stalled, at most once per window (the decisions are in ``livedata.services.watchdog``).

``HeartbeatMonitor`` reads the instrument's heartbeat topic on a thread and remembers
when each service process (by pid, from the x5f2 envelope) was last heard of, so an
earlier process of the same service, or another host's worker, never vouches for the
current one. ``Supervisor.check`` is one pass: observe, decide, restart.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from livedata.cli.processes import RESTART_GRACE_S, Child
from livedata.cli.watch import tail_consumer
from livedata.config.topics import Topic, topic_name
from livedata.core.status import ServiceState
from livedata.kafka.settings import KafkaSettings
from livedata.protocol.errors import DecodeError
from livedata.protocol.heartbeats import ServiceHeartbeat, decode_heartbeat
from livedata.services.watchdog import (
    Decision,
    ServiceObservation,
    Verdict,
    WatchdogPolicy,
    decide,
)

logger = structlog.get_logger(__name__)

PROGRESS_STATES = frozenset({ServiceState.STARTING, ServiceState.RUNNING})
"""Heartbeat states that show a service at work; ``stopped``/``error`` do not."""

CONSUME_TIMEOUT_S = 0.2
"""Bounded, so the reader notices ``close`` and the embedded broker's rotations."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Heard:
    """When a service process's heartbeats arrived (``time.monotonic``)."""

    last_heartbeat: float
    last_progress: float | None


class HeartbeatSource(Protocol):
    def heard(self, service_name: str, pid: int) -> Heard | None: ...

    def forget(self, pid: int) -> None: ...


class HeartbeatMonitor:
    """Newest heartbeat arrival per (service name, pid) of one instrument, on this host."""

    def __init__(
        self,
        settings: KafkaSettings,
        instrument: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = tail_consumer(settings, topic_name(instrument, Topic.HEARTBEAT))
        self._instrument = instrument
        self._host = socket.gethostname()
        self._clock = clock
        self._lock = threading.Lock()
        self._heard: dict[tuple[str, int], Heard] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat-monitor", daemon=True)
        self._thread.start()

    def heard(self, service_name: str, pid: int) -> Heard | None:
        with self._lock:
            return self._heard.get((service_name, pid))

    def forget(self, pid: int) -> None:
        """Drop what was heard from a process that is gone."""
        with self._lock:
            for key in [key for key in self._heard if key[1] == pid]:
                del self._heard[key]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                polled = self._consumer.consume(100, CONSUME_TIMEOUT_S)
            except Exception:  # keep watching: a missed poll only delays a verdict
                logger.exception("heartbeat_monitor_poll_failed")
                self._stop.wait(1.0)
                continue
            for message in polled:
                if message.error() is None:
                    self._take(message.value() or b"")

    def _take(self, payload: bytes) -> None:
        try:
            heartbeat = decode_heartbeat(payload)
        except DecodeError:
            return
        if not isinstance(heartbeat, ServiceHeartbeat):
            return
        status = heartbeat.status
        if status.instrument != self._instrument or heartbeat.host_name != self._host:
            return
        now = self._clock()
        key = (status.service_name, heartbeat.process_id)
        with self._lock:
            before = self._heard.get(key)
            progress = now if status.state in PROGRESS_STATES else None
            if progress is None and before is not None:
                progress = before.last_progress
            self._heard[key] = Heard(last_heartbeat=now, last_progress=progress)


@dataclass(frozen=True, slots=True, kw_only=True)
class Restart:
    service: str
    at: float
    """Wall-clock time (``time.time``)."""
    reason: str
    exit_code: int


class Supervisor:
    """Restarts failing service children, at most once per window each."""

    def __init__(
        self,
        children: Sequence[Child],
        heartbeats: HeartbeatSource,
        *,
        policy: WatchdogPolicy,
        report: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        stop_grace_s: float = RESTART_GRACE_S,
    ) -> None:
        self._children = list(children)
        self._heartbeats = heartbeats
        self._policy = policy
        self._report = report
        self._clock = clock
        self._stop_grace_s = stop_grace_s
        # Startup time runs from here for children started before: the monitor has
        # had no chance to hear them yet.
        self._started = {child.name: clock() for child in self._children}
        self._last_restart: dict[str, float] = {}
        self._held: set[str] = set()
        self.restarts: list[Restart] = []

    def observe(self) -> list[ServiceObservation]:
        observations = []
        for child in self._children:
            heard = self._heartbeats.heard(child.name, child.process.pid)
            observations.append(
                ServiceObservation(
                    name=child.name,
                    alive=child.running,
                    started_at=self._started[child.name],
                    last_heartbeat=heard.last_heartbeat if heard is not None else None,
                    last_progress=heard.last_progress if heard is not None else None,
                    last_restart=self._last_restart.get(child.name),
                    exit_code=child.process.returncode,
                )
            )
        return observations

    def check(self) -> list[Decision]:
        """Observe every child, restart those the policy says to; the decisions."""
        decisions = decide(self.observe(), self._policy, self._clock())
        children = {child.name: child for child in self._children}
        for decision in decisions:
            if decision.verdict is Verdict.RESTART:
                self._restart(children[decision.name], decision.reason)
            elif decision.verdict is Verdict.HOLD:
                self._hold(decision)
            elif decision.verdict is Verdict.GIVE_UP:
                self._give_up(decision)
            else:
                self._held.discard(decision.name)
        return decisions

    def summary(self) -> str:
        """For the demo's status line: restarts so far and services held."""
        if not self.restarts:
            text = "watchdog: no restarts"
        else:
            last = {r.service: r for r in self.restarts}
            text = f"watchdog: {len(self.restarts)} restart(s): " + ", ".join(
                f"{r.service} at {time.strftime('%H:%M:%S', time.localtime(r.at))} ({r.reason})"
                for r in last.values()
            )
        if self._held:
            text += f"; failing, held: {', '.join(sorted(self._held))}"
        return text

    def _restart(self, child: Child, reason: str) -> None:
        old_pid = child.process.pid
        self._report(f"watchdog: restarting {child.name}: {reason}")
        code = child.restart(self._stop_grace_s)
        self._heartbeats.forget(old_pid)
        # The window and the startup time run from the restart's end: a slow stop
        # eats into neither.
        self._last_restart[child.name] = self._started[child.name] = self._clock()
        self._held.discard(child.name)
        self.restarts.append(
            Restart(service=child.name, at=time.time(), reason=reason, exit_code=code)
        )
        logger.warning(
            "watchdog_restart",
            service=child.name,
            reason=reason,
            old_pid=old_pid,
            exit_code=code,
            new_pid=child.process.pid,
        )
        self._report(f"watchdog: {child.name} restarted (was pid {old_pid}, exit code {code})")

    def _give_up(self, decision: Decision) -> None:
        if decision.name in self._held:
            return  # reported once
        self._held.add(decision.name)
        logger.error("watchdog_give_up", service=decision.name, reason=decision.reason)
        self._report(
            f"watchdog: {decision.name} {decision.reason}; not restarting it (its own "
            "output says what to fix)"
        )

    def _hold(self, decision: Decision) -> None:
        if decision.name in self._held:
            return  # reported once per failing spell, not every second
        self._held.add(decision.name)
        wait_s = (decision.restart_allowed_at or self._clock()) - self._clock()
        logger.warning(
            "watchdog_hold", service=decision.name, reason=decision.reason, wait_s=wait_s
        )
        self._report(
            f"watchdog: {decision.name} is failing ({decision.reason}) but was restarted "
            f"less than {self._policy.window_s:.0f} s ago; not restarting it for "
            f"another {wait_s:.0f} s"
        )
