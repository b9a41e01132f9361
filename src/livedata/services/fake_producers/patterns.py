"""Detector events from an instrument's geometry and its fake sample: rings, a spot, arcs.

An instrument with a synthetic geometry and a ``fake_sample``
(``livedata.config.fake_models``) gets events that look like its science, computed
from where its pixels are:

- **powder** (:class:`~livedata.config.fake_models.PowderSample`): Debye-Scherrer
  rings. Ring ``k`` lies at ``2 theta_k = 2 asin(l0 / 2 d_k)``; its events' pixels
  follow a Gaussian in ``2 theta`` around it, and each event's wavelength is
  ``2 d_k sin(theta)`` at its own pixel (with a little resolution blur), so its time of
  arrival converts back to ``d_k`` through the pixel's flight path ``L1 + L2``.
- **small angle** (:class:`~livedata.config.fake_models.SmallAngleSample`): a spot on
  the beam that fades with ``Q``: pixels and wavelengths are drawn from
  ``I(Q(2 theta, l)) * spectrum(l) / L2^2``.
- **indirect spectrometer** (:class:`~livedata.config.fake_models.SpectrometerSample`):
  each arc's pixels see its final wavelength; times of arrival are
  ``(L1 l_i + L2 l_f) * 252.778 us/(A m)`` with an elastic line and quasi-elastic
  wings; bright spots along the arcs.

Besides the sample's scattering every model has a flat, incoherent *background*: per
pixel proportional to its solid angle (``1 / L2^2``), wavelengths from the beam's band.

Each bank's model is a list of *components*, each a weight per pixel (intensities on
one scale across the whole instrument, so they also split the event rate between
banks) and a way to give a chosen pixel's event its time of arrival. A pool of events
is drawn from them once (``event_pools``); this is start-up cost only.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from livedata.config.fake_models import (
    FakeBeam,
    PowderSample,
    SmallAngleSample,
    SpectrometerSample,
)
from livedata.config.instrument import DetectorBank, Instrument
from livedata.core.values import Int32Array
from livedata.services.fake_producers.pacing import FRAME_LENGTH_NS
from livedata.workflows.geometry import BeamlineGeometry

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]

NS_PER_ANGSTROM_METRE = 252_778.0
"""Flight time of a neutron per metre and Angstrom of wavelength (m_n / h), in ns."""

MEV_ANGSTROM_SQUARED = 81.81
"""``E [meV] = 81.81 / l^2 [A^2]`` for a neutron."""

PEAK_WAVELENGTH = 2.5
"""Angstrom; the cold moderator's Maxwellian peaks here (as in ``event_pools``)."""

SPECTRUM_GRID = 1024
"""Points of the tabulated spectrum a band's wavelengths are drawn from."""

SANS_GRID = (2048, 48)
"""(sin theta, wavelength) points of the table a small-angle bank's pixel weights are
interpolated from: ``I`` is smooth, and the table is 100 k evaluations, not one per
pixel and wavelength."""

MAX_REJECTION_ROUNDS = 64
"""Rounds of rejection sampling of small-angle wavelengths; after them the remaining
few events (on pixels far out in Q) keep their last proposal."""

RING_CUTOFF_SIGMAS = 5.0
"""Pixels farther than this from a ring (in its widths) get none of its events."""

QUASIELASTIC_CUTOFF = 10.0
"""Quasi-elastic energy transfers are drawn within this many half-widths."""

MIN_INCIDENT_MEV = 0.5
"""Incident energies below this are redrawn as elastic: no neutron that slow arrives."""

TimesOfFlight = Callable[[np.random.Generator, IndexArray], FloatArray]
"""``times(rng, pixels)``: flight time in ns from moderator to each chosen pixel."""


@dataclass(frozen=True, slots=True)
class Component:
    """Events of one kind: where they land (a weight per pixel) and when."""

    name: str
    weights: FloatArray
    times: TimesOfFlight

    @property
    def total(self) -> float:
        return float(self.weights.sum())


@dataclass(frozen=True, slots=True)
class BankModel:
    bank: DetectorBank
    components: tuple[Component, ...]

    @property
    def total(self) -> float:
        return sum(c.total for c in self.components)


@functools.lru_cache(maxsize=16)
def _inverse_spectrum(band: tuple[float, float]) -> FloatArray:
    """The band's wavelength at ``SPECTRUM_GRID`` equally spaced cumulative probabilities."""
    grid = np.linspace(band[0], band[1], SPECTRUM_GRID)
    density = _maxwellian(grid)
    # Trapezoids: the CDF at each grid point, from 0 to 1.
    cdf = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2)])
    cdf /= cdf[-1]
    inverse: FloatArray = np.interp(np.linspace(0.0, 1.0, SPECTRUM_GRID), cdf, grid)
    inverse.flags.writeable = False
    return inverse


def band_wavelengths(rng: np.random.Generator, n: int, band: tuple[float, float]) -> FloatArray:
    """Wavelengths (A) from the Maxwellian ``l^-5 exp(-a / l^2)`` cut to ``band``.

    Inverse-transform sampling on a table of the inverse CDF: an index and a linear
    interpolation per draw, no search."""
    inverse = _inverse_spectrum(band)
    position = rng.random(n) * (SPECTRUM_GRID - 1)
    index = position.astype(np.intp)
    np.minimum(index, SPECTRUM_GRID - 2, out=index)
    fraction = position - index
    result: FloatArray = inverse[index] + fraction * (inverse[index + 1] - inverse[index])
    return result


def _maxwellian(wavelength: FloatArray) -> FloatArray:
    a = 2.5 * PEAK_WAVELENGTH**2  # the density peaks where l^2 = 2a/5
    density: FloatArray = wavelength**-5.0 * np.exp(-a / wavelength**2)
    return density


def emission_times(rng: np.random.Generator, beam: FakeBeam, n: int) -> FloatArray:
    start, stop = beam.emission_window_ns
    result: FloatArray = rng.uniform(start, stop, size=n)
    return result


def sample_events(
    rng: np.random.Generator, model: BankModel, beam: FakeBeam, n: int
) -> tuple[Int32Array, Int32Array]:
    """``n`` events ``(time_of_arrival, pixel_id)`` of a bank, in random order."""
    components = [c for c in model.components if c.total > 0]
    if not components:
        raise ValueError(f"detector {model.bank.name}: the model gives it no events")
    shares = np.array([c.total for c in components])
    counts = rng.multinomial(n, shares / shares.sum())
    pixels, times = [], []
    for component, count in zip(components, counts, strict=True):
        cdf = np.cumsum(component.weights)
        # Sorted draws search the CDF in order: cache-friendly, several times faster;
        # the events are shuffled at the end anyway.
        draws = np.sort(rng.random(count)) * cdf[-1]
        chosen = np.searchsorted(cdf, draws, side="right")
        np.minimum(chosen, len(cdf) - 1, out=chosen)  # guards rounding at the very end
        pixels.append(chosen)
        times.append(component.times(rng, chosen))
    pixel = np.concatenate(pixels)
    arrival = np.concatenate(times) + emission_times(rng, beam, n)
    toa = (arrival.astype(np.int64) % FRAME_LENGTH_NS).astype(np.int32)
    pixel_id = (pixel + model.bank.first_pixel_id).astype(np.int32)
    order = rng.permutation(n)
    return toa[order], pixel_id[order]


def _solid_angle(geometry: BeamlineGeometry) -> FloatArray:
    """Relative solid angle of each pixel: ``1 / L2^2`` (equal pixel areas assumed)."""
    result: FloatArray = 1.0 / geometry.l2**2
    return result


def _direct_times(
    geometry: BeamlineGeometry, wavelength: Callable[..., FloatArray]
) -> TimesOfFlight:
    """Elastic scattering: flight time ``(L1 + L2) * l``, ``l = wavelength(rng, pixels)``."""

    def times(rng: np.random.Generator, pixels: IndexArray) -> FloatArray:
        result: FloatArray = (
            geometry.flight_path[pixels] * wavelength(rng, pixels) * NS_PER_ANGSTROM_METRE
        )
        return result

    return times


def _background(geometry: BeamlineGeometry, beam: FakeBeam, level: float) -> Component:
    def wavelength(rng: np.random.Generator, pixels: IndexArray) -> FloatArray:
        return band_wavelengths(rng, len(pixels), beam.wavelength_band)

    return Component(
        "background", level * _solid_angle(geometry), _direct_times(geometry, wavelength)
    )


def _powder(geometry: BeamlineGeometry, sample: PowderSample) -> list[Component]:
    two_theta = np.degrees(geometry.two_theta)
    sin_theta = np.sin(geometry.two_theta / 2)
    omega = _solid_angle(geometry)
    components = []
    for d, intensity in zip(sample.d_spacings, sample.intensities, strict=True):
        if sample.wavelength >= 2 * d:
            continue  # no ring: the band's wavelength is too long for this reflection
        ring = math.degrees(2 * math.asin(sample.wavelength / (2 * d)))
        offset = (two_theta - ring) / sample.ring_width_deg
        near = np.abs(offset) < RING_CUTOFF_SIGMAS
        weights = np.zeros(geometry.n_pixels)
        weights[near] = intensity * omega[near] * np.exp(-0.5 * offset[near] ** 2)

        def wavelength(rng: np.random.Generator, pixels: IndexArray, d: float = d) -> FloatArray:
            blur = rng.normal(1.0, sample.d_resolution, size=len(pixels))
            result: FloatArray = 2.0 * d * sin_theta[pixels] * blur
            return result

        components.append(Component(f"ring d={d}", weights, _direct_times(geometry, wavelength)))
    return components


def _debye_bueche(q: FloatArray, xi: float) -> FloatArray:
    result: FloatArray = 1.0 / (1.0 + (q * xi) ** 2) ** 2
    return result


def _small_angle(geometry: BeamlineGeometry, sample: SmallAngleSample, beam: FakeBeam) -> Component:
    """Pixel weights ``/L2^2 * sum_l spectrum(l) I(Q)``; wavelengths drawn per event from
    the spectrum, kept with probability ``I(Q) / I(Q at the longest wavelength)``."""
    xi = sample.correlation_length
    lo, hi = beam.wavelength_band
    s = np.sin(geometry.two_theta / 2)
    n_s, n_l = SANS_GRID
    s_grid = np.linspace(float(s.min()), float(s.max()) + 1e-12, n_s)
    l_grid = np.linspace(lo, hi, n_l)
    spectrum = _maxwellian(l_grid)
    table = _debye_bueche(4 * np.pi * s_grid[:, np.newaxis] / l_grid, xi) @ spectrum
    weights = _solid_angle(geometry) * np.interp(s, s_grid, table)

    def wavelength(rng: np.random.Generator, pixels: IndexArray) -> FloatArray:
        q_factor = 4 * np.pi * s[pixels]
        ceiling = _debye_bueche(q_factor / hi, xi)  # I is largest at the longest l
        result = band_wavelengths(rng, len(pixels), beam.wavelength_band)
        todo = np.arange(len(pixels))
        for _ in range(MAX_REJECTION_ROUNDS):
            if not todo.size:
                break
            keep = rng.random(todo.size) * ceiling[todo] <= _debye_bueche(
                q_factor[todo] / result[todo], xi
            )
            todo = todo[~keep]
            result[todo] = band_wavelengths(rng, todo.size, beam.wavelength_band)
        return result

    return Component("small angle", weights, _direct_times(geometry, wavelength))


def _dim_index(bank: DetectorBank, dim: str) -> IndexArray:
    """Each pixel's index along ``dim`` of the bank."""
    axis = bank.dims.index(dim)
    stride = math.prod(bank.shape[axis + 1 :])
    result: IndexArray = np.arange(bank.n_pixels, dtype=np.intp) // stride % bank.shape[axis]
    return result


def _indirect_times(
    geometry: BeamlineGeometry, final: FloatArray, incident: Callable[..., FloatArray]
) -> TimesOfFlight:
    def times(rng: np.random.Generator, pixels: IndexArray) -> FloatArray:
        l_f = final[pixels]
        path = geometry.l1 * incident(rng, l_f) + geometry.l2[pixels] * l_f
        result: FloatArray = path * NS_PER_ANGSTROM_METRE
        return result

    return times


def _spectrometer(
    geometry: BeamlineGeometry, bank: DetectorBank, sample: SpectrometerSample
) -> list[Component]:
    arcs = bank.shape[bank.dims.index(sample.arc_dim)]
    if len(sample.final_wavelengths) != arcs:
        raise ValueError(f"{len(sample.final_wavelengths)} final wavelengths for {arcs} arcs")
    final = np.asarray(sample.final_wavelengths)[_dim_index(bank, sample.arc_dim)]
    two_theta = np.degrees(geometry.two_theta)
    profile = np.ones(geometry.n_pixels)
    for angle, height in zip(sample.bragg_two_theta_deg, sample.peak_heights, strict=True):
        profile += height * np.exp(-0.5 * ((two_theta - angle) / sample.peak_width_deg) ** 2)
    weights = _solid_angle(geometry) * profile
    width = sample.quasielastic_width_mev

    def elastic(rng: np.random.Generator, l_f: FloatArray) -> FloatArray:
        return l_f

    def quasielastic(rng: np.random.Generator, l_f: FloatArray) -> FloatArray:
        transfer = np.clip(
            rng.standard_cauchy(len(l_f)) * width,
            -QUASIELASTIC_CUTOFF * width,
            QUASIELASTIC_CUTOFF * width,
        )
        energy = MEV_ANGSTROM_SQUARED / l_f**2 + transfer
        energy = np.where(energy > MIN_INCIDENT_MEV, energy, MEV_ANGSTROM_SQUARED / l_f**2)
        result: FloatArray = np.sqrt(MEV_ANGSTROM_SQUARED / energy)
        return result

    return [
        Component("elastic", sample.elastic * weights, _indirect_times(geometry, final, elastic)),
        Component(
            "quasielastic",
            (1 - sample.elastic) * weights,
            _indirect_times(geometry, final, quasielastic),
        ),
    ]


def has_model(instrument: Instrument) -> bool:
    """Whether the instrument's detectors get events from its geometry and fake sample."""
    return (
        instrument.fake_sample is not None
        and instrument.fake_beam is not None
        and bool(instrument.detectors)
        and all(instrument.has_geometry(bank.name) for bank in instrument.detectors)
    )


def instrument_models(instrument: Instrument) -> list[BankModel]:
    """Every detector bank's components, with weights on one scale across the instrument.

    The background's level is set so that it is the sample's ``background`` fraction of
    all detector events (for a spectrometer: 5 %).
    """
    sample, beam = instrument.fake_sample, instrument.fake_beam
    if sample is None or beam is None:
        raise ValueError(f"instrument {instrument.name} declares no fake sample and beam")
    signal: list[list[Component]] = []
    for bank in instrument.detectors:
        geometry = instrument.geometry(bank.name)
        if isinstance(sample, PowderSample):
            signal.append(_powder(geometry, sample))
        elif isinstance(sample, SmallAngleSample):
            signal.append([_small_angle(geometry, sample, beam)])
        else:
            signal.append(_spectrometer(geometry, bank, sample))
    fraction = sample.background if not isinstance(sample, SpectrometerSample) else 0.05
    signal_total = sum(c.total for cs in signal for c in cs)
    solid_total = sum(
        float(_solid_angle(instrument.geometry(b.name)).sum()) for b in instrument.detectors
    )
    level = fraction / (1 - fraction) * signal_total / solid_total if solid_total else 0.0
    models = []
    for bank, components in zip(instrument.detectors, signal, strict=True):
        geometry = instrument.geometry(bank.name)
        if isinstance(sample, SpectrometerSample):
            background = _spectrometer_background(geometry, bank, sample, beam, level)
        else:
            background = _background(geometry, beam, level)
        models.append(BankModel(bank, (*components, background)))
    return models


def _spectrometer_background(
    geometry: BeamlineGeometry,
    bank: DetectorBank,
    sample: SpectrometerSample,
    beam: FakeBeam,
    level: float,
) -> Component:
    """Incoherent inelastic scattering: any incident wavelength of the band."""
    final = np.asarray(sample.final_wavelengths)[_dim_index(bank, sample.arc_dim)]

    def incident(rng: np.random.Generator, l_f: FloatArray) -> FloatArray:
        return band_wavelengths(rng, len(l_f), beam.wavelength_band)

    return Component(
        "background", level * _solid_angle(geometry), _indirect_times(geometry, final, incident)
    )
