"""Exporting a cell's data: CSV for 0-d and 1-d, HDF5 (scipp's layout) for any."""

from __future__ import annotations

import io
import uuid

import numpy as np
import pytest
import scipp as sc

from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.dashboard.ui.export import file_stem, hdf5_available, to_csv, to_hdf5


def spectrum() -> sc.DataArray:
    return sc.DataArray(
        sc.array(dims=["toa"], values=[1.0, 4.0], variances=[1.0, 4.0], unit="counts"),
        coords={
            "toa": sc.array(dims=["toa"], values=[0.0, 1.0, 2.0], unit="ns"),
            "time": sc.scalar(5, unit="ns", dtype="int64"),
        },
    )


def test_csv_has_bin_edges_values_and_uncertainties_with_units() -> None:
    lines = to_csv(spectrum()).decode().splitlines()
    assert lines[0] == "# time,5 ns"
    assert lines[1] == "toa_low [ns],toa_high [ns],value [counts],stddev [counts]"
    assert lines[2:] == ["0.0,1.0,1.0,1.0", "1.0,2.0,4.0,2.0"]


def test_csv_of_a_datetime_series_writes_iso_times() -> None:
    da = sc.DataArray(
        sc.array(dims=["t"], values=[1.5]),
        coords={"t": sc.datetimes(dims=["t"], values=[0], unit="ns")},
    )
    assert to_csv(da).decode().splitlines()[1] == "1970-01-01T00:00:00.000000000,1.5"


def test_csv_refuses_images() -> None:
    with pytest.raises(ValueError, match="HDF5"):
        to_csv(sc.DataArray(sc.zeros(dims=["y", "x"], shape=[2, 2])))


@pytest.mark.skipif(not hdf5_available(), reason="h5py is not installed")
def test_hdf5_round_trips_through_scipp() -> None:
    image = sc.DataArray(sc.array(dims=["y", "x"], values=np.arange(6.0).reshape(2, 3)))
    back = sc.io.load_hdf5(io.BytesIO(to_hdf5(image)))
    assert sc.identical(back, image)


def test_file_names_are_safe() -> None:
    key = ResultKey(
        workflow_id=WorkflowId(instrument="i", name="panel_0_xy", version=1),
        job_id=JobId(source_name="../etc/passwd", job_number=uuid.UUID(int=0)),
        output_name="current",
    )
    assert file_stem(key) == "panel_0_xy-.._etc_passwd-current"
    assert "/" not in file_stem(key)
