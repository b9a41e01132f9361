"""Commands from the dashboard: local validation, and tracking each one to its end.

``validate_params`` checks params with the workflow's own model before anything is
sent, so the form shows each problem next to its field. ``CommandTracker`` follows a
sent command until every device it concerns has answered (ACK or ERR) or its time is
up; every answer and every silence becomes a notification, and the optional outcome
callback gets the summary. No Kafka here: the backend feeds it delivery reports and
responses, so all of it is tested without a broker.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic
import structlog

from livedata.core.control import CommandResponse
from livedata.core.workflow import WorkflowSpec
from livedata.dashboard.contract import CommandOutcome, InvalidParams, Level
from livedata.dashboard.status_store import NotificationLog

logger = structlog.get_logger(__name__)

COMMAND_TIMEOUT_S = 10.0
"""How long the owners of a command have to answer, from the broker's confirmation.
Services answer within one loop step (~0.1 s); ten seconds covers a busy or restarting
service without leaving an operator wondering for long."""

BROADCAST_QUIET_S = 2.0
"""A command to all jobs (of a workflow) is answered by an unknown number of services;
it is complete this long after the last answer (they all see it within a poll)."""

MAX_PENDING_COMMANDS = 1000
"""Commands awaiting answers at once; an operator sends a few a minute."""

ROOT = "<root>"
"""The ``InvalidParams.problems`` key of problems with the params model as a whole."""


# -- params ---------------------------------------------------------------------------------


def _problems(err: pydantic.ValidationError) -> dict[str, str]:
    problems: dict[str, str] = {}
    for item in err.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in item["loc"]) or ROOT
        message = str(item["msg"]).removeprefix("Value error, ")
        problems[location] = f"{problems[location]}; {message}" if location in problems else message
    return problems


def _non_finite(value: Any, path: str = "") -> str | None:
    """Dotted path of the first NaN/infinity in JSON-like ``value``, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or ROOT
    items: Sequence[tuple[Any, Any]] = ()
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list | tuple):
        items = list(enumerate(value))
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def validate_params(spec: WorkflowSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``params`` with the spec's model; return them as JSON for the command.

    Raises
    ------
    InvalidParams
        Listing each offending field (dotted path) and what is wrong with it.
    """
    try:
        model = spec.params.model_validate(dict(params))
    except pydantic.ValidationError as err:
        problems = _problems(err)
    else:
        # round_trip: no computed fields, so the service validates exactly this back.
        dumped: dict[str, Any] = model.model_dump(mode="json", round_trip=True)
        bad = _non_finite(dumped)
        if bad is None:
            return dumped
        # Commands carry finite numbers only (QUALITY.md); say so here, not as an ERR.
        problems = {bad: "must be a finite number (not NaN or infinity)"}
    lines = [f"invalid parameters for {spec.title} ({spec.workflow_id}):"]
    lines += [f"  {location}: {message}" for location, message in problems.items()]
    raise InvalidParams("\n".join(lines), problems)


# -- tracking -------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class _Pending:
    message_id: str
    what: str
    owner: str
    devices: tuple[str, ...]
    on_outcome: Callable[[CommandOutcome], None] | None
    unsent: int
    deadline: float | None = None
    quiet_until: float | None = None
    answers: list[CommandResponse] = field(default_factory=list)
    failed_to_send: list[str] = field(default_factory=list)

    @property
    def broadcast(self) -> bool:
        return not self.devices

    def complete(self) -> bool:
        return not self.broadcast and {a.device for a in self.answers} >= set(self.devices)

    def outcome(self) -> CommandOutcome:
        if self.broadcast:
            return CommandOutcome(
                acked=[a.device for a in self.answers if a.ok],
                # Broadcast answers all name device "all": number them to keep each.
                refused={
                    f"{a.device}#{i}": a.error or "" for i, a in enumerate(self.answers) if not a.ok
                },
                unanswered=[] if self.answers else ["all"],
            )
        by_device = {a.device: a for a in self.answers}
        return CommandOutcome(
            acked=[d for d in self.devices if d in by_device and by_device[d].ok],
            refused={
                d: by_device[d].error or ""
                for d in self.devices
                if d in by_device and not by_device[d].ok
            },
            unanswered=[d for d in self.devices if d not in by_device],
        )


class CommandTracker:
    """Commands awaiting answers; thread-safe (UI threads register, the sender reports
    deliveries, the consumer thread reports answers and expires).

    Parameters
    ----------
    notifications:
        Where answers, refusals and silences are reported.
    timeout_s:
        How long devices have to answer once the broker confirmed the command.
    clock:
        Monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        notifications: NotificationLog,
        *,
        timeout_s: float = COMMAND_TIMEOUT_S,
        quiet_s: float = BROADCAST_QUIET_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._notifications = notifications
        self.timeout_s = timeout_s
        self._quiet_s = quiet_s
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def track(
        self,
        *,
        message_id: str,
        what: str,
        owner: str,
        devices: Sequence[str],
        messages: int,
        on_outcome: Callable[[CommandOutcome], None] | None = None,
    ) -> None:
        """Register a command before it is sent (so no answer can come first).

        ``what`` says what it does ("start Panel 0 (panel_0_xy)"), ``owner`` who should
        answer ("detector_data"), ``devices`` who must each answer (empty: a broadcast,
        any number of services may), ``messages`` how many Kafka messages carry it.

        Raises
        ------
        RuntimeError
            If ``MAX_PENDING_COMMANDS`` commands are already waiting.
        """
        with self._lock:
            if len(self._pending) >= MAX_PENDING_COMMANDS:
                raise RuntimeError(
                    f"{len(self._pending)} commands are still awaiting answers; try again later"
                )
            self._pending[message_id] = _Pending(
                message_id=message_id,
                what=what,
                owner=owner,
                devices=tuple(devices),
                on_outcome=on_outcome,
                unsent=messages,
            )

    def sent(self, message_id: str, device: str, error: str | None) -> None:
        """The broker confirmed (``error`` None) or refused one message of a command; the
        answer clock starts when all its messages are confirmed."""
        finished = None
        with self._lock:
            pending = self._pending.get(message_id)
            if pending is None:
                return  # already answered in full before the delivery report came
            pending.unsent -= 1
            if error is not None:
                pending.failed_to_send.append(device)
            if pending.unsent <= 0:
                if len(pending.failed_to_send) >= max(len(pending.devices), 1):
                    finished = self._pending.pop(message_id)  # nothing went out
                else:
                    pending.deadline = self._clock() + self.timeout_s
        if error is not None:
            self._notifications.add(Level.ERROR, f"{pending.what} not sent: {error}")
        if finished is not None:
            self._finish(finished)

    def answer(self, response: CommandResponse) -> bool:
        """Take a response; False if it answers no command tracked here."""
        with self._lock:
            pending = self._pending.get(response.message_id)
            if pending is None:
                return False  # another client's command, or one we stopped waiting for
            if not pending.broadcast and (
                response.device not in pending.devices
                or any(a.device == response.device for a in pending.answers)
            ):
                return False  # not asked, or a duplicate answer
            pending.answers.append(response)
            if pending.broadcast:
                pending.quiet_until = self._clock() + self._quiet_s
            finished = self._pending.pop(response.message_id) if pending.complete() else None
        if not response.ok:
            self._notifications.add(
                Level.ERROR, f"{pending.what} refused for {response.device}: {response.error}"
            )
        elif not pending.broadcast:
            self._notifications.add(Level.SUCCESS, f"{pending.what}: {response.device} ACK")
        if finished is not None:
            self._finish(finished)
        return True

    def expire(self) -> None:
        """Finish every command whose time is up (or broadcast has gone quiet)."""
        now = self._clock()
        with self._lock:
            due = [
                p
                for p in self._pending.values()
                if (p.deadline is not None and now >= p.deadline)
                or (p.quiet_until is not None and now >= p.quiet_until)
            ]
            for pending in due:
                del self._pending[pending.message_id]
        for pending in due:
            self._finish(pending)

    def _finish(self, pending: _Pending) -> None:
        outcome = pending.outcome()
        silent = [d for d in outcome.unanswered if d not in pending.failed_to_send]
        if pending.broadcast and outcome.acked:
            self._notifications.add(
                Level.SUCCESS, f"{pending.what}: {len(outcome.acked)} service(s) acknowledged"
            )
        elif silent:
            devices = "" if pending.broadcast else f" for {', '.join(silent)}"
            self._notifications.add(
                Level.ERROR,
                f"no service answered {pending.what}{devices} within {self.timeout_s:g} s: "
                f"is {pending.owner} running?",
            )
        if pending.on_outcome is not None:
            try:
                pending.on_outcome(outcome)
            except Exception:  # a UI callback must not kill the consumer thread
                logger.exception("command_outcome_callback_failed", command=pending.what)
