"""Workflow specs of the DREAM-like instrument: its detector views.

Each ``DetectorView`` names the banks it serves and the image it fills; the specs and
factories come from ``livedata.config.standard_workflows``. Adding a view is adding an
entry to ``DETECTOR_VIEWS``. Reductions live in ``reductions.py``.
"""

from __future__ import annotations

from livedata.config.instruments.dream import (
    ENDCAP_BACKWARD,
    ENDCAP_FORWARD,
    HIGH_RESOLUTION,
    MANTLE,
    SANS,
)
from livedata.config.standard_workflows import DetectorView
from livedata.workflows.pixel_views import LogicalView
from livedata.workflows.projections import CylinderProjection, XYProjection

MANTLE_FOLD = (("column", 60), ("wire", 32), ("strip", 256))
"""The mantle's module, segment and counter together are its 60 azimuthal columns."""

DETECTOR_VIEWS = (
    DetectorView(
        name="cylinder_mantle_z",
        title="Mantle (unrolled)",
        description="Counts of the mantle projected onto azimuth x position along the beam.",
        sources=(MANTLE,),
        # One bin per azimuthal column and strip: the mantle's own resolution.
        view=CylinderProjection(rows=60, columns=256),
    ),
    DetectorView(
        name="mantle_front_layer",
        title="Mantle front layer",
        description="Counts of the innermost wire layer of the mantle, column x strip.",
        sources=(MANTLE,),
        view=LogicalView(fold=MANTLE_FOLD, select=(("wire", 0, 1),), sum_over=("wire",)),
    ),
    DetectorView(
        name="mantle_wire_view",
        title="Mantle wires",
        description="Counts of the mantle summed over strips: column x wire (depth).",
        sources=(MANTLE,),
        view=LogicalView(fold=MANTLE_FOLD, sum_over=("strip",)),
    ),
    DetectorView(
        name="endcap_xy",
        title="End-caps (xy)",
        description="Counts of an end-cap projected along the beam onto the plane across it.",
        sources=(ENDCAP_FORWARD, ENDCAP_BACKWARD),
        view=XYProjection(rows=256, columns=256),
    ),
    DetectorView(
        name="endcap_unrolled",
        title="End-caps (unrolled)",
        description="Counts of an end-cap per azimuthal column and ring, in pixel indices.",
        sources=(ENDCAP_FORWARD, ENDCAP_BACKWARD),
        view=LogicalView(fold=(("column", -1), ("ring", 112))),
    ),
    DetectorView(
        name="high_resolution_xy",
        title="High-resolution bank (xy)",
        description="Counts of the high-resolution bank projected along the beam.",
        sources=(HIGH_RESOLUTION,),
        view=XYProjection(rows=56, columns=448),
    ),
    DetectorView(
        name="high_resolution_front_layer",
        title="High-resolution bank front layer",
        description="Counts of the high-resolution bank's first layer, row x column.",
        sources=(HIGH_RESOLUTION,),
        view=LogicalView(
            fold=(("layer", 16), ("row", 56), ("column", 448)),
            select=(("layer", 0, 1),),
            sum_over=("layer",),
        ),
    ),
    DetectorView(
        name="sans_xy",
        title="SANS bank (xy)",
        description="Counts of the small-angle bank projected along the beam.",
        sources=(SANS,),
        view=XYProjection(rows=256, columns=512),
    ),
)
