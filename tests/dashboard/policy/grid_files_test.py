"""Shipped grid templates and user grids on disk (names resolved inside the base dir)."""

import dataclasses
from pathlib import Path

import pytest

from livedata.config.registry import load_instrument
from livedata.dashboard.policy.grid import GridError, check_grid
from livedata.dashboard.policy.grid_files import (
    DEFAULT_GRID_DIR,
    GRID_DIR_ENV,
    GridLibrary,
    check_name,
    grid_dir,
    load_template,
    template_names,
)
from livedata.dashboard.policy.plotters import PlotterKind


@pytest.fixture(scope="module")
def dummy():
    return load_instrument("dummy")


def test_the_dummy_ships_a_default_template_that_it_can_show(dummy) -> None:
    assert "default" in template_names(dummy)
    grid = load_template(dummy, "default")
    specs = {spec.workflow_id: spec for spec in dummy.build_workflows(dummy).specs()}
    assert check_grid(grid, specs) == []
    bound = {(layer.source_name, layer.output_name, layer.plotter) for layer in grid.layers()}
    assert {
        ("panel_0", "current", PlotterKind.IMAGE),
        ("panel_0", "cumulative", PlotterKind.IMAGE),
        ("panel_0", "counts_total", PlotterKind.TIMESERIES),
        ("monitor1", "current", PlotterKind.LINE),
        ("monitor2", "current", PlotterKind.LINE),
        ("motion1", "timeseries", PlotterKind.TIMESERIES),
        ("motion2", "timeseries", PlotterKind.TIMESERIES),
    } <= bound


def test_every_shipped_template_loads_and_fits(dummy) -> None:
    specs = {spec.workflow_id: spec for spec in dummy.build_workflows(dummy).specs()}
    for name in template_names(dummy):
        assert check_grid(load_template(dummy, name), specs) == [], name


def test_a_renamed_instrument_finds_its_templates(dummy) -> None:
    renamed = dataclasses.replace(dummy, name="t0000001")
    grid = load_template(renamed, "default")
    assert {layer.workflow_id.instrument for layer in grid.layers()} == {"t0000001"}


def test_a_missing_template_is_an_error(dummy) -> None:
    with pytest.raises(GridError, match="no grid template"):
        load_template(dummy, "nope")
    with pytest.raises(GridError, match="template name"):
        load_template(dummy, "../default")


def test_user_grids_save_list_load_and_delete(tmp_path: Path, dummy) -> None:
    library = GridLibrary(tmp_path)
    grid = load_template(dummy, "default")
    assert library.names("dummy") == []
    path = library.save("dummy", "night-shift_1", grid)
    assert path == (tmp_path / "dummy" / "night-shift_1.yaml").resolve()
    assert library.names("dummy") == ["night-shift_1"]
    assert library.load("dummy", "night-shift_1") == grid
    library.save("dummy", "night-shift_1", grid)  # overwrite in place
    assert [p.name for p in (tmp_path / "dummy").iterdir()] == ["night-shift_1.yaml"]
    assert library.delete("dummy", "night-shift_1")
    assert not library.delete("dummy", "night-shift_1")
    with pytest.raises(GridError, match="no saved grid"):
        library.load("dummy", "night-shift_1")


@pytest.mark.parametrize(
    "name",
    ["../escape", "..", "a/b", "/etc/passwd", ".hidden", "a\\b", "", "x" * 65, "a..b", "ü"],
)
def test_names_that_could_leave_the_base_directory_are_refused(tmp_path: Path, name) -> None:
    library = GridLibrary(tmp_path)
    with pytest.raises(GridError):
        library.path("dummy", name)
    with pytest.raises(GridError):
        library.path(name, "grid")


def test_a_symlink_out_of_the_base_directory_is_refused(tmp_path: Path) -> None:
    base, outside = tmp_path / "base", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    (base / "dummy").symlink_to(outside)
    with pytest.raises(GridError, match="outside"):
        GridLibrary(base).path("dummy", "grid")


def test_check_name_allows_ordinary_names() -> None:
    assert check_name("Run-42.v2") == "Run-42.v2"


def test_the_base_directory_comes_from_the_environment() -> None:
    assert grid_dir({GRID_DIR_ENV: "/srv/grids"}) == Path("/srv/grids")
    assert grid_dir({GRID_DIR_ENV: "  "}) == DEFAULT_GRID_DIR.expanduser()
    assert grid_dir({}) == DEFAULT_GRID_DIR.expanduser()
