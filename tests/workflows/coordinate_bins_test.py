"""Coordinate bins: exact end edges, and the bounds a params model enforces."""

import numpy as np
import pydantic
import pytest

from livedata.workflows.coordinate_bins import MAX_COORDINATE_BINS, CoordinateBins
from livedata.workflows.sans import QBinning


@pytest.mark.parametrize("scale", ["linear", "log"])
def test_edges_start_and_stop_exactly(scale) -> None:
    edges = CoordinateBins(0.007, 0.93, 123, scale).edges()
    assert len(edges) == 124
    assert edges[0] == 0.007
    assert edges[-1] == 0.93
    assert np.all(np.diff(edges) > 0)


def test_log_edges_are_equal_in_log() -> None:
    edges = CoordinateBins(0.01, 10.0, 3, "log").edges()
    np.testing.assert_allclose(edges, [0.01, 0.1, 1.0, 10.0])


@pytest.mark.parametrize(
    "fields",
    [
        {"bins": 0},
        {"bins": MAX_COORDINATE_BINS + 1},
        {"start": 0.0},
        {"start": -1.0},
        {"start": 0.5, "stop": 0.1},
        {"start": 0.1, "stop": 0.1},
        {"stop": float("inf")},
        {"start": float("nan")},
        {"stop": 1e9},
        {"scale": "sqrt"},
        {"start": 1.0, "stop": 1.00001, "bins": 10},  # bins of 1 ppm
        {"unexpected": 1},
    ],
)
def test_unbounded_or_disordered_binning_is_rejected(fields) -> None:
    with pytest.raises(pydantic.ValidationError):
        QBinning.model_validate(fields)


def test_the_dataclass_checks_the_same_bounds() -> None:
    with pytest.raises(ValueError, match="positive and ordered"):
        CoordinateBins(2.0, 1.0, 3)
    with pytest.raises(ValueError, match="narrower"):
        CoordinateBins(1.0, 1.000001, 1, "log")
