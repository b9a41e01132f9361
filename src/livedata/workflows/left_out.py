"""Events a workflow left out of its histograms, by reason, since its last clear.

The histogram kernels keep running totals of the events they reject, from counts they
compute anyway (``histogram.RejectedEvents``, ``coordinate_histogram.CoordinateRejects``).
A workflow reports them (``core.workflow.ReportsEventsLeftOut``) through
:class:`LeftOutCounts`, which subtracts the totals it saw at the workflow's last
``clear``: a job reset starts the counts from zero without touching the kernels, and
reporting costs nothing per event.

Reasons (the names a heartbeat carries):

- ``pixel_out_of_range``: a pixel id outside the detector bank (negative, huge, or
  another bank's). Always a problem of the data or of the detector's configuration.
- ``time_out_of_range``: a time of arrival outside a spectrum's range (a monitor's
  spectrum, a detector view's ROI spectra). With the default range, the whole frame,
  these are times outside the frame.
- ``outside_toa_window``: outside the time-of-arrival range the user chose for a
  detector image. A selection, not a fault; kept apart so it does not read as one.
- ``coordinate_out_of_range``: a computed coordinate (wavelength, Q, d-spacing) outside
  the histogram's range or wavelength band, including events of pixels the workflow
  leaves out by design (e.g. outside a 2θ range). Mostly selection as well.

Each histogram counts an event at most once; a workflow with two histograms of the same
events (an image and its ROI spectra) may count one event under two reasons. Events an
image's view leaves out by design (pixels sliced away) are not counted at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from livedata.workflows.coordinate_histogram import CoordinateRejects
from livedata.workflows.histogram import RejectedEvents

PIXEL_OUT_OF_RANGE = "pixel_out_of_range"
TIME_OUT_OF_RANGE = "time_out_of_range"
OUTSIDE_TOA_WINDOW = "outside_toa_window"
COORDINATE_OUT_OF_RANGE = "coordinate_out_of_range"

Totals = Callable[[], Mapping[str, int]]
"""Running totals by reason since the workflow was built."""


def spectrum_totals(rejected: RejectedEvents | CoordinateRejects) -> dict[str, int]:
    """A spectrum kernel's totals under the reasons above."""
    if isinstance(rejected, CoordinateRejects):
        return {
            PIXEL_OUT_OF_RANGE: rejected.pixel_out_of_range,
            COORDINATE_OUT_OF_RANGE: rejected.outside_range,
        }
    return {
        PIXEL_OUT_OF_RANGE: rejected.pixel_out_of_range,
        TIME_OUT_OF_RANGE: rejected.time_out_of_range,
    }


class LeftOutCounts:
    """Counts by reason since the last :meth:`clear`, read from running ``totals``."""

    def __init__(self, totals: Totals) -> None:
        self._totals = totals
        self._at_clear: dict[str, int] = {}

    def counts(self) -> dict[str, int]:
        """Events left out since the last clear, by reason; reasons at zero omitted."""
        counts = {}
        for reason, total in self._totals().items():
            n = int(total) - self._at_clear.get(reason, 0)
            if n > 0:
                counts[reason] = n
        return counts

    def clear(self) -> None:
        self._at_clear = {reason: int(total) for reason, total in self._totals().items()}
