"""Neutron wavelength from time of arrival and flight path, and the params that select it.

A neutron of wavelength λ has speed ``v = h / (m_n λ)`` (de Broglie), so over a flight
path ``L`` (source to detector pixel or monitor, in m) it takes ``t = L / v``, and

    λ [Å] = (h / m_n) · t / L = 3.956034e-6 Å·m/ns · t [ns] / L [m]

which is one multiplication per event once ``3.956034e-6 / L`` is known for each pixel
(:func:`wavelength_per_ns`).

**The approximation.** ``t`` is taken as the event's time of arrival (ns after the
pulse's reference time, as ev44 sends it) minus a fixed ``time_offset_ns``:

- *single frame*: every neutron is assumed to belong to the pulse its time of arrival
  is measured from. Neutrons slower than ``L / T`` (``T`` = 71.4 ms, one ESS frame)
  arrive after the next pulse and are attributed to it, with a wavelength too short by
  ``h T / (m_n L)``. This band limit is ~10 Å at 28 m (LoKI-like) and ~3.7 Å at 77 m
  (DREAM-like); a wavelength band inside it avoids frame overlap.
- *no choppers, point-like pulse*: the ESS pulse lasts 2.86 ms and the emission time
  of a neutron depends on its wavelength; one fixed offset cannot describe that, so λ
  carries an uncertainty of up to ``h · 2.86 ms / (m_n L)`` (0.4 Å at 28 m, 0.15 Å at
  77 m), halved by the default offset, the middle of the pulse. Pulse-shaping or
  wavelength-frame-multiplication choppers (DREAM, ODIN) are ignored altogether.

This is a live, indicative conversion for monitoring an experiment; a publishable
reduction uses a time-of-flight lookup table built from the chopper cascade and the
source's pulse shape (as ESS's ``essreduce`` ``unwrap`` workflow does).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import numpy.typing as npt
import pydantic

from livedata.workflows.coordinate_bins import MAX_COORDINATE_BINS, Binning, Scale
from livedata.workflows.time_of_arrival import FRAME_PERIOD_NS

WAVELENGTH_DIM = "wavelength"
"""The dim of wavelength spectra (bin edges in Å)."""

PLANCK_CONSTANT_J_S = 6.62607015e-34
"""Exact by definition of the SI (2019)."""

NEUTRON_MASS_KG = 1.67492749804e-27
"""CODATA 2018."""

ANGSTROM_METRE_PER_NS = PLANCK_CONSTANT_J_S / NEUTRON_MASS_KG * 1e10 * 1e-9
"""``h / m_n`` in Å·m/ns (3.956034e-6): λ [Å] = this · t [ns] / L [m]."""

MAX_WAVELENGTH_ANGSTROM = 100.0
"""Far beyond any neutron instrument's band (cold sources reach ~20-30 Å)."""

MAX_TIME_OFFSET_NS = FRAME_PERIOD_NS
"""An offset of more than a frame would move every event into another pulse."""

ESS_PULSE_NS = 2_860_000
"""Length of the ESS proton pulse, and so of the moderator's emission."""

DEFAULT_TIME_OFFSET_NS = ESS_PULSE_NS // 2
"""The middle of the pulse: without choppers the best single emission time to assume
(it halves the largest error); a pulse-shaping chopper centred on the pulse agrees."""


def wavelength_per_ns(flight_path_m: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The factor ``f`` with ``λ [Å] = f · t [ns]`` over a flight path (m), elementwise."""
    path = np.asarray(flight_path_m, dtype=np.float64)
    if not np.all(np.isfinite(path)) or np.any(path <= 0):
        raise ValueError("flight paths must be finite and positive")
    return ANGSTROM_METRE_PER_NS / path


def frame_limit_angstrom(flight_path_m: float) -> float:
    """The longest wavelength arriving within one frame over ``flight_path_m``."""
    return float(ANGSTROM_METRE_PER_NS * FRAME_PERIOD_NS / flight_path_m)


TimeOffsetNs = Annotated[
    int,
    pydantic.Field(
        ge=-MAX_TIME_OFFSET_NS,
        le=MAX_TIME_OFFSET_NS,
        description=(
            "Subtracted from each time of arrival to give the time of flight (ns): the "
            "delay from the pulse's reference time to the effective emission time."
        ),
    ),
]
"""The ``time_offset_ns`` params field, the same in every model that converts time."""


class WavelengthBand(pydantic.BaseModel):
    """A half-open wavelength band ``[start, stop)`` in Å."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    start: float = pydantic.Field(
        gt=0, le=MAX_WAVELENGTH_ANGSTROM, description="Shortest wavelength (Å), inclusive."
    )
    stop: float = pydantic.Field(
        gt=0, le=MAX_WAVELENGTH_ANGSTROM, description="Longest wavelength (Å), exclusive."
    )

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> WavelengthBand:
        if not self.start < self.stop:
            raise ValueError(f"start ({self.start}) must be below stop ({self.stop})")
        return self

    def as_tuple(self) -> tuple[float, float]:
        return self.start, self.stop


class WavelengthBinning(Binning):
    start: float = pydantic.Field(
        default=0.5,
        gt=0,
        le=MAX_WAVELENGTH_ANGSTROM,
        description="Shortest wavelength (Å), inclusive.",
    )
    stop: float = pydantic.Field(
        default=15.0,
        gt=0,
        le=MAX_WAVELENGTH_ANGSTROM,
        description="Longest wavelength (Å), exclusive.",
    )
    bins: int = pydantic.Field(
        default=100, ge=1, le=MAX_COORDINATE_BINS, description="Number of wavelength bins."
    )
    scale: Scale = pydantic.Field(default="linear", description="Equal bins in λ or in log λ.")
