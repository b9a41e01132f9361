"""A cell's current data as a file: CSV for 0-d and 1-d results, HDF5 for any.

HDF5 is scipp's own layout (``DataArray.save_hdf5``: values, variances, units and every
coordinate, readable back with ``scipp.io.load_hdf5``); it needs ``h5py``, and the
dashboard offers it only when that is installed. PNG is made in the browser from the
plot's own canvas (exactly what the operator sees), see ``cell.py``. No Panel here.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import re

import numpy as np
import scipp as sc

from livedata.core.identity import ResultKey

MAX_CSV_ROWS = 10_000_000
"""A CSV beyond ten million rows is not something anyone opens in a spreadsheet."""


def hdf5_available() -> bool:
    return importlib.util.find_spec("h5py") is not None


def file_stem(key: ResultKey) -> str:
    """A safe file name stem: ``panel_0_xy-panel_0-current``."""
    raw = f"{key.workflow_id.name}-{key.job_id.source_name}-{key.output_name}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", raw)[:120]


def to_csv(data: sc.DataArray) -> bytes:
    """A 0-d or 1-d result as CSV: coordinate columns (bin edges as ``_low``/``_high``),
    then the values and, if present, their standard deviations, each header with unit.

    Raises
    ------
    ValueError
        For results with more than one dim (use HDF5).
    """
    if data.ndim > 1:
        raise ValueError(
            f"CSV holds 0-d and 1-d results; this one has dims {data.dims} (export HDF5)"
        )
    out = io.StringIO()
    writer = csv.writer(out)
    columns: list[tuple[str, np.ndarray]] = []
    n = 1 if data.ndim == 0 else data.shape[0]
    if n > MAX_CSV_ROWS:
        raise ValueError(f"{n} rows is too many for CSV")
    for name, coord in data.coords.items():
        if coord.ndim == 0:
            continue
        if coord.dims != data.dims:
            continue
        values = _column(coord)
        if len(values) == n + 1:
            columns.append((_header(f"{name}_low", coord.unit), values[:-1]))
            columns.append((_header(f"{name}_high", coord.unit), values[1:]))
        elif len(values) == n:
            columns.append((_header(name, coord.unit), values))
    columns.append((_header("value", data.unit), np.atleast_1d(data.values)))
    if data.variances is not None:
        columns.append((_header("stddev", data.unit), np.sqrt(np.atleast_1d(data.variances))))
    for name, coord in data.coords.items():
        if coord.ndim == 0:
            writer.writerow([f"# {name}", _scalar_text(coord)])
    writer.writerow([header for header, _ in columns])
    for row in zip(*(values for _, values in columns), strict=True):
        writer.writerow([_cell(v) for v in row])
    return out.getvalue().encode()


def to_hdf5(data: sc.DataArray) -> bytes:
    """Any result in scipp's HDF5 layout (needs ``h5py``)."""
    buffer = io.BytesIO()
    data.save_hdf5(buffer)
    return buffer.getvalue()


def _column(var: sc.Variable) -> np.ndarray:
    if var.dtype == sc.DType.datetime64:
        return np.asarray(var.values).astype("datetime64[ns]")
    return np.atleast_1d(np.asarray(var.values))


def _header(name: str, unit: sc.Unit | None) -> str:
    return name if unit is None or str(unit) == "dimensionless" else f"{name} [{unit}]"


def _scalar_text(var: sc.Variable) -> str:
    unit = "" if var.unit is None else f" {var.unit}"
    return f"{var.value}{unit}"


def _cell(value: object) -> str:
    if isinstance(value, np.datetime64):
        return str(value)
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)
