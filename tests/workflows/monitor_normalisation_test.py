"""Normalisation by a monitor: values and variances as scipp propagates them."""

import numpy as np
import pytest
import scipp as sc

from livedata.workflows.monitor_normalisation import normalise, normalised_array


@pytest.mark.parametrize("scale", [1.0, 0.37])
def test_matches_scipp_bin_by_bin(scale) -> None:
    counts = np.array([0, 1, 7, 250, 12_345])
    monitor = 9_876
    values, variances = normalise(counts, monitor, scale=scale)
    for c, v, var in zip(counts, values, variances, strict=True):
        expected = (
            sc.scalar(float(c), variance=float(c))
            / sc.scalar(float(monitor), variance=float(monitor))
            / scale
        )
        assert v == pytest.approx(expected.value, rel=1e-14)
        assert var == pytest.approx(expected.variance, rel=1e-14)


def test_zero_monitor_gives_nan() -> None:
    values, variances = normalise([1, 0], 0)
    assert np.isnan(values).all()
    assert np.isnan(variances).all()


def test_array_is_dimensionless_with_edges() -> None:
    edges = sc.array(dims=["Q"], values=[0.1, 0.2, 0.3], unit="1/angstrom")
    da = normalised_array([2, 4], 8, dim="Q", edges=edges, start_time=5)
    assert da.unit == sc.units.dimensionless
    np.testing.assert_allclose(da.values, [0.25, 0.5])
    assert da.coords.is_edges("Q")
    assert da.coords["start_time"].value == 5
