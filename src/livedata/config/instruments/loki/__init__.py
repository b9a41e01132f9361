"""``loki``: a small-angle scattering instrument shaped after ESS's LoKI, synthetic geometry.

Nine flat banks of straw tubes, 3,211,264 pixels (ids 1 to 3,211,264), with ESS's bank
names and sizes. Every bank is ``layer 4 x tube N x straw 7 x pixel 512``: each tube
holds 7 straws, each straw 512 pixels along its length; bank after bank, row-major:

=====================  =====  =========================  =======================
bank                   tubes  where                      ids
=====================  =====  =========================  =======================
``loki_detector_0``    56     rear, across the beam 5 m  1 - 802,816
``loki_detector_1``    16     middle, top, 3 m           802,817 - 1,032,192
``loki_detector_2``    12     middle, +x side            1,032,193 - 1,204,224
``loki_detector_3``    16     middle, bottom             1,204,225 - 1,433,600
``loki_detector_4``    12     middle, -x side            1,433,601 - 1,605,632
``loki_detector_5``    28     front, top, 1.2 m          1,605,633 - 2,007,040
``loki_detector_6``    32     front, +x side             2,007,041 - 2,465,792
``loki_detector_7``    20     front, bottom              2,465,793 - 2,752,512
``loki_detector_8``    32     front, -x side             2,752,513 - 3,211,264
=====================  =====  =========================  =======================

Geometry (sample at the origin, beam along +z, moderator 23 m upstream): straws are
1 m long (1.95 mm pixels); the 7 straws of a tube stack 3.63 mm apart across it, tubes
25.4 mm apart; the 4 layers follow each other 25.4 mm deep. The rear bank (1.0 x 1.42 m)
is centred on the beam; the middle and front banks frame it, each one further out in
angle, the front ones turned 30 degrees towards the sample. Top and bottom banks have
horizontal straws, the side banks vertical ones.

Its fake producer shows a central spot of small-angle scattering,
``I(Q) = 1 / (1 + (Q xi)^2)^2`` with ``xi = 40`` Angstrom, on 5 % flat background
(``livedata.config.fake_models.SmallAngleSample``).
"""

from __future__ import annotations

from livedata.config.fake_models import FakeBeam, SmallAngleSample
from livedata.config.geometry import FlatBank, FlatRole, Vec3
from livedata.config.instrument import DetectorBank, Instrument, LogSignal, Monitor
from livedata.core.workflow import WorkflowRegistry

NAME = "loki"

L1 = 23.0
"""Moderator to sample, metres."""

TUBE_PITCH = 0.0254
STRAW_PITCH = TUBE_PITCH / 7
PIXEL_PITCH = 1.0 / 512
LAYER_PITCH = 0.0254
STRAWS_PER_TUBE = 7
PIXELS_PER_STRAW = 512
LAYERS = 4

BANK_DIMS = ("layer", "tube", "straw", "pixel")

# (tubes, centre of the front layer, straws horizontal?, yaw, tilt), ESS's bank order.
_LAYOUT: tuple[tuple[int, Vec3, bool, float, float], ...] = (
    (56, (0.0, 0.0, 5.0), True, 0.0, 0.0),
    (16, (0.0, 0.635, 3.0), True, 0.0, 0.0),
    (12, (0.45, 0.0, 3.0), False, 0.0, 0.0),
    (16, (0.0, -0.635, 3.0), True, 0.0, 0.0),
    (12, (-0.45, 0.0, 3.0), False, 0.0, 0.0),
    (28, (0.0, 0.69, 1.2), True, 0.0, 30.0),
    (32, (0.74, 0.0, 1.2), False, 30.0, 0.0),
    (20, (0.0, -0.59, 1.2), True, 0.0, -30.0),
    (32, (-0.74, 0.0, 1.2), False, -30.0, 0.0),
)

BANKS = tuple(f"loki_detector_{i}" for i in range(len(_LAYOUT)))
REAR = BANKS[0]

SAMPLE = SmallAngleSample(correlation_length=40.0, background=0.05)

BEAM = FakeBeam(
    # Up to 9 A the slowest neutron reaches the farthest pixel (28.2 m) in its frame.
    wavelength_band=(2.0, 9.0),
)


def _banks() -> tuple[DetectorBank, ...]:
    banks = []
    first = 1
    for name, (tubes, center, horizontal, yaw, tilt) in zip(BANKS, _LAYOUT, strict=True):
        # Tubes and straws stack across the straws.
        across: FlatRole = "y" if horizontal else "x"
        along: FlatRole = "x" if horizontal else "y"
        bank = DetectorBank(
            name=name,
            shape=(LAYERS, tubes, STRAWS_PER_TUBE, PIXELS_PER_STRAW),
            dims=BANK_DIMS,
            first_pixel_id=first,
            geometry=FlatBank(
                center=center,
                roles=("depth", across, across, along),
                pitch=(
                    (PIXEL_PITCH, STRAW_PITCH, LAYER_PITCH)
                    if horizontal
                    else (STRAW_PITCH, PIXEL_PITCH, LAYER_PITCH)
                ),
                yaw_deg=yaw,
                tilt_deg=tilt,
            ),
        )
        banks.append(bank)
        first += bank.n_pixels
    return tuple(banks)


def instrument() -> Instrument:
    """Build the LoKI-like instrument (the ``livedata.instruments`` entry point)."""
    return Instrument(
        name=NAME,
        detectors=_banks(),
        # ESS's monitor names; m3 is the incident monitor just before the sample, m4
        # the transmission monitor in the direct beam behind it.
        monitors=(
            Monitor(name="beam_monitor_m0", position=(0.0, 0.0, -16.0)),
            Monitor(name="beam_monitor_m1", position=(0.0, 0.0, -10.0)),
            Monitor(name="beam_monitor_m2", position=(0.0, 0.0, -4.0)),
            Monitor(name="beam_monitor_m3", position=(0.0, 0.0, -0.5)),
            Monitor(name="beam_monitor_m4", position=(0.0, 0.0, 4.5)),
        ),
        logs=(
            LogSignal(name="sample_temperature", unit="K", valid_range=(4.0, 400.0)),
            LogSignal(name="sample_changer_position", unit="mm", valid_range=(0.0, 800.0)),
            LogSignal(name="rear_detector_position", unit="m", valid_range=(5.0, 10.0)),
        ),
        build_workflows=_build_workflows,
        source_position=(0.0, 0.0, -L1),
        fake_beam=BEAM,
        fake_sample=SAMPLE,
    )


def _build_workflows(inst: Instrument) -> WorkflowRegistry:
    # Deferred: a client that only lists the instrument's streams never loads workflows.
    from livedata.config.instruments.loki.factories import build_workflows

    return build_workflows(inst)
