"""Loads the compiled event loops in the background as soon as a kernel is built.

The first call of a compiled loop in a process imports numba and loads its machine code
from the cache (~0.8 s), or compiles it (~1.5 s with an empty cache). Paid in a job's
first window, that stalled the service's loop long enough for it to shed the data that
aged meanwhile (measured: 1.8 % of a 20 s run at 1e7 events/s). A kernel's constructor
(at job start) therefore starts this warm-up in a thread, once per process, for the
argument types events arrive with: int32 ids and times, read-only (ev44's views into
a message) or not (a window's parts joined into one array).
"""

from __future__ import annotations

import threading

import numpy as np
import structlog

logger = structlog.get_logger(__name__)

_lock = threading.Lock()
_thread: threading.Thread | None = None


def start_warm_up() -> None:
    """Start loading the loops in a daemon thread, unless it was started before."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_warm_up, name="compiled-loops", daemon=True)
            _thread.start()


def wait_for_warm_up(timeout: float | None = None) -> bool:
    """Wait for the warm-up (if started); True when it is done."""
    with _lock:
        thread = _thread
    if thread is not None:
        thread.join(timeout)
    return thread is not None and not thread.is_alive()


def _warm_up() -> None:
    try:
        _call_every_loop()
    except Exception:  # a warm-up must never take the service down: the first call retries
        logger.warning("compiled_loops_warm_up_failed", exc_info=True)


def _call_every_loop() -> None:
    """One call of each loop, on one event, with the types the kernels pass."""
    read_only = np.frombuffer(np.zeros(1, dtype=np.int32).tobytes(), dtype=np.int32)
    for event in (read_only, np.zeros(1, dtype=np.int32)):
        _call_every_loop_with(event)


def _call_every_loop_with(event: np.ndarray) -> None:
    from livedata.workflows import compiled_loops as loops

    first, count = np.int64(0), np.uint64(1)
    for has_window in (False, True):
        loops.count_pixels(
            event, event, first, count, has_window, first, count, np.zeros(1, dtype=np.int64)
        )
    weights = np.zeros(1, dtype=np.float32)
    for table_type in (np.uint16, np.uint32):
        table = np.zeros(1, dtype=table_type)
        for weighted in (False, True):
            loops.count_through_table(
                event, event, first, count, True, first, count, table,
                np.zeros(3, dtype=np.int64), weighted, weights[: int(weighted)],
                np.zeros(3), np.zeros(3),
            )  # fmt: skip
    loops.count_pixel_groups(
        event, event, first, count, np.zeros(1, dtype=np.uint16), np.uint64(0),
        np.zeros(2, dtype=np.uint32), first, count, np.uint64(1), np.uint64(0), True,
        np.uint64(1), np.zeros(4, dtype=np.int64),
    )  # fmt: skip
