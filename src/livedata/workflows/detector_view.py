"""Detector view: an image of an event detector's counts per pixel, and ROI spectra.

The job's regions of interest (WIRE.md "ROIs") are applied here: see
``livedata.workflows.roi_spectra`` for the spectra, their resets and the echo, and
``livedata.workflows.roi_geometry`` for which pixels an ROI holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import pydantic
import scipp as sc

from livedata.core.values import EventBatch
from livedata.core.workflow import OutputSpec
from livedata.workflows import outputs
from livedata.workflows.histogram import PixelCounts, PixelRange, RejectedEvents
from livedata.workflows.roi_spectra import RoiSpectra, RoiSpectrumParams, roi_outputs
from livedata.workflows.time_of_arrival import TimeOfArrivalRange
from livedata.workflows.windowed import WindowedSum


class PixelLayout(Protocol):
    """Where a detector's pixels are: ids ``first_pixel_id ..`` row-major in ``shape``.

    ``livedata.config.instrument.DetectorBank`` has this shape; the protocol keeps
    workflows independent of the config layer.
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dims(self) -> tuple[str, ...]: ...

    @property
    def first_pixel_id(self) -> int: ...


class DetectorViewParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    toa_range: TimeOfArrivalRange | None = pydantic.Field(
        default=None,
        description="Count only events whose time of arrival lies in this range (all if unset).",
    )
    roi_spectrum: RoiSpectrumParams = pydantic.Field(
        default_factory=RoiSpectrumParams,
        description=(
            "Binning of the regions of interest's time-of-arrival spectra "
            "(independent of toa_range, which only selects what the image counts)."
        ),
    )


def detector_view_outputs(layout: PixelLayout) -> dict[str, OutputSpec]:
    """Output templates: zero-size images on the detector's dims, 0-d totals, and the
    ROI outputs (published once the job has ROIs)."""
    return {
        **outputs.windowed_count_outputs(
            noun="Counts",
            template=outputs.empty_counts(layout.dims, index_coords_for=layout.dims),
            per="pixel",
            counted="Events on valid pixels (and in the time-of-arrival range, if set)",
        ),
        **roi_outputs(),
    }


class DetectorViewWorkflow:
    """Histograms a detector's events into an image per window and since start.

    Events with a pixel id outside the detector, or outside the selected
    time-of-arrival range, are not counted; ``rejected`` tells how many. ROIs in the
    data (``roi_rectangle`` / ``roi_polygon`` context) add ROI spectra and their echo.
    """

    def __init__(
        self, *, source_name: str, layout: PixelLayout, params: DetectorViewParams
    ) -> None:
        self._source = source_name
        self._dims = tuple(layout.dims)
        self._shape = tuple(layout.shape)
        toa = params.toa_range.as_tuple() if params.toa_range is not None else None
        self._kernel = PixelCounts(
            PixelRange(layout.first_pixel_id, math.prod(self._shape)), time_window=toa
        )
        self._counts = WindowedSum((self._kernel.n_bins,))
        # Built once: every published image shares these read-only coordinates.
        self._coords = outputs.index_coords(self._dims, self._shape)
        self._rois = RoiSpectra(
            source_name=source_name,
            shape=self._shape,
            first_pixel_id=layout.first_pixel_id,
            params=params.roi_spectrum,
        )

    @property
    def rejected(self) -> RejectedEvents:
        """Events not counted since the workflow was built, by reason."""
        return self._kernel.rejected

    @property
    def rois(self) -> RoiSpectra:
        """The ROIs applied, and why an ROI update was refused, if one was."""
        return self._rois

    @property
    def problems(self) -> list[str]:
        """Refused ROI updates, shown as the job's warning (``core.ReportsProblems``)."""
        return [f"roi_{shape} refused: {reason}" for shape, reason in self._rois.problems.items()]

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        events = data[self._source]
        if not isinstance(events, EventBatch):
            raise TypeError(f"{self._source}: expected EventBatch, got {type(events).__name__}")
        if events.pixel_id is None:
            raise ValueError(f"{self._source}: events carry no pixel ids")
        self._rois.apply(data)
        self._kernel.add(self._counts.open(start_time), events.pixel_id, events.time_of_arrival)
        self._rois.add(start_time, events.pixel_id, events.time_of_arrival)

    def finalize(self) -> Mapping[str, sc.DataArray]:
        self._counts.close()
        start = self._counts.window_start
        window = self._counts.window.reshape(self._shape)
        total = self._counts.total.reshape(self._shape)
        return {
            "cumulative": outputs.counts(total, dims=self._dims, coords=self._coords),
            "current": outputs.counts(
                window, dims=self._dims, coords=self._coords, start_time=start
            ),
            "counts_total": outputs.scalar_counts(int(window.sum()), start_time=start),
            "counts_total_cumulative": outputs.scalar_counts(int(total.sum())),
            **self._rois.finalize(),
        }

    def clear(self) -> None:
        self._counts.clear()
        self._rois.clear()
