"""Monitor histogram: a beam monitor's spectrum in time of arrival, or in wavelength.

The wavelength spectrum converts each event with the monitor's flight path from the
source (``livedata.workflows.wavelength``: single frame, no chopper correction). Its
params model and output templates are separate from the time-of-arrival ones, so a
spec offering it shows a ``wavelength`` axis before data arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pydantic
import scipp as sc

from livedata.core.values import EventBatch
from livedata.core.workflow import OutputSpec
from livedata.workflows import outputs
from livedata.workflows.coordinate_histogram import CoordinateHistogram, CoordinateRejects
from livedata.workflows.histogram import RejectedEvents, TimeOfArrivalSpectrum, UniformBins
from livedata.workflows.left_out import LeftOutCounts, spectrum_totals
from livedata.workflows.time_of_arrival import FULL_FRAME, TOA_DIM, TimeOfArrivalRange
from livedata.workflows.wavelength import (
    DEFAULT_TIME_OFFSET_NS,
    WAVELENGTH_DIM,
    TimeOffsetNs,
    WavelengthBinning,
    wavelength_per_ns,
)
from livedata.workflows.windowed import WindowedSum

MAX_BINS = 10_000
"""Far more bins than a plot has pixels across; the bound keeps results small."""

DEFAULT_BINS = 100


class MonitorHistogramParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    bins: int = pydantic.Field(
        default=DEFAULT_BINS, ge=1, le=MAX_BINS, description="Number of time-of-arrival bins."
    )
    toa_range: TimeOfArrivalRange = pydantic.Field(
        default=FULL_FRAME, description="Histogrammed time-of-arrival range (ns)."
    )


class MonitorWavelengthParams(pydantic.BaseModel):
    """Params of the wavelength spectrum (the monitor's flight path comes from geometry)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    wavelength: WavelengthBinning = pydantic.Field(
        default_factory=WavelengthBinning, description="Wavelength binning (Å)."
    )
    time_offset_ns: TimeOffsetNs = DEFAULT_TIME_OFFSET_NS


def monitor_histogram_outputs() -> dict[str, OutputSpec]:
    """Output templates: zero-bin spectra (one bin edge) and 0-d totals."""
    spectrum = outputs.counts(
        np.zeros(0),
        dims=[TOA_DIM],
        coords={TOA_DIM: _edges(np.zeros(1))},
    )
    return outputs.windowed_count_outputs(
        noun="Spectrum",
        template=spectrum,
        per="time-of-arrival bin",
        counted="Events within the time-of-arrival range",
    )


def monitor_wavelength_outputs() -> dict[str, OutputSpec]:
    """Output templates of the wavelength spectrum: as the time-of-arrival ones, over
    ``wavelength`` (Å)."""
    spectrum = outputs.counts(
        np.zeros(0),
        dims=[WAVELENGTH_DIM],
        coords={WAVELENGTH_DIM: _edges(np.zeros(1), WAVELENGTH_DIM)},
    )
    return outputs.windowed_count_outputs(
        noun="Spectrum",
        template=spectrum,
        per="wavelength bin",
        counted="Events within the wavelength range",
    )


def _edges(values: np.ndarray[Any, Any], dim: str = TOA_DIM) -> sc.Variable:
    return sc.array(dims=[dim], values=values, unit="ns" if dim == TOA_DIM else "angstrom")


class MonitorHistogramWorkflow:
    """Histograms monitor events by time of arrival, or by wavelength when given
    :class:`MonitorWavelengthParams` and the monitor's flight path from the source (m);
    pixel ids, if any, are ignored."""

    def __init__(
        self,
        *,
        source_name: str,
        params: MonitorHistogramParams | MonitorWavelengthParams,
        flight_path_m: float | None = None,
    ) -> None:
        self._source = source_name
        self._kernel: TimeOfArrivalSpectrum | CoordinateHistogram
        if isinstance(params, MonitorWavelengthParams):
            if flight_path_m is None:
                raise ValueError("a wavelength spectrum needs the monitor's flight path")
            bins = params.wavelength.to_bins()
            self._kernel = CoordinateHistogram(
                bins,
                factor=wavelength_per_ns(flight_path_m),
                time_offset_ns=params.time_offset_ns,
            )
            self._dim = WAVELENGTH_DIM
            edges = bins.edges()
        else:
            start, stop = params.toa_range.as_tuple()
            self._kernel = TimeOfArrivalSpectrum(UniformBins(start, stop, params.bins))
            self._dim = TOA_DIM
            edges = self._kernel.bins.edges()
        self._counts = WindowedSum((self._kernel.n_bins,))
        self._coords = {self._dim: _edges(edges, self._dim)}
        self._left_out = LeftOutCounts(lambda: spectrum_totals(self._kernel.rejected))

    @property
    def rejected(self) -> RejectedEvents | CoordinateRejects:
        """Events outside the range since the workflow was built."""
        return self._kernel.rejected

    def events_left_out(self) -> dict[str, int]:
        """Events left out since the last clear, by reason (``core.ReportsEventsLeftOut``)."""
        return self._left_out.counts()

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        events = data[self._source]
        if not isinstance(events, EventBatch):
            raise TypeError(f"{self._source}: expected EventBatch, got {type(events).__name__}")
        window = self._counts.open(start_time)
        if isinstance(self._kernel, TimeOfArrivalSpectrum):
            # The window's messages one after the other: never joined into one array.
            self._kernel.add(window, [part.time_of_arrival for part in events.parts])
        else:
            self._kernel.add(window, events.time_of_arrival)

    def finalize(self) -> Mapping[str, sc.DataArray]:
        self._counts.close()
        start = self._counts.window_start
        window, total = self._counts.window, self._counts.total
        dims = [self._dim]
        return {
            "cumulative": outputs.counts(total, dims=dims, coords=self._coords),
            "current": outputs.counts(window, dims=dims, coords=self._coords, start_time=start),
            "counts_total": outputs.scalar_counts(int(window.sum()), start_time=start),
            "counts_total_cumulative": outputs.scalar_counts(int(total.sum())),
        }

    def clear(self) -> None:
        self._counts.clear()
        self._left_out.clear()
