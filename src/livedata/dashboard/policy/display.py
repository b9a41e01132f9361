"""What a cell shows besides the plot itself: rates, time windows, data age and state.

Every result carries 0-d ``start_time`` and ``time`` coords (int64 ns, WIRE.md): the
data window it covers. From them come counts per second (counts / window length) and the
data age (now - ``time``), which operators read as "how live is this".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import scipp as sc

from livedata.core.status import JobState
from livedata.dashboard.contract import Liveness

NS_PER_S = 1_000_000_000

FRESH_AGE_S = 3.0
"""Data up to this old look live: results come once per 1 s window and the target data
age on screen is ~2 s."""

OLD_AGE_S = 30.0
"""Data older than this are shown as old (the job or its inputs may have stopped)."""

MAX_WINDOW_S = 7 * 24 * 3600.0
"""Longest "last N seconds" window: a week, far past any history kept."""


def time_coord(data: sc.DataArray, name: str) -> int | None:
    """A scalar integer time coord (ns since epoch) of ``data``, if it has one."""
    coord = data.coords.get(name)
    if coord is None or coord.ndim != 0 or coord.dtype not in (sc.DType.int64, sc.DType.int32):
        return None
    return int(coord.value)


def is_counts(data: sc.DataArray) -> bool:
    """Whether ``data`` holds counts (shown as a rate, summed over windows)."""
    return data.unit is not None and str(data.unit) == "counts"


def data_time_ns(data: sc.DataArray) -> int | None:
    """End of the data window the result covers (its ``time`` coord), if it has one."""
    return time_coord(data, "time")


def window_s(data: sc.DataArray) -> float | None:
    """Length of the data window (``time - start_time``) in seconds, if positive."""
    start, end = time_coord(data, "start_time"), time_coord(data, "time")
    if start is None or end is None or end <= start:
        return None
    return (end - start) / NS_PER_S


def to_rate(data: sc.DataArray) -> sc.DataArray:
    """``data`` per second of its data window (counts -> counts/s), variances scaled.

    Raises
    ------
    ValueError
        If the result has no positive window (``start_time``/``time`` missing or equal).
    """
    seconds = window_s(data)
    if seconds is None:
        raise ValueError("the result has no data window (start_time, time) to divide by")
    return data / sc.scalar(seconds, unit="s")


class AgeLevel(StrEnum):
    FRESH = "fresh"
    LATE = "late"
    OLD = "old"


def data_age_s(data: sc.DataArray, now_ns: int) -> float | None:
    """now - the result's ``time``, in seconds (may be slightly negative: clock skew)."""
    end = data_time_ns(data)
    return None if end is None else (now_ns - end) / NS_PER_S


def age_level(age_s: float) -> AgeLevel:
    if age_s <= FRESH_AGE_S:
        return AgeLevel.FRESH
    return AgeLevel.LATE if age_s <= OLD_AGE_S else AgeLevel.OLD


def format_age(age_s: float) -> str:
    """Short text for a cell's corner: ``0.8 s``, ``42 s``, ``3 min``, ``2.5 h``."""
    age_s = max(age_s, 0.0)
    if age_s < 10:
        return f"{age_s:.1f} s"
    if age_s < 120:
        return f"{age_s:.0f} s"
    if age_s < 7200:
        return f"{age_s / 60:.0f} min"
    return f"{age_s / 3600:.1f} h"


# -- time windows -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """What part of a time series to show: everything (``last_s`` None) or the last
    ``last_s`` seconds before the newest point (data time, so a paused stream keeps
    showing its last stretch)."""

    last_s: float | None = None

    def __post_init__(self) -> None:
        if self.last_s is not None and not (0 < self.last_s <= MAX_WINDOW_S):
            raise ValueError(f"time window must be in (0, {MAX_WINDOW_S:g}] s, got {self.last_s}")


def select_window(
    times_ns: npt.NDArray[np.int64], values: npt.NDArray[np.float64], window: TimeWindow
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The points of a time-ordered series inside ``window`` (views, not copies)."""
    if window.last_s is None or len(times_ns) == 0:
        return times_ns, values
    cutoff = int(times_ns[-1]) - int(window.last_s * NS_PER_S)
    first = int(np.searchsorted(times_ns, cutoff, side="left"))
    return times_ns[first:], values[first:]


def series_points(
    data: sc.DataArray,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(times ns, values) of a 1-d output along a datetime coord, ordered by time.

    Raises
    ------
    ValueError
        If ``data`` is not 1-d along a datetime coordinate.
    """
    if data.ndim != 1:
        raise ValueError(f"a time series is 1-d, got dims {data.dims}")
    (dim,) = data.dims
    coord = data.coords.get(dim)
    if coord is None or coord.dtype != sc.DType.datetime64 or coord.sizes != data.sizes:
        raise ValueError(f"{dim!r} is not a datetime coordinate of the points")
    times = np.asarray(sc.to_unit(coord, "ns", copy=False).values).view(np.int64)
    values = np.asarray(data.values, dtype=np.float64)
    if len(times) > 1 and np.any(np.diff(times) < 0):
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[order]
    return times, values


# -- cell state ---------------------------------------------------------------------------


class LayerState(StrEnum):
    """What a layer's corner shows, worst last."""

    LIVE = "live"
    WAITING = "waiting"
    """No result yet (job starting, or no job for this workflow and source)."""
    WARNING = "warning"
    STOPPED = "stopped"
    STALE = "stale"
    """The job's heartbeats stopped coming (its service may be dead)."""
    ERROR = "error"


_SEVERITY = {state: i for i, state in enumerate(LayerState)}


def layer_state(
    has_data: bool, job_state: JobState | None, job_liveness: Liveness | None
) -> LayerState:
    """State of one layer from whether it has data and its job's newest heartbeat."""
    if job_liveness is Liveness.STALE:
        return LayerState.STALE
    if job_state is JobState.ERROR:
        return LayerState.ERROR
    if job_state is JobState.STOPPED or job_liveness is Liveness.GONE:
        return LayerState.STOPPED
    if job_state in (JobState.WARNING, JobState.PENDING_CONTEXT):
        return LayerState.WARNING
    return LayerState.LIVE if has_data else LayerState.WAITING


def cell_state(states: list[LayerState]) -> LayerState:
    """The worst state of a cell's layers (WAITING for an empty cell)."""
    return max(states, key=_SEVERITY.__getitem__, default=LayerState.WAITING)
