"""Workflow specs of the BIFROST-like instrument: its detector views.

Each ``DetectorView`` names the banks it serves and the image it fills; the specs and
factories come from ``livedata.config.standard_workflows``. Adding a view is adding an
entry to ``DETECTOR_VIEWS``.
"""

from __future__ import annotations

from livedata.config.instruments.bifrost import ARCS, CHANNELS, DETECTOR, PIXELS, TUBES
from livedata.config.standard_workflows import DetectorView
from livedata.workflows.pixel_views import LogicalView

ANGLE = ("angle", CHANNELS * PIXELS)
"""Channel and pixel together: 900 positions along the arcs, in scattering angle order."""

DETECTOR_VIEWS = (
    DetectorView(
        name="arc_angle",
        title="Arcs",
        description="Counts per arc (final energy) along the scattering angle, tubes summed.",
        sources=(DETECTOR,),
        view=LogicalView(fold=(("arc", ARCS), ("tube", TUBES), ANGLE), sum_over=("tube",)),
    ),
    DetectorView(
        name="tube_angle",
        title="Tubes",
        description="Counts per tube (arc x triplet tube) along the scattering angle.",
        sources=(DETECTOR,),
        view=LogicalView(fold=(("tube", ARCS * TUBES), ANGLE)),
    ),
    DetectorView(
        name="overview",
        title="Overview",
        description="Counts per tube in blocks of 10 pixels: a coarse image that updates fast.",
        sources=(DETECTOR,),
        view=LogicalView(fold=(("tube", ARCS * TUBES), ANGLE), downsample=(("angle", 10),)),
    ),
    DetectorView(
        name="pixels",
        title="All pixels",
        description="Counts per pixel on the detector's own dims: arc x tube x channel x pixel.",
        sources=(DETECTOR,),
    ),
)
