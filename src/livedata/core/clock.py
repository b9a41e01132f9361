"""Wall-clock access behind a seam, so tests control time."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time in ns since epoch; used for heartbeats and backstops, never windows."""

    def now_ns(self) -> int: ...


class SystemClock:
    """The real wall clock."""

    def now_ns(self) -> int:
        return time.time_ns()
