"""Pairs each LoKI workflow spec with the factory that builds its workflow."""

from __future__ import annotations

from livedata.config import standard_workflows as std
from livedata.config.instrument import Instrument
from livedata.config.instruments.loki import reductions, specs
from livedata.core.workflow import WorkflowRegistry


def build_workflows(inst: Instrument) -> WorkflowRegistry:
    """A fresh registry of every LoKI workflow (no global state)."""
    registry = WorkflowRegistry()
    for view in specs.DETECTOR_VIEWS:
        registry.register(std.detector_view_spec(inst, view), std.detector_view_factory(inst, view))
    registry.register(std.monitor_histogram_spec(inst), std.monitor_histogram_factory(inst))
    registry.register(std.timeseries_spec(inst), std.timeseries_factory(inst))
    reductions.register_reductions(inst, registry)
    return registry
