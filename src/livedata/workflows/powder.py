"""Powder diffraction I(d) of one detector bank, focused over all its pixels.

Physics (units: Å, ns, m; ``livedata.workflows.wavelength`` for the approximation):

- wavelength of an event on pixel ``p``: ``λ = (h / m_n) · t / (L1 + L2_p)``;
- Bragg's law gives the d-spacing it reflects from: ``d = λ / (2 sin θ_p)``, ``2θ_p``
  the pixel's angle to the incident beam. Both fold into one factor per pixel,
  ``d = b_p · t`` with ``b_p = h / (m_n (L1 + L2_p) 2 sin θ_p)``: one multiplication
  per event. Pixels outside the selected 2θ range, or on the beam axis, get ``b_p = 0``
  and so count nowhere;
- focusing: every pixel's events go into one d histogram (no per-pixel calibration,
  so a peak is as sharp as the single-frame approximation and the pixel's geometry
  allow; DREAM's pulse-shaping choppers, which a real reduction relies on, are ignored);
- optionally normalised by a monitor: ``I(d) = C(d) / M`` over a wavelength band, as in
  ``livedata.workflows.monitor_normalisation``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pydantic
import scipp as sc

from livedata.core.identity import WorkflowId
from livedata.core.values import EventBatch
from livedata.core.workflow import AuxSource, OutputSpec, Workflow, WorkflowFactory, WorkflowSpec
from livedata.workflows import outputs
from livedata.workflows.beamline import Beamline, monitor_path, pixel_paths
from livedata.workflows.coordinate_bins import MAX_COORDINATE_BINS, Binning, Scale
from livedata.workflows.coordinate_histogram import CoordinateHistogram, CoordinateRejects, Gate
from livedata.workflows.histogram import PixelRange
from livedata.workflows.left_out import LeftOutCounts, spectrum_totals
from livedata.workflows.monitor_normalisation import MonitorBandCounts, normalised_array
from livedata.workflows.wavelength import (
    DEFAULT_TIME_OFFSET_NS,
    TimeOffsetNs,
    WavelengthBand,
    wavelength_per_ns,
)
from livedata.workflows.windowed import WindowedSum

D_DIM = "dspacing"
D_UNIT = "angstrom"
MAX_D = 1000.0
"""Å; far beyond any diffraction instrument's reach."""

MONITOR_ROLE = "monitor"
NAME = "powder_id"
DATA_REDUCTION = "data_reduction"


class DSpacingBinning(Binning):
    start: float = pydantic.Field(
        default=0.5, gt=0, le=MAX_D, description="Lowest d-spacing (Å), inclusive."
    )
    stop: float = pydantic.Field(
        default=5.0, gt=0, le=MAX_D, description="Highest d-spacing (Å), exclusive."
    )
    bins: int = pydantic.Field(
        default=1000, ge=1, le=MAX_COORDINATE_BINS, description="Number of d-spacing bins."
    )
    scale: Scale = pydantic.Field(default="linear", description="Equal bins in d or in log d.")


class TwoThetaRange(pydantic.BaseModel):
    """A half-open scattering-angle range ``[start, stop)`` in degrees."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    start: float = pydantic.Field(ge=0, le=180, description="Lowest 2θ (deg), inclusive.")
    stop: float = pydantic.Field(ge=0, le=180, description="Highest 2θ (deg), exclusive.")

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> TwoThetaRange:
        if not self.start < self.stop:
            raise ValueError(f"start ({self.start}) must be below stop ({self.stop})")
        return self


class PowderIdParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    dspacing: DSpacingBinning = pydantic.Field(
        default_factory=DSpacingBinning, description="d-spacing binning."
    )
    two_theta_range: TwoThetaRange | None = pydantic.Field(
        default=None, description="Only pixels in this 2θ range count (all if unset)."
    )
    wavelength_band: WavelengthBand | None = pydantic.Field(
        default=None,
        description=(
            "Only events in this band count, and the monitor is counted over the same "
            "band (Å; all wavelengths if unset)."
        ),
    )
    normalise_by_monitor: bool = pydantic.Field(
        default=False,
        description="Also publish I(d) divided by the monitor's counts in the band.",
    )
    time_offset_ns: TimeOffsetNs = DEFAULT_TIME_OFFSET_NS


def _edges(values: Any) -> sc.Variable:
    return sc.array(dims=[D_DIM], values=values, unit=D_UNIT)


def powder_id_outputs(*, monitor: bool = True) -> dict[str, OutputSpec]:
    """Output templates: zero-bin curves (one edge) and 0-d totals; the monitor's and
    the normalised ones only where a monitor can be chosen."""
    counts_curve = outputs.counts(np.zeros(0), dims=[D_DIM], coords={D_DIM: _edges(np.zeros(1))})
    total = outputs.scalar_counts(0)
    specs = {
        "id_current": OutputSpec(
            title="I(d) in window",
            template=counts_curve,
            description="Counts per d-spacing bin, all selected pixels, last window.",
        ),
        "id_cumulative": OutputSpec(
            title="I(d) since start",
            template=counts_curve,
            description="Counts per d-spacing bin, all selected pixels, since start or reset.",
        ),
        "counts_total": OutputSpec(
            title="Counts in window",
            template=total,
            description="Events in the d-spacing range (and band), last window.",
        ),
        "counts_total_cumulative": OutputSpec(
            title="Counts since start",
            template=total,
            description="Events in the d-spacing range (and band), since start or reset.",
        ),
    }
    if not monitor:
        return specs
    normalised = sc.DataArray(
        sc.array(dims=[D_DIM], values=np.zeros(0), variances=np.zeros(0), unit=""),
        coords={D_DIM: _edges(np.zeros(1))},
    )
    return {
        **specs,
        "id_normalised_current": OutputSpec(
            title="I(d) / monitor in window",
            template=normalised,
            description="Counts per d-spacing bin over monitor counts, last window "
            "(published when normalise_by_monitor is set).",
        ),
        "id_normalised_cumulative": OutputSpec(
            title="I(d) / monitor since start",
            template=normalised,
            description="Counts per d-spacing bin over monitor counts, since start "
            "(published when normalise_by_monitor is set).",
        ),
        "monitor_counts_total": OutputSpec(
            title="Monitor counts in window",
            template=total,
            description="Monitor events in the band, last window.",
        ),
        "monitor_counts_total_cumulative": OutputSpec(
            title="Monitor counts since start",
            template=total,
            description="Monitor events in the band, since start or reset.",
        ),
    }


def d_factors(
    beamline: Beamline, two_theta_range_deg: tuple[float, float] | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per pixel: ``b`` with ``d [Å] = b · t [ns]`` (0 for excluded pixels), and ``f``
    with ``λ [Å] = f · t``."""
    paths = pixel_paths(beamline)
    per_ns = wavelength_per_ns(paths.total_m)
    two_theta = paths.two_theta_rad
    selected = two_theta > 0
    if two_theta_range_deg is not None:
        low, high = (math.radians(a) for a in two_theta_range_deg)
        selected &= (two_theta >= low) & (two_theta < high)
    sin_theta = np.sin(two_theta / 2)
    factor = np.zeros_like(per_ns)
    np.divide(per_ns, 2 * sin_theta, out=factor, where=selected)
    return factor, per_ns


class PowderIdWorkflow:
    """I(d) of one bank focused over its (selected) pixels, per window and since start.

    ``monitor_name`` (the monitor's stream and its name in ``beamline.monitor_positions``)
    may be None when the instrument offers none; normalising then is refused.
    """

    def __init__(
        self,
        *,
        source_name: str,
        beamline: Beamline,
        first_pixel_id: int,
        params: PowderIdParams,
        monitor_name: str | None = None,
    ) -> None:
        if params.normalise_by_monitor and monitor_name is None:
            raise ValueError("normalise_by_monitor needs a monitor, and none was given")
        self._source = source_name
        self._normalise = params.normalise_by_monitor
        tt = params.two_theta_range
        d_factor, wavelength_factor = d_factors(
            beamline, None if tt is None else (tt.start, tt.stop)
        )
        band = params.wavelength_band.as_tuple() if params.wavelength_band else None
        bins = params.dspacing.to_bins()
        self._kernel = CoordinateHistogram(
            bins,
            factor=d_factor,
            pixels=PixelRange(first_pixel_id, len(d_factor)),
            time_offset_ns=params.time_offset_ns,
            gate=None if band is None else Gate(band[0], band[1], wavelength_factor),
        )
        self._monitor = (
            None
            if monitor_name is None
            else MonitorBandCounts(
                stream=monitor_name,
                flight_path_m=monitor_path(beamline, monitor_name),
                band=band,
                time_offset_ns=params.time_offset_ns,
            )
        )
        self._counts = WindowedSum((bins.count,))
        self._edges = _edges(bins.edges())
        self._left_out = LeftOutCounts(lambda: spectrum_totals(self._kernel.rejected))

    @property
    def rejected(self) -> CoordinateRejects:
        """Detector events not counted since the workflow was built, by reason."""
        return self._kernel.rejected

    def events_left_out(self) -> dict[str, int]:
        """Events left out since the last clear, by reason (``core.ReportsEventsLeftOut``)."""
        return self._left_out.counts()

    @property
    def problems(self) -> list[str]:
        """Why the normalised I(d) is NaN, if it is (shown as the job's warning)."""
        monitor = self._monitor
        if not self._normalise or monitor is None or monitor.total > 0:
            return []
        if self._counts.window_start is None:
            return []
        return [f"monitor {monitor.stream} has no events in its band: I(d) / monitor is NaN"]

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        events = data[self._source]
        if not isinstance(events, EventBatch):
            raise TypeError(f"{self._source}: expected EventBatch, got {type(events).__name__}")
        if events.pixel_id is None:
            raise ValueError(f"{self._source}: events carry no pixel ids")
        self._kernel.add(self._counts.open(start_time), events.time_of_arrival, events.pixel_id)
        if self._monitor is not None:
            self._monitor.add(data, start_time)

    def finalize(self) -> Mapping[str, sc.DataArray]:
        self._counts.close()
        start = self._counts.window_start
        window, total = self._counts.window, self._counts.total
        coords = {D_DIM: self._edges}
        result = {
            "id_current": outputs.counts(window, dims=[D_DIM], coords=coords, start_time=start),
            "id_cumulative": outputs.counts(total, dims=[D_DIM], coords=coords),
            "counts_total": outputs.scalar_counts(int(window.sum()), start_time=start),
            "counts_total_cumulative": outputs.scalar_counts(int(total.sum())),
        }
        monitor = self._monitor
        if monitor is None:
            return result
        monitor.close()
        result["monitor_counts_total"] = outputs.scalar_counts(monitor.window, start_time=start)
        result["monitor_counts_total_cumulative"] = outputs.scalar_counts(monitor.total)
        if self._normalise:
            result["id_normalised_current"] = normalised_array(
                window, monitor.window, dim=D_DIM, edges=self._edges, start_time=start
            )
            result["id_normalised_cumulative"] = normalised_array(
                total, monitor.total, dim=D_DIM, edges=self._edges
            )
        return result

    def clear(self) -> None:
        self._counts.clear()
        self._left_out.clear()
        if self._monitor is not None:
            self._monitor.clear()


def powder_spec(
    *,
    instrument: str,
    banks: Sequence[str],
    monitors: Sequence[str] = (),
    version: int = 1,
) -> WorkflowSpec:
    """The spec of ``{instrument}/powder_id/{version}``: one job per bank in ``banks``;
    with ``monitors``, an optional monitor role (the first by default) to normalise by."""
    aux = (
        {
            MONITOR_ROLE: AuxSource(
                choices=tuple(monitors),
                required=False,
                description="Beam monitor I(d) is normalised by, if normalise_by_monitor.",
                window=True,  # every monitor event of the window, not the newest message
            )
        }
        if monitors
        else {}
    )
    return WorkflowSpec(
        workflow_id=WorkflowId(instrument=instrument, name=NAME, version=version),
        service=DATA_REDUCTION,
        title="Powder I(d)",
        description=(
            "Counts per d-spacing of a detector bank, focused over its pixels: wavelength "
            "from time of arrival and flight path (single frame, no chopper correction)."
        ),
        source_names=tuple(banks),
        params=PowderIdParams,
        outputs=powder_id_outputs(monitor=bool(monitors)),
        aux_sources=aux,
    )


def powder_factory(
    *, beamline: Callable[[str], Beamline], first_pixel_id: Mapping[str, int]
) -> WorkflowFactory:
    """A factory for :func:`powder_spec`: ``beamline(bank)`` gives the bank's geometry
    (called when a job starts, so geometry is built only for banks in use)."""

    def factory(*, source_name: str, params: Any, aux_source_names: Mapping[str, str]) -> Workflow:
        if not isinstance(params, PowderIdParams):
            raise TypeError(f"expected PowderIdParams, got {type(params).__name__}")
        return PowderIdWorkflow(
            source_name=source_name,
            beamline=beamline(source_name),
            first_pixel_id=first_pixel_id[source_name],
            params=params,
            monitor_name=aux_source_names.get(MONITOR_ROLE),
        )

    return factory
