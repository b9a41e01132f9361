"""The dashboard's shared results: the newest of every output, histories, last-N-seconds
sums (service and job status, and notifications: ``status_store``).

Each store has ONE writer (the backend's consumer thread) and many readers (Panel
sessions on their own threads). Entries are immutable and replaced, never changed, so a
reader holding one is never surprised; a lock is held only around a dict mutation or a
copy, never around decoding or rendering. Every store has a ``version`` that the writer
bumps on each change, so a session compares one integer to know whether to look closer.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipp as sc

from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.dashboard.contract import (
    ResultEntry,
    ResultsView,
)
from livedata.dashboard.policy.windows import RollingSum, buckets_for

NS_PER_S = 1_000_000_000

MAX_RESULT_KEYS = 4_000
"""Outputs kept at once. 100 jobs of a detector view publish ~8 outputs each (images,
totals, ROI spectra and echoes); twice that leaves room for jobs being replaced. Past
the bound the output updated least recently is forgotten (a stopped job's last frame)."""

MAX_RESULT_BYTES = 2 << 30
"""Memory the newest results may hold together: a 1.5 M-pixel DREAM image with
variances is 24 MB, so tens of them fit; past the bound the least recently updated
entries go first (the entry just written always stays)."""

HISTORY_POINTS = 10_000
"""Points kept per 0-d output: 2.8 hours at one update per second, enough for a shift's
trend plot; a ring, so memory stays flat (16 bytes a point)."""

_HISTORY_INITIAL = 64
"""A history grows by doubling up to ``HISTORY_POINTS``: outputs that are never plotted
over time do not each pin 160 kB."""

WINDOW_BYTES = 1 << 30
"""Memory every last-N-seconds sum together may hold. Past it the sums read least
recently are dropped; their readers' next ask starts them over (they then see a shorter
stretch, and its coords say so)."""

WINDOW_SUM_BYTES = 128 << 20
"""Memory one sum may hold; it sets the sum's buckets (``policy.windows.buckets_for``):
all 32 for a 128 x 128 image, 31 for 512 x 512 with variances, 7 for 1024 x 1024."""

MAX_WINDOWS = 256
"""Distinct (output, N) sums asked for at once: tens of windowed layers, a few each."""

WINDOW_IDLE_S = 600.0
"""A sum nobody has read for ten minutes is dropped: only a visible layer reads, and an
operator who looks at another tab for a while should find their window still full."""

WINDOW_SWEEP_S = 10.0
"""How often the writer looks for sums to drop (idle ones, or of outputs gone quiet)."""


# -- results ---------------------------------------------------------------------------


class _History:
    """A growing ring of (data time, value) pairs; the writer appends, readers copy."""

    __slots__ = ("_capacity", "_size", "_start", "_times", "_values")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        size = min(_HISTORY_INITIAL, capacity)
        self._times = np.empty(size, dtype=np.int64)
        self._values = np.empty(size, dtype=np.float64)
        self._start = 0
        self._size = 0

    @property
    def last_time(self) -> int | None:
        if not self._size:
            return None
        return int(self._times[(self._start + self._size - 1) % len(self._times)])

    def append(self, time_ns: int, value: float) -> None:
        n = len(self._times)
        if self._size == n and n < self._capacity:
            self._grow(min(2 * n, self._capacity))
            n = len(self._times)
        if self._size < n:
            i = (self._start + self._size) % n
            self._size += 1
        else:  # full at capacity: overwrite the oldest
            i = self._start
            self._start = (self._start + 1) % n
        self._times[i] = time_ns
        self._values[i] = value

    def _grow(self, size: int) -> None:
        times, values = self.copy()
        self._times = np.empty(size, dtype=np.int64)
        self._values = np.empty(size, dtype=np.float64)
        self._times[: len(times)] = times
        self._values[: len(values)] = values
        self._start = 0

    def copy(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        n = len(self._times)
        end = self._start + self._size
        if end <= n:
            return self._times[self._start : end].copy(), self._values[self._start : end].copy()
        return (
            np.concatenate((self._times[self._start :], self._times[: end - n])),
            np.concatenate((self._values[self._start :], self._values[: end - n])),
        )


def scalar_point(data: sc.DataArray, received_ns: int) -> tuple[int, float] | None:
    """(data time, value) of a 0-d numeric result, or None if it is not one.

    The time is the 0-d ``time`` coord (end of the data window, WIRE.md); without one,
    the time it was received.
    """
    if data.ndim != 0 or data.dtype not in (
        sc.DType.float64,
        sc.DType.float32,
        sc.DType.int64,
        sc.DType.int32,
    ):
        return None
    coord = data.coords.get("time")
    when = received_ns
    if coord is not None and coord.ndim == 0 and coord.dtype in (sc.DType.int64, sc.DType.int32):
        when = int(coord.value)
    return when, float(data.value)


_EMPTY_HISTORY = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))

_OutputId = tuple[WorkflowId, str, str]


def _output_id(key: ResultKey) -> _OutputId:
    return (key.workflow_id, key.job_id.source_name, key.output_name)


_WindowId = tuple[_OutputId, float]


@dataclass(slots=True)
class _Window:
    """One last-N-seconds sum, kept by the writer for the job it is summing."""

    sum: RollingSum
    job_id: JobId


class ResultStore:
    """The newest result of every output (a ``ResultsView``), with history of 0-d ones.

    Parameters
    ----------
    max_keys, max_bytes:
        Bounds on what is kept; the least recently updated outputs are forgotten first.
    history_points:
        Ring size of the history of each 0-d output.
    window_bytes, window_sum_bytes, max_windows, window_idle_s:
        Bounds on the last-N-seconds sums (see ``windowed``).
    clock:
        Monotonic nanoseconds: when a sum was last read.
    """

    def __init__(
        self,
        *,
        max_keys: int = MAX_RESULT_KEYS,
        max_bytes: int = MAX_RESULT_BYTES,
        history_points: int = HISTORY_POINTS,
        window_bytes: int = WINDOW_BYTES,
        window_sum_bytes: int = WINDOW_SUM_BYTES,
        max_windows: int = MAX_WINDOWS,
        window_idle_s: float = WINDOW_IDLE_S,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if max_keys < 1 or history_points < 1:
            raise ValueError("a result store keeps at least one key and one history point")
        self._max_keys = max_keys
        self._max_bytes = max_bytes
        self._history_points = history_points
        self._lock = threading.Lock()
        # Least recently updated first: eviction pops from the front.
        self._entries: OrderedDict[ResultKey, ResultEntry] = OrderedDict()
        self._sizes: dict[ResultKey, int] = {}
        self._bytes = 0
        self._latest: dict[_OutputId, ResultKey] = {}
        self._histories: dict[ResultKey, _History] = {}
        self._version = 0
        self._clock = clock
        self._window_bytes = window_bytes
        self._window_sum_bytes = window_sum_bytes
        self._max_windows = max_windows
        self._window_idle_ns = int(window_idle_s * NS_PER_S)
        # Readers say which sums they want (and when they last read one); the writer
        # keeps the sums and publishes each as an immutable entry.
        self._window_wanted: dict[_OutputId, dict[float, int]] = {}
        self._window_entries: dict[_WindowId, ResultEntry] = {}
        self._windows: dict[_WindowId, _Window] = {}  # writer only
        self._window_nbytes = 0
        self._next_sweep = 0
        self.counters: Counter[str] = Counter()
        """writes, evicted, history_points, history_out_of_order, window_frames,
        windows_started, windows_dropped, windows_refused (writer thread only, but
        ``windows_refused`` by readers)."""

    # -- ResultsView ---------------------------------------------------------------

    @property
    def version(self) -> int:
        return self._version

    def keys(self) -> list[ResultKey]:
        with self._lock:
            return list(self._entries)

    def get(self, key: ResultKey) -> ResultEntry | None:
        with self._lock:
            return self._entries.get(key)

    def history(self, key: ResultKey) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        with self._lock:
            history = self._histories.get(key)
            if history is None:
                return _EMPTY_HISTORY[0].copy(), _EMPTY_HISTORY[1].copy()
            return history.copy()

    def latest(
        self, workflow_id: WorkflowId, source_name: str, output_name: str
    ) -> ResultEntry | None:
        with self._lock:
            key = self._latest.get((workflow_id, source_name, output_name))
            return None if key is None else self._entries.get(key)

    def windowed(
        self, workflow_id: WorkflowId, source_name: str, output_name: str, last_s: float
    ) -> ResultEntry | None:
        """The sum of this (per-window) output's frames whose data windows ended in the
        last ``last_s`` seconds, or None until there is one.

        Asking is what keeps it: the writer starts the sum with the next frame after the
        first ask (it covers what arrived since, as its ``start_time`` coord says) and
        drops it once nobody has asked for ``window_idle_s``. The entry's key is the
        newest frame's; its version changes with every frame added.
        """
        output = (workflow_id, source_name, output_name)
        with self._lock:
            wanted = self._window_wanted.get(output)
            if wanted is None or last_s not in wanted:
                if sum(len(w) for w in self._window_wanted.values()) >= self._max_windows:
                    self.counters["windows_refused"] += 1
                    return None
                wanted = self._window_wanted.setdefault(output, {})
            wanted[last_s] = self._clock()
            return self._window_entries.get((output, last_s))

    @property
    def window_nbytes(self) -> int:
        """Memory held by the last-N-seconds sums (as of the last frame written)."""
        return self._window_nbytes

    # -- writer ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Memory held by the kept results (their scipp buffers)."""
        return self._bytes

    def put(
        self,
        key: ResultKey,
        data: sc.DataArray,
        *,
        received_ns: int,
        published_ns: int | None = None,
    ) -> ResultEntry:
        """Keep ``data`` as the newest result of ``key`` (the caller never changes it).

        ``published_ns`` (the da00 timestamp) tells the parts of a data window the service
        published separately from one frame delivered twice, for the last-N-seconds sums.
        """
        size = int(data.underlying_size())
        point = scalar_point(data, received_ns)
        with self._lock:
            self._version += 1
            entry = ResultEntry(key=key, data=data, received_ns=received_ns, version=self._version)
            self._bytes += size - self._sizes.get(key, 0)
            self._sizes[key] = size
            self._entries[key] = entry
            self._entries.move_to_end(key)
            output = _output_id(key)
            self._latest[output] = key
            if point is not None:
                self._record(key, *point)
            self._evict()
            wanted = self._window_wanted.get(output)
            windows = list(wanted.items()) if wanted else []
        self.counters["writes"] += 1
        now = self._clock()
        if windows:
            self._add_to_windows(entry, output, windows, now, size, published_ns)
        if now >= self._next_sweep:
            self._next_sweep = now + int(WINDOW_SWEEP_S * NS_PER_S)
            self._sweep_windows(now)
        if windows or self._window_nbytes:
            self._window_nbytes = sum(w.sum.nbytes for w in self._windows.values())
        return entry

    # -- last-N-seconds sums (writer) -------------------------------------------------

    def _add_to_windows(
        self,
        entry: ResultEntry,
        output: _OutputId,
        windows: list[tuple[float, int]],
        now: int,
        size: int,
        published_ns: int | None,
    ) -> None:
        """Add one frame to every sum of its output that someone reads: once per frame
        for the whole server, outside the lock (only this thread touches the sums)."""
        published: dict[_WindowId, ResultEntry] = {}
        for last_s, read_ns in windows:
            wid = (output, last_s)
            if now - read_ns > self._window_idle_ns:
                continue  # dropped by the next sweep
            window = self._windows.get(wid)
            if window is None or window.job_id != entry.key.job_id:
                # A new sum, or a new job of this output: its frames start afresh.
                buckets = buckets_for(size, self._window_sum_bytes)
                window = _Window(RollingSum(last_s, max_buckets=buckets), entry.key.job_id)
                self._windows[wid] = window
                self.counters["windows_started"] += 1
            if not window.sum.add(entry.data, published_ns=published_ns):
                continue
            self.counters["window_frames"] += 1
            data = window.sum.result()
            if data is not None:
                published[wid] = ResultEntry(
                    key=entry.key, data=data, received_ns=entry.received_ns, version=entry.version
                )
        with self._lock:
            for wid, summed in published.items():
                if wid in self._windows:
                    self._window_entries[wid] = summed
        self._bound_windows()

    def _bound_windows(self) -> None:
        """Past ``window_bytes``, drop the sums read least recently, wish and all (a
        reader asking again starts a new one), keeping at least one."""
        total = sum(w.sum.nbytes for w in self._windows.values())
        if total <= self._window_bytes:
            return
        with self._lock:
            read = {
                (output, last_s): at
                for output, wanted in self._window_wanted.items()
                for last_s, at in wanted.items()
            }
        for wid in sorted(self._windows, key=lambda w: read.get(w, 0)):
            if total <= self._window_bytes or len(self._windows) == 1:
                break
            total -= self._windows[wid].sum.nbytes
            self._drop_window(wid)

    def _sweep_windows(self, now: int) -> None:
        """Drop sums (and wishes) nobody read for ``window_idle_s``."""
        with self._lock:
            idle = [
                (output, last_s)
                for output, wanted in self._window_wanted.items()
                for last_s, at in wanted.items()
                if now - at > self._window_idle_ns
            ]
        for wid in idle:
            self._drop_window(wid)

    def _drop_window(self, wid: _WindowId) -> None:
        """Drop a sum and the wish for it (a reader asking again starts a new one)."""
        if self._windows.pop(wid, None) is not None:
            self.counters["windows_dropped"] += 1
        output, last_s = wid
        with self._lock:
            self._window_entries.pop(wid, None)
            wanted = self._window_wanted.get(output)
            if wanted is not None:
                wanted.pop(last_s, None)
                if not wanted:
                    del self._window_wanted[output]

    def _record(self, key: ResultKey, time_ns: int, value: float) -> None:
        history = self._histories.get(key)
        if history is None:
            history = self._histories[key] = _History(self._history_points)
        last = history.last_time
        if last is not None and time_ns <= last:
            # A re-delivered or reordered result: the series must stay time-ordered.
            self.counters["history_out_of_order"] += 1
            return
        history.append(time_ns, value)
        self.counters["history_points"] += 1

    def _evict(self) -> None:
        while len(self._entries) > 1 and (
            len(self._entries) > self._max_keys or self._bytes > self._max_bytes
        ):
            key, _ = self._entries.popitem(last=False)
            self._bytes -= self._sizes.pop(key)
            self._histories.pop(key, None)
            self.counters["evicted"] += 1
            output = _output_id(key)
            if self._latest.get(output) == key:
                # Fall back to the newest other job of the same output, if any.
                other = next((k for k in reversed(self._entries) if _output_id(k) == output), None)
                if other is None:
                    del self._latest[output]
                else:
                    self._latest[output] = other


def _conforms(results: ResultStore) -> ResultsView:
    """Never called: mypy checks here that the store keeps the UI's contract."""
    return results
