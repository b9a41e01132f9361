import uuid

import numpy as np
import pytest
import scipp as sc

from livedata.core.control import Roi, RoiUpdate
from livedata.core.identity import JobId
from livedata.protocol.da00 import decode_da00
from livedata.protocol.errors import EncodeError
from livedata.protocol.roi import (
    decode_roi,
    encode_roi,
    parse_roi_source_name,
    roi_source_name,
    rois_from_data_array,
    rois_to_data_array,
)

JOB = JobId(source_name="panel_0", job_number=uuid.UUID("3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"))


def rectangle(x0: float, x1: float, y0: float, y1: float, unit: str | None = None) -> Roi:
    return Roi(shape="rectangle", x=(x0, x1), y=(y0, y1), unit=unit)


def test_rectangles_round_trip() -> None:
    update = RoiUpdate(
        job_id=JOB,
        shape="rectangle",
        rois={0: rectangle(1, 5, 2, 8), 3: rectangle(-1.5, 0.5, 10, 12)},
    )
    assert decode_roi(encode_roi(update)) == update


def test_polygons_with_physical_unit_round_trip() -> None:
    update = RoiUpdate(
        job_id=JOB,
        shape="polygon",
        rois={
            2: Roi(shape="polygon", x=(0.0, 0.1, 0.2), y=(0.0, 0.1, 0.0), unit="m"),
            5: Roi(shape="polygon", x=(1.0, 2.0, 2.0, 1.0), y=(1.0, 1.0, 2.0, 2.0), unit="m"),
        },
    )
    assert decode_roi(encode_roi(update)) == update


@pytest.mark.parametrize("shape", ["rectangle", "polygon"])
def test_empty_update_clears(shape: str) -> None:
    update = RoiUpdate(job_id=JOB, shape=shape, rois={})  # type: ignore[arg-type]
    decoded = decode_roi(encode_roi(update))
    assert decoded == update
    assert decoded.rois == {}


def test_wire_layout_matches_the_contract() -> None:
    update = RoiUpdate(
        job_id=JOB, shape="rectangle", rois={1: rectangle(1, 5, 2, 8), 0: rectangle(0, 1, 0, 1)}
    )
    source, timestamp, data = decode_da00(encode_roi(update))
    assert source == f"panel_0/{JOB.job_number}/roi_rectangle"
    assert timestamp == 0
    assert data.dims == ("bounds",)
    assert data.dtype == sc.DType.int32
    np.testing.assert_array_equal(data.values, [1, 1, 1, 1])
    np.testing.assert_array_equal(data.coords["x"].values, [0, 1, 1, 5])
    np.testing.assert_array_equal(data.coords["y"].values, [0, 1, 2, 8])
    assert data.coords["roi_index"].dtype == sc.DType.int32
    np.testing.assert_array_equal(data.coords["roi_index"].values, [0, 0, 1, 1])
    assert data.coords["x"].unit is None


def test_polygon_lies_on_vertex_dim() -> None:
    update = RoiUpdate(
        job_id=JOB, shape="polygon", rois={0: Roi(shape="polygon", x=(0, 1, 2), y=(0, 1, 0))}
    )
    _, _, data = decode_da00(encode_roi(update))
    assert data.dims == ("vertex",)


def test_interleaved_points_are_grouped_by_index_in_order() -> None:
    data = sc.DataArray(
        sc.ones(dims=["vertex"], shape=[6], dtype="int32"),
        coords={
            "x": sc.array(dims=["vertex"], values=[0.0, 10.0, 1.0, 11.0, 2.0, 12.0]),
            "y": sc.array(dims=["vertex"], values=[0.0, 10.0, 1.0, 11.0, 0.0, 10.0]),
            "roi_index": sc.array(dims=["vertex"], values=[4, 2, 4, 2, 4, 2], dtype="int32"),
        },
    )
    rois = rois_from_data_array("polygon", data)
    assert rois[4].x == (0.0, 1.0, 2.0)
    assert rois[2].x == (10.0, 11.0, 12.0)


def test_data_array_helpers_are_inverse() -> None:
    rois = {7: rectangle(0, 2, 0, 3, unit="mm")}
    assert rois_from_data_array("rectangle", rois_to_data_array("rectangle", rois)) == rois


def test_source_name_of_a_source_with_slashes() -> None:
    job = JobId(source_name="loki/rear", job_number=JOB.job_number)
    assert parse_roi_source_name(roi_source_name(job, "polygon")) == (job, "polygon")


def test_encode_refuses_mixed_units() -> None:
    rois = {0: rectangle(0, 1, 0, 1, unit="m"), 1: rectangle(0, 1, 0, 1)}
    with pytest.raises(EncodeError, match="unit"):
        rois_to_data_array("rectangle", rois)


def test_encode_refuses_wrong_shape() -> None:
    with pytest.raises(EncodeError, match="polygon"):
        rois_to_data_array("polygon", {0: rectangle(0, 1, 0, 1)})


def test_encode_refuses_what_decode_would_refuse() -> None:
    with pytest.raises(EncodeError, match="NaN"):
        rois_to_data_array("rectangle", {0: rectangle(0, float("nan"), 0, 1)})


def test_encode_refuses_roi_with_unequal_x_and_y() -> None:
    rois = {
        0: Roi(shape="polygon", x=(0, 1, 2), y=(0, 1)),
        1: Roi(shape="polygon", x=(0, 1), y=(0, 1, 2)),
    }
    with pytest.raises(EncodeError, match="as many y as x"):
        rois_to_data_array("polygon", rois)


def test_encode_refuses_unknown_unit() -> None:
    with pytest.raises(EncodeError, match="not a unit"):
        rois_to_data_array("rectangle", {0: rectangle(0, 1, 0, 1, unit="furlongs^^")})


def test_unit_comes_back_in_scipp_spelling() -> None:
    update = RoiUpdate(job_id=JOB, shape="rectangle", rois={0: rectangle(0, 1, 0, 1, "angstrom")})
    assert decode_roi(encode_roi(update)).rois[0].unit == "Å"
