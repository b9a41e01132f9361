"""Time-of-arrival spectra of a detector view's ROIs, and the echo of the ROIs applied.

A job's ROIs reach its workflow as context: under ``roi_rectangle`` and ``roi_polygon``
the ``accumulate`` data holds the latest ``RoiUpdate`` of that geometry type (the full
set of that type; empty clears it). :class:`RoiSpectra` applies each update once, when
it first sees it, and then on every window histograms the events of ROI pixels into
one spectrum per ROI.

Decisions (see also ``livedata.workflows.roi_geometry`` for what "in an ROI" means):

- **Reset per ROI.** An ROI's cumulative spectrum starts when the ROI appears or its
  geometry changes: a sum over two different regions means nothing. ROIs whose
  geometry is unchanged in an update keep their sums. A job reset clears all sums and
  keeps the ROIs. The cumulative output's ``roi_start_time`` coord (int64 ns, along
  ``roi``) tells the data time each ROI's sum began at.
- **Refused updates change nothing.** An update this view cannot apply (an ROI with a
  physical unit, which needs the detector geometry; absurd coordinates; overlaps
  cutting the detector into too many regions) is ignored as a whole: the previous ROIs
  of that type stay, and the echo keeps showing them, so the client sees its change
  was not taken. The reason is in :attr:`RoiSpectra.problems` and logged once. It is
  not raised: a failed ``accumulate`` would also lose the window's image, on every
  window, for as long as the update stays the job's context.
- **Published once ROIs were set.** A job that never got an ROI publishes no ROI
  outputs. From the first update of a type on, every result carries that type's echo
  (empty after a clear, so clients drop their overlay, and stays published so a client
  that missed one still converges), and the spectra of all current ROIs.
- **One ``roi`` dim for both types.** Rows are the rectangles, then the polygons, each
  by index; coord ``roi`` holds the wire ``roi_index`` and ``roi_shape`` the type
  (:data:`SHAPE_CODES`), because the two types number their ROIs independently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pydantic
import scipp as sc
import structlog

from livedata.core.control import Roi, RoiShape, RoiUpdate
from livedata.core.workflow import OutputSpec
from livedata.protocol.errors import EncodeError
from livedata.protocol.roi import MAX_ROIS, rois_to_data_array
from livedata.workflows import outputs
from livedata.workflows.group_histogram import PixelGroupTimeOfArrivalCounts
from livedata.workflows.histogram import (
    Events,
    PixelRange,
    RejectedEvents,
    UniformBins,
)
from livedata.workflows.roi_geometry import (
    RoiGeometryError,
    TooManyRegionsError,
    check_roi,
    partition,
    select_pixels,
    view_plane,
)
from livedata.workflows.time_of_arrival import FULL_FRAME, TOA_DIM, TimeOfArrivalRange
from livedata.workflows.windowed import WindowedSum

logger = structlog.get_logger(__name__)

ROI_DIM = "roi"
SHAPES: tuple[RoiShape, ...] = ("rectangle", "polygon")
SHAPE_CODES: dict[RoiShape, int] = {"rectangle": 0, "polygon": 1}
"""Values of the spectra's ``roi_shape`` coord (da00 carries no strings)."""

CONTEXT_KEYS: dict[RoiShape, str] = {shape: f"roi_{shape}" for shape in SHAPES}
"""Where the job puts each type's latest ``RoiUpdate`` in the data (and echo output names)."""

CURRENT, CUMULATIVE = "roi_spectra_current", "roi_spectra_cumulative"

DEFAULT_BINS = 100

MAX_BINS = 1000
"""Bins per ROI spectrum. Up to 128 ROIs (64 of each type) of 1000 bins publish 2 MB
per output per window with variances; more bins than a plot has pixels buy nothing."""

MAX_REGION_BINS = 1 << 22
"""Bins of the per-region histogram one batch of events is counted into (32 MiB).
Overlapping ROIs cut the detector into disjoint regions; an update that would need more
regions than ``MAX_REGION_BINS // bins`` is refused, bounding memory and the work of
folding regions into ROI spectra, however the ROIs are drawn."""


class RoiSpectrumParams(pydantic.BaseModel):
    """Time-of-arrival binning of the ROI spectra."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    bins: int = pydantic.Field(
        default=DEFAULT_BINS, ge=1, le=MAX_BINS, description="Time-of-arrival bins per ROI."
    )
    toa_range: TimeOfArrivalRange = pydantic.Field(
        default=FULL_FRAME, description="Histogrammed time-of-arrival range (ns)."
    )


def roi_outputs() -> dict[str, OutputSpec]:
    """Templates of the ROI outputs: zero-size spectra and empty echoes."""
    empty = np.zeros((0, 0))
    keys: list[tuple[RoiShape, int]] = []
    edges = np.zeros(1)
    return {
        CURRENT: OutputSpec(
            title="ROI spectra in window",
            template=_spectra(empty, keys, edges),
            description="Time-of-arrival spectrum of each ROI in the last data window.",
        ),
        CUMULATIVE: OutputSpec(
            title="ROI spectra since set",
            template=_spectra(empty, keys, edges, since=[]),
            description=(
                "Time-of-arrival spectrum of each ROI since it was set or last changed "
                "(roi_start_time), or since the job was reset."
            ),
        ),
        **{
            CONTEXT_KEYS[shape]: OutputSpec(
                title=f"{shape.capitalize()} ROIs",
                template=rois_to_data_array(shape, {}),
                description=f"The {shape} ROIs this job applies, in the ROI wire encoding.",
            )
            for shape in SHAPES
        },
    }


def _spectra(
    values: npt.NDArray[Any],
    keys: list[tuple[RoiShape, int]],
    edges: npt.NDArray[np.float64],
    *,
    start_time: int | None = None,
    since: list[int] | None = None,
) -> sc.DataArray:
    coords = {
        ROI_DIM: sc.array(dims=[ROI_DIM], values=[i for _, i in keys], dtype="int32", unit=None),
        "roi_shape": sc.array(
            dims=[ROI_DIM], values=[SHAPE_CODES[s] for s, _ in keys], dtype="int32", unit=None
        ),
        TOA_DIM: sc.array(dims=[TOA_DIM], values=edges, unit="ns"),
    }
    if since is not None:
        coords["roi_start_time"] = sc.array(dims=[ROI_DIM], values=since, dtype="int64", unit="ns")
    return outputs.counts(values, dims=[ROI_DIM, TOA_DIM], coords=coords, start_time=start_time)


class RoiSpectra:
    """The ROIs of one detector view: their pixels, spectra and echo.

    Parameters
    ----------
    source_name:
        The detector, for log records.
    shape:
        The view's shape; pixel ids ``first_pixel_id ..`` are row-major in it, unless
        ``pixel_bins`` says otherwise.
    pixel_bins:
        For a view whose bins are not the pixels (a fold, slice, downsample or
        projection): the flat bin of the view each pixel ``first_pixel_id + i`` lands
        in, or ``prod(shape)`` for a pixel outside the view. A pixel is in an ROI when
        its bin is.
    """

    def __init__(
        self,
        *,
        source_name: str,
        shape: tuple[int, ...],
        first_pixel_id: int,
        params: RoiSpectrumParams,
        pixel_bins: npt.NDArray[np.integer] | None = None,
    ) -> None:
        self._source = source_name
        self._shape = tuple(shape)
        n_pixels = math.prod(self._shape) if pixel_bins is None else len(pixel_bins)
        self._pixels = PixelRange(first_pixel_id, n_pixels)
        self._pixel_bins = pixel_bins
        start, stop = params.toa_range.as_tuple()
        self._bins = UniformBins(start, stop, params.bins)
        self._edges = self._bins.edges()
        self._max_regions = max(1, MAX_REGION_BINS // params.bins - 1)
        self._seen: dict[RoiShape, object] = {}
        self._applied: dict[RoiShape, dict[int, Roi]] = {}
        self._echo: dict[RoiShape, sc.DataArray] = {}
        self._problems: dict[RoiShape, str] = {}
        self._keys: list[tuple[RoiShape, int]] = []
        self._since: list[int | None] = []
        self._sums = WindowedSum((0, params.bins))
        self._kernel: PixelGroupTimeOfArrivalCounts | None = None
        self.rejected = RejectedEvents()
        """Events the spectra left out since creation, by reason: shared by every kernel
        an ROI change builds, so the totals outlive them. While ROIs are set, every
        event's pixel id is checked, but only an event in some ROI has its time checked:
        an event in no ROI is in no spectrum, so it is not left out of one for its time."""
        self._region_counts = np.zeros((0, params.bins), dtype=np.int64)
        self._pair_regions = np.zeros(0, dtype=np.intp)
        self._pair_rows = np.zeros(0, dtype=np.intp)

    @property
    def rois(self) -> Mapping[RoiShape, Mapping[int, Roi]]:
        """The ROIs applied, by type and index (types never set are absent)."""
        return self._applied

    @property
    def problems(self) -> Mapping[RoiShape, str]:
        """Why the latest update of a type was refused; cleared by an accepted one."""
        return self._problems

    @property
    def n_regions(self) -> int:
        """Disjoint regions the applied ROIs cut the detector into."""
        return 0 if self._kernel is None else self._kernel.n_groups - 1

    def apply(self, data: Mapping[str, Any]) -> None:
        """Apply the ROI updates in ``data`` that were not seen before."""
        changed: dict[RoiShape, dict[int, Roi]] = {}
        for shape in SHAPES:
            update = data.get(CONTEXT_KEYS[shape])
            if update is None or update is self._seen.get(shape):
                continue
            self._seen[shape] = update
            try:
                rois = self._checked(shape, update)
            except (RoiGeometryError, EncodeError, TypeError) as err:
                self._refuse([shape], str(err))
                continue
            self._problems.pop(shape, None)
            if rois != self._applied.get(shape):
                changed[shape] = rois
        if changed:
            try:
                self._rebuild(changed)
            except TooManyRegionsError as err:
                self._refuse(list(changed), str(err))

    def _refuse(self, shapes: list[RoiShape], reason: str) -> None:
        for shape in shapes:
            self._problems[shape] = reason
            logger.warning("roi_update_refused", source=self._source, shape=shape, reason=reason)

    def _checked(self, shape: RoiShape, update: object) -> dict[int, Roi]:
        if not isinstance(update, RoiUpdate) or update.shape != shape:
            raise TypeError(f"expected the {shape} RoiUpdate, got {update!r:.100}")
        if len(update.rois) > MAX_ROIS:
            raise RoiGeometryError(f"{len(update.rois)} {shape} ROIs, limit {MAX_ROIS}")
        for roi in update.rois.values():
            check_roi(roi)
        rois_to_data_array(shape, update.rois)  # refuses what the echo could not carry
        return dict(update.rois)

    def _rebuild(self, changed: Mapping[RoiShape, dict[int, Roi]]) -> None:
        """Recompute pixel membership for the new ROI set; keep sums of unchanged ROIs."""
        applied = {**self._applied, **changed}
        keys = [(shape, i) for shape in SHAPES for i in sorted(applied.get(shape, {}))]
        plane = view_plane(self._shape)
        kernel = None
        pairs: list[tuple[int, int]] = []
        selections = [select_pixels(applied[s][i], plane) for s, i in keys]
        regions = partition(selections, plane, max_regions=self._max_regions)
        if regions.n_regions:  # no kernel while the ROIs hold no pixel at all
            # Leading dims repeat the plane's regions (the ROI is drawn on their sum).
            groups = np.broadcast_to(regions.labels, self._lead_shape() + plane).reshape(-1)
            if self._pixel_bins is not None:
                # Each pixel takes its bin's region; pixels outside the view, none.
                groups = np.append(groups, np.int32(regions.n_regions))[self._pixel_bins]
            # Events in no ROI go to a spectrum nobody reads, and a bad time of theirs
            # is not counted as left out; their pixel ids are checked, as for all events.
            kernel = PixelGroupTimeOfArrivalCounts(
                self._pixels,
                groups,
                regions.n_regions + 1,
                self._bins,
                skipped_group=regions.n_regions,
            )
            kernel.rejected = self.rejected
            pairs = [(r, row) for r, rows in enumerate(regions.members) for row in rows]
        echo = {shape: rois_to_data_array(shape, rois) for shape, rois in changed.items()}
        # Nothing fails from here on: commit.
        position = {key: row for row, key in enumerate(self._keys)}
        carried = [
            position[(s, i)] if applied[s][i] == self._applied.get(s, {}).get(i) else None
            for s, i in keys
        ]
        self._sums = self._sums.select_rows(carried)
        self._since = [None if row is None else self._since[row] for row in carried]
        self._keys, self._applied, self._kernel = keys, applied, kernel
        self._echo.update(echo)
        n_groups = 0 if kernel is None else kernel.n_groups
        self._region_counts = np.zeros((n_groups, self._bins.count), dtype=np.int64)
        self._pair_regions = np.array([r for r, _ in pairs], dtype=np.intp)
        self._pair_rows = np.array([row for _, row in pairs], dtype=np.intp)
        logger.info(
            "rois_applied",
            source=self._source,
            rois=len(keys),
            regions=self.n_regions,
            reset=sum(row is None for row in carried),
        )

    def _lead_shape(self) -> tuple[int, ...]:
        return self._shape[:-2] if len(self._shape) > 1 else ()

    def add(self, start_time: int, pixel_id: Events, time_of_arrival: Events) -> None:
        """Histogram events into the spectra of the window starting at ``start_time``."""
        window = self._sums.open(start_time)
        self._since = [start_time if s is None else s for s in self._since]
        if self._kernel is None:
            return
        counts = self._region_counts
        counts[...] = 0
        self._kernel.add(counts, pixel_id, time_of_arrival)
        # Fold regions into ROIs; a region in several (overlapping) ROIs adds to each.
        np.add.at(window, self._pair_rows, counts[self._pair_regions])

    def finalize(self) -> dict[str, sc.DataArray]:
        """Close the window; the ROI outputs, if this view ever got an ROI update."""
        self._sums.close()
        if not self._echo:
            return {}
        start = self._sums.window_start
        since = [(start or 0) if s is None else s for s in self._since]
        result = {
            CURRENT: _spectra(self._sums.window, self._keys, self._edges, start_time=start),
            CUMULATIVE: _spectra(self._sums.total, self._keys, self._edges, since=since),
        }
        for shape, echo in self._echo.items():
            result[CONTEXT_KEYS[shape]] = echo.copy()
        return result

    def clear(self) -> None:
        """Forget the spectra (a job reset); the ROIs stay."""
        self._sums.clear()
        self._since = [None] * len(self._keys)
