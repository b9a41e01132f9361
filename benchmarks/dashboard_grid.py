"""The grid and jobs both dashboard benchmarks show (``dashboard_sessions.py`` with
browsers, ``dashboard_server.py`` without): images, spectra and time series in turn."""

from __future__ import annotations

from livedata.core.identity import WorkflowId
from livedata.dashboard.policy.grid import Cell, Grid, Layer, Tab
from livedata.dashboard.policy.plotters import PlotterKind
from livedata.testing.dashboard import FakeBackend

# (workflow, source, output, plotter): what the cells show, in turn.
OUTPUTS = [
    ("panel_0_xy", "panel_0", "current", PlotterKind.IMAGE),
    ("monitor_histogram", "monitor1", "current", PlotterKind.LINE),
    ("panel_0_xy", "panel_0", "counts_total", PlotterKind.TIMESERIES),
    ("monitor_histogram", "monitor2", "current", PlotterKind.LINE),
    ("panel_0_xy", "panel_0", "cumulative", PlotterKind.IMAGE),
    ("monitor_histogram", "monitor1", "cumulative", PlotterKind.BARS),
    ("timeseries_data", "motion1", "timeseries", PlotterKind.TIMESERIES),
    ("monitor_histogram", "monitor2", "cumulative", PlotterKind.LINE),
]
JOBS = {
    "panel_0_xy": ["panel_0"],
    "monitor_histogram": ["monitor1", "monitor2"],
    "timeseries_data": ["motion1", "motion2"],
}


def bench_grid(instrument: str, cells: int) -> Grid:
    """``cells`` cells, four to a row, showing ``OUTPUTS`` in turn."""
    cols = 4
    rows = -(-cells // cols)
    made = []
    for i in range(cells):
        workflow, source, output, plotter = OUTPUTS[i % len(OUTPUTS)]
        layer = Layer(
            workflow_id=WorkflowId(instrument=instrument, name=workflow, version=1),
            source_name=source,
            output_name=output,
            plotter=plotter,
        )
        made.append(Cell(row=i // cols, col=i % cols, title=f"{i}: {output}", layers=(layer,)))
    return Grid(title="bench", tabs=(Tab(title="bench", rows=rows, cols=cols, cells=tuple(made)),))


def start_jobs(backend: FakeBackend, instrument: str) -> None:
    """Start every job the grid shows (the fake backend answers at once)."""
    for name, sources in JOBS.items():
        backend.start_workflow(WorkflowId(instrument=instrument, name=name, version=1), sources, {})
