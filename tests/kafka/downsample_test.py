"""Downsampling results that are too large for one message: what each part becomes."""

import numpy as np
import scipp as sc

from livedata.kafka.downsample import downsample_to_fit, halve


def image(unit: str = "counts") -> sc.DataArray:
    values = np.arange(15.0).reshape(3, 5)
    return sc.DataArray(
        sc.array(dims=["y", "x"], values=values, variances=values * 2, unit=unit),
        coords={
            "x": sc.arange("x", 5, unit=None),
            "y": sc.array(dims=["y"], values=[0.0, 1.0, 2.0, 4.0], unit="m"),  # bin edges
            "x_pos": sc.array(dims=["x"], values=[0.0, 1.0, 2.0, 3.0, 4.0], unit="mm"),
            "pulse": sc.datetimes(dims=["x"], values=[10, 20, 30, 40, 50], unit="ns"),
            "time": sc.scalar(7, unit="ns"),
        },
        masks={"dead": sc.array(dims=["x"], values=[False, True, False, False, False])},
    )


def test_counts_are_summed_in_pairs_and_an_odd_last_bin_stays_alone() -> None:
    halved = halve(image(), "x")
    assert halved.sizes == {"y": 3, "x": 3}
    np.testing.assert_array_equal(halved.values[0], [0 + 1, 2 + 3, 4])
    np.testing.assert_array_equal(halved.variances[0], [2 * (0 + 1), 2 * (2 + 3), 2 * 4])
    assert halved.unit == sc.units.counts


def test_other_units_are_averaged() -> None:
    halved = halve(image(unit="1/angstrom"), "x")
    np.testing.assert_array_equal(halved.values[0], [0.5, 2.5, 4.0])
    np.testing.assert_array_equal(halved.variances[0], [2 * 1 / 4, 2 * 5 / 4, 2 * 4])


def test_coordinates_and_masks_follow() -> None:
    halved = halve(image(), "x")
    assert list(halved.coords["x"].values) == [0, 2, 4]  # integers: the first of the pair
    assert list(halved.coords["x_pos"].values) == [0.5, 2.5, 4.0]  # floats: the mean
    assert list(halved.coords["pulse"].values.astype(int)) == [10, 30, 50]
    assert sc.identical(halved.coords["time"], sc.scalar(7, unit="ns"))
    assert list(halved.masks["dead"].values) == [True, False, False]
    edges = halve(image(), "y").coords["y"]
    assert list(edges.values) == [0.0, 2.0, 4.0]  # every other edge, and the last
    assert edges.unit == sc.units.m


def test_the_largest_dimension_is_halved_until_it_fits() -> None:
    data = image()
    data.masks.clear()
    shrunk = downsample_to_fit(data, lambda d: d.size <= 4)
    assert shrunk is not None
    assert shrunk.data.sizes == {"y": 2, "x": 2}  # 3x5, 3x3, 2x3, 2x2
    assert shrunk.factors == {"x": 4, "y": 2}
    assert shrunk.describe() == "x/4, y/2"
    assert shrunk.data.sum().value == data.sum().value


def test_what_cannot_be_made_to_fit_gives_none() -> None:
    assert downsample_to_fit(sc.DataArray(sc.scalar(1.0)), lambda d: False) is None
    assert downsample_to_fit(image(), lambda d: False) is None  # not even as one bin
