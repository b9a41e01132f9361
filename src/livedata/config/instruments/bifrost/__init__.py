"""``bifrost``: an indirect-geometry spectrometer shaped after ESS's BIFROST, synthetic geometry.

One bank, ``unified_detector``, of 13,500 pixels (ids 1 to 13,500) with ESS's dims:
``arc 5 x tube 3 x channel 9 x pixel 100``, row-major. Each of the 9 channels (wedges
of scattering angle) has 5 analyser arcs, one per final energy; each arc reflects onto
a triplet of 3He tubes with 100 pixels along each.

Geometry (sample at the origin, beam along +z, moderator 162 m upstream): channel ``c``
covers 8 degrees of scattering angle centred on ``25 + 10 c`` degrees (on the ``+x``
side); arc ``a``'s tubes lie 1.2 + 0.15 ``a`` metres from the sample, the triplet's tubes
3 cm apart radially, all 0.3 m below the scattering plane.

The arcs pass final energies 2.7, 3.2, 3.8, 4.4 and 5.0 meV; the fake producer shows
each arc's elastic line in time of arrival, quasi-elastic wings, and two Bragg-like
bright spots along the arcs (``livedata.config.fake_models.SpectrometerSample``).
"""

from __future__ import annotations

import math

from livedata.config.fake_models import FakeBeam, SpectrometerSample
from livedata.config.geometry import TubeArcs
from livedata.config.instrument import DetectorBank, Instrument, LogSignal, Monitor
from livedata.core.workflow import WorkflowRegistry

NAME = "bifrost"

L1 = 162.0
"""Moderator to sample, metres."""

DETECTOR = "unified_detector"
ARCS, TUBES, CHANNELS, PIXELS = 5, 3, 9, 100

FINAL_ENERGIES_MEV = (2.7, 3.2, 3.8, 4.4, 5.0)
ANGSTROM_SQRT_MEV = 9.045
"""A neutron of energy ``E`` meV has wavelength ``9.045 / sqrt(E)`` Angstrom."""

SAMPLE = SpectrometerSample(
    final_wavelengths=tuple(ANGSTROM_SQRT_MEV / math.sqrt(e) for e in FINAL_ENERGIES_MEV),
    elastic=0.6,
    quasielastic_width_mev=0.3,
    bragg_two_theta_deg=(47.0, 81.0),
    peak_heights=(4.0, 2.5),
    peak_width_deg=1.5,
)

BEAM = FakeBeam(wavelength_band=(1.5, 8.0))


def instrument() -> Instrument:
    """Build the BIFROST-like instrument (the ``livedata.instruments`` entry point)."""
    return Instrument(
        name=NAME,
        detectors=(
            DetectorBank(
                name=DETECTOR,
                shape=(ARCS, TUBES, CHANNELS, PIXELS),
                dims=("arc", "tube", "channel", "pixel"),
                first_pixel_id=1,
                geometry=TubeArcs(
                    arc_radii=tuple(1.2 + 0.15 * a for a in range(ARCS)),
                    channel_two_theta_deg=tuple(25.0 + 10.0 * c for c in range(CHANNELS)),
                    channel_width_deg=8.0,
                    tube_pitch=0.03,
                    height=-0.3,
                ),
            ),
        ),
        monitors=(
            Monitor(name="frame_monitor", position=(0.0, 0.0, -62.0)),
            Monitor(name="sample_monitor", position=(0.0, 0.0, -0.6)),
        ),
        logs=(
            LogSignal(name="sample_temperature", unit="K", valid_range=(1.5, 300.0)),
            LogSignal(name="sample_rotation", unit="deg", valid_range=(-180.0, 180.0)),
            LogSignal(name="magnetic_field", unit="T", valid_range=(0.0, 15.0)),
        ),
        build_workflows=_build_workflows,
        source_position=(0.0, 0.0, -L1),
        fake_beam=BEAM,
        fake_sample=SAMPLE,
    )


def _build_workflows(inst: Instrument) -> WorkflowRegistry:
    # Deferred: a client that only lists the instrument's streams never loads workflows.
    from livedata.config.instruments.bifrost.factories import build_workflows

    return build_workflows(inst)
