"""Plot grids as data: tabs of grids, cells with spans, layers binding outputs to plotters.

A layer names an output by workflow, source and output (not by job number), so a grid
keeps showing "panel_0's current image" across job restarts. Grids are plain frozen
dataclasses, checked on construction (cells inside their grid, no overlaps, bounded
sizes); YAML files are read with ``yaml.safe_load`` into pydantic models first (they
come from users), then into the dataclasses. Workflow ids are written without the
instrument (``panel_0_xy/1``), so one template serves every name an instrument runs as.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from livedata.core.control import Roi, RoiShape
from livedata.core.identity import WorkflowId
from livedata.core.workflow import WorkflowSpec
from livedata.dashboard.policy.display import MAX_WINDOW_S, TimeWindow
from livedata.dashboard.policy.plotters import PlotterKind, fit_problem
from livedata.dashboard.policy.windows import window_problem
from livedata.protocol.errors import EncodeError
from livedata.protocol.roi import MAX_ROI_INDEX, MAX_ROIS, rois_to_data_array
from livedata.protocol.wire_errors import describe_validation_error
from livedata.protocol.wire_ids import MAX_NAME_LENGTH, NAME_PATTERN, Name, SourceName

MAX_TABS = 16
"""Tabs per grid; an operator watches a handful."""

MAX_GRID_SIDE = 8
"""Rows or columns of one tab: 64 cells is already more than a screen shows legibly."""

MAX_LAYERS = 8
"""Layers per cell: an image with its ROI overlays, or a few curves to compare."""

MAX_TITLE = 100
"""Longest tab, cell or grid title."""

MAX_GRID_FILE_BYTES = 1024 * 1024
"""A grid file is a few kB (ROI polygons maybe tens); anything larger is refused unread."""


class GridError(ValueError):
    """A grid that breaks the rules (overlap, out of bounds) or a file that does not parse."""


# -- the model ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DisplayOptions:
    """How a layer is drawn; every field has the default a new layer starts with."""

    log_x: bool = False
    log_y: bool = False
    log_color: bool = False
    color_limits: tuple[float, float] | None = None
    """Fixed colour (or, for curves, y) limits; None autoscales with hysteresis."""
    rate: bool = False
    """Counts per second of each result's data window instead of counts."""
    window: TimeWindow = field(default_factory=TimeWindow)
    """Which stretch of data time: as published (``last_s`` None), or the last N seconds:
    the points of a time series, or the sum of the per-window frames of a counting
    output (``policy.windows``)."""
    errors: bool = False
    """1-d curves: a band of plus/minus one standard deviation, where results carry
    variances (counts do: Poisson)."""

    def __post_init__(self) -> None:
        if self.color_limits is not None:
            low, high = self.color_limits
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise GridError(f"colour limits must be finite with low < high: {low}, {high}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Layer:
    workflow_id: WorkflowId
    source_name: str
    output_name: str
    plotter: PlotterKind
    options: DisplayOptions = field(default_factory=DisplayOptions)
    rois: Mapping[RoiShape, Mapping[int, Roi]] = field(default_factory=dict, hash=False)
    """ROIs drawn on this (image) layer, saved with the grid and re-sent on load (compared,
    not hashed: a layer stays usable as a dict key)."""

    def __post_init__(self) -> None:
        for shape, rois in self.rois.items():
            try:
                rois_to_data_array(shape, rois)
            except (EncodeError, KeyError) as err:
                raise GridError(f"ROIs of layer {self.output_name!r}: {err}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Cell:
    row: int
    col: int
    row_span: int = 1
    col_span: int = 1
    title: str | None = None
    layers: tuple[Layer, ...] = ()

    def __post_init__(self) -> None:
        if self.row < 0 or self.col < 0 or self.row_span < 1 or self.col_span < 1:
            raise GridError(
                f"cell at ({self.row}, {self.col}) span ({self.row_span}, {self.col_span}): "
                "positions start at 0 and spans at 1"
            )
        if len(self.layers) > MAX_LAYERS:
            raise GridError(f"cell at ({self.row}, {self.col}) has more than {MAX_LAYERS} layers")

    def squares(self) -> set[tuple[int, int]]:
        return {
            (r, c)
            for r in range(self.row, self.row + self.row_span)
            for c in range(self.col, self.col + self.col_span)
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Tab:
    title: str
    rows: int
    cols: int
    cells: tuple[Cell, ...] = ()

    def __post_init__(self) -> None:
        if not (1 <= self.rows <= MAX_GRID_SIDE and 1 <= self.cols <= MAX_GRID_SIDE):
            raise GridError(
                f"tab {self.title!r}: {self.rows} x {self.cols} grid; rows and columns "
                f"must be 1..{MAX_GRID_SIDE}"
            )
        taken: dict[tuple[int, int], Cell] = {}
        for cell in self.cells:
            if cell.row + cell.row_span > self.rows or cell.col + cell.col_span > self.cols:
                raise GridError(
                    f"tab {self.title!r}: cell at ({cell.row}, {cell.col}) span "
                    f"({cell.row_span}, {cell.col_span}) leaves the {self.rows} x {self.cols} grid"
                )
            for square in cell.squares():
                other = taken.get(square)
                if other is not None:
                    raise GridError(
                        f"tab {self.title!r}: cells at ({other.row}, {other.col}) and "
                        f"({cell.row}, {cell.col}) overlap at {square}"
                    )
                taken[square] = cell


@dataclass(frozen=True, slots=True, kw_only=True)
class Grid:
    title: str
    tabs: tuple[Tab, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.tabs) <= MAX_TABS:
            raise GridError(f"a grid has 1..{MAX_TABS} tabs, got {len(self.tabs)}")

    def layers(self) -> list[Layer]:
        return [layer for tab in self.tabs for cell in tab.cells for layer in cell.layers]


def check_grid(grid: Grid, specs: Mapping[WorkflowId, WorkflowSpec]) -> list[str]:
    """What in ``grid`` the instrument cannot show (unknown workflow, source, output, or a
    plotter that does not fit the output's template); empty when all is well."""
    problems = []
    for tab in grid.tabs:
        for cell in tab.cells:
            where = f"{tab.title} ({cell.row}, {cell.col})"
            for layer in cell.layers:
                spec = specs.get(layer.workflow_id)
                if spec is None:
                    problems.append(f"{where}: unknown workflow {layer.workflow_id}")
                    continue
                if layer.source_name not in spec.source_names:
                    problems.append(
                        f"{where}: {layer.workflow_id} does not accept source "
                        f"{layer.source_name!r} (choose from {list(spec.source_names)})"
                    )
                output = spec.outputs.get(layer.output_name)
                if output is None:
                    problems.append(
                        f"{where}: {layer.workflow_id} has no output {layer.output_name!r}"
                    )
                    continue
                problem = fit_problem(layer.plotter, output.template)
                if problem is not None:
                    problems.append(f"{where}: {layer.output_name}: {problem}")
                    continue
                templates = {name: out.template for name, out in spec.outputs.items()}
                problem = window_problem(
                    layer.plotter, layer.output_name, layer.options.window.last_s, templates
                )
                if problem is not None:
                    problems.append(f"{where}: {problem}")
    return problems


# -- YAML -------------------------------------------------------------------------------------

_CONFIG = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE)]
_WORKFLOW_REF_PATTERN = NAME_PATTERN[:-1] + r"(/[0-9]{1,6})?$"
WorkflowRef = Annotated[
    str, StringConstraints(max_length=MAX_NAME_LENGTH + 8, pattern=_WORKFLOW_REF_PATTERN)
]
"""``name`` or ``name/version`` (version 1 when left out)."""


class _RoiModel(BaseModel):
    model_config = _CONFIG

    x: Annotated[list[float], Field(min_length=2, max_length=1024)]
    y: Annotated[list[float], Field(min_length=2, max_length=1024)]
    unit: Annotated[str, StringConstraints(max_length=32)] | None = None


RoiIndex = Annotated[int, Field(ge=0, le=MAX_ROI_INDEX)]


class _RoisModel(BaseModel):
    model_config = _CONFIG

    rectangle: Annotated[dict[RoiIndex, _RoiModel], Field(max_length=MAX_ROIS)] = {}
    polygon: Annotated[dict[RoiIndex, _RoiModel], Field(max_length=MAX_ROIS)] = {}


class _OptionsModel(BaseModel):
    model_config = _CONFIG

    log_x: bool = False
    log_y: bool = False
    log_color: bool = False
    color_limits: tuple[float, float] | None = None
    rate: bool = False
    window_s: Annotated[float, Field(gt=0, le=MAX_WINDOW_S)] | None = None
    """The last N seconds; absent for the output as published ("since start" for a
    time series)."""
    errors: bool = False


class _LayerModel(BaseModel):
    model_config = _CONFIG

    workflow: WorkflowRef
    source: SourceName
    output: Name
    plotter: PlotterKind
    options: _OptionsModel = _OptionsModel()
    rois: _RoisModel = _RoisModel()


class _CellModel(BaseModel):
    model_config = _CONFIG

    row: Annotated[int, Field(ge=0, lt=MAX_GRID_SIDE)]
    col: Annotated[int, Field(ge=0, lt=MAX_GRID_SIDE)]
    row_span: Annotated[int, Field(ge=1, le=MAX_GRID_SIDE)] = 1
    col_span: Annotated[int, Field(ge=1, le=MAX_GRID_SIDE)] = 1
    title: Title | None = None
    layers: Annotated[list[_LayerModel], Field(max_length=MAX_LAYERS)] = []


class _TabModel(BaseModel):
    model_config = _CONFIG

    title: Title
    rows: Annotated[int, Field(ge=1, le=MAX_GRID_SIDE)]
    cols: Annotated[int, Field(ge=1, le=MAX_GRID_SIDE)]
    cells: Annotated[list[_CellModel], Field(max_length=MAX_GRID_SIDE**2)] = []


class _GridModel(BaseModel):
    model_config = _CONFIG

    title: Title
    tabs: Annotated[list[_TabModel], Field(min_length=1, max_length=MAX_TABS)]


def _workflow_id(ref: str, instrument: str) -> WorkflowId:
    name, _, version = ref.partition("/")
    return WorkflowId(instrument=instrument, name=name, version=int(version or 1))


def _layer(model: _LayerModel, instrument: str) -> Layer:
    options = model.options
    rois: dict[RoiShape, dict[int, Roi]] = {}
    shapes: tuple[RoiShape, ...] = ("rectangle", "polygon")
    for shape in shapes:
        given = getattr(model.rois, shape)
        if given:
            rois[shape] = {
                index: Roi(shape=shape, x=tuple(roi.x), y=tuple(roi.y), unit=roi.unit)
                for index, roi in given.items()
            }
    return Layer(
        workflow_id=_workflow_id(model.workflow, instrument),
        source_name=model.source,
        output_name=model.output,
        plotter=model.plotter,
        options=DisplayOptions(
            log_x=options.log_x,
            log_y=options.log_y,
            log_color=options.log_color,
            color_limits=options.color_limits,
            rate=options.rate,
            window=TimeWindow(options.window_s),
            errors=options.errors,
        ),
        rois=rois,
    )


def grid_from_data(raw: Any, *, instrument: str) -> Grid:
    """Build a grid from parsed YAML/JSON data, for ``instrument``.

    Raises
    ------
    GridError
        With every schema problem listed, or the first rule the grid breaks.
    """
    try:
        model = _GridModel.model_validate(raw)
    except pydantic.ValidationError as err:
        raise GridError(f"not a grid: {describe_validation_error(err)}") from None
    return Grid(
        title=model.title,
        tabs=tuple(
            Tab(
                title=tab.title,
                rows=tab.rows,
                cols=tab.cols,
                cells=tuple(
                    Cell(
                        row=cell.row,
                        col=cell.col,
                        row_span=cell.row_span,
                        col_span=cell.col_span,
                        title=cell.title,
                        layers=tuple(_layer(layer, instrument) for layer in cell.layers),
                    )
                    for cell in tab.cells
                ),
            )
            for tab in model.tabs
        ),
    )


def grid_from_yaml(text: str | bytes, *, instrument: str) -> Grid:
    """Parse a grid file (``yaml.safe_load`` only; at most ``MAX_GRID_FILE_BYTES``)."""
    if len(text) > MAX_GRID_FILE_BYTES:
        raise GridError(f"grid file of {len(text)} bytes exceeds {MAX_GRID_FILE_BYTES}")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise GridError(f"grid file is not YAML: {err}") from None
    return grid_from_data(raw, instrument=instrument)


def _options_data(options: DisplayOptions) -> dict[str, Any]:
    data: dict[str, Any] = {}
    defaults = DisplayOptions()
    for name in ("log_x", "log_y", "log_color", "rate", "errors"):
        if getattr(options, name) != getattr(defaults, name):
            data[name] = getattr(options, name)
    if options.color_limits is not None:
        data["color_limits"] = list(options.color_limits)
    if options.window.last_s is not None:
        data["window_s"] = options.window.last_s
    return data


def _layer_data(layer: Layer) -> dict[str, Any]:
    wid = layer.workflow_id
    data: dict[str, Any] = {
        "workflow": f"{wid.name}/{wid.version}",
        "source": layer.source_name,
        "output": layer.output_name,
        "plotter": layer.plotter.value,
    }
    options = _options_data(layer.options)
    if options:
        data["options"] = options
    rois = {
        shape: {
            index: {"x": list(roi.x), "y": list(roi.y), **({"unit": roi.unit} if roi.unit else {})}
            for index, roi in sorted(given.items())
        }
        for shape, given in layer.rois.items()
        if given
    }
    if rois:
        data["rois"] = rois
    return data


def grid_to_data(grid: Grid) -> dict[str, Any]:
    """Plain data (what ``grid_from_data`` reads back), without the instrument."""
    return {
        "title": grid.title,
        "tabs": [
            {
                "title": tab.title,
                "rows": tab.rows,
                "cols": tab.cols,
                "cells": [
                    {
                        "row": cell.row,
                        "col": cell.col,
                        **({"row_span": cell.row_span} if cell.row_span != 1 else {}),
                        **({"col_span": cell.col_span} if cell.col_span != 1 else {}),
                        **({"title": cell.title} if cell.title else {}),
                        "layers": [_layer_data(layer) for layer in cell.layers],
                    }
                    for cell in tab.cells
                ],
            }
            for tab in grid.tabs
        ],
    }


def grid_to_yaml(grid: Grid) -> str:
    return yaml.safe_dump(grid_to_data(grid), sort_keys=False, allow_unicode=True)
