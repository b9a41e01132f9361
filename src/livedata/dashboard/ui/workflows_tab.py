"""The Workflows tab: every workflow of the instrument, grouped by service, with its jobs
(live state from heartbeats, stop and reset), and a start form generated from its params
model. Command outcomes (ACK, ERR, no answer) show next to the workflow they concern."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import panel as pn

from livedata.core.control import JobAction, RunPolicy
from livedata.core.identity import JobId, WorkflowId
from livedata.core.workflow import WorkflowSpec
from livedata.dashboard.contract import CommandOutcome, InvalidParams, JobRow
from livedata.dashboard.ui.context import DashboardContext
from livedata.dashboard.ui.format import escape, format_duration, job_state_badge, service_badge
from livedata.dashboard.ui.forms import ParamsForm
from livedata.dashboard.ui.livehtml import LiveHTML

MAX_JOB_ROWS = 20
"""Jobs listed per workflow (newest first); older ones are in the Status tab."""


def outcome_html(what: str, outcome: CommandOutcome) -> str:
    """One line per device: ACK, refused (with the reason) or no answer."""
    parts = []
    if outcome.acked:
        parts.append(
            f"<span style='color:#1a7f37'>✔ {escape(what)}: ACK from "
            f"{escape(', '.join(outcome.acked))}</span>"
        )
    for device, reason in outcome.refused.items():
        parts.append(
            f"<span style='color:#cf222e'>✖ {escape(what)}: {escape(device)} refused: "
            f"{escape(reason)}</span>"
        )
    if outcome.unanswered:
        parts.append(
            f"<span style='color:#cf222e'>✖ {escape(what)}: no service answered for "
            f"{escape(', '.join(outcome.unanswered))} (is its service running?)</span>"
        )
    return "<br>".join(parts) or escape(what)


class WorkflowCard:
    """One workflow: its jobs and its start form."""

    def __init__(self, ctx: DashboardContext, spec: WorkflowSpec, post: Callable[..., None]):
        self.ctx = ctx
        self.spec = spec
        self._post = post
        slug = spec.workflow_id.name
        self.sources = pn.widgets.CheckBoxGroup(
            label="Sources",
            options=list(spec.source_names),
            value=list(spec.source_names[:1]),
            inline=True,
            css_classes=[f"ld-sources-{slug}"],
        )
        self.aux = {
            role: pn.widgets.Select(label=f"{role}", options=list(aux.choices), width=180)
            for role, aux in spec.aux_sources.items()
        }
        self.run_policy = pn.widgets.Select(
            label="Run policy", options=[p.value for p in RunPolicy], value="keep", width=160
        )
        self.form = ParamsForm(spec.params)
        self.start = pn.widgets.Button(
            label="Start", color="primary", width=90, css_classes=[f"ld-start-{slug}"]
        )
        self.start.on_click(lambda _: self._start())
        self.feedback = pn.pane.HTML("", css_classes=[f"ld-feedback-{slug}", "ld-feedback"])
        self.jobs = pn.Column(margin=0, css_classes=[f"ld-jobs-{slug}"])
        self._job_ids: list[JobId] = []
        self._job_texts: dict[JobId, LiveHTML] = {}
        start_area = pn.Column(
            pn.pane.HTML("<b>Start a job</b>", margin=(6, 5, 0, 5)),
            pn.Row(self.sources, self.run_policy, *self.aux.values()),
            self.form.layout,
            pn.Row(self.start, self.feedback),
            sizing_mode="stretch_width",
        )
        description = pn.pane.HTML(
            f"<small>{escape(spec.description)} <code>{escape(str(spec.workflow_id))}</code>"
            "</small>"
        )
        jobs_area = pn.Column(
            pn.pane.HTML("<b>Jobs</b>", margin=(6, 5, 0, 5)), self.jobs, width=640
        )
        # A viewer gets no start form and no job buttons (the gate refuses their sends
        # anyway: hiding is for clarity, not the protection).
        areas = [jobs_area, start_area] if ctx.may_command else [jobs_area]
        self.panel = pn.Card(
            description,
            pn.Row(*areas, sizing_mode="stretch_width"),
            title=spec.title,
            collapsed=False,
            sizing_mode="stretch_width",
            css_classes=[f"ld-workflow-{slug}"],
            margin=(4, 4),
        )

    # -- commands -------------------------------------------------------------------

    def _start(self) -> None:
        params = self.form.validate()
        if params is None:
            self._say("<span style='color:#cf222e'>Fix the parameters above.</span>")
            return
        sources = list(self.sources.value)
        what = f"start {self.spec.title}"
        try:
            job_ids = self.ctx.backend.start_workflow(
                self.spec.workflow_id,
                sources,
                params,
                aux_source_names={role: w.value for role, w in self.aux.items()},
                run_policy=RunPolicy(self.run_policy.value),
                on_outcome=lambda outcome: self._post(self, what, outcome),
            )
        except InvalidParams as err:
            self.form.show_error(err)
            self._say("<span style='color:#cf222e'>The parameters were refused.</span>")
            return
        except ValueError as err:
            self._say(f"<span style='color:#cf222e'>{escape(str(err))}</span>")
            return
        number = str(job_ids[0].job_number)[:8] if job_ids else "?"
        self._say(f"⏳ {escape(what)} sent (job {number}…), waiting for an answer")

    def act(self, action: JobAction, job_id: JobId) -> None:
        what = f"{action.value} {job_id.source_name}/{str(job_id.job_number)[:8]}"
        try:
            self.ctx.backend.job_action(
                action,
                job_id=job_id,
                on_outcome=lambda outcome: self._post(self, what, outcome),
            )
        except ValueError as err:
            self._say(f"<span style='color:#cf222e'>{escape(str(err))}</span>")
            return
        self._say(f"⏳ {escape(what)} sent, waiting for an answer")

    def _say(self, html: str) -> None:
        self.feedback.object = html

    def show_outcome(self, what: str, outcome: CommandOutcome) -> None:
        self._say(outcome_html(what, outcome))

    # -- jobs -----------------------------------------------------------------------

    def refresh(self, rows: list[JobRow], now_ns: int) -> None:
        # Newest first, in an order that does not change between heartbeats: rows are
        # rebuilt only when the set of jobs changes (a rebuilt button loses its click).
        rows = sorted(
            rows,
            key=lambda r: (r.status.start_time or 0, str(r.status.job_id)),
            reverse=True,
        )
        rows = rows[:MAX_JOB_ROWS]
        ids = [row.status.job_id for row in rows]
        if ids != self._job_ids:
            self._job_ids = ids
            self._job_texts = {}
            widgets: list[Any] = []
            for row in rows:
                text = LiveHTML(css_classes=["ld-job-row"], margin=(6, 5), width=430)
                self._job_texts[row.status.job_id] = text
                buttons = self._buttons(row.status.job_id)
                widgets.append(pn.Row(text, *buttons, margin=0, css_classes=["ld-job"]))
            if not widgets:
                widgets = [pn.pane.HTML("<small><i>No jobs.</i></small>", margin=(4, 5))]
            self.jobs[:] = widgets
        for row in rows:
            html = self._job_html(row, now_ns)
            pane = self._job_texts[row.status.job_id]
            if pane.html != html:
                pane.html = html

    def _buttons(self, job_id: JobId) -> list[Any]:
        if not self.ctx.may_command:
            return []
        stop = pn.widgets.Button(label="Stop", width=64, css_classes=["ld-job-stop"])
        reset = pn.widgets.Button(label="Reset", width=64, css_classes=["ld-job-reset"])
        stop.on_click(lambda _: self.act(JobAction.STOP, job_id))
        reset.on_click(lambda _: self.act(JobAction.RESET, job_id))
        return [stop, reset]

    def _job_html(self, row: JobRow, now_ns: int) -> str:
        status = row.status
        seen = format_duration((now_ns - row.last_seen_ns) / 1e9)
        extra = ""
        if status.error:
            extra = f" <span style='color:#cf222e'>{escape(status.error[:200])}</span>"
        elif status.warning:
            extra = f" <span style='color:#bf8700'>{escape(status.warning[:200])}</span>"
        return (
            f"<b>{escape(status.job_id.source_name)}</b> "
            f"<code>{str(status.job_id.job_number)[:8]}</code> "
            f"{job_state_badge(status.state, row.liveness)} "
            f"<small>seen {seen} ago</small>{extra}"
        )


class WorkflowsTab:
    """Cards of every workflow, grouped by the service that runs it."""

    def __init__(self, ctx: DashboardContext) -> None:
        self.ctx = ctx
        self._outcomes: deque[tuple[WorkflowCard, str, CommandOutcome]] = deque(maxlen=100)
        self._lock = threading.Lock()
        by_service: dict[str, list[WorkflowSpec]] = defaultdict(list)
        for spec in sorted(ctx.specs.values(), key=lambda s: (s.service, s.title)):
            by_service[spec.service].append(spec)
        self.cards: dict[WorkflowId, WorkflowCard] = {}
        self._service_badges: dict[str, pn.pane.HTML] = {}
        sections: list[Any] = []
        for service, specs in sorted(by_service.items()):
            badge = pn.pane.HTML("", margin=(10, 5, 0, 5), css_classes=[f"ld-service-{service}"])
            self._service_badges[service] = badge
            sections.append(badge)
            for spec in specs:
                card = WorkflowCard(ctx, spec, self._post)
                self.cards[spec.workflow_id] = card
                sections.append(card.panel)
        if not ctx.may_command:
            note = (
                f"<small class='ld-read-only'>{escape(ctx.user.name)} is a viewer: jobs and "
                "their state are shown; starting, stopping and resetting need an operator."
                "</small>"
            )
            sections.insert(0, pn.pane.HTML(note, margin=(6, 5)))
        self.panel = pn.Column(*sections, sizing_mode="stretch_width")
        self._seen: tuple[int, int] | None = None

    def _post(self, card: WorkflowCard, what: str, outcome: CommandOutcome) -> None:
        """Called on a backend thread: keep it for the session's next tick."""
        with self._lock:
            self._outcomes.append((card, what, outcome))

    def refresh(self, now_ns: int) -> int:
        with self._lock:
            outcomes = list(self._outcomes)
            self._outcomes.clear()
        for card, what, outcome in outcomes:
            card.show_outcome(what, outcome)
        stamp = (self.ctx.backend.status.version, now_ns // 1_000_000_000)
        if stamp == self._seen:
            return 0
        self._seen = stamp
        rows_by_workflow: dict[WorkflowId, list[JobRow]] = defaultdict(list)
        for row in self.ctx.backend.status.jobs(now_ns):
            rows_by_workflow[row.status.workflow_id].append(row)
        for wid, card in self.cards.items():
            card.refresh(rows_by_workflow.get(wid, []), now_ns)
        services = self.ctx.backend.status.services(now_ns)
        for name, badge in self._service_badges.items():
            html = service_badge(name, [r for r in services if r.status.service_name == name])
            if badge.object != html:
                badge.object = html
        return 0
