"""da00 N-d arrays <-> ``scipp.DataArray``, in the layout of WIRE.md "Results".

The values live in variable ``signal`` (its ``label`` is the DataArray's title), their
standard deviations in ``errors`` (scipp keeps variances, so they are squared / rooted
here), and every coordinate is a variable of its own with ``axes`` and ``unit``. Masks
do not travel: masked values are sent as NaN. Datetime coordinates travel as int64
nanoseconds with unit ``datetime64[ns]``. Units are scipp's unit strings
(``str(unit)``, e.g. ``"µs"``, ``"Å"``, ``"counts"``, ``"dimensionless"``); a unit of
``None`` is an absent unit field.

Decoding copies each array once, from the message straight into the memory scipp owns
(types converted on the way, errors squared into the variances in the same pass);
:func:`decode_da00_variables` gives the arrays as views into the message itself, with
no copy at all. Encoding aligns every data vector to 8 bytes, so those views are
aligned for any dtype.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import flatbuffers  # type: ignore[import-untyped]  # ships no type information
import numpy as np
import numpy.typing as npt
import scipp as sc
from streaming_data_types.fbschemas.dataarray_da00 import da00_DataArray, da00_Variable

from livedata.protocol.errors import (
    Buffer,
    DecodeError,
    DecodeReason,
    EncodeError,
    guard_decoder,
)
from livedata.protocol.flatbuffer_table import I8, I64, FlatTable, little_endian

SCHEMA = "da00"
SIGNAL = "signal"
ERRORS = "errors"
DATETIME_UNIT = "datetime64[ns]"

MAX_VARIABLES = 64
"""Most variables in one message: signal, errors and coordinates are a handful. Bounds
the per-variable work a forged vector of tables could make us do."""

MAX_DIMS = 8
"""Most dimensions of a variable; results have at most 3, this bounds forged headers."""

MAX_ELEMENTS = 1 << 25
"""Most elements (33.5 M) of one variable: a 1.5 M-pixel DREAM image with room to
spare. Decoding copies into scipp and squares errors, so this bounds what one message
makes us allocate (one-byte types widen 8x to int64)."""

DATA_ALIGNMENT = 8
"""Byte alignment of every encoded data vector (the widest da00 dtype)."""

MAX_UNIT_BYTES = 256
"""Longest unit or label string; unit parsing of longer text is not worth the risk."""

_DTYPES: dict[int, np.dtype[np.number]] = {
    1: little_endian(np.int8),
    2: little_endian(np.uint8),
    3: little_endian(np.int16),
    4: little_endian(np.uint16),
    5: little_endian(np.int32),
    6: little_endian(np.uint32),
    7: little_endian(np.int64),
    8: little_endian(np.uint64),
    9: little_endian(np.float32),
    10: little_endian(np.float64),
}
"""The da00 ``dtype`` enum; 0 (``none``) and 11 (``c_string``) are refused."""
_DTYPE_TAGS = {dtype: tag for tag, dtype in _DTYPES.items()}

_UINT8 = little_endian(np.uint8)
_INT64 = little_endian(np.int64)
_SCIPP_NATIVE = frozenset(np.dtype(t) for t in (np.int32, np.int64, np.float32, np.float64))
_DATETIME_PREFIX, _DATETIME_SUFFIX = "datetime64[", "]"
_DATETIME_UNITS = {"s": "s", "ms": "ms", "us": "us", "µs": "us", "ns": "ns"}
"""Time units accepted inside ``datetime64[...]`` (as scipp spells them -> numpy)."""

# Field indices of da00_DataArray and da00_Variable in da00_dataarray.fbs.
_ARRAY_SOURCE_NAME = 0
_ARRAY_TIMESTAMP = 1
_ARRAY_DATA = 2
_VAR_NAME = 0
_VAR_UNIT = 1
_VAR_LABEL = 2
_VAR_DATA_TYPE = 4
_VAR_AXES = 5
_VAR_SHAPE = 6
_VAR_DATA = 7


@dataclass(frozen=True, slots=True, kw_only=True)
class Da00Variable:
    """One da00 variable, checked for consistency: its values shaped, not yet scipp."""

    name: str
    axes: tuple[str, ...]
    values: npt.NDArray[np.number]
    unit: str | None
    label: str | None


@guard_decoder
def decode_da00(buf: Buffer, *, max_elements: int = MAX_ELEMENTS) -> tuple[str, int, sc.DataArray]:
    """Decode a da00 payload into ``(source_name, timestamp_ns, data)``.

    ``data.name`` is the signal's label (``""`` without one). Integer types scipp
    lacks (8/16-bit, unsigned) widen to int64.

    Raises
    ------
    DecodeError
        For any payload that is not a consistent da00 DataArray with a ``signal``.
    """
    source_name, timestamp, variables = decode_da00_variables(buf, max_elements=max_elements)
    return source_name, timestamp, _to_data_array(variables)


@guard_decoder
def decode_da00_variables(
    buf: Buffer, *, max_elements: int = MAX_ELEMENTS
) -> tuple[str, int, dict[str, Da00Variable]]:
    """Decode a da00 payload into ``(source_name, timestamp_ns, variables by name)``
    without copying any array: each variable's ``values`` is a view into ``buf`` (read
    only if ``buf`` is), shaped and typed as sent, little-endian.

    Raises
    ------
    DecodeError
        For a payload that is not da00 or whose variables are inconsistent in
        themselves (whether they make a DataArray is :func:`decode_da00`'s check).
    """
    table = FlatTable.root(buf, SCHEMA)
    source_name = table.string(_ARRAY_SOURCE_NAME, name="source_name")
    if source_name is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "da00 without source_name")
    tables = table.tables(_ARRAY_DATA, limit=MAX_VARIABLES, name="data") or []
    variables: dict[str, Da00Variable] = {}
    for var_table in tables:
        var = _read_variable(var_table, max_elements)
        if var.name in variables:
            raise DecodeError(DecodeReason.INVALID_VALUE, f"two variables named {var.name!r}")
        variables[var.name] = var
    return source_name, table.integer(_ARRAY_TIMESTAMP, I64), variables


def _read_variable(table: FlatTable, max_elements: int) -> Da00Variable:
    name = table.string(_VAR_NAME, name="variable name", limit=MAX_UNIT_BYTES)
    if name is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "da00 variable without name")
    tag = table.integer(_VAR_DATA_TYPE, I8)
    dtype = _DTYPES.get(tag)
    if dtype is None:
        raise DecodeError(DecodeReason.UNSUPPORTED, f"variable {name!r} has da00 dtype {tag}")
    axes = tuple(table.strings(_VAR_AXES, limit=MAX_DIMS, name=f"{name}.axes") or ())
    shape_vector = table.vector(_VAR_SHAPE, _INT64, limit=MAX_DIMS, name=f"{name}.shape")
    shape = () if shape_vector is None else tuple(int(n) for n in shape_vector)
    raw = table.vector(_VAR_DATA, _UINT8, limit=max_elements * dtype.itemsize, name=name)
    if raw is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, f"variable {name!r} without data")
    if not axes and len(raw) == dtype.itemsize:
        # A scalar. streaming_data_types writes shape (1,) for 1-element arrays and the
        # byte count, (8,), for Python ints and floats; both mean 0-d without axes.
        shape = ()
    if len(axes) != len(shape) or len(set(axes)) != len(axes) or any(n < 0 for n in shape):
        raise DecodeError(
            DecodeReason.BAD_SHAPE, f"variable {name!r} has axes {axes} and shape {shape}"
        )
    # Python ints: a forged shape cannot overflow the product.
    size = math.prod(shape)
    if size > max_elements:
        raise DecodeError(
            DecodeReason.TOO_LARGE, f"variable {name!r} has {size} elements, limit {max_elements}"
        )
    if len(raw) != size * dtype.itemsize:
        raise DecodeError(
            DecodeReason.LENGTH_MISMATCH,
            f"variable {name!r} has {len(raw)} bytes, shape {shape} of {dtype} needs "
            f"{size * dtype.itemsize}",
        )
    return Da00Variable(
        name=name,
        axes=axes,
        values=raw.view(dtype).reshape(shape),
        unit=table.string(_VAR_UNIT, name=f"{name}.unit", limit=MAX_UNIT_BYTES),
        label=table.string(_VAR_LABEL, name=f"{name}.label", limit=MAX_UNIT_BYTES),
    )


def _to_data_array(variables: dict[str, Da00Variable]) -> sc.DataArray:
    signal = variables.pop(SIGNAL, None)
    if signal is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "da00 without a 'signal' variable")
    errors = variables.pop(ERRORS, None)
    if errors is None:
        data = _to_scipp(signal)
    else:
        if errors.axes != signal.axes or errors.values.shape != signal.values.shape:
            raise DecodeError(
                DecodeReason.BAD_SHAPE,
                f"errors {errors.axes}{errors.values.shape} do not match signal "
                f"{signal.axes}{signal.values.shape}",
            )
        dtype = np.result_type(signal.values.dtype, errors.values.dtype, np.float32)
        data = _empty(signal, dtype, with_variances=True)
        np.copyto(data.values, signal.values, casting="unsafe")
        # Squared straight into scipp's variances. An error too large to square is an
        # infinite variance, passed on like NaN.
        with np.errstate(over="ignore"):
            np.square(errors.values, out=data.variances, dtype=dtype)
    sizes = dict(zip(signal.axes, signal.values.shape, strict=True))
    coords = {}
    for name, var in variables.items():
        for dim, length in zip(var.axes, var.values.shape, strict=True):
            # A coordinate spans a subset of the signal's dims, as points or bin edges.
            if dim not in sizes or length not in (sizes[dim], sizes[dim] + 1):
                raise DecodeError(
                    DecodeReason.BAD_SHAPE,
                    f"coordinate {name!r} of {dim}={length} does not fit signal {sizes}",
                )
        coords[name] = _to_scipp(var)
    try:
        return sc.DataArray(data, coords=coords, name=signal.label or "")
    except sc.DimensionError as exc:
        # e.g. a 2-D coordinate with bin edges along both dims.
        raise DecodeError(DecodeReason.BAD_SHAPE, str(exc)) from None


def _to_scipp(var: Da00Variable) -> sc.Variable:
    unit = var.unit
    if unit is not None and unit.startswith(_DATETIME_PREFIX) and unit.endswith(_DATETIME_SUFFIX):
        return _datetimes(var, unit[len(_DATETIME_PREFIX) : -len(_DATETIME_SUFFIX)])
    values = var.values
    native = values.dtype.newbyteorder("=")
    if native not in _SCIPP_NATIVE:
        _check_fits_int64(values, var.name)
        native = np.dtype(np.int64)
    variable = _empty(var, native, with_variances=False)
    np.copyto(variable.values, values, casting="unsafe")  # the one copy, widening if need be
    return variable


def _empty(var: Da00Variable, dtype: np.dtype[np.number], *, with_variances: bool) -> sc.Variable:
    """An uninitialised scipp variable shaped like ``var``, to copy its values into."""
    return sc.empty(
        dims=list(var.axes),
        shape=list(var.values.shape),
        dtype=dtype,
        unit=_parse_unit(var.unit, var.name),
        with_variances=with_variances,
    )


def _check_fits_int64(values: npt.NDArray[np.number], name: str) -> None:
    """Integer types scipp lacks become int64; uint64 must fit."""
    if values.dtype == np.uint64 and values.size and int(values.max()) > np.iinfo(np.int64).max:
        raise DecodeError(DecodeReason.OUT_OF_RANGE, f"{name!r} holds uint64 beyond int64")


def _widen(values: npt.NDArray[np.number], name: str) -> npt.NDArray[np.int64]:
    _check_fits_int64(values, name)
    return values.astype(np.int64)


def _datetimes(var: Da00Variable, time_unit: str) -> sc.Variable:
    numpy_unit = _DATETIME_UNITS.get(time_unit)
    if numpy_unit is None or var.values.dtype.kind not in "iu":
        raise DecodeError(
            DecodeReason.INVALID_VALUE,
            f"datetime {var.name!r} of dtype {var.values.dtype} in unit {time_unit!r}",
        )
    values = _widen(var.values, var.name).view(f"datetime64[{numpy_unit}]")
    return sc.array(dims=list(var.axes), values=values)


def _parse_unit(unit: str | None, name: str) -> sc.Unit | None:
    if unit is None:
        return None
    try:
        return sc.Unit(unit)
    except RuntimeError:  # scipp.UnitError derives from it
        raise DecodeError(DecodeReason.INVALID_VALUE, f"{name!r} has unit {unit!r}") from None


def encode_da00(
    source_name: str, data: sc.DataArray, *, timestamp_ns: int, label: str | None = None
) -> bytes:
    """Serialise ``data`` as da00.

    Parameters
    ----------
    source_name:
        The da00 ``source_name`` (for results, the JSON of the result key).
    data:
        Values, optional variances, coordinates and masks. Masked elements are sent as
        NaN (an integer signal with masks is sent as float64).
    timestamp_ns:
        The da00 ``timestamp``.
    label:
        Title carried as the signal's ``label``; defaults to ``data.name`` if set.

    Raises
    ------
    EncodeError
        For content da00 cannot carry: coordinates with variances, bool or string
        dtypes, bin-edge masks, or a coordinate named ``signal`` / ``errors``.
    """
    dims = tuple(data.dims)
    values, variances = _masked_as_nan(data)
    unit = _unit_string(data.unit)
    variables = [
        Da00Variable(
            name=SIGNAL,
            axes=dims,
            values=_wire_values(values, SIGNAL),
            unit=unit,
            label=label if label is not None else (data.name or None),
        )
    ]
    if variances is not None:
        variables.append(
            Da00Variable(
                name=ERRORS,
                axes=dims,
                values=_standard_deviations(variances),
                unit=unit,
                label=None,
            )
        )
    variables.extend(_coord_variable(name, coord) for name, coord in data.coords.items())
    return _serialise(source_name, timestamp_ns, variables)


def _serialise(source_name: str, timestamp_ns: int, variables: list[Da00Variable]) -> bytes:
    # Sized up front: letting the builder double its buffer costs copies of the payload.
    overhead = 256 + 4 * len(source_name)
    size = overhead + sum(v.values.nbytes + 8 * len(v.axes) + overhead for v in variables)
    builder = flatbuffers.Builder(size)
    builder.ForceDefaults(True)
    packed = [_pack_variable(builder, var) for var in variables]
    da00_DataArray.StartDataVector(builder, len(packed))
    for offset in reversed(packed):
        builder.PrependUOffsetTRelative(offset)
    data = builder.EndVector()
    name = builder.CreateString(source_name)
    da00_DataArray.Start(builder)
    da00_DataArray.AddSourceName(builder, name)
    da00_DataArray.AddTimestamp(builder, timestamp_ns)
    da00_DataArray.AddData(builder, data)
    builder.Finish(da00_DataArray.End(builder), file_identifier=SCHEMA.encode())
    # One copy out of the builder (Output() would add a second).
    return bytes(memoryview(builder.Bytes)[builder.Head() :])


def _pack_variable(builder: flatbuffers.Builder, var: Da00Variable) -> int:
    strings = {
        key: builder.CreateString(text)
        for key, text in (("name", var.name), ("unit", var.unit), ("label", var.label))
        if text is not None
    }
    axes = [builder.CreateString(axis) for axis in var.axes]
    da00_Variable.StartAxesVector(builder, len(axes))
    for axis in reversed(axes):
        builder.PrependUOffsetTRelative(axis)
    axes_vector = builder.EndVector()
    shape = builder.CreateNumpyVector(np.array(var.values.shape, dtype=_INT64))
    data = _aligned_bytes(builder, var.values)
    da00_Variable.Start(builder)
    da00_Variable.AddName(builder, strings["name"])
    if "unit" in strings:
        da00_Variable.AddUnit(builder, strings["unit"])
    if "label" in strings:
        da00_Variable.AddLabel(builder, strings["label"])
    da00_Variable.AddDataType(builder, _DTYPE_TAGS[var.values.dtype])
    da00_Variable.AddAxes(builder, axes_vector)
    da00_Variable.AddShape(builder, shape)
    da00_Variable.AddData(builder, data)
    offset: int = da00_Variable.End(builder)
    return offset


def _aligned_bytes(builder: flatbuffers.Builder, values: np.ndarray) -> int:
    """A ubyte vector of ``values``' bytes, aligned to :data:`DATA_ALIGNMENT`, copied
    once from the array (``CreateByteVector`` aligns to 4 and wants a ``bytes`` copy).
    The same steps as the builder's own ``CreateNumpyVector``."""
    payload = values.reshape(-1).view(np.uint8)  # C-contiguous: see _wire_values
    builder.StartVector(1, len(payload), DATA_ALIGNMENT)
    builder.head = builder.head - len(payload)
    builder.Bytes[builder.head : builder.head + len(payload)] = payload.data
    vector: int = builder.EndVector()
    return vector


def _standard_deviations(variances: np.ndarray) -> np.ndarray:
    # A negative variance has no standard deviation: it is sent as NaN, without warning.
    with np.errstate(invalid="ignore"):
        deviations = np.sqrt(variances)
    return _wire_values(deviations, ERRORS)


def _masked_as_nan(data: sc.DataArray) -> tuple[np.ndarray, np.ndarray | None]:
    values = np.asarray(data.values)
    variances = None if data.variances is None else np.asarray(data.variances)
    masked = _combined_mask(data.masks, data.sizes)
    if masked is None or not masked.any():
        return values, variances
    float_type = np.result_type(values.dtype, np.float32)
    values = values.astype(float_type, copy=True)
    values[masked] = np.nan
    if variances is not None:
        variances = variances.astype(float_type, copy=True)
        variances[masked] = np.nan
    return values, variances


def _combined_mask(
    masks: Mapping[str, sc.Variable], sizes: dict[str, int]
) -> npt.NDArray[np.bool_] | None:
    combined: npt.NDArray[np.bool_] | None = None
    for name, mask in masks.items():
        if any(mask.sizes[dim] != sizes[dim] for dim in mask.dims):
            raise EncodeError(f"mask {name!r} is on bin edges; da00 carries only NaN for masks")
        full = np.asarray(sc.broadcast(mask, sizes=sizes).values, dtype=bool)
        combined = full if combined is None else combined | full
    return combined


def _coord_variable(name: str, coord: sc.Variable) -> Da00Variable:
    if name in (SIGNAL, ERRORS):
        raise EncodeError(f"coordinate name {name!r} is reserved in da00")
    if coord.variances is not None:
        raise EncodeError(f"coordinate {name!r} has variances, which da00 cannot carry")
    unit = _unit_string(coord.unit)
    values = np.asarray(coord.values)
    if coord.dtype == sc.DType.datetime64:
        unit = DATETIME_UNIT
        values = np.asarray(sc.to_unit(coord, "ns", copy=False).values).view(np.int64)
    return Da00Variable(
        name=name, axes=tuple(coord.dims), values=_wire_values(values, name), unit=unit, label=None
    )


def _wire_values(values: np.ndarray, name: str) -> np.ndarray:
    """``values`` in flatbuffer byte order and C layout; refuses what da00 cannot carry."""
    dtype = values.dtype.newbyteorder("<")
    if dtype not in _DTYPE_TAGS:
        raise EncodeError(f"{name!r} has dtype {values.dtype}, which da00 cannot carry")
    # Not ascontiguousarray: it turns 0-d into 1-d, and 0-d must travel with shape ().
    return np.asarray(values, dtype=dtype, order="C")


def _unit_string(unit: sc.Unit | None) -> str | None:
    return None if unit is None else str(unit)
