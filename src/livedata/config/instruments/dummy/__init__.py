"""The ``dummy`` instrument: one of everything, for development, demos and tests.

Names and workflow ids follow ESS's dummy instrument so that ESS clients find them.
Importing this package builds and registers nothing; ``instrument()`` does the work.
"""

from __future__ import annotations

from livedata.config.instrument import (
    AreaDetector,
    DetectorBank,
    Instrument,
    LogSignal,
    Monitor,
)
from livedata.core.workflow import WorkflowRegistry

NAME = "dummy"

PANEL_SIDE = 128
"""The 128x128 panel ESS's fake detector producer fills (pixel ids 1..16384)."""

AREA_PANEL_SIDE = 256


def instrument() -> Instrument:
    """Build the dummy instrument (the ``livedata.instruments`` entry point)."""
    return Instrument(
        name=NAME,
        detectors=(
            DetectorBank(
                name="panel_0",
                shape=(PANEL_SIDE, PANEL_SIDE),
                dims=("y", "x"),
                first_pixel_id=1,
            ),
        ),
        monitors=(Monitor(name="monitor1"), Monitor(name="monitor2")),
        logs=(LogSignal(name="motion1", unit="mm"), LogSignal(name="motion2", unit="deg")),
        area_detectors=(AreaDetector(name="area_panel", shape=(AREA_PANEL_SIDE, AREA_PANEL_SIDE)),),
        build_workflows=_build_workflows,
    )


def _build_workflows(inst: Instrument) -> WorkflowRegistry:
    # Deferred: a client that only lists the instrument's streams never loads workflows.
    from livedata.config.instruments.dummy.factories import build_workflows

    return build_workflows(inst)
