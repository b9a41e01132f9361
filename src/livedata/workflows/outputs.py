"""Building result DataArrays: event counts with Poisson variances, and index coords.

Counts are published as float64 with ``variances = counts``: a histogram of
independent events is Poisson-distributed, so the dashboard can draw error bars and
downstream arithmetic (normalising, ROI sums) propagates uncertainties correctly.
The integer histograms stay internal, where sums are exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scipp as sc

from livedata.core.workflow import OutputSpec

COUNTS = "counts"


def counts(
    values: npt.NDArray[Any],
    *,
    dims: Sequence[str],
    coords: Mapping[str, sc.Variable] | None = None,
    start_time: int | None = None,
    variances: npt.NDArray[Any] | None = None,
) -> sc.DataArray:
    """Event counts (copied) as float64 with Poisson variances, or the ``variances``
    given (weighted counts: the sum of squared weights)."""
    data = np.asarray(values, dtype=np.float64)
    var = data if variances is None else np.asarray(variances, dtype=np.float64)
    da = sc.DataArray(
        sc.array(dims=list(dims), values=data, variances=var, unit=COUNTS),
        coords=dict(coords or {}),
    )
    if start_time is not None:
        da.coords["start_time"] = time_coord(start_time)
    return da


def scalar_counts(
    value: int | float, *, start_time: int | None = None, variance: float | None = None
) -> sc.DataArray:
    """A 0-d count with its Poisson variance (or ``variance``, for a weighted count)."""
    v = float(value)
    da = sc.DataArray(
        sc.scalar(v, variance=v if variance is None else float(variance), unit=COUNTS)
    )
    if start_time is not None:
        da.coords["start_time"] = time_coord(start_time)
    return da


def time_coord(ns: int) -> sc.Variable:
    """A 0-d data-time coordinate (int64 ns since epoch), as WIRE.md's start_time/time."""
    return sc.scalar(ns, unit="ns", dtype="int64")


def index_coords(dims: Sequence[str], shape: Sequence[int]) -> dict[str, sc.Variable]:
    """Pixel-index coordinates ``0 .. n-1`` (no unit) for each dim."""
    return {
        dim: sc.array(dims=[dim], values=np.arange(size, dtype=np.int64), unit=None)
        for dim, size in zip(dims, shape, strict=True)
    }


def empty_counts(dims: Sequence[str], *, index_coords_for: Sequence[str] = ()) -> sc.DataArray:
    """A template: zero-size counts on ``dims``, with empty index coords for some."""
    zeros = (0,) * len(dims)
    return counts(
        np.zeros(zeros),
        dims=dims,
        coords=index_coords(index_coords_for, zeros[: len(index_coords_for)]),
    )


def windowed_count_outputs(
    *, noun: str, template: sc.DataArray, per: str, counted: str
) -> dict[str, OutputSpec]:
    """The four outputs of a counting view: ``cumulative`` and ``current`` histograms
    (``noun``, counts ``per`` element) and their 0-d totals (of ``counted``)."""
    total = scalar_counts(0)
    return {
        "cumulative": OutputSpec(
            title=f"{noun} since start",
            template=template,
            description=f"Counts per {per} since the job started or was reset.",
        ),
        "current": OutputSpec(
            title=f"{noun} in window",
            template=template,
            description=f"Counts per {per} in the last data window.",
        ),
        "counts_total": OutputSpec(
            title="Total counts in window",
            template=total,
            description=f"{counted} in the last data window.",
        ),
        "counts_total_cumulative": OutputSpec(
            title="Total counts since start",
            template=total,
            description=f"{counted} since the job started or was reset.",
        ),
    }
