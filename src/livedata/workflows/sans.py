"""SANS I(Q) of one detector bank, normalised by a beam monitor.

Physics (units: Å, ns, m; ``livedata.workflows.wavelength`` for the approximation):

- wavelength of an event on pixel ``p``: ``λ = (h / m_n) · t / (L1 + L2_p)``;
- momentum transfer: ``Q = 4π sin θ_p / λ`` (1/Å), ``2θ_p`` the pixel's angle to the
  incident beam. Both fold into one factor per pixel, ``Q = c_p / t`` with
  ``c_p = 4π sin θ_p (L1 + L2_p) m_n / h``: one division per event;
- ``I(Q) = C(Q) / (M · T)``: detector counts per Q bin of events whose wavelength is in
  the band, over the monitor's counts in the same band (its wavelength from its own
  flight path) and an optional transmission ``T``
  (``livedata.workflows.monitor_normalisation`` for variances and what is left out:
  solid angle, detector efficiency, wavelength-resolved normalisation).

Gravity, the sample's thickness and the beam's divergence are ignored, as the pixel's
centre is taken for where the neutron hit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
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

Q_DIM = "Q"
Q_UNIT = "1/angstrom"
MAX_Q = 100.0
"""1/Å; beyond any SANS (and most diffraction) instrument."""

MONITOR_ROLE = "monitor"
"""The auxiliary-source role of the normalising monitor."""

NAME = "sans_iq"
DATA_REDUCTION = "data_reduction"


class QBinning(Binning):
    start: float = pydantic.Field(
        default=0.005, gt=0, le=MAX_Q, description="Lowest Q (1/Å), inclusive."
    )
    stop: float = pydantic.Field(
        default=0.5, gt=0, le=MAX_Q, description="Highest Q (1/Å), exclusive."
    )
    bins: int = pydantic.Field(
        default=100, ge=1, le=MAX_COORDINATE_BINS, description="Number of Q bins."
    )
    scale: Scale = pydantic.Field(default="log", description="Equal bins in Q or in log Q.")


class SansIqParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    q: QBinning = pydantic.Field(default_factory=QBinning, description="Q binning.")
    wavelength_band: WavelengthBand = pydantic.Field(
        default_factory=lambda: WavelengthBand(start=1.0, stop=10.0),
        description=(
            "Only detector events in this band count, and the monitor is counted over "
            "the same band (Å)."
        ),
    )
    time_offset_ns: TimeOffsetNs = DEFAULT_TIME_OFFSET_NS
    transmission: float = pydantic.Field(
        default=1.0,
        gt=0,
        le=1,
        description="Sample transmission I(Q) is divided by (1: not corrected).",
    )


def _edges(values: Any) -> sc.Variable:
    return sc.array(dims=[Q_DIM], values=values, unit=Q_UNIT)


def sans_iq_outputs() -> dict[str, OutputSpec]:
    """Output templates: zero-bin I(Q) curves (one edge) and 0-d totals."""
    curve = sc.DataArray(
        sc.array(dims=[Q_DIM], values=np.zeros(0), variances=np.zeros(0), unit=""),
        coords={Q_DIM: _edges(np.zeros(1))},
    )
    total = outputs.scalar_counts(0)
    return {
        "iq_current": OutputSpec(
            title="I(Q) in window",
            template=curve,
            description="Detector counts per Q bin over monitor counts, in the last window.",
        ),
        "iq_cumulative": OutputSpec(
            title="I(Q) since start",
            template=curve,
            description="Detector counts per Q bin over monitor counts, since start or reset.",
        ),
        "counts_total": OutputSpec(
            title="Detector counts in window",
            template=total,
            description="Detector events in the wavelength band and Q range, last window.",
        ),
        "counts_total_cumulative": OutputSpec(
            title="Detector counts since start",
            template=total,
            description="Detector events in the wavelength band and Q range, since start.",
        ),
        "monitor_counts_total": OutputSpec(
            title="Monitor counts in window",
            template=total,
            description="Monitor events in the wavelength band, last window.",
        ),
        "monitor_counts_total_cumulative": OutputSpec(
            title="Monitor counts since start",
            template=total,
            description="Monitor events in the wavelength band, since start.",
        ),
    }


def q_factors(beamline: Beamline) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Per pixel: ``c`` with ``Q [1/Å] = c / t [ns]``, and ``f`` with ``λ [Å] = f · t``."""
    paths = pixel_paths(beamline)
    per_ns = wavelength_per_ns(paths.total_m)
    return 4 * math.pi * np.sin(paths.two_theta_rad / 2) / per_ns, per_ns


class SansIqWorkflow:
    """Monitor-normalised I(Q) of one bank, per window and since start.

    Parameters
    ----------
    source_name:
        The bank's stream.
    monitor_name:
        The normalising monitor's stream (and its name in ``beamline.monitor_positions``).
    beamline:
        Positions of the bank's pixels (row ``i``: pixel id ``first_pixel_id + i``),
        the source, sample and monitors.
    """

    def __init__(
        self,
        *,
        source_name: str,
        monitor_name: str,
        beamline: Beamline,
        first_pixel_id: int,
        params: SansIqParams,
    ) -> None:
        self._source = source_name
        self._params = params
        q_factor, wavelength_factor = q_factors(beamline)
        band = params.wavelength_band.as_tuple()
        bins = params.q.to_bins()
        self._kernel = CoordinateHistogram(
            bins,
            factor=q_factor,
            exponent=-1,
            pixels=PixelRange(first_pixel_id, len(q_factor)),
            time_offset_ns=params.time_offset_ns,
            gate=Gate(band[0], band[1], wavelength_factor),
        )
        self._monitor = MonitorBandCounts(
            stream=monitor_name,
            flight_path_m=monitor_path(beamline, monitor_name),
            band=band,
            time_offset_ns=params.time_offset_ns,
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
        """Why I(Q) is NaN, if it is (shown as the job's warning)."""
        if self._monitor.total > 0 or self._counts.window_start is None:
            return []
        monitor = self._monitor
        if not monitor.received:
            return [f"monitor {monitor.stream} has sent no events: I(Q) is NaN"]
        low, high = monitor.band
        return [f"monitor {monitor.stream} has no events in [{low:g}, {high:g}) Å: I(Q) is NaN"]

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        events = data[self._source]
        if not isinstance(events, EventBatch):
            raise TypeError(f"{self._source}: expected EventBatch, got {type(events).__name__}")
        if events.pixel_id is None:
            raise ValueError(f"{self._source}: events carry no pixel ids")
        self._kernel.add(self._counts.open(start_time), events.time_of_arrival, events.pixel_id)
        self._monitor.add(data, start_time)

    def finalize(self) -> Mapping[str, sc.DataArray]:
        self._counts.close()
        self._monitor.close()
        start = self._counts.window_start
        window, total = self._counts.window, self._counts.total
        transmission = self._params.transmission
        return {
            "iq_current": normalised_array(
                window,
                self._monitor.window,
                dim=Q_DIM,
                edges=self._edges,
                scale=transmission,
                start_time=start,
            ),
            "iq_cumulative": normalised_array(
                total, self._monitor.total, dim=Q_DIM, edges=self._edges, scale=transmission
            ),
            "counts_total": outputs.scalar_counts(int(window.sum()), start_time=start),
            "counts_total_cumulative": outputs.scalar_counts(int(total.sum())),
            "monitor_counts_total": outputs.scalar_counts(self._monitor.window, start_time=start),
            "monitor_counts_total_cumulative": outputs.scalar_counts(self._monitor.total),
        }

    def clear(self) -> None:
        self._counts.clear()
        self._monitor.clear()
        self._left_out.clear()


def sans_iq_spec(
    *,
    instrument: str,
    banks: Sequence[str],
    monitors: Sequence[str],
    version: int = 1,
) -> WorkflowSpec:
    """The spec of ``{instrument}/sans_iq/{version}``: one job per bank in ``banks``,
    normalised by one of ``monitors`` (the first by default, required)."""
    return WorkflowSpec(
        workflow_id=WorkflowId(instrument=instrument, name=NAME, version=version),
        service=DATA_REDUCTION,
        title="I(Q)",
        description=(
            "Monitor-normalised I(Q) of a detector bank: wavelength from time of arrival "
            "and flight path (single frame, no chopper correction), no solid-angle or "
            "efficiency correction."
        ),
        source_names=tuple(banks),
        params=SansIqParams,
        outputs=sans_iq_outputs(),
        aux_sources={
            MONITOR_ROLE: AuxSource(
                choices=tuple(monitors),
                required=True,
                description="Beam monitor I(Q) is normalised by.",
                window=True,  # every monitor event of the window, not the newest message
            )
        },
    )


def sans_iq_factory(
    *, beamline: Callable[[str], Beamline], first_pixel_id: Mapping[str, int]
) -> WorkflowFactory:
    """A factory for :func:`sans_iq_spec`: ``beamline(bank)`` gives the bank's geometry
    (called when a job starts, so geometry is built only for banks in use)."""

    def factory(*, source_name: str, params: Any, aux_source_names: Mapping[str, str]) -> Workflow:
        if not isinstance(params, SansIqParams):
            raise TypeError(f"expected SansIqParams, got {type(params).__name__}")
        return SansIqWorkflow(
            source_name=source_name,
            monitor_name=aux_source_names[MONITOR_ROLE],
            beamline=beamline(source_name),
            first_pixel_id=first_pixel_id[source_name],
            params=params,
        )

    return factory
