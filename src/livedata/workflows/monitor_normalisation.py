"""Normalising a detector histogram by the counts of a beam monitor in a wavelength band.

The simple, defensible form used live::

    I(x) = C(x) / (M · T)

``C(x)``: detector events per bin of ``x`` (Q, d-spacing) whose wavelength lies in the
band; ``M``: the monitor's events whose wavelength (over the monitor's own flight path)
lies in the same band; ``T``: an optional exact scale (the sample transmission, 1 when
not corrected). Cumulative results are ratios of sums (``ΣC / ΣM``), not means of
per-window ratios.

Variances (Poisson: ``var C = C``, ``var M = M``; ``T`` exact), first order::

    var I = C / (M T)² + C² / (M³ T²)

which is scipp's propagation for ``C / M`` bin by bin. The correlation between bins
through their common ``M`` is neglected (scipp refuses to broadcast a variance for
that reason; ESS's ``essreduce`` offers to drop it or bound it). With ``M`` much larger
than any ``C`` (usual: a monitor counts the whole beam) the second term is small anyway.
Where ``M`` is 0 the result is NaN, value and variance.

Not applied (hooks for later): the detector's solid angle and efficiency per pixel
(a per-pixel weight table next to the kernel's factor table, with a weighted
``bincount`` and a second one of squared weights for variances), the monitor's
wavelength-dependent efficiency, and a wavelength-resolved normalisation
(``Σ C(x, λ) / Σ M(λ)``); ``T`` is the scalar hook already in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import scipp as sc

from livedata.core.values import EventBatch
from livedata.workflows import outputs
from livedata.workflows.coordinate_bins import CoordinateBins
from livedata.workflows.coordinate_histogram import CoordinateHistogram
from livedata.workflows.wavelength import MAX_WAVELENGTH_ANGSTROM, wavelength_per_ns
from livedata.workflows.windowed import WindowedSum

FULL_BAND = (0.01, MAX_WAVELENGTH_ANGSTROM)
"""The band a monitor is counted over when the workflow selects none (Å)."""


def normalise(
    counts: npt.ArrayLike, monitor: float, *, scale: float = 1.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Values and variances of ``counts / (monitor * scale)`` (see the module doc)."""
    c = np.asarray(counts, dtype=np.float64)
    if monitor <= 0:
        nan = np.full(c.shape, np.nan)
        return nan, nan.copy()
    denominator = monitor * scale
    values = c / denominator
    variances = c / denominator**2 + c**2 / (monitor * denominator**2)
    return values, variances


def normalised_array(
    counts: npt.ArrayLike,
    monitor: float,
    *,
    dim: str,
    edges: sc.Variable,
    scale: float = 1.0,
    start_time: int | None = None,
) -> sc.DataArray:
    """A dimensionless histogram ``counts / (monitor * scale)`` with variances."""
    values, variances = normalise(counts, monitor, scale=scale)
    da = sc.DataArray(
        sc.array(dims=[dim], values=values, variances=variances, unit=sc.units.dimensionless),
        coords={dim: edges},
    )
    if start_time is not None:
        da.coords["start_time"] = outputs.time_coord(start_time)
    return da


class MonitorBandCounts:
    """A beam monitor's events in a wavelength band, per window and since start.

    The monitor's stream reaches the workflow as an auxiliary source under its name.
    A value already counted is not counted again: the engine hands a job the newest
    value of each auxiliary stream with every window, which may be the same one.
    """

    def __init__(
        self,
        *,
        stream: str,
        flight_path_m: float,
        band: tuple[float, float] | None,
        time_offset_ns: int,
    ) -> None:
        low, high = band if band is not None else FULL_BAND
        self.stream = stream
        self.band = (low, high)
        self._kernel = CoordinateHistogram(
            CoordinateBins(low, high, 1),
            factor=wavelength_per_ns(flight_path_m),
            time_offset_ns=time_offset_ns,
        )
        self._sum = WindowedSum((1,))
        self._last: Any = None
        self.received = False
        """True once the monitor delivered anything (even outside the band)."""

    def add(self, data: Mapping[str, Any], start_time: int) -> None:
        """Count the monitor's new events in ``data``, if any, into the open window."""
        window = self._sum.open(start_time)
        events = data.get(self.stream)
        if events is None or events is self._last:
            return
        if not isinstance(events, EventBatch):
            raise TypeError(
                f"monitor {self.stream}: expected EventBatch, got {type(events).__name__}"
            )
        self._last = events
        self.received = True
        self._kernel.add(window, events.time_of_arrival)

    def close(self) -> None:
        self._sum.close()

    @property
    def window(self) -> int:
        """Counts of the last (or open) window."""
        return int(self._sum.window[0])

    @property
    def total(self) -> int:
        """Counts since the last clear."""
        return int(self._sum.total[0])

    def clear(self) -> None:
        self._sum.clear()
