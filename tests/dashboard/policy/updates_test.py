"""A session re-renders only the layers whose data or options changed."""

import uuid

import scipp as sc

from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.dashboard.policy.display import TimeWindow
from livedata.dashboard.policy.grid import DisplayOptions, Layer
from livedata.dashboard.policy.plotters import PlotterKind
from livedata.dashboard.policy.updates import (
    Rendered,
    current_versions,
    layer_entry,
    plan_cell,
    store_changed,
)
from livedata.dashboard.policy.windows import WindowRead
from livedata.dashboard.stores import ResultStore

WORKFLOW = WorkflowId(instrument="dummy", name="panel_0_xy", version=1)


def layer(output: str, **options) -> Layer:
    return Layer(
        workflow_id=WORKFLOW,
        source_name="panel_0",
        output_name=output,
        plotter=PlotterKind.IMAGE,
        options=DisplayOptions(**options),
    )


LAYERS = [layer("current"), layer("roi_rectangle")]


def test_a_new_cell_draws_every_layer() -> None:
    assert plan_cell(LAYERS, [None, None], [None, None]).render == (0, 1)


def test_nothing_is_drawn_when_nothing_changed() -> None:
    drawn = [Rendered(3, DisplayOptions()), Rendered(None, DisplayOptions())]
    plan = plan_cell(LAYERS, drawn, [3, None])
    assert plan.render == ()
    assert not plan.changed


def test_new_data_redraws_only_its_layer() -> None:
    drawn = [Rendered(3, DisplayOptions()), Rendered(None, DisplayOptions())]
    assert plan_cell(LAYERS, drawn, [3, 7]).render == (1,)
    assert plan_cell(LAYERS, drawn, [4, None]).render == (0,)


def test_changed_options_redraw_the_layer() -> None:
    layers = [layer("current", log_color=True), LAYERS[1]]
    drawn = [Rendered(3, DisplayOptions()), Rendered(None, DisplayOptions())]
    assert plan_cell(layers, drawn, [3, None]).render == (0,)


def test_a_changed_layer_list_redraws_everything() -> None:
    assert plan_cell(LAYERS, [Rendered(1, DisplayOptions())], [1, 2]).render == (0, 1)


def test_versions_come_from_the_store_and_the_global_version_short_cuts() -> None:
    store = ResultStore()
    assert current_versions(store, LAYERS) == [None, None]
    job = JobId(source_name="panel_0", job_number=uuid.uuid4())
    entry = store.put(
        ResultKey(workflow_id=WORKFLOW, job_id=job, output_name="current"),
        sc.DataArray(sc.scalar(1.0)),
        received_ns=0,
    )
    assert current_versions(store, LAYERS) == [entry.version, None]
    assert store_changed(store.version, None)
    assert not store_changed(store.version, entry.version)


def test_a_windowed_layer_draws_the_stores_sum_and_follows_its_version() -> None:
    store = ResultStore()
    cumulative = layer("cumulative", window=TimeWindow(60.0))
    window = WindowRead("current", 60.0)
    assert current_versions(store, [cumulative], [window]) == [None]  # asks: the sum starts
    job = JobId(source_name="panel_0", job_number=uuid.uuid4())
    for end in (1, 2):
        frame = sc.DataArray(sc.scalar(5.0, unit="counts"))
        frame.coords["start_time"] = sc.scalar((end - 1) * 10**9, unit="ns", dtype="int64")
        frame.coords["time"] = sc.scalar(end * 10**9, unit="ns", dtype="int64")
        put = store.put(
            ResultKey(workflow_id=WORKFLOW, job_id=job, output_name="current"),
            frame,
            received_ns=0,
        )
    summed = layer_entry(store, cumulative, window)
    assert summed is not None
    assert summed.data.value == 10.0
    assert current_versions(store, [cumulative], [window]) == [put.version]
    assert layer_entry(store, cumulative) is None, "without the window: the output itself"
