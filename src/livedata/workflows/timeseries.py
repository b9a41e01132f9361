"""Timeseries: the recent history of a slow-control log (f144) as a 1-D DataArray."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipp as sc

from livedata.core.accumulators import DEFAULT_LOG_CAPACITY, LogSeries
from livedata.core.values import LogSample
from livedata.core.workflow import OutputSpec
from livedata.workflows import outputs
from livedata.workflows.refusals import Refusals

TIMESTAMP_DIM = "timestamp"
"""Not ``time``: WIRE.md reserves the 0-d ``time`` coord for the end of the data window."""


def timeseries_outputs(unit: str | None) -> dict[str, OutputSpec]:
    """Output template: a zero-length series with a datetime ``timestamp`` coord."""
    return {
        "timeseries": OutputSpec(
            title="Timeseries",
            template=_series(np.zeros(0, dtype=np.int64), np.zeros(0), unit),
            description="Every distinct value of the log since the job started, oldest first.",
        )
    }


def _series(
    times: np.ndarray[Any, Any], values: np.ndarray[Any, Any], unit: sc.Unit | str | None
) -> sc.DataArray:
    return sc.DataArray(
        sc.array(dims=[TIMESTAMP_DIM], values=np.asarray(values, dtype=np.float64), unit=unit),
        coords={TIMESTAMP_DIM: sc.datetimes(dims=[TIMESTAMP_DIM], values=times, unit="ns")},
    )


class TimeseriesWorkflow:
    """Keeps the newest ``capacity`` distinct samples of one log, in arrival order.

    NaN readings stay NaN (a dashboard leaves a gap); a repeated value is not a new
    sample (``LogSeries``). Array-valued samples are refused one by one (the job's
    warning counts them) unless they hold one value.
    """

    def __init__(
        self, *, source_name: str, unit: str | None, capacity: int = DEFAULT_LOG_CAPACITY
    ) -> None:
        self._source = source_name
        self._unit = sc.Unit(unit) if unit is not None else None
        self._series = LogSeries(capacity)
        self._refused = Refusals("samples")

    @property
    def series(self) -> LogSeries:
        """The kept samples, with counts of what the capacity bound pushed out."""
        return self._series

    @property
    def problems(self) -> list[str]:
        """Samples refused since the job started or was reset (``ReportsProblems``)."""
        return self._refused.problems()

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        for sample in data[self._source]:
            try:
                value = _scalar(self._source, sample)
            except (TypeError, ValueError) as err:
                # Only this sample: the good ones of the same window are kept.
                self._refused.add(str(err))
                continue
            self._series.add(sample.time, value)

    def finalize(self) -> Mapping[str, sc.DataArray]:
        times = self._series.times()
        da = _series(times, self._series.values(), self._unit)
        if len(times):
            da.coords["start_time"] = outputs.time_coord(int(times[0]))
        return {"timeseries": da}

    def clear(self) -> None:
        self._series.clear()
        self._refused.clear()


def _scalar(source: str, sample: Any) -> float:
    if not isinstance(sample, LogSample):
        raise TypeError(f"{source}: expected LogSample, got {type(sample).__name__}")
    value = np.asarray(sample.value, dtype=np.float64)
    if value.size != 1:
        raise ValueError(
            f"{source}: array-valued sample of shape {value.shape} is not a timeseries"
        )
    return float(value.reshape(()))
