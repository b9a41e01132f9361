"""Hook for LoKI's reductions: SANS I(Q) (``loki/sans_iq/1``) registers here.

``register_reductions`` is called last by ``factories.build_workflows``; it adds the
reduction workflows' specs and factories to the registry. What a reduction gets from
the instrument:

- ``inst.geometry(bank)``: a ``livedata.workflows.geometry.BeamlineGeometry`` per bank
  (source, sample and monitor positions, pixel positions in pixel-id order from the
  bank's ``first_pixel_id``; ``l1``, ``l2``, ``two_theta`` ready to use);
- the banks (``BANKS``, the rear one first) and the monitors: ``beam_monitor_m3`` the
  incident monitor before the sample (``INCIDENT_MONITOR``), ``beam_monitor_m4`` the
  transmission monitor behind it (``TRANSMISSION_MONITOR``).
"""

from __future__ import annotations

from livedata.config.instrument import Instrument
from livedata.config.instruments.loki import BANKS
from livedata.core.workflow import WorkflowRegistry
from livedata.workflows.sans import sans_iq_factory, sans_iq_spec

SANS_BANKS = BANKS
INCIDENT_MONITOR = "beam_monitor_m3"
TRANSMISSION_MONITOR = "beam_monitor_m4"


def register_reductions(inst: Instrument, registry: WorkflowRegistry) -> None:
    """Add LoKI's reduction workflows to ``registry``: ``loki/sans_iq/1`` on every bank,
    normalised by the incident monitor by default (any positioned monitor may be chosen)."""
    monitors = [m.name for m in inst.monitors if m.position is not None]
    monitors.sort(key=lambda name: name != INCIDENT_MONITOR)  # the default comes first
    registry.register(
        sans_iq_spec(instrument=inst.name, banks=SANS_BANKS, monitors=monitors),
        sans_iq_factory(
            beamline=inst.geometry,
            first_pixel_id={bank: inst.detector(bank).first_pixel_id for bank in SANS_BANKS},
        ),
    )
