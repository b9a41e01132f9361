"""One browser session: its tabs, and the periodic callback that keeps them current.

Each session polls the shared stores on its own timer (``DashboardContext.tick_ms``)
and updates only the tab on screen, inside one ``hold`` so the browser receives one
message per tick. Tabs other than Plots are built the first time they are opened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import panel as pn
from panel.io.callbacks import PeriodicCallback

from livedata.dashboard.access import User
from livedata.dashboard.ui.ack import FrameAck, frame_due
from livedata.dashboard.ui.context import DashboardContext
from livedata.dashboard.ui.format import escape
from livedata.dashboard.ui.livehtml import LiveHTML
from livedata.dashboard.ui.plots_tab import PlotsTab
from livedata.dashboard.ui.status_tab import LEVEL_COLORS, StatusTab
from livedata.dashboard.ui.workflows_tab import WorkflowsTab

STALL_S = 10.0
"""A browser that has received a frame but not drawn it for this long gets the next one
anyway (a hidden tab paints nothing). One that has not even received it gets nothing:
it is frozen, and what would be sent would only pile up in front of it (``ack``)."""

USER_CHECK_S = 1.0
"""How often a session asks whether the users file still lists its user: a user removed
while their page is open stops seeing data within this long (a stat of the file)."""

NOT_LOGGED_IN = (
    "<p class='ld-not-logged-in'>You are not logged in, or your user was removed. "
    "<a href='./login'>Log in</a></p>"
)


class TabView(Protocol):
    panel: Any

    def refresh(self, now_ns: int) -> int: ...


def user_html(user: User) -> str:
    """Who is logged in, their role, and the way out (nothing without authentication)."""
    if not user.authenticated:
        return ""
    return (
        f"<small><b>{escape(user.name)}</b> · <span class='ld-role-{user.role.value}'>"
        f"{user.role.value}</span> · <a href='./logout' class='ld-logout'>Log out</a></small>"
    )


class Session:
    """The page of one browser tab."""

    TABS = ("Plots", "Workflows", "Status")

    def __init__(self, ctx: DashboardContext) -> None:
        self.ctx = ctx
        self._created = time.monotonic()
        self._first_frame = False
        self._sent_at = 0.0
        self._waiting = False
        self._user_checked = time.monotonic()
        self._ticker_callback: PeriodicCallback | None = None
        self.ended = False
        """The user was removed from the users file: the page shows nothing any more."""
        self.ack = FrameAck()
        # A tick skipped while the browser was drawing is made up as soon as it has
        # drawn: a session is then as fast as its browser, never faster.
        self.ack.param.watch(self._confirmed, "ack")
        self.plots = PlotsTab(ctx)
        self._views: dict[int, TabView] = {0: self.plots}
        self._builders: dict[int, Callable[[], TabView]] = {
            1: lambda: WorkflowsTab(ctx),
            2: lambda: StatusTab(ctx),
        }
        self.tabs = pn.Tabs(
            ("Plots", self.plots.panel),
            ("Workflows", pn.pane.HTML("Loading…")),
            ("Status", pn.pane.HTML("Loading…")),
            dynamic=False,
            sizing_mode="stretch_width",
            css_classes=["ld-main-tabs"],
        )
        self.tabs.param.watch(self._tab_changed, "active")
        self._ticker = LiveHTML(css_classes=["ld-ticker"], margin=(10, 10), width=600)
        self._seen_notes = ctx.backend.notifications.version
        title = pn.pane.HTML(
            f"<span style='font-size:1.3em;font-weight:700'>livedata</span> "
            f"<span style='font-size:1.1em'>· {escape(ctx.instrument.name)}</span>",
            margin=(8, 10),
        )
        header = pn.Row(
            title,
            pn.layout.HSpacer(),
            self._ticker,
            pn.pane.HTML(user_html(ctx.user), margin=(10, 10), css_classes=["ld-user"]),
            sizing_mode="stretch_width",
            styles={"border-bottom": "1px solid #d0d7de"},
        )
        self.panel = pn.Column(header, self.tabs, self.ack, sizing_mode="stretch_width")
        ctx.metrics.sessions_opened += 1
        ctx.metrics.sessions_open += 1
        pn.state.onload(self._start)
        pn.state.on_session_destroyed(self._destroyed)

    def _start(self) -> None:
        self._tick()
        # background: Panel would otherwise mark the server busy around every tick (its
        # loading-indicator bookkeeping, ~0.5 ms a tick) for a timer that never ends.
        self._ticker_callback = PeriodicCallback(
            callback=self._tick, period=self.ctx.tick_ms, background=True
        )
        self._ticker_callback.start()

    def _destroyed(self, _context: Any) -> None:
        self.ctx.metrics.sessions_open -= 1

    def _tab_changed(self, event: Any) -> None:
        index = int(event.new)
        if index not in self._views and index in self._builders:
            view = self._builders[index]()
            self._views[index] = view
            self.tabs[index] = (self.TABS[index], view.panel)
        self._tick(force=True)

    def _tick(self, force: bool = False) -> None:
        if self.ended or self._user_removed():
            return
        metrics = self.ctx.metrics
        metrics.ticks += 1
        ack = self.ack
        waited = time.monotonic() - self._sent_at
        if not force and not frame_due(ack.seq, ack.received, ack.ack, waited, STALL_S):
            metrics.ticks_skipped += 1
            self._waiting = True
            return
        self._waiting = False
        started = time.perf_counter()
        now = self.ctx.clock()
        view = self._views.get(self.tabs.active or 0)
        with pn.io.hold():
            frames = view.refresh(now) if view is not None else 0
            self._update_ticker()
            if frames:
                self.ack.frames += frames
                self.ack.seq += 1
                self._sent_at = time.monotonic()
        metrics.cell_frames += frames
        metrics.tick_seconds += time.perf_counter() - started
        if frames and not self._first_frame:
            self._first_frame = True
            metrics.first_frame_s.append(time.monotonic() - self._created)

    def _user_removed(self) -> bool:
        """End the page, once, if its user is no longer in the users file: the websocket
        would otherwise go on streaming results to someone the operators locked out."""
        now = time.monotonic()
        if now - self._user_checked < USER_CHECK_S:
            return False
        self._user_checked = now
        if not self.ctx.user_removed():
            return False
        self.ended = True
        if self._ticker_callback is not None:
            self._ticker_callback.stop()
        self.panel.objects = [pn.pane.HTML(NOT_LOGGED_IN)]
        return True

    def _confirmed(self, _event: Any) -> None:
        if self._waiting and self.ack.ack >= self.ack.seq:
            self._tick()

    def _update_ticker(self) -> None:
        notes = self.ctx.backend.notifications
        if notes.version == self._seen_notes:
            return
        self._seen_notes = notes.version
        entries = notes.entries()
        if not entries:
            return
        last = entries[-1]
        when = time.strftime("%H:%M:%S", time.localtime(last.time_ns / 1e9))
        color = LEVEL_COLORS.get(last.level, "#57606a")
        self._ticker.html = f"<small style='color:{color}'>{when} {escape(last.text[:160])}</small>"
