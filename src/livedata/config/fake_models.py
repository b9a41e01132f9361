"""What an instrument's fake producer simulates: the beam and a sample's scattering.

Plain declarations, no computation: ``livedata.services.fake_producers`` turns them
into events on the instrument's synthetic geometry. An instrument without them gets
the generic pattern (a spot and Bragg peaks on the bank's pixel grid).

Times of arrival follow from the geometry: a neutron of wavelength ``l`` (Angstrom)
leaving the moderator at ``t_emit`` reaches a pixel at
``t_emit + (L1 + L2) * l * 252_778 ns`` (``m_n / h`` = 252.778 us per Angstrom and
metre), modulo the 71.4 ms frame.
"""

from __future__ import annotations

from dataclasses import dataclass

MODERATOR_PULSE_NS = 2_860_000
"""The ESS long pulse: neutrons leave the moderator over 2.86 ms."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeBeam:
    """The incident beam the choppers let through.

    ``wavelength_band`` (Angstrom) bounds the moderator's Maxwellian spectrum for
    detector background and beam monitors; ``emission_window_ns`` is when, after the
    pulse's start, the neutrons that reach the sample left the moderator (a
    pulse-shaping chopper narrows it from the full 2.86 ms).
    """

    wavelength_band: tuple[float, float]
    emission_window_ns: tuple[int, int] = (0, MODERATOR_PULSE_NS)

    def __post_init__(self) -> None:
        lo, hi = self.wavelength_band
        if not 0 < lo < hi:
            raise ValueError(f"wavelength band {self.wavelength_band} is empty or not positive")
        start, stop = self.emission_window_ns
        if not 0 <= start < stop:
            raise ValueError(f"emission window {self.emission_window_ns} is empty")

    @property
    def emission_centre_ns(self) -> float:
        """The middle of the emission window: the best single emission time to assume."""
        return (self.emission_window_ns[0] + self.emission_window_ns[1]) / 2


@dataclass(frozen=True, slots=True, kw_only=True)
class PowderSample:
    """A powder: Debye-Scherrer rings at the Bragg angles of ``d_spacings``.

    The rings are those of the band's ``wavelength``: ring ``k`` lies at
    ``2 theta_k = 2 asin(wavelength / (2 d_k))`` with a Gaussian width
    ``ring_width_deg`` (sigma) and relative intensity ``intensities[k]``. Each Bragg
    event's wavelength is ``2 d_k sin(theta)`` at its pixel's angle, blurred by
    ``d_resolution`` (relative sigma), so its time of arrival converts back to ``d_k``.
    A fraction ``background`` of the events is incoherent: uniform per solid angle,
    wavelengths from the beam's band.
    """

    d_spacings: tuple[float, ...]
    intensities: tuple[float, ...]
    wavelength: float
    ring_width_deg: float = 0.4
    d_resolution: float = 0.002
    background: float = 0.3

    def __post_init__(self) -> None:
        if len(self.d_spacings) != len(self.intensities) or not self.d_spacings:
            raise ValueError("need one intensity per d-spacing, and at least one")
        if not 0 <= self.background < 1:
            raise ValueError(f"background must be a fraction in [0, 1), got {self.background}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SmallAngleSample:
    """Small-angle scattering ``I(Q) = 1 / (1 + (Q xi)^2)^2`` (Debye-Bueche).

    ``correlation_length`` is ``xi`` in Angstrom: the intensity halves from ``Q = 0``
    at ``Q = 0.64 / xi`` and falls as ``Q^-4`` beyond ``1 / xi``. Events are spread
    over pixels and wavelengths as ``I(Q(2 theta, l)) * spectrum(l) / L2^2``; a fraction
    ``background`` is flat per solid angle.
    """

    correlation_length: float
    background: float = 0.05

    def __post_init__(self) -> None:
        if self.correlation_length <= 0:
            raise ValueError("correlation_length must be positive")
        if not 0 <= self.background < 1:
            raise ValueError(f"background must be a fraction in [0, 1), got {self.background}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SpectrometerSample:
    """Indirect geometry: each arc's analysers pass one final wavelength.

    ``final_wavelengths[a]`` (Angstrom) is arc ``a``'s (the index along the bank's
    ``arc_dim``). A neutron's time of arrival is ``t_emit + (L1 l_i + L2 l_f) *
    252_778 ns``; a fraction ``elastic`` has ``l_i = l_f``, the rest a quasi-elastic
    energy transfer with a Lorentzian of half-width ``quasielastic_width_mev``.
    Intensity along the arcs peaks at ``bragg_two_theta_deg`` (Gaussian sigma
    ``peak_width_deg``) over a flat level ``1``, with relative heights
    ``peak_heights``.
    """

    final_wavelengths: tuple[float, ...]
    arc_dim: str = "arc"
    elastic: float = 0.6
    quasielastic_width_mev: float = 0.3
    bragg_two_theta_deg: tuple[float, ...] = ()
    peak_heights: tuple[float, ...] = ()
    peak_width_deg: float = 1.0

    def __post_init__(self) -> None:
        if len(self.bragg_two_theta_deg) != len(self.peak_heights):
            raise ValueError("need one height per peak angle")
        if not 0 <= self.elastic <= 1:
            raise ValueError(f"elastic must be a fraction in [0, 1], got {self.elastic}")


FakeSample = PowderSample | SmallAngleSample | SpectrometerSample
