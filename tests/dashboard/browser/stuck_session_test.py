"""A stuck browser next to a healthy one (QUALITY.md, reliability: "slow or stuck dashboard
session").

The stuck browser is a Chromium of its own, frozen whole with SIGSTOP: its renderer, its
network service, everything, as when the machine it runs on hangs or its X session
freezes. It stops reading its websocket at the TCP level, which a page paused in the
debugger does not do (Chromium then keeps reading and buffers the messages itself). Next
to it a healthy page of the same server must keep its rate and fresh data; the server must
stop writing to the stuck one (what it writes queues in kernel buffers, and then in
Tornado's unbounded write buffer, and is replayed stale when the browser wakes up); and,
thawed, the stuck page must show the newest data at once.

The server is this process's (``conftest.stack``), so the test reads what Tornado has
written to each websocket.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import panel as pn
import pytest
from dashboard_pages import (
    STACK_PAGE_MARKS,
    cell,
    cell_state,
    frames,
    image_sums,
    open_dashboard,
)
from playwright.sync_api import Browser, Page, Playwright

from conftest import CHROMIUM, CHROMIUM_ARGS
from livedata.dashboard.ui import session as session_module

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = STACK_PAGE_MARKS

FROZEN_S = 15.0
SETTLE_S = 3.0
"""After the freeze, time for what was already on its way to reach the stuck socket."""
STALL_S = 2.0
"""``session.STALL_S`` during the test: a session whose browser has not confirmed its last
frame this long sends the next one anyway (10 s in production, shortened here so that a
server that keeps writing to a frozen browser does so many times within ``FROZEN_S``)."""
QUIET_BYTES = 16 * 1024
"""What the server may still write to a frozen browser after ``SETTLE_S``: keep-alive
pings, never a frame (one frame of this grid is over 100 kB)."""
IMAGE = "Panel 0, current window"


@dataclass
class OwnChromium:
    """A Chromium process group this test started, to freeze and thaw."""

    process: subprocess.Popen[bytes]
    browser: Browser

    def freeze(self) -> None:
        os.killpg(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)


def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    """The port Chromium chose for DevTools (it writes it into its profile)."""
    deadline = time.monotonic() + 30
    port_file = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if port_file.exists():
            lines = port_file.read_text().splitlines()
            if lines and lines[0].isdigit():
                return int(lines[0])
        assert process.poll() is None, "chromium exited"
        time.sleep(0.1)
    raise AssertionError("chromium did not open its DevTools port")


@pytest.fixture
def own_chromium(playwright: Playwright, tmp_path: Path) -> Iterator[OwnChromium]:
    profile = tmp_path / "profile"
    process = subprocess.Popen(
        [
            CHROMIUM,
            *CHROMIUM_ARGS,
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: SIGSTOP reaches all of it
    )
    try:
        port = _devtools_port(profile, process)
        browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
        try:
            yield OwnChromium(process, browser)
        finally:
            os.killpg(process.pid, signal.SIGCONT)
            browser.close()
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _bokeh_server(url: str) -> Any:
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    for server, _panel, _extra in list(pn.state._servers.values()):
        if server.port == port:
            return server
    raise AssertionError(f"no bokeh server on port {port}")


def _session_ids(server: Any) -> set[str]:
    return {session.id for session in server.get_sessions()}


@dataclass(frozen=True)
class Written:
    total: int
    """Bytes handed to the websocket's stream so far (into the kernel or waiting)."""
    waiting: int
    """Of those, bytes still in Tornado's own write buffer (the kernel's buffers full)."""


def _written(server: Any, session_id: str) -> Written:
    """What the server has written to one session's websocket (read from Tornado's
    stream counters; the server thread only ever adds to them)."""
    (session,) = [s for s in server.get_sessions() if s.id == session_id]
    (connection,) = list(session._subscribed_connections)
    stream = connection._socket.ws_connection.stream
    total = stream._total_write_index
    return Written(total, total - stream._total_write_done_index)


def _age_s(page: Page) -> float:
    text = cell(page, IMAGE).locator(".ld-age").inner_text()
    assert text.endswith(" s"), f"data age {text!r}"
    return float(text.split()[0])


def _same_images(a: Page, b: Page) -> bool:
    return sorted(image_sums(a)) == sorted(image_sums(b))


def test_a_frozen_browser_neither_slows_a_healthy_one_nor_piles_up_on_the_server(
    stack: Stack,
    page: Page,
    own_chromium: OwnChromium,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_module, "STALL_S", STALL_S)
    server = _bokeh_server(stack.url)
    before = _session_ids(server)
    stuck = own_chromium.browser.contexts[0].new_page()
    stuck.set_viewport_size({"width": 1500, "height": 950})
    open_dashboard(stuck, stack.url)
    (stuck_id,) = _session_ids(server) - before
    open_dashboard(page, stack.url)
    cell_state(cell(page, IMAGE), "live")
    cell_state(cell(stuck, IMAGE), "live")

    started, first = time.monotonic(), frames(page)
    page.wait_for_function(f"window.livedataFrames >= {first + 12}", timeout=30_000)
    normal_rate = (frames(page) - first) / (time.monotonic() - started)

    own_chromium.freeze()
    frozen_at = time.monotonic()
    first, images = frames(page), [image_sums(page)]
    ages, waiting = [], []
    settled: Written | None = None
    while (elapsed := time.monotonic() - frozen_at) < FROZEN_S:
        time.sleep(1.0)
        ages.append(_age_s(page))
        images.append(image_sums(page))
        written = _written(server, stuck_id)
        waiting.append(written.waiting)
        if settled is None and elapsed >= SETTLE_S:
            settled = written
    healthy_rate = (frames(page) - first) / (time.monotonic() - frozen_at)
    assert settled is not None
    after = _written(server, stuck_id)

    # The healthy page went on as before.
    assert healthy_rate >= 0.5 * normal_rate, (healthy_rate, normal_rate)
    changes = sum(a != b for a, b in itertools.pairwise(images))
    assert changes >= len(images) // 3, f"the healthy page's images changed {changes} times"
    assert max(ages) < 5, f"the healthy page's data got old: {ages}"
    # Nothing more was written to the frozen browser once the last frame was out.
    assert after.total - settled.total <= QUIET_BYTES, (
        f"{after.total - settled.total} bytes written to a frozen browser in "
        f"{FROZEN_S - SETTLE_S:.0f} s"
    )
    assert max(waiting) <= 1024 * 1024, f"Tornado's write buffer held {max(waiting)} bytes"

    # Thawed, it shows the newest data, not a replay of what it missed.
    own_chromium.thaw()
    thawed_at = time.monotonic()
    deadline = thawed_at + 15
    while not _same_images(page, stuck):
        assert time.monotonic() < deadline, "the thawed page did not catch up"
        time.sleep(0.2)
    caught_up_s = time.monotonic() - thawed_at
    print(
        f"healthy {healthy_rate:.1f} frames/s (before: {normal_rate:.1f}), images changed "
        f"{changes} times in {len(images) - 1} samples, data age <= "
        f"{max(ages)} s; frozen browser: {after.total - settled.total} B written after "
        f"{SETTLE_S:.0f} s, Tornado buffer <= {max(waiting)} B; caught up {caught_up_s:.1f} s "
        "after the thaw"
    )
    assert caught_up_s < 10, caught_up_s
    assert _age_s(stuck) < 5


def test_a_page_that_stops_drawing_still_gets_a_frame_now_and_then(
    stack: Stack, page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendering stalled (or a tab the browser does not paint): no frame is confirmed
    as drawn, but the page says a second later that it arrived, and so keeps getting
    one every ``STALL_S``: unlike a frozen browser, it is not cut off."""
    monkeypatch.setattr(session_module, "STALL_S", STALL_S)
    open_dashboard(page, stack.url)
    cell_state(cell(page, IMAGE), "live")
    page.evaluate("window.requestAnimationFrame = () => 0")  # nothing is drawn from now
    seen = [frames(page)]
    deadline = time.monotonic() + 5 * STALL_S
    while time.monotonic() < deadline:
        time.sleep(0.25)
        if frames(page) != seen[-1]:
            seen.append(frames(page))
    assert len(seen) - 1 >= 3, f"frames arrived {len(seen) - 1} times in {5 * STALL_S:.0f} s"
