"""Dashboard sessions: cell-frames per second one server sustains, and time to first plot.

A dashboard server (in this process, on a free loopback port) shows a grid of ``--cells``
cells (128x128 images, 100-bin spectra, time series, in turn) from an in-memory backend
(``livedata.testing.dashboard.FakeBackend``) that publishes every output at ``--rate`` Hz.
N headless Chromium pages (Debian's ``/usr/bin/chromium``, driven by Playwright) open
it one after the other. Two scenarios per N:

- **nominal**: outputs at 1 Hz, sessions polling every 500 ms (the shipped defaults):
  the frames asked for are N x cells per second; printed is the share delivered.
- **saturated**: outputs at ``--saturate-rate`` Hz (default 20) and sessions polling
  every 100 ms: more than the server can send, so the figure is its capacity.

Then one check of isolation: three pages at the nominal rate, one of them with its CPU
throttled 20x (Chrome DevTools emulation); printed are the frames each page received,
the two normal ones should still get every update.

A *cell-frame* is one plot layer updated in one browser (the server counts them as it
sends them; each page also counts what it received). Time to first plot is measured in
the browser: from ``page.goto`` to the first plot data arriving (median over pages).
The server's CPU is this process's CPU time over the window (fake backend included);
the browsers run in their own processes on the same cores, so the figures are lower
bounds for a dashboard host. ESS's dashboard tops out near 35 cell-frames/s per server.

At the end the same grid is driven without browsers (``dashboard_server.py``), for the
server's own capacity: on a small machine the browsers, not the server, set the pace of
the end-to-end figures, and the two are printed side by side.

Run: ``.venv/bin/python benchmarks/dashboard_sessions.py [--sessions 1,3,10] [--cells 8]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

from playwright.sync_api import Browser, sync_playwright

from dashboard_grid import bench_grid, start_jobs
from dashboard_server import run as run_server
from livedata.config.registry import load_instrument
from livedata.dashboard.ui.context import DashboardContext
from livedata.dashboard.ui.server import serve
from livedata.kafka.embedded_broker import free_port
from livedata.testing.dashboard import FakeBackend, FakeFeeder

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu_s(native_id: int) -> float:
    """CPU time (user + system) of one thread of this process, from /proc."""
    with open(f"/proc/self/task/{native_id}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


@dataclass
class Result:
    scenario: str
    sessions: int
    asked_per_s: float
    frames_per_s: float
    browser_frames_per_s: float
    skipped_share: float
    first_plot_s: float
    server_cpu: float
    """The dashboard server thread (sessions' callbacks, serialisation, websockets)."""
    process_cpu: float
    """The whole process: server thread plus the fake backend feeding it."""
    per_page: list[float]
    """Cell-frames/s each page received."""

    @property
    def ms_per_frame(self) -> float:
        return 1000 * self.server_cpu / self.frames_per_s if self.frames_per_s else 0.0

    @property
    def capacity(self) -> float:
        """Cell-frames/s the server thread would send with a whole core to itself."""
        return self.frames_per_s / self.server_cpu if self.server_cpu else 0.0


def run(browser: Browser, *, sessions: int, cells: int, rate: float, tick_ms: int,
        seconds: float, scenario: str, throttle: float = 1.0) -> Result:  # fmt: skip
    inst = load_instrument("dummy")
    backend = FakeBackend(inst)
    start_jobs(backend, "dummy")
    feeder = FakeFeeder(backend, rate_hz=rate).start()
    ctx = DashboardContext(backend, inst, tick_ms=tick_ms, grid=bench_grid("dummy", cells))
    port = free_port()
    server = serve(ctx, port=port, threaded=True)
    url = f"http://127.0.0.1:{port}/"
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    try:
        warm = context.new_page()  # imports and first HoloViews plot: not a page's cost
        warm.goto(url)
        warm.wait_for_function("window.livedataFrames > 0", timeout=60_000)
        warm.close()
        pages, firsts = [], []
        for _ in range(sessions):
            page = context.new_page()
            started = time.perf_counter()
            page.goto(url)
            page.wait_for_function("window.livedataFrames > 0", timeout=60_000)
            firsts.append(time.perf_counter() - started)
            pages.append(page)
        if throttle > 1:  # the first page's browser runs ``throttle`` times slower
            cdp = context.new_cdp_session(pages[0])
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        time.sleep(2.0)  # let every session reach its steady state
        m = ctx.metrics
        frames0, ticks0, skipped0 = m.cell_frames, m.ticks, m.ticks_skipped
        each0 = [p.evaluate("window.livedataFrames") for p in pages]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        thread0 = thread_cpu_s(server.native_id)
        time.sleep(seconds)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        thread = thread_cpu_s(server.native_id) - thread0
        frames = m.cell_frames - frames0
        ticks = m.ticks - ticks0
        skipped = m.ticks_skipped - skipped0
        each = [p.evaluate("window.livedataFrames") - e for p, e in zip(pages, each0, strict=True)]
        received = sum(each)
        for page in pages:
            page.close()
    finally:
        context.close()
        server.stop()
        feeder.stop()
    # Every cell but a time series shows one output; all update at ``rate`` (capped by
    # how often a session looks).
    asked = sessions * cells * min(rate, 1000 / tick_ms)
    return Result(
        scenario=scenario,
        sessions=sessions,
        asked_per_s=asked,
        frames_per_s=frames / wall,
        browser_frames_per_s=received / wall,
        skipped_share=skipped / max(1, ticks),
        first_plot_s=statistics.median(firsts),
        server_cpu=thread / wall,
        process_cpu=cpu / wall,
        per_page=[n / wall for n in each],
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", default="1,3,10", help="comma-separated session counts")
    p.add_argument("--cells", type=int, default=8)
    p.add_argument("--seconds", type=float, default=12.0, help="measuring window per run")
    p.add_argument("--saturate-rate", type=float, default=20.0)
    p.add_argument(
        "--server-rounds", type=int, default=40, help="rounds of the browserless run (0: skip)"
    )
    args = p.parse_args()
    counts = [int(n) for n in args.sessions.split(",")]
    load = os.getloadavg()
    print(
        f"dashboard sessions: {args.cells} cells, {os.cpu_count()} cores, window "
        f"{args.seconds:g} s; cell-frame = one plot layer updated in one browser; load "
        f"average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    header = (
        f"{'scenario':<10} {'N':>3} {'asked/s':>8} {'sent/s':>8} {'recv/s':>8} "
        f"{'skipped':>8} {'1st plot':>9} {'srv CPU':>8} {'ms/frame':>9} {'per core':>9} "
        f"{'proc CPU':>9}"
    )
    print(header)
    best: dict[int, float] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for n in counts:
                for scenario, rate, tick in (
                    ("nominal", 1.0, 500),
                    ("saturated", args.saturate_rate, 100),
                ):
                    r = run(
                        browser,
                        sessions=n,
                        cells=args.cells,
                        rate=rate,
                        tick_ms=tick,
                        seconds=args.seconds,
                        scenario=scenario,
                    )
                    best[n] = max(best.get(n, 0.0), r.frames_per_s)
                    print(
                        f"{r.scenario:<10} {r.sessions:>3} {r.asked_per_s:>8.0f} "
                        f"{r.frames_per_s:>8.1f} {r.browser_frames_per_s:>8.1f} "
                        f"{r.skipped_share:>8.0%} {r.first_plot_s:>8.2f}s "
                        f"{r.server_cpu:>8.0%} {r.ms_per_frame:>9.2f} {r.capacity:>9.0f} "
                        f"{r.process_cpu:>9.0%}",
                        flush=True,
                    )
            # A slow browser must not slow the others: one page runs 20x slower.
            slow = run(
                browser,
                sessions=3,
                cells=args.cells,
                rate=1.0,
                tick_ms=500,
                seconds=args.seconds,
                scenario="one slow",
                throttle=20.0,
            )
            rates = ", ".join(f"{r:.1f}" for r in slow.per_page)
            print(
                f"one slow page (CPU throttled 20x) among 3, nominal: cell-frames/s per "
                f"page [{rates}] (asked {args.cells} each); server "
                f"{slow.ms_per_frame:.2f} ms/frame"
            )
        finally:
            browser.close()
    print(
        "asked: frames the sessions would draw if every update reached every cell; "
        "sent: counted by the server; recv: counted by the pages; skipped: ticks a "
        "session skipped because its browser had not drawn the previous frame yet; "
        "srv CPU: the dashboard server thread's share of one core; ms/frame: its CPU "
        "per cell-frame; per core: cell-frames/s it would send with a core to itself "
        "(sent/s / srv CPU); proc CPU: this whole process, fake backend included. "
        "The browsers share this machine's cores: where skipped is high they, not "
        "the server, set sent/s."
    )
    if args.server_rounds <= 0:
        return
    print("\nthe same grid without browsers (dashboard_server.py: ticks driven in-process)")
    for n in counts:
        alone = run_server(sessions=n, cells=args.cells, rounds=args.server_rounds)
        print(
            f"N={n:>3}: end to end {best.get(n, 0.0):6.1f} cell-frames/s (best of the "
            f"scenarios, browsers on this machine); server alone {alone.per_cpu_s:6.0f} "
            f"cell-frames per CPU-second ({alone.ms(alone.cpu_s):.2f} ms each: compute "
            f"{alone.ms(alone.compute_s):.2f}, draw {alone.ms(alone.draw_s):.2f}, "
            f"serialise {alone.ms(alone.serialise_s):.2f})",
            flush=True,
        )
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
