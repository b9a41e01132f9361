"""The example instrument's workflows: two detector views, its monitor and its log."""

from livedata.config import standard_workflows as std
from livedata.config.instrument import Instrument
from livedata.core.workflow import WorkflowRegistry
from livedata.workflows.pixel_views import LogicalView
from livedata.workflows.projections import XYProjection

DETECTOR_VIEWS = (
    std.DetectorView(
        name="panel_xy",
        title="Panel",
        description="Counts of the panel projected along the beam.",
        sources=("panel",),
        view=XYProjection(rows=64, columns=64),
    ),
    std.DetectorView(
        name="panel_coarse",
        title="Panel (4 x 4 blocks)",
        description="Counts of the panel in blocks of 4 x 4 pixels.",
        sources=("panel",),
        view=LogicalView(downsample=(("y", 4), ("x", 4))),
    ),
)


def build_workflows(inst: Instrument) -> WorkflowRegistry:
    registry = WorkflowRegistry()
    for view in DETECTOR_VIEWS:
        registry.register(std.detector_view_spec(inst, view), std.detector_view_factory(inst, view))
    registry.register(std.monitor_histogram_spec(inst), std.monitor_histogram_factory(inst))
    registry.register(std.timeseries_spec(inst), std.timeseries_factory(inst))
    return registry
