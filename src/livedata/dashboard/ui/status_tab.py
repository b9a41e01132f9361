"""The Status tab: services and jobs from heartbeats (stale ones marked), and the log of
command results and errors. Plain HTML tables, rewritten when the status changes or,
for ages and staleness, once a second."""

from __future__ import annotations

import time
from collections.abc import Mapping

import panel as pn

from livedata.dashboard.contract import JobRow, Level, Notification, ServiceRow
from livedata.dashboard.ui.context import DashboardContext
from livedata.dashboard.ui.format import (
    escape,
    format_count,
    format_duration,
    job_state_badge,
    rejected_html,
    service_state_badge,
)
from livedata.dashboard.ui.left_out import LEFT_OUT_TIP, events_left_out_by_job, left_out_html
from livedata.dashboard.ui.livehtml import LiveHTML

NS = 1_000_000_000

MAX_LOG_ROWS = 200

LEVEL_COLORS = {
    Level.INFO: "#57606a",
    Level.SUCCESS: "#1a7f37",
    Level.WARNING: "#bf8700",
    Level.ERROR: "#cf222e",
}

_TABLE_STYLE = (
    "<style>table.ld-table{border-collapse:collapse;width:100%;font-size:0.9em}"
    "table.ld-table th,table.ld-table td{border-bottom:1px solid #d0d7de;padding:3px 6px;"
    "text-align:left;white-space:nowrap}table.ld-table th{background:#f6f8fa}</style>"
)


def _table(
    css: str, headers: list[str], rows: list[list[str]], tips: Mapping[str, str] | None = None
) -> str:
    """An HTML table; ``tips`` gives some headers a tooltip."""
    tips = tips or {}
    head = "".join(
        f"<th title='{escape(tips[h])}'>{escape(h)}</th>" if h in tips else f"<th>{escape(h)}</th>"
        for h in headers
    )
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"{_TABLE_STYLE}<table class='ld-table {css}'><tr>{head}</tr>{body}</table>"


def services_html(rows: list[ServiceRow], now_ns: int) -> str:
    if not rows:
        return "<i>No service heartbeats yet: is any livedata service running?</i>"
    body = []
    for row in rows:
        status = row.status
        rate = "—" if row.message_rate_hz is None else f"{row.message_rate_hz:.1f}/s"
        body.append(
            [
                f"<b>{escape(status.service_name)}</b>",
                escape(status.worker_id),
                service_state_badge(row),
                escape(row.software_version),
                escape(row.host_name) + (f" ({row.process_id})" if row.process_id else ""),
                format_duration((now_ns - status.started_at) / NS if status.started_at else None),
                f"{status.batch_interval_s:g} s",
                str(status.active_job_count),
                rate,
                format_count(row.messages),
                format_count(row.dropped),
                rejected_html(row),
                format_duration((now_ns - row.last_seen_ns) / NS) + " ago",
                escape(status.error or ""),
            ]
        )
    headers = ["service", "worker", "state", "version", "host", "uptime", "batch", "jobs"]
    headers += ["msg rate", "messages", "dropped", "rejected", "last seen", "error"]
    return _table("ld-services", headers, body)


def jobs_html(
    rows: list[JobRow], now_ns: int, left_out: Mapping[str, Mapping[str, int]] | None = None
) -> str:
    """The jobs table; ``left_out`` is ``events_left_out_by_job`` of the services."""
    if not rows:
        return "<i>No jobs.</i>"
    body = []
    for row in rows:
        status = row.status
        body.append(
            [
                escape(status.workflow_id.name),
                f"<b>{escape(status.job_id.source_name)}</b>",
                f"<code>{str(status.job_id.job_number)[:8]}</code>",
                job_state_badge(status.state, row.liveness),
                left_out_html(status.job_id, left_out or {}),
                format_duration((now_ns - row.last_seen_ns) / NS) + " ago",
                escape((status.error or status.warning or "")[:300]),
            ]
        )
    headers = ["workflow", "source", "job", "state", "left out", "last seen", "message"]
    return _table("ld-jobs", headers, body, tips={"left out": LEFT_OUT_TIP})


def log_html(entries: list[Notification]) -> str:
    if not entries:
        return "<i>No notifications yet.</i>"
    body = []
    for note in reversed(entries[-MAX_LOG_ROWS:]):
        when = time.strftime("%H:%M:%S", time.localtime(note.time_ns / NS))
        color = LEVEL_COLORS.get(note.level, "#57606a")
        body.append(
            [
                when,
                f"<span style='color:{color};font-weight:600'>{note.level.value}</span>",
                f"<span style='white-space:normal'>{escape(note.text)}</span>",
            ]
        )
    return _table("ld-log", ["time", "level", "message"], body)


class StatusTab:
    def __init__(self, ctx: DashboardContext) -> None:
        self.ctx = ctx
        self.services = LiveHTML(sizing_mode="stretch_width", css_classes=["ld-services"])
        self.jobs = LiveHTML(sizing_mode="stretch_width", css_classes=["ld-jobs"])
        self.log = LiveHTML(sizing_mode="stretch_width", css_classes=["ld-log"])
        self.panel = pn.Column(
            pn.pane.HTML("<h3>Services</h3>"),
            self.services,
            pn.pane.HTML("<h3>Jobs</h3>"),
            self.jobs,
            pn.pane.HTML("<h3>Notifications</h3>"),
            self.log,
            sizing_mode="stretch_width",
        )
        self._seen: tuple[int, int, int] | None = None

    def refresh(self, now_ns: int) -> int:
        backend = self.ctx.backend
        stamp = (backend.status.version, backend.notifications.version, now_ns // NS)
        if stamp == self._seen:
            return 0
        self._seen = stamp
        services = backend.status.services(now_ns)
        left_out = events_left_out_by_job(services)
        for pane, text in (
            (self.services, services_html(services, now_ns)),
            (self.jobs, jobs_html(backend.status.jobs(now_ns), now_ns, left_out)),
            (self.log, log_html(backend.notifications.entries())),
        ):
            if pane.html != text:
                pane.html = text
        return 0
