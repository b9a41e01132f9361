"""Dashboard server without browsers: what one cell-frame costs the server itself.

``dashboard_sessions.py`` measures cell-frames per second end to end with headless
Chromium pages; on a 2-core machine the browsers take most of the CPU and set the pace.
This benchmark takes them out. N sessions are built as the server builds them (the same
``PlotsTab`` and flow-control component, each page in its own bokeh ``Document``), and
each "tick" does what a session's periodic callback does: refresh the visible grid tab
inside one ``hold``, bump the flow-control counters, and turn the document's changes
into the ``PATCH-DOC`` message the websocket would carry (header, metadata and content
JSON plus binary buffers, bokeh's own serialiser). Every output of every job is updated
before each round, so every cell has a new frame in every session: the server is kept
saturated, and the figures are its capacity on one core.

Printed per N: cell-frames per CPU-second of the server (all of this thread's work but
generating the fake results), and where the time goes per cell-frame: computing frames
(once per output update for all sessions: the frame cache), drawing them into each
session's figures (bokeh models), and serialising the messages; plus bytes sent per
cell-frame. The synthetic results (``FakeBackend.feed``) are made outside the timed part:
decoding real results is the consumer thread's work (``dashboard_backend.py``).

Not included: what a real server does around each tick (tornado's websocket writes,
Panel's periodic-callback and event machinery, the browser's flow-control answer coming
back as a patch). ``dashboard_sessions.py`` measures the server thread with all of that
(its "ms/frame"); the gap between the two is that per-tick overhead.

Run: ``.venv/bin/python benchmarks/dashboard_server.py [--sessions 1,3,10] [--cells 8]``
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from dataclasses import dataclass

import panel as pn
from bokeh.document import Document
from bokeh.document.events import DocumentPatchedEvent
from bokeh.protocol import Protocol
from panel.io.state import set_curdoc

from dashboard_grid import bench_grid, start_jobs
from livedata.config.registry import load_instrument
from livedata.dashboard.ui.ack import FrameAck
from livedata.dashboard.ui.context import DashboardContext
from livedata.dashboard.ui.plots_tab import PlotsTab
from livedata.testing.dashboard import FakeBackend

NS = 1_000_000_000


class Page:
    """One session's page in its own document, ticked by hand."""

    def __init__(self, ctx: DashboardContext) -> None:
        self.doc = Document()
        with set_curdoc(self.doc):
            self.plots = PlotsTab(ctx)
            self.ack = FrameAck()
            root = pn.Column(self.plots.panel, self.ack).get_root(self.doc)
        self.doc.add_root(root)
        self._protocol = Protocol()
        self.draw_s = 0.0
        self.serialise_s = 0.0
        self.bytes = 0
        self.messages = 0

    def tick(self, now_ns: int) -> int:
        """A periodic callback: refresh inside one hold, then one PATCH-DOC message.

        As Panel's ``unlocked()`` does on the server: the held patch events are taken
        from the document and written as one message, not replayed through ``unhold``
        (which would also run every Python-side change callback).
        """
        started = time.thread_time()
        with set_curdoc(self.doc):
            self.doc.hold("combine")
            try:
                frames = self.plots.refresh(now_ns)
                if frames:
                    self.ack.frames += frames
                    self.ack.seq += 1
            finally:
                held = list(self.doc.callbacks._held_events)
                self.doc.callbacks._held_events = []
                self.doc.unhold()
        drawn = time.thread_time()
        events = [e for e in held if isinstance(e, DocumentPatchedEvent)]
        if events:
            message = self._protocol.create("PATCH-DOC", events)
            size = len(message.header_json) + len(message.metadata_json)
            size += len(message.content_json)
            size += sum(len(buffer.to_bytes()) for buffer in message.buffers)
            self.bytes += size
            self.messages += 1
        self.draw_s += drawn - started
        self.serialise_s += time.thread_time() - drawn
        return frames


@dataclass
class Result:
    sessions: int
    cells: int
    cell_frames: int
    cpu_s: float
    compute_s: float
    draw_s: float
    serialise_s: float
    bytes: int
    computed: int

    @property
    def per_cpu_s(self) -> float:
        return self.cell_frames / self.cpu_s

    def ms(self, seconds: float) -> float:
        return 1000 * seconds / self.cell_frames


def run(*, sessions: int, cells: int, rounds: int, warmup: int = 3) -> Result:
    inst = load_instrument("dummy")
    backend = FakeBackend(inst)
    start_jobs(backend, "dummy")
    ctx = DashboardContext(backend, inst, grid=bench_grid("dummy", cells))
    pages = [Page(ctx) for _ in range(sessions)]
    now = time.time_ns()
    frames = 0
    cpu = 0.0
    compute0 = 0.0
    computed0 = 0
    for i in range(warmup + rounds):
        if i == warmup:
            frames, cpu = 0, 0.0
            compute0, computed0 = ctx.frames.compute_s, ctx.frames.computed
            for page in pages:
                page.draw_s = page.serialise_s = 0.0
                page.bytes = 0
        now += NS  # a second of data time per round, as a 1 s batch window gives
        backend.feed(now)  # not timed: the fake results, not the server's work
        started = time.thread_time()
        for page in pages:
            frames += page.tick(now)
        cpu += time.thread_time() - started
    compute = ctx.frames.compute_s - compute0
    return Result(
        sessions=sessions,
        cells=cells,
        cell_frames=frames,
        cpu_s=cpu,
        compute_s=compute,
        # Frames are computed inside the first session's refresh: count them once.
        draw_s=sum(p.draw_s for p in pages) - compute,
        serialise_s=sum(p.serialise_s for p in pages),
        bytes=sum(p.bytes for p in pages),
        computed=ctx.frames.computed - computed0,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", default="1,3,10", help="comma-separated session counts")
    p.add_argument("--cells", type=int, default=8)
    p.add_argument("--rounds", type=int, default=40, help="updates of every output per run")
    p.add_argument("--repeat", type=int, default=3, help="runs per N (the median is printed)")
    args = p.parse_args()
    # HoloViews computes ranges of the placeholder data of an empty time series.
    warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
    load = os.getloadavg()
    print(
        f"dashboard server without browsers: {args.cells} cells, {args.rounds} rounds, "
        f"median of {args.repeat}; {os.cpu_count()} cores, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"{'N':>3} {'cell-frames/CPU-s':>18} {'ms/frame':>9} {'compute':>8} {'draw':>8} "
        f"{'serialise':>10} {'kB/frame':>9} {'computed':>9}"
    )
    for n in (int(x) for x in args.sessions.split(",")):
        runs = [run(sessions=n, cells=args.cells, rounds=args.rounds) for _ in range(args.repeat)]
        r = sorted(runs, key=lambda r: r.per_cpu_s)[len(runs) // 2]
        print(
            f"{n:>3} {r.per_cpu_s:>18.0f} {r.ms(r.cpu_s):>9.3f} {r.ms(r.compute_s):>8.3f} "
            f"{r.ms(r.draw_s):>8.3f} {r.ms(r.serialise_s):>10.3f} "
            f"{r.bytes / r.cell_frames / 1024:>9.1f} {r.computed:>9}",
            flush=True,
        )
        spread = [f"{x.per_cpu_s:.0f}" for x in runs]
        print(f"    runs: {', '.join(spread)} cell-frames/CPU-s", flush=True)
    print(
        "cell-frames/CPU-s: cell-frames the server thread turns out per second of its "
        "CPU (its capacity on one free core); ms/frame: its CPU per cell-frame, split into "
        "compute (frame cache: once per output update, shared by all sessions), draw "
        "(writing frames into each session's bokeh models, inside the hold) and serialise "
        "(building the PATCH-DOC message: JSON and binary buffers); computed: frames "
        "computed in the measured rounds (outputs x rounds, whatever N). Websocket writes "
        "and browsers are not included: dashboard_sessions.py gives the end-to-end figure."
    )


if __name__ == "__main__":
    main()
