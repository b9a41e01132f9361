""" "The last N seconds" of a counting output: the sum of its per-window frames.

A counting workflow publishes each histogram twice: ``current`` (counts of the last data
window, ~1 s) and ``cumulative`` (since the job started or was reset). The last five
minutes is neither; it is the sum of the ``current`` frames whose windows ended in the
last five minutes (of data time, so a paused stream keeps its last stretch, as a time
series does). Which output holds the per-window frames of a layer is decided here from
names and templates alone (``window_output``); :class:`RollingSum` keeps the sum,
bounded, and is fed by the results store's writer once per frame, never per session.

Bounded: frames are added into at most ``B`` buckets (``MAX_BUCKETS``, fewer for large
frames), each covering ``N / (B - 1)`` seconds of data time, and a bucket leaves the sum
whole once its newest frame is older than N seconds. So the sum covers between N and
N (1 + 1/(B - 1)) seconds plus one frame; its ``start_time`` and ``time`` coords say
exactly which stretch, and counts per second divide by that stretch.

Which frames are one frame: a service may publish one data window in parts (it hands
out a window early before a command, at a run transition, or when the window holds too
much data), and both parts carry the window's ``start_time`` and ``time``. They are told
apart by when they were published (the da00 ``timestamp``, which the consumer passes on):
parts of one window each count, while the same frame delivered twice (a consumer reading a
batch again) has the same publish time too and counts once.

What does not apply: a time series (it cuts its own points), an output with no
per-window counterpart, and outputs that are not counts (a normalised I(Q) of five
minutes is not the sum of five one-second I(Q)s).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipp as sc

from livedata.dashboard.policy.display import NS_PER_S, is_counts, time_coord
from livedata.dashboard.policy.plotters import PlotterKind

MAX_BUCKETS = 32
"""Buckets per sum: a 5-minute window moves in ~10 s steps (a 1-minute one per frame)."""

MIN_BUCKETS = 4
"""Fewest buckets a sum is allowed when frames are large (see ``buckets_for``)."""

SUMMED_PLOTTERS = frozenset(
    {PlotterKind.VALUE, PlotterKind.LINE, PlotterKind.BARS, PlotterKind.IMAGE, PlotterKind.SLICER}
)
"""Plotters that show one frame, so a sum of frames can stand in for it."""

CURRENT, CUMULATIVE = "current", "cumulative"


def per_window_name(output_name: str, names: frozenset[str] | set[str]) -> str | None:
    """The name of the per-window output paired with ``output_name``, by the naming
    convention of counting workflows, or None.

    ``current``/``cumulative``, ``x_current``/``x_cumulative``, and a per-window ``x``
    beside ``x_cumulative`` (``counts_total``/``counts_total_cumulative``). A per-window
    output is its own partner.
    """
    if output_name == CURRENT or output_name.endswith(f"_{CURRENT}"):
        return output_name
    if f"{output_name}_{CUMULATIVE}" in names:
        return output_name  # counts_total beside counts_total_cumulative
    if output_name == CUMULATIVE:
        return CURRENT if CURRENT in names else None
    if output_name.endswith(f"_{CUMULATIVE}"):
        stem = output_name.removesuffix(f"_{CUMULATIVE}")
        for candidate in (f"{stem}_{CURRENT}", stem):
            if candidate in names:
                return candidate
    return None


def window_output(output_name: str, templates: Mapping[str, sc.DataArray]) -> str | None:
    """The output whose frames, summed, make "the last N seconds" of ``output_name``
    (itself, or its per-window partner), or None if no sum means that.

    Both must be counts of the same dims: only counts add up over time.
    """
    shown = templates.get(output_name)
    if shown is None:
        return None
    partner = per_window_name(output_name, set(templates))
    if partner is None:
        return None
    frames = templates[partner]
    if not (is_counts(shown) and is_counts(frames)) or frames.dims != shown.dims:
        return None
    return partner


@dataclass(frozen=True, slots=True)
class WindowRead:
    """How a layer reads "the last ``last_s`` seconds": the sum of ``output_name``'s
    frames (the results store keeps it)."""

    output_name: str
    last_s: float


def layer_window(
    plotter: PlotterKind,
    output_name: str,
    last_s: float | None,
    templates: Mapping[str, sc.DataArray],
) -> WindowRead | None:
    """The summed read of a layer (``plotter`` on ``output_name``) with a last-N-seconds
    window, or None when it shows its output as published (no window; a time series,
    which cuts its own points; or an output the window does not apply to)."""
    if last_s is None or plotter not in SUMMED_PLOTTERS:
        return None
    partner = window_output(output_name, templates)
    return None if partner is None else WindowRead(partner, last_s)


def window_applies(
    plotter: PlotterKind, output_name: str, templates: Mapping[str, sc.DataArray]
) -> bool:
    """Whether a time window means anything for this plotter and output (the UI offers
    the option only then)."""
    if plotter is PlotterKind.TIMESERIES:
        return True
    return plotter in SUMMED_PLOTTERS and window_output(output_name, templates) is not None


def window_problem(
    plotter: PlotterKind,
    output_name: str,
    last_s: float | None,
    templates: Mapping[str, sc.DataArray],
) -> str | None:
    """Why a layer's window cannot apply (reported when a grid is loaded), or None."""
    if last_s is None or window_applies(plotter, output_name, templates):
        return None
    return (
        f"a last-N-seconds window does not apply to {output_name!r} ({plotter.value}): "
        "only time series, and counts with a per-window output, have one; it is shown "
        "as published"
    )


def buckets_for(frame_bytes: int, budget_bytes: int) -> int:
    """Buckets a sum of frames this large may have within ``budget_bytes`` (one more
    frame's worth holds the running total), ``MIN_BUCKETS`` .. ``MAX_BUCKETS``."""
    fits = budget_bytes // max(frame_bytes, 1) - 1
    return max(MIN_BUCKETS, min(MAX_BUCKETS, fits))


# -- the sum -----------------------------------------------------------------------------

FloatArray = npt.NDArray[np.float64]


_FrameId = tuple[int, int, int | None]
"""(start_time, time, publish time) of a frame."""


@dataclass(slots=True)
class _Bucket:
    index: int
    start_ns: int
    end_ns: int
    values: FloatArray
    variances: FloatArray | None
    frames: int


class RollingSum:
    """The sum of the frames whose data windows ended in the last ``last_s`` seconds.

    Parameters
    ----------
    last_s:
        Window length in seconds.
    max_buckets:
        Resolution and memory: at most this many partial sums (plus the total).
    """

    def __init__(self, last_s: float, *, max_buckets: int = MAX_BUCKETS) -> None:
        if not (last_s > 0 and math.isfinite(last_s)) or max_buckets < 2:
            raise ValueError(
                f"a rolling sum needs a positive window and two buckets, got {last_s} s, "
                f"{max_buckets}"
            )
        self.last_ns = int(last_s * NS_PER_S)
        # N seconds touch at most max_buckets aligned buckets of N / (max_buckets - 1).
        self.bucket_ns = max(1, math.ceil(self.last_ns / (max_buckets - 1)))
        self._buckets: deque[_Bucket] = deque()
        self._total: FloatArray | None = None
        self._total_var: FloatArray | None = None
        self._template: sc.DataArray | None = None
        """The newest frame: coords, unit and dims of the sum."""
        self._newest_ids: set[_FrameId] = set()
        """The frames added with the newest end: a window published in parts has several."""
        self.restarts = 0
        """Times the sum started over because a frame's shape, unit or coords changed."""

    # -- reading -------------------------------------------------------------------

    @property
    def frames(self) -> int:
        return sum(b.frames for b in self._buckets)

    @property
    def nbytes(self) -> int:
        per = 0 if self._total is None else self._total.nbytes
        per += 0 if self._total_var is None else self._total_var.nbytes
        return per * (len(self._buckets) + 1)

    @property
    def span_ns(self) -> tuple[int, int] | None:
        """(start of the oldest frame kept, end of the newest), or None when empty."""
        if not self._buckets:
            return None
        return self._buckets[0].start_ns, self._buckets[-1].end_ns

    def result(self) -> sc.DataArray | None:
        """The sum as a result: the newest frame's coords, the sum's values (and
        variances), and ``start_time``/``time`` of the stretch it covers."""
        span = self.span_ns
        if span is None or self._template is None or self._total is None:
            return None
        template = self._template
        data = sc.array(
            dims=list(template.dims),
            values=self._total.copy(),
            variances=None if self._total_var is None else self._total_var.copy(),
            unit=template.unit,
        )
        out = sc.DataArray(data, coords=dict(template.coords))
        out.coords["start_time"] = sc.scalar(span[0], unit="ns", dtype="int64")
        out.coords["time"] = sc.scalar(span[1], unit="ns", dtype="int64")
        return out

    # -- writing -------------------------------------------------------------------

    def add(self, frame: sc.DataArray, *, published_ns: int | None = None) -> bool:
        """Add one frame; False (and nothing changes) for a frame without a data window,
        one older than the newest added, or one added already (a re-delivery must not
        count twice).

        ``published_ns`` is when the service published the frame (its da00 timestamp):
        another part of the newest window has the same ``start_time``/``time`` but was
        published at another time, so it counts. Without it, a frame is known by its
        data window alone and a second part of a window is refused.
        """
        start, end = time_coord(frame, "start_time"), time_coord(frame, "time")
        if start is None or end is None or end < start:
            return False
        identity = (start, end, published_ns)
        if self._buckets:
            newest_end = self._buckets[-1].end_ns
            if end < newest_end or (end == newest_end and identity in self._newest_ids):
                return False
            if end > newest_end:
                self._newest_ids.clear()
        values = np.asarray(frame.values, dtype=np.float64)
        variances = None if frame.variances is None else np.asarray(frame.variances, np.float64)
        if not self._fits(frame, variances):
            self._clear()
            if self._template is not None:
                self.restarts += 1
        self._template = frame
        index = end // self.bucket_ns
        newest = self._buckets[-1] if self._buckets else None
        if newest is not None and newest.index == index:
            newest.values += values
            if newest.variances is not None and variances is not None:
                newest.variances += variances
            newest.end_ns = end
            newest.frames += 1
        else:
            self._buckets.append(
                _Bucket(
                    index=index,
                    start_ns=start,
                    end_ns=end,
                    values=values.copy(),
                    variances=None if variances is None else variances.copy(),
                    frames=1,
                )
            )
        if self._total is None:
            self._total = values.copy()
            self._total_var = None if variances is None else variances.copy()
        else:
            self._total += values
            if self._total_var is not None and variances is not None:
                self._total_var += variances
        self._newest_ids.add(identity)
        self._expire(end)
        return True

    def _fits(self, frame: sc.DataArray, variances: FloatArray | None) -> bool:
        """Whether ``frame`` adds to the frames kept: same dims, shape, unit, variances
        or not, and the same coordinates along its dims (bin edges, ROI numbers)."""
        old = self._template
        if old is None or self._total is None:
            return True
        if frame.dims != old.dims or frame.shape != old.shape or frame.unit != old.unit:
            return False
        if (variances is None) != (self._total_var is None):
            return False
        for name, coord in frame.coords.items():
            if coord.ndim == 0:
                continue  # start_time, time: differ from frame to frame by design
            previous = old.coords.get(name)
            if previous is None or not sc.identical(previous, coord):
                return False
        return all(name in frame.coords for name, coord in old.coords.items() if coord.ndim != 0)

    def _expire(self, newest_end: int) -> None:
        cutoff = newest_end - self.last_ns
        gone = 0
        while self._buckets and self._buckets[0].end_ns <= cutoff:
            self._buckets.popleft()
            gone += 1
        if gone:
            self._recompute()

    def _recompute(self) -> None:
        """The total again from the buckets kept: subtracting would carry rounding (and
        a NaN, once in, would never leave)."""
        first, *rest = self._buckets
        self._total = first.values.copy()
        self._total_var = None if first.variances is None else first.variances.copy()
        for bucket in rest:
            self._total += bucket.values
            if self._total_var is not None and bucket.variances is not None:
                self._total_var += bucket.variances

    def _clear(self) -> None:
        self._buckets.clear()
        self._newest_ids.clear()
        self._total = None
        self._total_var = None
