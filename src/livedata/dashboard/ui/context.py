"""What every session of one dashboard server shares: the backend, the instrument's
workflows, the frame cache, grid storage and the server's counters.

One ``DashboardContext`` per process. Sessions only read it (and the stores behind the
backend); anything computed from shared data that every session needs (frames, the job
index) is computed once here and reused.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livedata.config.instrument import Instrument
from livedata.core.identity import JobId, WorkflowId
from livedata.core.workflow import WorkflowSpec
from livedata.dashboard.access import LOCAL_USER, User
from livedata.dashboard.contract import Backend, JobRow
from livedata.dashboard.gate import CommandGate, GatedGridLibrary
from livedata.dashboard.policy.grid import Grid, GridError, Tab, check_grid
from livedata.dashboard.policy.grid_files import GridLibrary, load_template, template_names
from livedata.dashboard.ui.frames import FrameCache

DEFAULT_TICK_MS = 500
"""How often a session looks for changes: results come once per second (1 s batch
window), so 0.5 s adds at most half a second of age while costing a dict lookup per
visible layer when nothing changed."""

DEFAULT_TEMPLATE = "default"


@dataclass
class ServerMetrics:
    """Counters of the whole server (written by session callbacks on the server loop)."""

    sessions_opened: int = 0
    sessions_open: int = 0
    ticks: int = 0
    ticks_skipped: int = 0
    """Ticks a session skipped because its browser had not drawn the previous frame yet
    (latest wins: it gets the newest data when it catches up, never a backlog)."""
    cell_frames: int = 0
    """Layer updates sent to browsers (one cell with an image and its ROI overlay that
    both changed counts two)."""
    tick_seconds: float = 0.0
    first_frame_s: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    """Server-side time from a session's creation to its first cell frame."""

    def snapshot(self) -> dict[str, Any]:
        return {
            "sessions_opened": self.sessions_opened,
            "sessions_open": self.sessions_open,
            "ticks": self.ticks,
            "ticks_skipped": self.ticks_skipped,
            "cell_frames": self.cell_frames,
            "tick_seconds": self.tick_seconds,
            "first_frame_s": list(self.first_frame_s),
        }


@dataclass(frozen=True, slots=True)
class JobIndex:
    """Jobs from heartbeats by id, and the newest job per (workflow, source)."""

    by_id: dict[JobId, JobRow]
    newest: dict[tuple[WorkflowId, str], JobRow]

    @staticmethod
    def build(rows: list[JobRow]) -> JobIndex:
        by_id = {row.status.job_id: row for row in rows}
        newest: dict[tuple[WorkflowId, str], JobRow] = {}
        for row in rows:
            key = (row.status.workflow_id, row.status.job_id.source_name)
            known = newest.get(key)
            if known is None or _started(row) > _started(known):
                newest[key] = row
        return JobIndex(by_id, newest)


def _started(row: JobRow) -> tuple[int, int]:
    return (row.status.start_time or 0, row.last_seen_ns)


def _never() -> bool:
    return False


class DashboardContext:
    """The server-wide state behind every session.

    Parameters
    ----------
    backend:
        The data side (one per process; ``KafkaBackend`` or a fake).
    instrument:
        Whose workflows, templates and sources the pages show.
    grids:
        Where users' grids are saved (default: ``LIVEDATA_GRID_DIR`` or the home dir).
    tick_ms:
        Each session's refresh period.
    grid:
        The grid new pages open with (default: the instrument's ``default`` template).
    """

    def __init__(
        self,
        backend: Backend,
        instrument: Instrument,
        *,
        grids: GridLibrary | None = None,
        tick_ms: int = DEFAULT_TICK_MS,
        grid: Grid | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.backend = backend
        self.instrument = instrument
        self.specs: dict[WorkflowId, WorkflowSpec] = {
            spec.workflow_id: spec for spec in instrument.build_workflows(instrument).specs()
        }
        self.grids = grids if grids is not None else GridLibrary()
        self.tick_ms = tick_ms
        self.grid = grid
        self.clock = clock
        self.frames = FrameCache()
        self.metrics = ServerMetrics()
        self.user: User = LOCAL_USER
        """Whose session this is (``for_session``); the server-wide context's is ``local``."""
        self.user_removed: Callable[[], bool] = _never
        """Whether the users file no longer lists ``user`` (``for_session``)."""
        self._lock = threading.Lock()
        # A list, so that the per-session copies share one cached index.
        self._jobs: list[tuple[tuple[int, int], JobIndex]] = []

    def for_session(
        self, user: User, backend: Backend, *, user_removed: Callable[[], bool] | None = None
    ) -> DashboardContext:
        """This context as one user's session sees it: everything shared, but its
        ``user``, its ``backend`` (a ``CommandGate`` that checks the user's role) and,
        behind such a gate, its ``grids`` (saving and deleting checked the same way);
        ``user_removed`` tells the session when to end itself."""
        view = copy.copy(self)
        view.user = user
        view.backend = backend
        view.user_removed = user_removed or _never
        if isinstance(backend, CommandGate):  # grid writes: operators only, audited
            view.grids = GatedGridLibrary(self.grids, backend)
        return view

    @property
    def may_command(self) -> bool:
        """Whether this session shows controls that send (hidden from viewers; the
        backend refuses their sends anyway)."""
        return self.user.may_command

    def jobs(self, now_ns: int) -> JobIndex:
        """The job index, rebuilt when the status changes (or each second, for liveness)."""
        stamp = (self.backend.status.version, now_ns // 1_000_000_000)
        cached = self._jobs[0] if self._jobs else None
        if cached is not None and cached[0] == stamp:
            return cached[1]
        index = JobIndex.build(self.backend.status.jobs(now_ns))
        with self._lock:
            self._jobs[:] = [(stamp, index)]
        return index

    def template_names(self) -> list[str]:
        return template_names(self.instrument)

    def load_template(self, name: str) -> Grid:
        return load_template(self.instrument, name)

    def initial_grid(self) -> tuple[Grid, list[str]]:
        """The grid a new page opens with (the instrument's default template), and what
        of it this instrument cannot show."""
        if self.grid is not None:
            return self.grid, check_grid(self.grid, self.specs)
        names = self.template_names()
        if names:
            name = DEFAULT_TEMPLATE if DEFAULT_TEMPLATE in names else names[0]
            try:
                grid = self.load_template(name)
            except GridError as err:
                return empty_grid(), [f"template {name!r}: {err}"]
            return grid, check_grid(grid, self.specs)
        return empty_grid(), []


def empty_grid() -> Grid:
    return Grid(title="New grid", tabs=(Tab(title="Plots", rows=2, cols=2),))
