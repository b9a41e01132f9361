"""Axis and colour limits with hysteresis: expand at once, shrink only when it lasts.

Live data jitters; limits that follow every frame make a plot flicker and the eye lose
its scale. So limits grow as soon as data leave them (never hide data), but shrink only
after the data have stayed well inside (a span under ``shrink_below`` of the range) for
``shrink_after`` consecutive updates. NaN and infinities are ignored (masked values
travel as NaN); on a log scale so are values <= 0. Limits are pure values: each plot
keeps an ``AutoscaleState`` and replaces it with what ``autoscale`` returns.

An operator who zooms or pans has chosen the limits: autoscaling of that axis is then
*held* (``hold``) and data no longer move it, until they reset the view (``release``).
Whether a range the browser reports is the operator's doing or just the limits we set
is decided by ``moved_by_user``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SHRINK_BELOW = 0.5
"""Data spanning under half the current range are "well inside" it."""

SHRINK_AFTER = 5
"""Consecutive well-inside updates before limits shrink: five seconds at 1 Hz, long
enough that a dip between two bursts does not rescale, short enough to follow a change
of sample."""

HEADROOM = 0.05
"""Fraction of the span added beyond the data when limits are set, so slowly growing
data (a cumulative image) do not expand the limits on every frame."""

CONSTANT_PAD = 0.5
"""Half-width given to constant data: in data units around 0, else 10 % of the value;
on a log scale half a decade."""


@dataclass(frozen=True, slots=True)
class Limits:
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class AutoscalePolicy:
    log: bool = False
    shrink_below: float = SHRINK_BELOW
    shrink_after: int = SHRINK_AFTER
    headroom: float = HEADROOM


MOVED_TOLERANCE = 1e-6
"""Relative difference (of the span) from the limits we set above which a reported
range is someone else's: browsers hand ranges back as float64, sometimes rounded."""


@dataclass(frozen=True, slots=True)
class AutoscaleState:
    """The limits in force (None before any finite data), the well-inside streak, and
    whether the operator holds this axis (zoomed or panned: data do not move it)."""

    limits: Limits | None = None
    inside_streak: int = 0
    held: bool = False


def hold(state: AutoscaleState) -> AutoscaleState:
    """The operator zoomed or panned this axis: keep data from moving it."""
    return AutoscaleState(state.limits, 0, held=True)


def release(state: AutoscaleState) -> AutoscaleState:
    """Autoscale again from the next data, as if none had been seen (the operator reset
    the view: the limits fit the data afresh, with no memory of the zoomed span)."""
    return AutoscaleState()


def moved_by_user(
    shown: tuple[float, float] | None,
    start: float | None,
    end: float | None,
    *,
    tolerance: float = MOVED_TOLERANCE,
) -> bool:
    """Whether a range reported by the browser (``start``, ``end``) differs from the
    limits we last set (``shown``): then the operator moved it.

    A range we never set (``shown`` None) that the operator moves counts as moved too;
    a report without numbers (an axis with no range yet) does not.
    """
    if start is None or end is None:
        return False
    if not (math.isfinite(start) and math.isfinite(end)):
        return False
    if shown is None:
        return True
    low, high = shown
    scale = max(abs(high - low), abs(end - start), 1e-300)
    return abs(start - low) > tolerance * scale or abs(end - high) > tolerance * scale


def finite_range(values: npt.ArrayLike, *, log: bool = False) -> Limits | None:
    """Smallest and largest finite value (positive only, on a log scale), or None."""
    array = np.asarray(values)
    if array.size == 0:
        return None
    if array.dtype.kind in "biu":
        if log:
            array = array[array > 0]
            if array.size == 0:
                return None
        return Limits(float(array.min()), float(array.max()))
    mask = np.isfinite(array)
    if log:
        mask &= array > 0
    if mask.all():
        return Limits(float(array.min()), float(array.max()))
    if not mask.any():
        return None
    kept = array[mask]
    return Limits(float(kept.min()), float(kept.max()))


def _to_axis(limits: Limits, log: bool) -> tuple[float, float]:
    if log:
        return math.log10(limits.low), math.log10(limits.high)
    return limits.low, limits.high


def _from_axis(low: float, high: float, log: bool) -> Limits:
    if log:
        return Limits(10.0**low, 10.0**high)
    return Limits(low, high)


def _padded(data: tuple[float, float], policy: AutoscalePolicy) -> tuple[float, float]:
    low, high = data
    if high == low:
        pad = CONSTANT_PAD if policy.log or low == 0 else abs(low) * 0.1
        return low - pad, high + pad
    margin = (high - low) * policy.headroom
    padded_low = low - margin
    if not policy.log and low >= 0 > padded_low:
        padded_low = 0.0  # counts start at zero; never show a negative margin below them
    return padded_low, high + margin


def autoscale(
    state: AutoscaleState, values: npt.ArrayLike | Limits, policy: AutoscalePolicy
) -> AutoscaleState:
    """The state after one update with ``values`` (an array, or its ``finite_range``).

    Without usable data (empty, all NaN, nothing positive on a log scale), or while the
    operator holds the axis, the limits stay as they were.
    """
    if state.held:
        return state
    data = values if isinstance(values, Limits) else finite_range(values, log=policy.log)
    if data is None or (policy.log and data.low <= 0):
        return state
    span = _to_axis(data, policy.log)
    if state.limits is None:
        return AutoscaleState(_from_axis(*_padded(span, policy), policy.log), 0)
    low, high = _to_axis(state.limits, policy.log)
    if span[0] < low or span[1] > high:
        # Grow at once, on the side(s) the data left, keeping the other side.
        new_low, new_high = _padded((min(span[0], low), max(span[1], high)), policy)
        return AutoscaleState(
            _from_axis(
                new_low if span[0] < low else low, new_high if span[1] > high else high, policy.log
            ),
            0,
        )
    if span[1] - span[0] < policy.shrink_below * (high - low):
        streak = state.inside_streak + 1
        if streak >= policy.shrink_after:
            return AutoscaleState(_from_axis(*_padded(span, policy), policy.log), 0)
        return AutoscaleState(state.limits, streak)
    return AutoscaleState(state.limits, 0)
