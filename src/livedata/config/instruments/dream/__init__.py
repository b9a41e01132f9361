"""``dream``: a powder diffractometer shaped after ESS's DREAM, with a synthetic geometry.

Five detector banks around the sample, 1,515,520 pixels with ids up to 1,523,680 (the
range of ESS's DREAM), numbered bank after bank, row-major over each bank's dims:

============================  ==========================  =========  =====================
bank                          dims (sizes)                 pixels     ids
============================  ==========================  =========  =====================
``endcap_forward_detector``   sector 5, column 128,       71,680     1 - 71,680
                              ring 112
``endcap_backward_detector``  sector 11, column 128,      157,696    71,681 - 229,376
                              ring 112
``mantle_detector``           module 5, segment 6,        491,520    229,377 - 720,896
                              counter 2, wire 32,
                              strip 256
``sans_detector``             layer 3, row 256,           393,216    720,897 - 1,114,112
                              column 512
(reserved, no pixels)                                                 1,114,113 - 1,122,272
``high_resolution_detector``  layer 16, row 56, module 7, 401,408    1,122,273 - 1,523,680
                              column 64
============================  ==========================  =========  =====================

The sizes of the end-caps and the mantle are ESS's; their inner numbering, and the
other two banks, are ours (ESS's numbering is more involved and not needed offline).
Geometry (sample at the origin, beam along +z, moderator 76.55 m upstream):

- mantle: a cylinder of radius 1.1 m around the beam, ``z`` from -0.6 to 0.9 m,
  azimuth -135 to 135 degrees (the open side faces ``-x``); ``module, segment, counter``
  together are 60 azimuthal columns, ``wire`` 32 layers 8 mm deep, ``strip`` 256 along
  ``z``. Scattering angles 51 to 119 degrees.
- end-caps: annuli across the beam at ``z = +1.2`` m (forward, 14 to 45 degrees) and
  ``z = -1.2`` m (backward, 135 to 166 degrees, azimuth -150 to 150), radius 0.3 to
  1.2 m; ``sector, column`` run round the beam, ``ring`` outwards.
- high resolution: a flat bank 1.9 m from the sample at 157 degrees (towards ``-x``,
  in the backward end-cap's azimuthal gap), 16 layers.
- SANS: a flat bank across the beam 4 m downstream, 0.77 m square, 3 layers.

Its fake producer shows silicon powder rings at 1.6 Angstrom and times of arrival that
convert back to silicon's d-spacings (``livedata.config.fake_models.PowderSample``).
"""

from __future__ import annotations

from livedata.config.fake_models import FakeBeam, PowderSample
from livedata.config.geometry import CylinderMantle, EndCap, FlatBank
from livedata.config.instrument import DetectorBank, Instrument, LogSignal, Monitor
from livedata.core.workflow import WorkflowRegistry

NAME = "dream"

L1 = 76.55
"""Moderator to sample, metres."""

ENDCAP_FORWARD = "endcap_forward_detector"
ENDCAP_BACKWARD = "endcap_backward_detector"
MANTLE = "mantle_detector"
SANS = "sans_detector"
HIGH_RESOLUTION = "high_resolution_detector"

MAX_PIXEL_ID = 1_523_680

SILICON = PowderSample(
    # d-spacings (Angstrom) of silicon's reflections 111 ... 533 and their intensities.
    d_spacings=(
        3.1355,
        1.9201,
        1.6375,
        1.3577,
        1.2459,
        1.1086,
        1.0452,
        0.9600,
        0.9180,
        0.8587,
        0.8282,
    ),
    intensities=(100.0, 55.0, 30.0, 6.0, 11.0, 12.0, 6.0, 3.0, 7.0, 8.0, 5.0),
    wavelength=1.6,
    ring_width_deg=0.4,
    d_resolution=0.002,
    background=0.3,
)

BEAM = FakeBeam(
    # Up to 3.4 A the slowest neutron to the farthest pixel (78.5 m) arrives in its frame.
    wavelength_band=(0.8, 3.4),
    # A pulse-shaping chopper passes 0.1 ms of the 2.86 ms pulse, around its middle.
    emission_window_ns=(1_380_000, 1_480_000),
)


def _banks() -> tuple[DetectorBank, ...]:
    return (
        DetectorBank(
            name=ENDCAP_FORWARD,
            shape=(5, 128, 112),
            dims=("sector", "column", "ring"),
            first_pixel_id=1,
            geometry=EndCap(
                z=1.2,
                phi_range_deg=(-180.0, 180.0),
                radius_range=(0.3, 1.2),
                roles=("phi", "phi", "radius"),
            ),
        ),
        DetectorBank(
            name=ENDCAP_BACKWARD,
            shape=(11, 128, 112),
            dims=("sector", "column", "ring"),
            first_pixel_id=71_681,
            geometry=EndCap(
                z=-1.2,
                phi_range_deg=(-150.0, 150.0),
                radius_range=(0.3, 1.2),
                roles=("phi", "phi", "radius"),
            ),
        ),
        DetectorBank(
            name=MANTLE,
            shape=(5, 6, 2, 32, 256),
            dims=("module", "segment", "counter", "wire", "strip"),
            first_pixel_id=229_377,
            geometry=CylinderMantle(
                radius=1.1,
                phi_range_deg=(-135.0, 135.0),
                z_range=(-0.6, 0.9),
                roles=("phi", "phi", "phi", "depth", "z"),
                depth_pitch=0.008,
            ),
        ),
        DetectorBank(
            name=SANS,
            shape=(3, 256, 512),
            dims=("layer", "row", "column"),
            first_pixel_id=720_897,
            geometry=FlatBank(
                center=(0.0, 0.0, 4.0), roles=("depth", "y", "x"), pitch=(0.0015, 0.003, 0.01)
            ),
        ),
        DetectorBank(
            name=HIGH_RESOLUTION,
            shape=(16, 56, 7, 64),
            dims=("layer", "row", "module", "column"),
            first_pixel_id=MAX_PIXEL_ID - 401_408 + 1,
            geometry=FlatBank(
                # 1.9 m from the sample at 2 theta = 157 degrees, facing it.
                center=(-0.7424, 0.0, -1.7490),
                roles=("depth", "y", "x", "x"),
                pitch=(0.002, 0.008, 0.01),
                yaw_deg=-157.0,
            ),
        ),
    )


def instrument() -> Instrument:
    """Build the DREAM-like instrument (the ``livedata.instruments`` entry point)."""
    return Instrument(
        name=NAME,
        detectors=_banks(),
        monitors=(
            Monitor(name="monitor1", position=(0.0, 0.0, -4.0)),  # in the cave
            Monitor(name="monitor2", position=(0.0, 0.0, -72.0)),  # in the bunker
        ),
        logs=(
            LogSignal(name="sample_temperature", unit="K", valid_range=(1.5, 600.0)),
            LogSignal(name="sample_rotation", unit="deg", valid_range=(-180.0, 180.0)),
            LogSignal(name="chopper_speed", unit="Hz", valid_range=(0.0, 112.0)),
        ),
        build_workflows=_build_workflows,
        source_position=(0.0, 0.0, -L1),
        fake_beam=BEAM,
        fake_sample=SILICON,
    )


def _build_workflows(inst: Instrument) -> WorkflowRegistry:
    # Deferred: a client that only lists the instrument's streams never loads workflows.
    from livedata.config.instruments.dream.factories import build_workflows

    return build_workflows(inst)
