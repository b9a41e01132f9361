"""Hook for DREAM's reductions: powder I(d) (``dream/powder_id/1``) registers here.

``register_reductions`` is called last by ``factories.build_workflows``; it adds the
reduction workflows' specs and factories to the registry. What a reduction gets from the instrument:

- ``inst.geometry(bank)``: a ``livedata.workflows.geometry.BeamlineGeometry`` per bank
  (source, sample and monitor positions, pixel positions in pixel-id order from the
  bank's ``first_pixel_id``; ``l1``, ``l2``, ``two_theta`` ready to use);
- the banks a powder reduction serves: every bank but ``sans_detector``
  (``POWDER_BANKS``); the cave monitor ``monitor1`` for normalisation.
"""

from __future__ import annotations

from livedata.config.instrument import Instrument
from livedata.config.instruments.dream import (
    ENDCAP_BACKWARD,
    ENDCAP_FORWARD,
    HIGH_RESOLUTION,
    MANTLE,
)
from livedata.core.workflow import WorkflowRegistry
from livedata.workflows.powder import powder_factory, powder_spec

POWDER_BANKS = (MANTLE, ENDCAP_FORWARD, ENDCAP_BACKWARD, HIGH_RESOLUTION)
NORMALISATION_MONITOR = "monitor1"


def register_reductions(inst: Instrument, registry: WorkflowRegistry) -> None:
    """Add DREAM's reduction workflows to ``registry``: ``dream/powder_id/1`` on every
    powder bank, optionally normalised by the cave monitor."""
    registry.register(
        powder_spec(instrument=inst.name, banks=POWDER_BANKS, monitors=(NORMALISATION_MONITOR,)),
        powder_factory(
            beamline=inst.geometry,
            first_pixel_id={bank: inst.detector(bank).first_pixel_id for bank in POWDER_BANKS},
        ),
    )
