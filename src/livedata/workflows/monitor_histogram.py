"""Monitor histogram: a beam monitor's time-of-arrival spectrum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pydantic
import scipp as sc

from livedata.core.values import EventBatch
from livedata.core.workflow import OutputSpec
from livedata.workflows import outputs
from livedata.workflows.histogram import RejectedEvents, TimeOfArrivalSpectrum, UniformBins
from livedata.workflows.time_of_arrival import FULL_FRAME, TOA_DIM, TimeOfArrivalRange
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


def _edges(values: np.ndarray[Any, Any]) -> sc.Variable:
    return sc.array(dims=[TOA_DIM], values=values, unit="ns")


class MonitorHistogramWorkflow:
    """Histograms monitor events by time of arrival; pixel ids, if any, are ignored."""

    def __init__(self, *, source_name: str, params: MonitorHistogramParams) -> None:
        self._source = source_name
        start, stop = params.toa_range.as_tuple()
        self._kernel = TimeOfArrivalSpectrum(UniformBins(start, stop, params.bins))
        self._counts = WindowedSum((params.bins,))
        self._coords = {TOA_DIM: _edges(self._kernel.bins.edges())}

    @property
    def rejected(self) -> RejectedEvents:
        """Events outside the range since the workflow was built."""
        return self._kernel.rejected

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        events = data[self._source]
        if not isinstance(events, EventBatch):
            raise TypeError(f"{self._source}: expected EventBatch, got {type(events).__name__}")
        self._kernel.add(self._counts.open(start_time), events.time_of_arrival)

    def finalize(self) -> Mapping[str, sc.DataArray]:
        self._counts.close()
        start = self._counts.window_start
        window, total = self._counts.window, self._counts.total
        dims = [TOA_DIM]
        return {
            "cumulative": outputs.counts(total, dims=dims, coords=self._coords),
            "current": outputs.counts(window, dims=dims, coords=self._coords, start_time=start),
            "counts_total": outputs.scalar_counts(int(window.sum()), start_time=start),
            "counts_total_cumulative": outputs.scalar_counts(int(total.sum())),
        }

    def clear(self) -> None:
        self._counts.clear()
