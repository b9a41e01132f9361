"""Small HTML and text formatting shared by the tabs (no Panel here)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from livedata.core.rejections import ranked_rejections
from livedata.core.status import JobState, ServiceState
from livedata.dashboard.contract import Liveness, ServiceRow

JOB_COLORS = {
    JobState.ACTIVE: "#1a7f37",
    JobState.FINISHING: "#1a7f37",
    JobState.SCHEDULED: "#6e7781",
    JobState.PENDING_CONTEXT: "#bf8700",
    JobState.WARNING: "#bf8700",
    JobState.ERROR: "#cf222e",
    JobState.STOPPED: "#57606a",
}
SERVICE_COLORS = {
    ServiceState.RUNNING: "#1a7f37",
    ServiceState.STARTING: "#6e7781",
    ServiceState.STOPPED: "#57606a",
    ServiceState.ERROR: "#cf222e",
}
STALE_COLOR = "#bc4c00"

MAX_REASONS_SHOWN = 8
"""Rejection reasons listed per service; the vocabulary is small, but heartbeats are
untrusted JSON and a table cell must stay a cell."""


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def format_duration(seconds: float | None) -> str:
    """``0.4 s``, ``12 s``, ``5 min``, ``3.2 h``, ``2.1 d``."""
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def format_count(value: int | float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f} M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.1f} k"
    return f"{value:g}" if isinstance(value, float) else str(value)


def badge(text: str, color: str, css: str = "") -> str:
    return (
        f"<span class='ld-badge {css}' style='color:white;background:{color};"
        f"border-radius:8px;padding:1px 7px;font-size:0.85em'>{escape(text)}</span>"
    )


def job_state_badge(state: JobState, liveness: Liveness) -> str:
    """A job's state; a stale job (no heartbeat for 60 s) says so over its last state."""
    if liveness is Liveness.STALE:
        return badge(f"stale ({state.value})", STALE_COLOR, f"ld-job-{state.value} ld-stale")
    return badge(state.value, JOB_COLORS.get(state, "#6e7781"), f"ld-job-{state.value}")


def service_state_badge(row: ServiceRow) -> str:
    state = row.status.state
    if row.liveness is Liveness.STALE:
        return badge(f"stale ({state.value})", STALE_COLOR, "ld-stale")
    if row.liveness is Liveness.GONE:
        return badge("gone", SERVICE_COLORS[ServiceState.STOPPED], "ld-gone")
    return badge(state.value, SERVICE_COLORS.get(state, "#6e7781"), f"ld-svc-{state.value}")


def service_badge(name: str, rows: Sequence[ServiceRow]) -> str:
    """A service group's heading: its name and the state of each of its workers."""
    if rows:
        workers = " ".join(service_state_badge(row) for row in rows)
    else:
        workers = badge("no heartbeat", STALE_COLOR, "ld-absent")
    return f"<span style='font-size:1.15em;font-weight:600'>{escape(name)}</span> {workers}"


def rejected_html(row: ServiceRow) -> str:
    """A service's rejected-messages cell: the total, then the count of each reason
    (most frequent first), each with the streams it was counted under as its tooltip."""
    ranked = ranked_rejections(row.status.stream_stats)
    if not ranked:
        return format_count(row.rejected)
    parts = []
    for count in ranked[:MAX_REASONS_SHOWN]:
        where = ", ".join(f"{stream}: {n}" for stream, n in sorted(count.streams.items()))
        parts.append(
            f"<span class='ld-rejected-reason' title='{escape(where)}'>"
            f"{escape(count.reason)} {format_count(count.total)}</span>"
        )
    if len(ranked) > MAX_REASONS_SHOWN:
        parts.append(f"+{len(ranked) - MAX_REASONS_SHOWN} more")
    return f"{format_count(row.rejected)}<br><small>{', '.join(parts)}</small>"
