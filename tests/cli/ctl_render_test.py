import pytest

from livedata.cli.ctl.catalog import ParamRow, describe_workflow
from livedata.cli.ctl.render import (
    format_count,
    format_duration,
    render_params,
    render_workflow,
    table,
)
from livedata.config.registry import load_instrument


def test_table_pads_columns_and_shows_none_as_dash() -> None:
    text = table(["A", "LONGER"], [["xyz", None], [1, "b"]], indent="  ")
    assert text.splitlines() == ["  A    LONGER", "  xyz  -", "  1    b"]


def test_table_cuts_long_cells_and_joins_lines() -> None:
    row = table(["M"], [["x" * 100]]).splitlines()[1]
    assert len(row) == 60
    assert row.endswith("...")
    assert table(["M"], [["two\nlines"]]).splitlines()[1] == "two lines"


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0"), (9999, "9999"), (12345, "12.3k"), (999_499, "999k"), (4_560_000, "4.56M"),
     (2_000_000_000, "2G"), (-20_000, "-20k")],
)  # fmt: skip
def test_format_count(n, text) -> None:
    assert format_count(n) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (-3, "0s"), (0.4, "0s"), (42, "42s"), (303, "5m03s"), (7500, "2h05m"),
     (273600, "3d04h")],
)  # fmt: skip
def test_format_duration(seconds, text) -> None:
    assert format_duration(seconds) == text


def test_render_workflow_lists_sources_params_and_outputs() -> None:
    dummy = load_instrument("dummy")
    specs = {s.workflow_id.name: s for s in dummy.build_workflows(dummy).specs()}
    text = render_workflow(describe_workflow(specs["monitor_histogram"]))
    lines = text.splitlines()
    assert lines[0] == "dummy/monitor_histogram/1  Monitor histogram"
    assert "    sources  monitor1, monitor2" in lines
    assert "    params   bins, toa_range" in lines
    assert any(line.split() == ["cumulative", "Spectrum", "since", "start",
                                "(time_of_arrival)", "counts"] for line in lines)  # fmt: skip
    timeseries = render_workflow(describe_workflow(specs["timeseries_data"]))
    assert "params   (none)" in timeseries
    assert timeseries.splitlines()[-1].split() == ["timeseries", "Timeseries", "(timestamp)", "-"]


def test_render_params() -> None:
    assert render_params("i/w/1", "NoParams", []) == "i/w/1 takes no params"
    text = render_params("i/w/1", "P", [ParamRow("a.b", "integer", "3", ">= 1", "Thing.")])
    assert text.splitlines() == [
        "i/w/1 params (P); set with --param KEY=VALUE:",
        "  key  type     default  limits  description",
        "  a.b  integer  3        >= 1    Thing.",
    ]
