"""Neutron events for fake detectors and monitors: pure numpy, no Kafka.

Drawing millions of random numbers per second would cost the producer more CPU than
the services it feeds, so each source draws a pool of events once at start-up and
every pulse takes a contiguous slice of it at a random offset: a view, no copy and no
per-event work. The pool is long enough that successive pulses differ.

The events look like an instrument's, not like noise:

- times of arrival follow a cold moderator: a Maxwellian wavelength spectrum, a
  2.86 ms emission window and a fixed flight path (a fast rise and a long tail);
  slow neutrons beyond the frame wrap into the next frame, as frame overlap does;
- a detector sees a bright direct-beam spot in its centre on a flat background,
  and Bragg scattering from a few d-spacings whose time of arrival depends on the
  pixel's scattering angle, so each pixel's spectrum has sharp peaks;
- the number of events per pulse is exact: any 14 consecutive pulses carry exactly
  the requested events per second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from livedata.config.fake_models import MODERATOR_PULSE_NS, FakeBeam
from livedata.config.instrument import DetectorBank
from livedata.core.values import EventBatch, Int32Array
from livedata.services.fake_producers.pacing import FRAME_LENGTH_NS, PULSE_RATE_HZ, Pulse
from livedata.services.fake_producers.patterns import (
    NS_PER_ANGSTROM_METRE,
    PEAK_WAVELENGTH,
    band_wavelengths,
    emission_times,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_WAVELENGTH = 40.0
"""Angstrom; cuts the spectrum's far tail so no time of arrival overflows."""

DETECTOR_FLIGHT_PATH_M = 25.0
"""Moderator to detector: puts the spectrum's peak at ~16 ms and 11 A at the frame's end."""

MONITOR_FLIGHT_PATH_M = 10.0
"""Moderator to the first beam monitor; each further monitor sits 4 m downstream."""

MONITOR_SPACING_M = 4.0

D_SPACINGS = (3.135, 1.920, 1.637, 1.358, 1.246)
"""Angstrom; silicon's strongest reflections, the Bragg peaks every pixel shows."""

BRAGG_RESOLUTION = 0.003
"""Relative width (sigma) of a Bragg peak in time of arrival."""

TWO_THETA_RANGE = (150.0, 170.0)
"""Degrees; scattering angle from a detector's centre to its far corner. A backscattering
bank: the narrow range of angles keeps the Bragg peaks sharp in the detector's summed
spectrum, while each pixel's peaks still shift with its angle."""

SPOT_FRACTION = 0.3
BRAGG_FRACTION = 0.3
"""Shares of a detector's events in the direct-beam spot and in Bragg peaks; the rest
is a flat background with the moderator's spectrum."""

SPOT_SIGMA = 0.08
"""Width of the direct-beam spot as a fraction of the detector's half-width per axis:
on a 128 x 128 panel its centre pixels get ~40 times the counts of its corners."""

MIN_POOL_EVENTS = 1 << 16
MAX_POOL_EVENTS = 1 << 21
"""Distinct events in a pool: at least 16 pulses' worth, between 64 k and 2 M (16 MB of
a detector's times and pixel ids), so slices at random offsets rarely repeat."""

POOL_PULSES = 16
"""Distinct events in a pool, in pulses' worth (then bounded by the limits above)."""


def events_in_pulse(rate: int, index: int) -> int:
    """Events of pulse ``index`` at ``rate`` events/s; any 14 consecutive pulses sum to ``rate``."""
    return (index + 1) * rate // PULSE_RATE_HZ - index * rate // PULSE_RATE_HZ


def max_events_per_pulse(rate: int) -> int:
    return -(-rate // PULSE_RATE_HZ)


def split_rate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` that sum to ``total`` exactly."""
    if not weights:
        return []
    weight_sum = sum(weights)
    if weight_sum <= 0:
        raise ValueError("weights must have a positive sum")
    shares = [total * w // weight_sum for w in weights]
    # Largest remainder: hand the leftover events to the largest fractional parts.
    order = sorted(range(len(weights)), key=lambda i: -((total * weights[i]) % weight_sum))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def moderator_wavelengths(rng: np.random.Generator, n: int) -> FloatArray:
    """Wavelengths (Angstrom) from a Maxwellian ``p(l) ~ l**-5 exp(-a / l**2)``.

    With ``u = a / l**2`` that density is ``u exp(-u)``, a Gamma(2) distribution, so
    sampling is one gamma draw and a square root.
    """
    a = 2.5 * PEAK_WAVELENGTH**2  # the density peaks where l**2 = 2a/5
    u = rng.gamma(2.0, size=n)
    return np.minimum(np.sqrt(a / np.maximum(u, 1e-12)), MAX_WAVELENGTH)


def time_of_arrival(
    rng: np.random.Generator, wavelength: FloatArray, flight_path_m: float
) -> Int32Array:
    """Times of arrival (int32 ns in the frame) of neutrons of ``wavelength``."""
    emission = rng.uniform(0.0, MODERATOR_PULSE_NS, size=len(wavelength))
    arrival = emission + flight_path_m * NS_PER_ANGSTROM_METRE * wavelength
    return (arrival.astype(np.int64) % FRAME_LENGTH_NS).astype(np.int32)


def _normalised_coordinates(shape: tuple[int, ...], flat: IntArray) -> list[FloatArray]:
    """Each pixel's position per axis in ``(-1, 1)`` (0 on axes of length 1)."""
    indices = np.unravel_index(flat, shape)
    return [
        (idx.astype(np.float64) + 0.5) * (2.0 / n) - 1.0
        for idx, n in zip(indices, shape, strict=True)
    ]


def _radius(shape: tuple[int, ...], flat: IntArray) -> FloatArray:
    """Distance from the detector's centre, 0 at the centre and ~1 in the far corner."""
    coords = _normalised_coordinates(shape, flat)
    axes = max(1, sum(1 for n in shape if n > 1))
    squared: FloatArray = np.zeros(len(flat))
    for c in coords:
        squared += c * c
    result: FloatArray = np.sqrt(squared / axes)
    return result


def _spot_pixels(rng: np.random.Generator, shape: tuple[int, ...], n: int) -> IntArray:
    """Flat pixel indices of a Gaussian spot in the centre of every axis."""
    per_axis = []
    for size in shape:
        u = rng.normal(0.0, SPOT_SIGMA, size=n)
        per_axis.append(np.clip(((u + 1.0) * 0.5 * size).astype(np.int64), 0, size - 1))
    flat: IntArray = np.ravel_multi_index(per_axis, shape).astype(np.int64)
    return flat


def detector_events(
    rng: np.random.Generator, bank: DetectorBank, n: int, flight_path_m: float
) -> tuple[Int32Array, Int32Array]:
    """``n`` events ``(time_of_arrival, pixel_id)`` of a detector, in random order."""
    shape = bank.shape
    n_spot = int(n * SPOT_FRACTION)
    n_bragg = int(n * BRAGG_FRACTION)
    n_flat = n - n_spot - n_bragg
    spot = _spot_pixels(rng, shape, n_spot)
    flat = rng.integers(0, bank.n_pixels, size=n_flat, dtype=np.int64)
    bragg = rng.integers(0, bank.n_pixels, size=n_bragg, dtype=np.int64)

    lo, hi = TWO_THETA_RANGE
    theta = np.radians(lo + (hi - lo) * np.minimum(_radius(shape, bragg), 1.0)) / 2
    d = np.asarray(D_SPACINGS)[rng.integers(0, len(D_SPACINGS), size=n_bragg)]
    bragg_wavelength = 2.0 * d * np.sin(theta) * rng.normal(1.0, BRAGG_RESOLUTION, size=n_bragg)

    wavelength = np.concatenate([moderator_wavelengths(rng, n_spot + n_flat), bragg_wavelength])
    toa = time_of_arrival(rng, wavelength, flight_path_m)
    pixel = (np.concatenate([spot, flat, bragg]) + bank.first_pixel_id).astype(np.int32)
    order = rng.permutation(n)
    return toa[order], pixel[order]


@dataclass(frozen=True, slots=True)
class PoolSize:
    distinct: int
    max_take: int


def pool_size(rate: int) -> PoolSize:
    """How many distinct events a source at ``rate`` needs, and the most one pulse takes."""
    max_take = max_events_per_pulse(rate)
    distinct = min(MAX_POOL_EVENTS, max(MIN_POOL_EVENTS, POOL_PULSES * max_take))
    return PoolSize(distinct=distinct, max_take=max_take)


class EventPool:
    """Events drawn once, handed out per pulse as contiguous views at random offsets.

    Each array is the distinct events followed by as many again as one pulse can take
    (repeating the start), so every slice of up to ``max_take`` events is contiguous.
    """

    def __init__(
        self,
        *,
        time_of_arrival: Int32Array,
        pixel_id: Int32Array | None,
        max_take: int,
        rng: np.random.Generator,
    ) -> None:
        self.distinct = len(time_of_arrival)
        if self.distinct == 0 and max_take > 0:
            raise ValueError("an empty pool cannot hand out events")
        self.max_take = max_take
        length = self.distinct + max_take
        self._toa = np.resize(time_of_arrival, length)
        self._pixel = None if pixel_id is None else np.resize(pixel_id, length)
        self._rng = rng

    def take(self, n: int) -> tuple[Int32Array, Int32Array | None]:
        if not 0 <= n <= self.max_take:
            raise ValueError(f"can take 0..{self.max_take} events, not {n}")
        start = int(self._rng.integers(0, self.distinct)) if self.distinct else 0
        toa = self._toa[start : start + n]
        pixel = None if self._pixel is None else self._pixel[start : start + n]
        return toa, pixel

    @property
    def nbytes(self) -> int:
        return self._toa.nbytes + (0 if self._pixel is None else self._pixel.nbytes)


class PulsedEvents:
    """Events of one source at a fixed rate, one batch (one pulse) at a time."""

    def __init__(self, pool: EventPool, rate: int) -> None:
        if max_events_per_pulse(rate) > pool.max_take:
            raise ValueError(f"pool of {pool.max_take} events per pulse is too small for {rate}/s")
        self._pool = pool
        self.rate = rate

    def events(self, pulse: Pulse) -> EventBatch:
        toa, pixel = self._pool.take(events_in_pulse(self.rate, pulse.index))
        return EventBatch(
            time_of_arrival=toa,
            pixel_id=pixel,
            reference_time=np.array([pulse.time_ns], dtype=np.int64),
            reference_time_index=np.zeros(1, dtype=np.int32),
        )


EventDraw = Callable[[int], tuple[Int32Array, Int32Array | None]]
"""``draw(n)``: ``n`` distinct events ``(time_of_arrival, pixel_id or None)``."""


def pooled_generator(draw: EventDraw, *, rate: int, rng: np.random.Generator) -> PulsedEvents:
    """Events at ``rate`` events/s from a pool ``draw`` fills once, at start-up."""
    size = pool_size(rate)
    toa, pixel = draw(size.distinct)
    pool = EventPool(time_of_arrival=toa, pixel_id=pixel, max_take=size.max_take, rng=rng)
    return PulsedEvents(pool, rate)


def check_pixel_ids(bank: DetectorBank) -> None:
    last_id = bank.first_pixel_id + bank.n_pixels - 1
    if bank.first_pixel_id < 0 or last_id > np.iinfo(np.int32).max:
        raise ValueError(f"detector {bank.name}: pixel ids up to {last_id} do not fit int32")


def detector_generator(
    bank: DetectorBank,
    *,
    rate: int,
    rng: np.random.Generator,
    flight_path_m: float = DETECTOR_FLIGHT_PATH_M,
) -> PulsedEvents:
    """A detector bank's events at ``rate`` events/s: the generic pattern on its pixel grid."""
    check_pixel_ids(bank)
    return pooled_generator(
        lambda n: detector_events(rng, bank, n, flight_path_m), rate=rate, rng=rng
    )


def monitor_time_of_arrival(
    rng: np.random.Generator, n: int, flight_path_m: float, beam: FakeBeam | None = None
) -> Int32Array:
    """A beam monitor's times of arrival: the moderator spectrum, no scattering.

    With a ``beam``, wavelengths are cut to its band and emission to its window (the
    same spectrum the instrument's fake detector events see).
    """
    if beam is None:
        return time_of_arrival(rng, moderator_wavelengths(rng, n), flight_path_m)
    wavelength = band_wavelengths(rng, n, beam.wavelength_band)
    arrival = emission_times(rng, beam, n) + flight_path_m * NS_PER_ANGSTROM_METRE * wavelength
    return (arrival.astype(np.int64) % FRAME_LENGTH_NS).astype(np.int32)


def monitor_flight_path(position: int) -> float:
    """Flight path of the instrument's ``position``-th monitor (0 is the most upstream),
    for instruments that do not place their monitors."""
    return MONITOR_FLIGHT_PATH_M + MONITOR_SPACING_M * position


def monitor_generator(
    *,
    rate: int,
    rng: np.random.Generator,
    flight_path_m: float = MONITOR_FLIGHT_PATH_M,
    beam: FakeBeam | None = None,
) -> PulsedEvents:
    """A beam monitor's events (no pixel ids) at ``rate`` events/s."""
    return pooled_generator(
        lambda n: (monitor_time_of_arrival(rng, n, flight_path_m, beam), None), rate=rate, rng=rng
    )


def spectrum_shape(time_of_arrival: Int32Array, bins: int) -> FloatArray:
    """The normalised histogram of ``time_of_arrival`` over the frame in ``bins`` bins."""
    counts, _ = np.histogram(time_of_arrival, bins=bins, range=(0, FRAME_LENGTH_NS))
    total = counts.sum()
    result: FloatArray = counts / total if total else np.full(bins, 1.0 / bins)
    return result


def frame_edges(bins: int) -> IntArray:
    """Bin edges (ns) splitting the frame into ``bins`` equal bins."""
    edges: IntArray = np.linspace(0, FRAME_LENGTH_NS, bins + 1).round().astype(np.int64)
    return edges


def check_rate(name: str, rate: float, maximum: float) -> int:
    """``rate`` as an int, or ValueError if it is not a finite number in ``[0, maximum]``."""
    if not math.isfinite(rate) or not 0 <= rate <= maximum:
        raise ValueError(f"{name} must be between 0 and {maximum:g}, not {rate}")
    return round(rate)
