"""Workflow specs of the LoKI-like instrument: its detector views.

Each ``DetectorView`` names the banks it serves and the image it fills; the specs and
factories come from ``livedata.config.standard_workflows``. Adding a view is adding an
entry to ``DETECTOR_VIEWS``. Reductions live in ``reductions.py``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from livedata.config.instruments.loki import BANKS, PIXELS_PER_STRAW
from livedata.config.standard_workflows import DetectorView
from livedata.workflows.geometry import BeamlineGeometry
from livedata.workflows.pixel_views import LogicalView
from livedata.workflows.projections import XYProjection


def solid_angle_weights(geometry: BeamlineGeometry) -> npt.NDArray[np.float64]:
    """``(L2 / min L2)^2`` per pixel: counts per solid angle of the bank's nearest pixel,
    so the farther pixels of a bank are not drawn darker for seeing less of the sample."""
    l2 = geometry.l2
    weights: npt.NDArray[np.float64] = (l2 / l2.min()) ** 2
    return weights


DETECTOR_VIEWS = (
    DetectorView(
        name="detector_xy",
        title="Detector bank (xy)",
        description="Counts of a bank projected along the beam onto the plane across it.",
        sources=BANKS,
        view=XYProjection(rows=256, columns=256),
    ),
    DetectorView(
        name="detector_xy_per_solid_angle",
        title="Detector bank (xy, per solid angle)",
        description=(
            "Counts of a bank projected along the beam, each event weighted by its "
            "pixel's (L2 / L2 nearest)^2: intensity per solid angle."
        ),
        sources=BANKS,
        view=XYProjection(rows=256, columns=256),
        pixel_weights=solid_angle_weights,
    ),
    DetectorView(
        name="detector_straws",
        title="Detector bank (straws)",
        description="Counts per straw and pixel along it, summed over the four layers.",
        sources=BANKS,
        view=LogicalView(
            fold=(("layer", 4), ("straw", -1), ("pixel", PIXELS_PER_STRAW)),
            sum_over=("layer",),
        ),
    ),
)
