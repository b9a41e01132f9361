"""Plotter choice from output templates: every dummy output, and the edge cases."""

import numpy as np
import pytest
import scipp as sc

from livedata.config.registry import load_instrument
from livedata.dashboard.policy.plotters import PlotterKind, choose_plotters, fit_problem

K = PlotterKind

EXPECTED = {
    ("panel_0_xy", "cumulative"): (K.IMAGE,),
    ("panel_0_xy", "current"): (K.IMAGE,),
    ("panel_0_xy", "counts_total"): (K.VALUE, K.TIMESERIES),
    ("panel_0_xy", "counts_total_cumulative"): (K.VALUE, K.TIMESERIES),
    ("panel_0_xy", "roi_spectra_current"): (K.LINE, K.IMAGE),
    ("panel_0_xy", "roi_spectra_cumulative"): (K.LINE, K.IMAGE),
    ("panel_0_xy", "roi_rectangle"): (K.ROI_OVERLAY,),
    ("panel_0_xy", "roi_polygon"): (K.ROI_OVERLAY,),
    ("area_panel_xy", "cumulative"): (K.IMAGE,),
    ("area_panel_xy", "current"): (K.IMAGE,),
    ("monitor_histogram", "cumulative"): (K.LINE, K.BARS),
    ("monitor_histogram", "current"): (K.LINE, K.BARS),
    ("monitor_histogram", "counts_total"): (K.VALUE, K.TIMESERIES),
    ("monitor_histogram", "counts_total_cumulative"): (K.VALUE, K.TIMESERIES),
    ("timeseries_data", "timeseries"): (K.TIMESERIES, K.LINE),
    ("total_counts", "total"): (K.VALUE, K.TIMESERIES),
    ("total_counts", "current"): (K.VALUE, K.TIMESERIES),
}


def dummy_outputs():
    dummy = load_instrument("dummy")
    return {
        (spec.workflow_id.name, name): output.template
        for spec in dummy.build_workflows(dummy).specs()
        for name, output in spec.outputs.items()
    }


def test_every_dummy_output_is_covered() -> None:
    assert set(dummy_outputs()) == set(EXPECTED)


@pytest.mark.parametrize(("output", "kinds"), sorted(EXPECTED.items()))
def test_plotters_for_each_dummy_output_template(output, kinds) -> None:
    choice = choose_plotters(dummy_outputs()[output])
    assert choice.kinds == kinds
    assert choice.default == kinds[0]
    assert choice.reason


def points(n: int, *, edges: bool = False, unit: str | None = "ns") -> sc.DataArray:
    return sc.DataArray(
        sc.array(dims=["t"], values=np.arange(float(n))),
        coords={"t": sc.array(dims=["t"], values=np.arange(float(n + edges)), unit=unit)},
    )


def test_one_d_points_are_a_line_and_bin_edges_add_bars() -> None:
    assert choose_plotters(points(5)).kinds == (K.LINE,)
    assert choose_plotters(points(5, edges=True)).kinds == (K.LINE, K.BARS)
    without_coord = sc.DataArray(sc.array(dims=["t"], values=[1.0, 2.0]))
    assert choose_plotters(without_coord).kinds == (K.LINE,)


def test_a_live_result_is_judged_like_its_template() -> None:
    live = sc.DataArray(
        sc.array(dims=["y", "x"], values=np.ones((128, 128)), unit="counts"),
        coords={d: sc.arange(d, 128, unit=None) for d in ("y", "x")},
    )
    assert choose_plotters(live).kinds == (K.IMAGE,)


def test_three_d_is_a_slicer_and_more_has_no_plotter() -> None:
    cube = sc.DataArray(sc.zeros(dims=["a", "b", "c"], shape=[2, 3, 4]))
    assert choose_plotters(cube).kinds == (K.SLICER,)
    four = sc.DataArray(sc.zeros(dims=["a", "b", "c", "d"], shape=[1, 1, 1, 1]))
    choice = choose_plotters(four)
    assert choice.kinds == ()
    assert choice.default is None
    assert "4-d" in choice.reason


def test_a_coordinate_that_cannot_be_an_axis_fits_nothing() -> None:
    da = sc.DataArray(
        sc.zeros(dims=["y", "x"], shape=[2, 3]),
        coords={"x": sc.zeros(dims=["y", "x"], shape=[2, 3])},
    )
    choice = choose_plotters(da)
    assert choice.kinds == ()
    assert "'x'" in choice.reason


def test_non_numeric_values_fit_nothing() -> None:
    da = sc.DataArray(sc.array(dims=["x"], values=["a", "b"]))
    assert choose_plotters(da).kinds == ()


def test_an_image_with_labelled_rows_but_no_physical_axis_stays_an_image() -> None:
    da = sc.DataArray(
        sc.zeros(dims=["bank", "pixel"], shape=[2, 3]),
        coords={"pixel": sc.arange("pixel", 3, unit=None)},
    )
    assert choose_plotters(da).kinds == (K.IMAGE,)


def test_an_roi_echo_is_recognised_by_its_layout_only() -> None:
    not_roi = sc.DataArray(
        sc.zeros(dims=["bounds"], shape=[2]), coords={"x": sc.zeros(dims=["bounds"], shape=[2])}
    )
    assert K.ROI_OVERLAY not in choose_plotters(not_roi).kinds


def test_fit_problem_explains_a_mismatch() -> None:
    outputs = dummy_outputs()
    image_template = outputs[("panel_0_xy", "current")]
    assert fit_problem(K.IMAGE, image_template) is None
    assert "use image" in fit_problem(K.LINE, image_template)
    live_1d = points(4)
    problem = fit_problem(K.IMAGE, live_1d, template=image_template)
    assert "differ from the output template" in problem
    assert fit_problem(K.LINE, live_1d, template=outputs[("monitor_histogram", "current")]) == (
        "result dims ('t',) differ from the output template's ('time_of_arrival',)"
    )
