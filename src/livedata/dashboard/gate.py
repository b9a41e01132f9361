"""``CommandGate``: one session's way to the backend, checking its user's role and
auditing every command and ROI it sends.

Each browser session gets its own gate around the shared backend; the UI calls the gate
exactly as it would call the backend (it is a ``Backend``). Reads pass through. Sends
are checked here, on the server, whatever the page shows: a viewer's command or ROI is
refused (``CommandRefusedError``, nothing sent) and the refusal is audited. An
operator's is audited before it is sent (if the audit log cannot be written, it is not
sent) and again when its outcome arrives.

Saved grids are shared by every session and hold ROIs that are sent to jobs when an
operator loads one, so writing them is the same right: ``GatedGridLibrary`` lets only
an operator save or delete a grid, and audits both, refusals too.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

from livedata.core.control import JobAction, Roi, RoiShape, RunPolicy
from livedata.core.identity import JobId, WorkflowId
from livedata.dashboard.access import CommandRefusedError, User, check_may_command
from livedata.dashboard.audit import AuditError, AuditLog
from livedata.dashboard.contract import (
    Backend,
    CommandOutcome,
    NotificationsView,
    ResultsView,
    StatusView,
)
from livedata.dashboard.policy.grid import Grid
from livedata.dashboard.policy.grid_files import GridLibrary

logger = structlog.get_logger(__name__)

Outcome = Callable[[CommandOutcome], None]


def outcome_result(outcome: CommandOutcome) -> str:
    """``ACK`` (every device acknowledged), ``ERR`` (one refused) or ``timeout``."""
    if outcome.refused:
        return "ERR"
    if outcome.unanswered:
        return "timeout"
    return "ACK"


class _Outcome:
    """Writes a command's result line once its job ids are known and its outcome came
    (in either order: an in-memory backend answers before ``start_workflow`` returns)."""

    def __init__(self, gate: CommandGate, audit_id: str, chained: Outcome | None) -> None:
        self._gate = gate
        self._id = audit_id
        self._chained = chained
        self._lock = threading.Lock()
        self._job_ids: list[str] | None = None
        self._outcome: CommandOutcome | None = None
        self._written = False

    def job_ids(self, job_ids: Sequence[JobId] | None) -> None:
        with self._lock:
            self._job_ids = [str(j) for j in job_ids or ()]
            ready = self._outcome
        if ready is not None:
            self._write(ready)

    def __call__(self, outcome: CommandOutcome) -> None:
        with self._lock:
            self._outcome = outcome
            ready = self._job_ids is not None
        if ready:
            self._write(outcome)
        if self._chained is not None:
            self._chained(outcome)

    def _write(self, outcome: CommandOutcome) -> None:
        with self._lock:
            if self._written:
                return
            self._written = True
            job_ids = self._job_ids
        record: dict[str, Any] = {
            "event": "result",
            "id": self._id,
            "result": outcome_result(outcome),
            "acked": list(outcome.acked),
            "refused": dict(outcome.refused),
            "unanswered": list(outcome.unanswered),
        }
        if job_ids:
            record["job_ids"] = job_ids
        self._gate._audit_quietly(record)


class CommandGate:
    """A ``Backend`` for one session: ``inner``'s reads, and its sends checked against
    ``user``'s role and written to ``audit``."""

    def __init__(
        self,
        inner: Backend,
        user: User,
        audit: AuditLog | None,
        *,
        current: Callable[[], User | None] | None = None,
    ) -> None:
        self.inner = inner
        self.user = user
        """Who sends (as of the last command: ``current`` may have changed the role)."""
        self._audit = audit
        self._current = current

    def _check(self, verb: str) -> None:
        """Refuse unless the user, as the users file says now, may command: a user
        demoted or removed while their page is open loses the right at once."""
        if self._current is not None:
            now = self._current()
            if now is None:
                raise CommandRefusedError(
                    f"{self.user.name} is no longer a user of this dashboard",
                    self.user,
                    reason="not a user",
                )
            self.user = now
        check_may_command(self.user, verb)

    # -- reads ----------------------------------------------------------------------

    @property
    def instrument(self) -> str:
        return self.inner.instrument

    @property
    def results(self) -> ResultsView:
        return self.inner.results

    @property
    def status(self) -> StatusView:
        return self.inner.status

    @property
    def notifications(self) -> NotificationsView:
        return self.inner.notifications

    # -- sends ----------------------------------------------------------------------

    def start_workflow(
        self,
        workflow_id: WorkflowId,
        sources: Sequence[str],
        params: Mapping[str, Any],
        *,
        aux_source_names: Mapping[str, str] | None = None,
        run_policy: RunPolicy = RunPolicy.KEEP,
        on_outcome: Outcome | None = None,
    ) -> list[JobId]:
        audit_id = self.request(
            "start workflows",
            kind="workflow_config",
            action="start",
            workflow=str(workflow_id),
            sources=list(sources),
            params=dict(params),
            aux_sources=dict(aux_source_names or {}),
            run_policy=RunPolicy(run_policy).value,
        )
        tracker = _Outcome(self, audit_id, on_outcome)
        try:
            job_ids = self.inner.start_workflow(
                workflow_id,
                sources,
                params,
                aux_source_names=aux_source_names,
                run_policy=run_policy,
                on_outcome=tracker,
            )
        except Exception as err:
            self.failed(audit_id, err)
            raise
        tracker.job_ids(job_ids)
        return job_ids

    def job_action(
        self,
        action: JobAction,
        *,
        job_id: JobId | None = None,
        workflow_id: WorkflowId | None = None,
        on_outcome: Outcome | None = None,
    ) -> None:
        verb = JobAction(action).value
        audit_id = self.request(
            f"{verb} jobs",
            kind="job_command",
            action=verb,
            job_id=None if job_id is None else str(job_id),
            workflow=None if workflow_id is None else str(workflow_id),
        )
        tracker = _Outcome(self, audit_id, on_outcome)
        try:
            self.inner.job_action(
                action, job_id=job_id, workflow_id=workflow_id, on_outcome=tracker
            )
        except Exception as err:
            self.failed(audit_id, err)
            raise
        tracker.job_ids([job_id] if job_id is not None else [])

    def publish_rois(self, job_id: JobId, shape: RoiShape, rois: Mapping[int, Roi]) -> None:
        what: dict[str, Any] = {
            "kind": "roi_update",
            "job_id": str(job_id),
            "shape": shape,
            "rois": {str(i): {"x": list(r.x), "y": list(r.y)} for i, r in sorted(rois.items())},
        }
        audit_id = self.request("send ROIs", event="roi", result="sent", **what)
        try:
            self.inner.publish_rois(job_id, shape, rois)
        except Exception as err:
            self.failed(audit_id, err)
            raise

    # -- auditing -------------------------------------------------------------------

    def _record(
        self, event: str, audit_id: str, result: str, what: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "event": event,
            "id": audit_id,
            "user": self.user.name,
            "role": self.user.role.value,
            "client": self.user.client,
            "instrument": self.inner.instrument,
            **what,
            "result": result,
        }

    def request(
        self, verb: str, *, event: str = "command", result: str = "requested", **what: Any
    ) -> str:
        """Check the role and write the request line (``event``: a command, ROIs, a
        grid written); return its id, for the outcome's line.

        Raises
        ------
        CommandRefusedError
            For a viewer (audited as ``refused: viewer``), or when the audit log
            cannot be written (the command must not go out unrecorded).
        """
        audit_id = str(uuid.uuid4())
        try:
            self._check(verb)
        except CommandRefusedError as err:
            self._audit_quietly(self._record(event, audit_id, f"refused: {err.reason}", what))
            logger.warning(
                "dashboard_command_refused", user=self.user.name, role=self.user.role, what=verb
            )
            raise
        self._audit_or_refuse(self._record(event, audit_id, result, what))
        return audit_id

    def outcome(self, audit_id: str, result: str) -> None:
        """The line of what became of request ``audit_id``."""
        self._audit_quietly({"event": "result", "id": audit_id, "result": result})

    def failed(self, audit_id: str, err: Exception) -> None:
        """Request ``audit_id`` failed before it went out (``invalid``: refused by its
        checks)."""
        kind = "invalid" if isinstance(err, ValueError) else "error"
        self.outcome(audit_id, f"{kind}: {err}")

    def _audit_or_refuse(self, record: Mapping[str, Any]) -> None:
        logger.info(
            "dashboard_command",
            user=self.user.name,
            kind=record.get("kind"),
            action=record.get("action"),
            id=record.get("id"),
        )
        if self._audit is None:
            return
        try:
            self._audit.write(record)
        except AuditError as err:
            logger.error("audit_log_unwritable", error=str(err))
            raise CommandRefusedError(
                f"not sent: the audit log cannot be written ({err})",
                self.user,
                reason="audit log unwritable",
            ) from err

    def _audit_quietly(self, record: Mapping[str, Any]) -> None:
        """For lines after the fact (refusals, outcomes): a failure is logged, not raised
        (nothing is sent because of them, and outcomes arrive on a backend thread)."""
        if self._audit is None:
            return
        try:
            self._audit.write(record)
        except AuditError as err:
            logger.error("audit_log_unwritable", error=str(err), record=dict(record))


class GatedGridLibrary(GridLibrary):
    """One session's grid library: ``inner``'s grids to read; saving and deleting only
    for an operator (as the users file says now), checked and audited by ``gate``.

    Raises ``CommandRefusedError`` (nothing written) for a viewer, or when the audit log
    cannot be written.
    """

    def __init__(self, inner: GridLibrary, gate: CommandGate) -> None:
        super().__init__(inner.base)
        self.inner = inner
        self._gate = gate

    def path(self, instrument: str, name: str) -> Path:
        return self.inner.path(instrument, name)

    def names(self, instrument: str) -> list[str]:
        return self.inner.names(instrument)

    def load(self, instrument: str, name: str) -> Grid:
        return self.inner.load(instrument, name)

    def save(self, instrument: str, name: str, grid: Grid) -> Path:
        audit_id = self._request("save", instrument, name)
        try:
            path = self.inner.save(instrument, name, grid)
        except Exception as err:
            self._gate.failed(audit_id, err)
            raise
        self._gate.outcome(audit_id, "saved")
        return path

    def delete(self, instrument: str, name: str) -> bool:
        audit_id = self._request("delete", instrument, name)
        try:
            deleted = self.inner.delete(instrument, name)
        except Exception as err:
            self._gate.failed(audit_id, err)
            raise
        self._gate.outcome(audit_id, "deleted" if deleted else "not found")
        return deleted

    def _request(self, action: str, instrument: str, name: str) -> str:
        return self._gate.request(
            f"{action} grids",
            event="grid",
            kind="grid",
            action=action,
            grid=name,
            grid_instrument=instrument,
        )


def _conforms(gate: CommandGate) -> Backend:
    """Never called: mypy checks here that the gate keeps the UI's contract."""
    return gate
