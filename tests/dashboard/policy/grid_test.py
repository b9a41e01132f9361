"""The grid model: validation, YAML round trip, checks against the instrument."""

import dataclasses

import pytest

from livedata.config.registry import load_instrument
from livedata.core.control import Roi
from livedata.core.identity import WorkflowId
from livedata.dashboard.policy.display import TimeWindow
from livedata.dashboard.policy.grid import (
    MAX_GRID_FILE_BYTES,
    MAX_GRID_SIDE,
    MAX_LAYERS,
    Cell,
    DisplayOptions,
    Grid,
    GridError,
    Layer,
    Tab,
    check_grid,
    grid_from_data,
    grid_from_yaml,
    grid_to_yaml,
)
from livedata.dashboard.policy.plotters import PlotterKind


def image_layer(instrument: str = "dummy", **kwargs) -> Layer:
    return Layer(
        workflow_id=WorkflowId(instrument=instrument, name="panel_0_xy", version=1),
        source_name="panel_0",
        output_name="current",
        plotter=PlotterKind.IMAGE,
        **kwargs,
    )


@pytest.fixture(scope="module")
def specs():
    dummy = load_instrument("dummy")
    return {spec.workflow_id: spec for spec in dummy.build_workflows(dummy).specs()}


def test_cells_may_span_rows_and_columns() -> None:
    tab = Tab(
        title="t",
        rows=2,
        cols=3,
        cells=(
            Cell(row=0, col=0, row_span=2, layers=(image_layer(),)),
            Cell(row=0, col=1, col_span=2),
            Cell(row=1, col=1),
            Cell(row=1, col=2),
        ),
    )
    assert len(tab.cells) == 4


def test_overlapping_cells_are_refused() -> None:
    with pytest.raises(GridError, match="overlap at"):
        Tab(title="t", rows=2, cols=2, cells=(Cell(row=0, col=0, row_span=2), Cell(row=1, col=0)))


@pytest.mark.parametrize(
    "cell",
    [
        Cell(row=2, col=0),
        Cell(row=0, col=1, col_span=2),
        Cell(row=1, col=1, row_span=2),
    ],
)
def test_cells_must_stay_inside_the_grid(cell) -> None:
    with pytest.raises(GridError, match="leaves the 2 x 2 grid"):
        Tab(title="t", rows=2, cols=2, cells=(cell,))


def test_sizes_are_bounded() -> None:
    with pytest.raises(GridError, match="rows and columns"):
        Tab(title="t", rows=MAX_GRID_SIDE + 1, cols=1)
    with pytest.raises(GridError, match="rows and columns"):
        Tab(title="t", rows=0, cols=1)
    with pytest.raises(GridError, match="start at 0"):
        Cell(row=-1, col=0)
    with pytest.raises(GridError, match="spans at 1"):
        Cell(row=0, col=0, col_span=0)
    with pytest.raises(GridError, match="layers"):
        Cell(row=0, col=0, layers=(image_layer(),) * (MAX_LAYERS + 1))
    with pytest.raises(GridError, match="tabs"):
        Grid(title="g", tabs=())


def test_colour_limits_must_be_an_ordered_finite_pair() -> None:
    with pytest.raises(GridError, match="colour limits"):
        DisplayOptions(color_limits=(5.0, 1.0))
    with pytest.raises(GridError, match="colour limits"):
        DisplayOptions(color_limits=(0.0, float("nan")))


def test_rois_are_checked_like_the_wire_checks_them() -> None:
    with pytest.raises(GridError, match="ROIs"):
        image_layer(rois={"rectangle": {0: Roi(shape="rectangle", x=(5.0, 1.0), y=(0.0, 1.0))}})


def a_grid() -> Grid:
    rois = {
        "rectangle": {2: Roi(shape="rectangle", x=(1.0, 5.0), y=(2.0, 9.5))},
        "polygon": {0: Roi(shape="polygon", x=(0.0, 4.0, 2.0), y=(0.0, 0.0, 3.0), unit="mm")},
    }
    return Grid(
        title="Mine",
        tabs=(
            Tab(
                title="Detector",
                rows=2,
                cols=2,
                cells=(
                    Cell(
                        row=0,
                        col=0,
                        row_span=2,
                        title="image",
                        layers=(
                            image_layer(
                                options=DisplayOptions(log_color=True, color_limits=(1.0, 1e4)),
                                rois=rois,
                            ),
                        ),
                    ),
                    Cell(
                        row=0,
                        col=1,
                        layers=(
                            Layer(
                                workflow_id=WorkflowId(
                                    instrument="dummy", name="timeseries_data", version=1
                                ),
                                source_name="motion1",
                                output_name="timeseries",
                                plotter=PlotterKind.TIMESERIES,
                                options=DisplayOptions(window=TimeWindow(last_s=60.0), rate=True),
                            ),
                        ),
                    ),
                ),
            ),
            Tab(
                title="Monitors",
                rows=1,
                cols=1,
                cells=(
                    Cell(
                        row=0,
                        col=0,
                        layers=(
                            Layer(
                                workflow_id=WorkflowId(
                                    instrument="dummy", name="monitor_histogram", version=1
                                ),
                                source_name="monitor1",
                                output_name="cumulative",
                                plotter=PlotterKind.LINE,
                                options=DisplayOptions(window=TimeWindow(300.0), errors=True),
                            ),
                        ),
                    ),
                ),
            ),
            Tab(title="Empty", rows=1, cols=1),
        ),
    )


def test_yaml_round_trip_keeps_everything() -> None:
    grid = a_grid()
    text = grid_to_yaml(grid)
    assert "dummy/" not in text  # workflow ids are stored without the instrument
    assert grid_from_yaml(text, instrument="dummy") == grid


def test_a_grid_file_serves_any_instrument_name() -> None:
    loaded = grid_from_yaml(grid_to_yaml(a_grid()), instrument="t1234")
    assert {layer.workflow_id.instrument for layer in loaded.layers()} == {"t1234"}


def test_version_defaults_to_one() -> None:
    raw = {
        "title": "g",
        "tabs": [
            {
                "title": "t",
                "rows": 1,
                "cols": 1,
                "cells": [
                    {
                        "row": 0,
                        "col": 0,
                        "layers": [
                            {
                                "workflow": "panel_0_xy",
                                "source": "panel_0",
                                "output": "current",
                                "plotter": "image",
                            }
                        ],
                    }
                ],
            }
        ],
    }
    grid = grid_from_data(raw, instrument="dummy")
    assert grid.layers()[0].workflow_id == WorkflowId(
        instrument="dummy", name="panel_0_xy", version=1
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: g\ntabs: []\n", "tabs"),
        ("title: g\ntabs: [{title: t, rows: 1, cols: 1, colour: red}]\n", "colour"),
        ("{{{", "not YAML"),
        ("- just\n- a list\n", "not a grid"),
        (
            "title: g\ntabs: [{title: t, rows: 1, cols: 1, cells: [{row: 0, col: 0, layers: "
            "[{workflow: ../../etc, source: s, output: o, plotter: image}]}]}]\n",
            "workflow",
        ),
        (
            "title: g\ntabs: [{title: t, rows: 1, cols: 1, cells: [{row: 0, col: 0, layers: "
            "[{workflow: w, source: s, output: o, plotter: teapot}]}]}]\n",
            "plotter",
        ),
        (
            "title: g\ntabs: [{title: t, rows: 1, cols: 1, cells: "
            "[{row: 0, col: 0}, {row: 0, col: 0}]}]\n",
            "overlap",
        ),
    ],
)
def test_bad_grid_files_say_what_is_wrong(text, message) -> None:
    with pytest.raises(GridError, match=message):
        grid_from_yaml(text, instrument="dummy")


def test_yaml_tags_that_build_objects_are_refused() -> None:
    with pytest.raises(GridError, match="not YAML"):
        grid_from_yaml("!!python/object/apply:os.system ['true']", instrument="dummy")


def test_oversized_grid_files_are_refused_unread() -> None:
    with pytest.raises(GridError, match="exceeds"):
        grid_from_yaml("#" * (MAX_GRID_FILE_BYTES + 1), instrument="dummy")


def test_the_checked_grid_reports_what_the_instrument_cannot_show(specs) -> None:
    grid = a_grid()
    assert check_grid(grid, specs) == []
    wrong = Grid(
        title="g",
        tabs=(
            Tab(
                title="t",
                rows=1,
                cols=4,
                cells=(
                    Cell(row=0, col=0, layers=(image_layer(instrument="other"),)),
                    Cell(
                        row=0, col=1, layers=(dataclasses.replace(image_layer(), source_name="x"),)
                    ),
                    Cell(
                        row=0, col=2, layers=(dataclasses.replace(image_layer(), output_name="x"),)
                    ),
                    Cell(
                        row=0,
                        col=3,
                        layers=(dataclasses.replace(image_layer(), plotter=PlotterKind.BARS),),
                    ),
                ),
            ),
        ),
    )
    problems = check_grid(wrong, specs)
    assert len(problems) == 4
    assert "unknown workflow other/panel_0_xy/1" in problems[0]
    assert "does not accept source 'x'" in problems[1]
    assert "has no output 'x'" in problems[2]
    assert "bars does not fit" in problems[3]


def test_grids_and_layers_are_hashable_values() -> None:
    grid = a_grid()
    assert hash(grid) == hash(grid_from_yaml(grid_to_yaml(grid), instrument="dummy"))
    assert len(dict.fromkeys(grid.layers())) == 3


def test_a_window_that_cannot_apply_is_reported(specs) -> None:
    roi = dataclasses.replace(
        image_layer(),
        output_name="roi_rectangle",
        plotter=PlotterKind.ROI_OVERLAY,
        options=DisplayOptions(window=TimeWindow(60.0)),
    )
    grid = Grid(
        title="g",
        tabs=(Tab(title="t", rows=1, cols=1, cells=(Cell(row=0, col=0, layers=(roi,)),)),),
    )
    (problem,) = check_grid(grid, specs)
    assert "window does not apply to 'roi_rectangle'" in problem
