"""Detector view: an image of an event detector's counts, and ROI spectra.

The image is the bank's own pixel grid, or any :class:`~livedata.workflows.pixel_views.PixelView`
of it: a logical view (fold, select, sum over, downsample) or a geometric projection
(``livedata.workflows.projections``). Every view is one pixel -> bin table built when
the job starts, so a window costs one lookup and one ``np.bincount`` per event.

The job's regions of interest (WIRE.md "ROIs") are applied here, in the view's index
space: see ``livedata.workflows.roi_spectra`` for the spectra, their resets and the
echo, and ``livedata.workflows.roi_geometry`` for which bins an ROI holds; a pixel is in
an ROI when its bin is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pydantic
import scipp as sc

from livedata.core.values import EventBatch
from livedata.core.workflow import OutputSpec
from livedata.workflows import outputs
from livedata.workflows.histogram import PixelRange, RejectedEvents
from livedata.workflows.left_out import (
    OUTSIDE_TOA_WINDOW,
    PIXEL_OUT_OF_RANGE,
    TIME_OUT_OF_RANGE,
    LeftOutCounts,
)
from livedata.workflows.mapped_counts import MappedPixelCounts
from livedata.workflows.pixel_counts import PixelCounts
from livedata.workflows.pixel_views import PixelLayout, PixelView, identity_view
from livedata.workflows.roi_spectra import RoiSpectra, RoiSpectrumParams, roi_outputs
from livedata.workflows.time_of_arrival import TimeOfArrivalRange
from livedata.workflows.windowed import WindowedSum

__all__ = [
    "DetectorViewParams",
    "DetectorViewWorkflow",
    "PixelLayout",
    "detector_view_outputs",
    "view_outputs",
]


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


def view_outputs(template: sc.DataArray, *, per: str = "pixel") -> dict[str, OutputSpec]:
    """Output templates of a view whose image looks like ``template``: the images, their
    0-d totals and the ROI outputs (published once the job has ROIs)."""
    return {
        **outputs.windowed_count_outputs(
            noun="Counts",
            template=template,
            per=per,
            counted="Events in the view (and in the time-of-arrival range, if set)",
        ),
        **roi_outputs(),
    }


def detector_view_outputs(layout: PixelLayout) -> dict[str, OutputSpec]:
    """Output templates of the bank's own image: zero-size, on its dims, index coords."""
    return view_outputs(outputs.empty_counts(layout.dims, index_coords_for=layout.dims))


class DetectorViewWorkflow:
    """Histograms a detector's events into an image per window and since start.

    Parameters
    ----------
    layout:
        The bank's pixel numbering.
    view:
        The image to fill; the bank's own pixel grid if not given.
    pixel_weights:
        One finite float per pixel (kept to float32 precision): each event adds its
        pixel's weight instead of 1 (e.g. a detector-efficiency or solid-angle
        correction). The images then carry the sum of squared weights as variances.
        ROI spectra stay unweighted counts.

    Events with a pixel id outside the detector, or outside the selected
    time-of-arrival range, are not counted; ``rejected`` tells how many since the
    workflow was built, ``events_left_out()`` since the last clear (for the heartbeat).
    Events on a pixel the view leaves out are not in the totals either. ROIs in the data
    (``roi_rectangle`` / ``roi_polygon`` context) add ROI spectra and their echo.
    """

    def __init__(
        self,
        *,
        source_name: str,
        layout: PixelLayout,
        params: DetectorViewParams,
        view: PixelView | None = None,
        pixel_weights: npt.NDArray[np.floating] | None = None,
    ) -> None:
        view = identity_view(layout) if view is None else view
        n_pixels = int(np.prod(layout.shape))
        if view.first_pixel_id != layout.first_pixel_id or view.n_pixels != n_pixels:
            raise ValueError(
                f"{source_name}: view of pixels {view.first_pixel_id}+{view.n_pixels} "
                f"does not match the bank's {layout.first_pixel_id}+{n_pixels}"
            )
        self._source = source_name
        self._view = view
        self._dims, self._shape = view.dims, view.shape
        toa = params.toa_range.as_tuple() if params.toa_range is not None else None
        pixels = PixelRange(view.first_pixel_id, view.n_pixels)
        self._kernel: PixelCounts | MappedPixelCounts
        self._weighted = pixel_weights is not None
        if view.bin_of_pixel is None and not self._weighted:
            self._kernel = PixelCounts(pixels, time_window=toa)
        else:
            table = (
                np.arange(view.n_pixels, dtype=np.intp)
                if view.bin_of_pixel is None
                else view.bin_of_pixel
            )
            self._kernel = MappedPixelCounts(
                pixels, table, view.n_bins, time_window=toa, weights=pixel_weights
            )
        dtype = np.float64 if self._weighted else np.int64
        self._counts = WindowedSum((view.n_bins,), dtype=dtype)
        self._squares = WindowedSum((view.n_bins,) if self._weighted else (0,), dtype=np.float64)
        self._rois = RoiSpectra(
            source_name=source_name,
            shape=self._shape,
            first_pixel_id=view.first_pixel_id,
            params=params.roi_spectrum,
            pixel_bins=view.bin_of_pixel,
        )
        self._left_out = LeftOutCounts(self._left_out_totals)

    @property
    def view(self) -> PixelView:
        return self._view

    @property
    def rejected(self) -> RejectedEvents:
        """Events not counted since the workflow was built, by reason."""
        return self._kernel.rejected

    def _left_out_totals(self) -> dict[str, int]:
        image = self._kernel.rejected
        return {
            PIXEL_OUT_OF_RANGE: image.pixel_out_of_range,
            # The image checks times only against the user's window.
            OUTSIDE_TOA_WINDOW: image.time_out_of_range,
            # Bad pixels are counted by the image already: the ROI spectra see the
            # same events, so only their time range adds a reason (counted for the
            # events in some ROI: the others are in no spectrum to be left out of).
            TIME_OUT_OF_RANGE: self._rois.rejected.time_out_of_range,
        }

    def events_left_out(self) -> dict[str, int]:
        """Events left out since the last clear, by reason (``core.ReportsEventsLeftOut``)."""
        return self._left_out.counts()

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
        if not events.has_pixel_ids:
            raise ValueError(f"{self._source}: events carry no pixel ids")
        self._rois.apply(data)
        # The window's messages one after the other: never joined into one array.
        parts = events.parts
        pixel_id = [p.pixel_id for p in parts if p.pixel_id is not None]
        toa = [p.time_of_arrival for p in parts]
        window = self._counts.open(start_time)
        if isinstance(self._kernel, MappedPixelCounts) and self._weighted:
            squares = self._squares.open(start_time)
            self._kernel.add_weighted(window, squares, pixel_id, toa)
        else:
            self._kernel.add(window, pixel_id, toa)
        self._rois.add(start_time, pixel_id, toa)

    def finalize(self) -> Mapping[str, sc.DataArray]:
        self._counts.close()
        self._squares.close()
        start = self._counts.window_start
        window = self._counts.window.reshape(self._shape)
        total = self._counts.total.reshape(self._shape)
        coords = self._view.coords
        window_var = total_var = None
        window_sum_var = total_sum_var = None
        if self._weighted:
            window_var = self._squares.window.reshape(self._shape)
            total_var = self._squares.total.reshape(self._shape)
            window_sum_var, total_sum_var = float(window_var.sum()), float(total_var.sum())
        return {
            "cumulative": outputs.counts(
                total, dims=self._dims, coords=coords, variances=total_var
            ),
            "current": outputs.counts(
                window, dims=self._dims, coords=coords, start_time=start, variances=window_var
            ),
            "counts_total": outputs.scalar_counts(
                window.sum(), start_time=start, variance=window_sum_var
            ),
            "counts_total_cumulative": outputs.scalar_counts(total.sum(), variance=total_sum_var),
            **self._rois.finalize(),
        }

    def clear(self) -> None:
        self._counts.clear()
        self._squares.clear()
        self._rois.clear()
        self._left_out.clear()
