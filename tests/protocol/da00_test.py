import tracemalloc

import numpy as np
import pytest
import scipp as sc
from streaming_data_types import deserialise_da00
from streaming_data_types.dataarray_da00 import Variable, serialise_da00

from livedata.protocol.da00 import (
    DATA_ALIGNMENT,
    decode_da00,
    decode_da00_variables,
    encode_da00,
)
from livedata.protocol.errors import DecodeError, EncodeError


def round_trip(data: sc.DataArray, **kwargs: str) -> sc.DataArray:
    source, timestamp, decoded = decode_da00(
        encode_da00("result-key", data, timestamp_ns=1234, **kwargs)
    )
    assert (source, timestamp) == ("result-key", 1234)
    return decoded


def test_0d() -> None:
    data = sc.DataArray(sc.scalar(3.5, unit="counts"))
    assert sc.identical(round_trip(data), data)


def test_1d_with_points_coord() -> None:
    data = sc.DataArray(
        sc.array(dims=["x"], values=[1.0, 2.0, 3.0], unit="counts"),
        coords={"x": sc.array(dims=["x"], values=[0.1, 0.2, 0.3], unit="m")},
    )
    assert sc.identical(round_trip(data), data)


def test_1d_with_bin_edges() -> None:
    data = sc.DataArray(
        sc.array(dims=["toa"], values=[5, 6, 7], unit="counts", dtype="int64"),
        coords={"toa": sc.linspace("toa", 0.0, 71.0, 4, unit="ms")},
    )
    decoded = round_trip(data)
    assert decoded.coords.is_edges("toa")
    assert sc.identical(decoded, data)


def test_2d_with_edges_and_points_and_2d_coord() -> None:
    data = sc.DataArray(
        sc.array(dims=["y", "x"], values=np.arange(6.0).reshape(2, 3), unit="counts"),
        coords={
            "x": sc.array(dims=["x"], values=[0.0, 1.0, 2.0, 3.0], unit="mm"),
            "y": sc.array(dims=["y"], values=[10, 20], unit=None, dtype="int32"),
            "r": sc.array(dims=["y", "x"], values=np.ones((2, 3)), unit="Å"),
        },
    )
    decoded = round_trip(data)
    assert sc.identical(decoded, data)
    assert decoded.coords.is_edges("x")
    assert decoded.dims == ("y", "x")


def test_variances_travel_as_standard_deviations() -> None:
    variances = np.array([4.0, 9.0, 0.25])
    data = sc.DataArray(
        sc.array(dims=["x"], values=[1.0, 2.0, 3.0], variances=variances, unit="counts")
    )
    payload = encode_da00("k", data, timestamp_ns=0)
    wire = {v.name: v for v in deserialise_da00(payload).data}
    np.testing.assert_allclose(wire["errors"].data, [2.0, 3.0, 0.5])
    _, _, decoded = decode_da00(payload)
    np.testing.assert_allclose(decoded.variances, variances)
    assert sc.allclose(decoded.data, data.data)


def test_float32_signal_with_variances_stays_float32() -> None:
    data = sc.DataArray(
        sc.array(dims=["x"], values=[1.0, 2.0], variances=[1.0, 4.0], dtype="float32")
    )
    decoded = round_trip(data)
    assert decoded.dtype == sc.DType.float32
    np.testing.assert_allclose(decoded.variances, [1.0, 4.0])


def test_masked_values_travel_as_nan() -> None:
    data = sc.DataArray(
        sc.array(dims=["y", "x"], values=np.arange(6.0).reshape(2, 3), variances=np.ones((2, 3))),
        masks={
            "column": sc.array(dims=["x"], values=[False, True, False]),
            "corner": sc.array(dims=["y", "x"], values=[[True, False, False], [False] * 3]),
        },
    )
    decoded = round_trip(data)
    assert not decoded.masks
    expected = [[np.nan, np.nan, 2.0], [3.0, np.nan, 5.0]]
    np.testing.assert_array_equal(decoded.values, expected)
    np.testing.assert_array_equal(decoded.variances, [[np.nan, np.nan, 1.0], [1.0, np.nan, 1.0]])
    # The input is left untouched.
    assert data.values[0, 0] == 0.0


def test_masked_integer_signal_becomes_float() -> None:
    data = sc.DataArray(
        sc.array(dims=["x"], values=[1, 2, 3], dtype="int64"),
        masks={"m": sc.array(dims=["x"], values=[False, False, True])},
    )
    decoded = round_trip(data)
    assert decoded.dtype == sc.DType.float64
    np.testing.assert_array_equal(decoded.values, [1.0, 2.0, np.nan])


def test_unmasked_mask_leaves_integer_signal_alone() -> None:
    data = sc.DataArray(
        sc.array(dims=["x"], values=[1, 2], dtype="int32"),
        masks={"m": sc.array(dims=["x"], values=[False, False])},
    )
    assert round_trip(data).dtype == sc.DType.int32


def test_start_time_and_time_are_0d_int64_nanoseconds() -> None:
    data = sc.DataArray(
        sc.array(dims=["x"], values=[1.0]),
        coords={
            "start_time": sc.scalar(1_700_000_000_000_000_000, unit="ns"),
            "time": sc.scalar(1_700_000_001_000_000_000, unit="ns"),
        },
    )
    decoded = round_trip(data)
    for name in ("start_time", "time"):
        assert decoded.coords[name].dims == ()
        assert decoded.coords[name].dtype == sc.DType.int64
        assert decoded.coords[name].unit == "ns"
    assert decoded.coords["time"].value == 1_700_000_001_000_000_000


def test_datetime_coords_travel_as_int64_nanoseconds() -> None:
    times = sc.datetimes(
        dims=["time"], values=["2025-01-01T00:00:00", "2025-01-01T00:00:01"], unit="s"
    )
    data = sc.DataArray(sc.array(dims=["time"], values=[1.0, 2.0]), coords={"time": times})
    payload = encode_da00("k", data, timestamp_ns=0)
    wire = {v.name: v for v in deserialise_da00(payload).data}
    assert wire["time"].unit == "datetime64[ns]"
    assert wire["time"].data.dtype == np.int64
    np.testing.assert_array_equal(wire["time"].data, [1735689600 * 10**9, 1735689601 * 10**9])
    _, _, decoded = decode_da00(payload)
    assert decoded.coords["time"].dtype == sc.DType.datetime64
    assert sc.identical(decoded.coords["time"], times.to(unit="ns"))


def test_datetime_with_other_time_unit_is_read() -> None:
    payload = serialise_da00(
        "k",
        0,
        [
            Variable(name="signal", data=np.array([1.0]), axes=["t"]),
            Variable(
                name="t", data=np.array([5], dtype=np.int64), axes=["t"], unit="datetime64[s]"
            ),
        ],
    )
    _, _, decoded = decode_da00(payload)
    assert decoded.coords["t"].values[0] == np.datetime64(5, "s")


@pytest.mark.parametrize("unit", ["counts", "dimensionless", "µs", "Å", "1/Å", "m/s", "meV", "K"])
def test_units_round_trip(unit: str) -> None:
    data = sc.DataArray(sc.array(dims=["x"], values=[1.0], unit=unit))
    assert round_trip(data).unit == sc.Unit(unit)


def test_no_unit_travels_as_absent_unit() -> None:
    data = sc.DataArray(
        sc.array(dims=["x"], values=[1.0], unit=None),
        coords={"x": sc.array(dims=["x"], values=[0], unit=None)},
    )
    payload = encode_da00("k", data, timestamp_ns=0)
    assert all(v.unit is None for v in deserialise_da00(payload).data)
    decoded = round_trip(data)
    assert decoded.unit is None
    assert decoded.coords["x"].unit is None


def test_label_is_the_signal_label_and_comes_back_as_name() -> None:
    data = sc.DataArray(sc.array(dims=["x"], values=[1.0]))
    payload = encode_da00("k", data, timestamp_ns=0, label="Detector counts")
    signal = next(v for v in deserialise_da00(payload).data if v.name == "signal")
    assert signal.label == "Detector counts"
    assert decode_da00(payload)[2].name == "Detector counts"


def test_label_defaults_to_data_array_name() -> None:
    data = sc.DataArray(sc.array(dims=["x"], values=[1.0]), name="Spectrum")
    assert round_trip(data).name == "Spectrum"


def test_narrow_and_unsigned_integers_widen_to_int64() -> None:
    payload = serialise_da00(
        "k",
        0,
        [
            Variable(name="signal", data=np.array([1, 2], dtype=np.uint16), axes=["x"]),
            Variable(name="x", data=np.array([-1, 1], dtype=np.int8), axes=["x"]),
        ],
    )
    _, _, decoded = decode_da00(payload)
    assert decoded.dtype == sc.DType.int64
    np.testing.assert_array_equal(decoded.values, [1, 2])
    np.testing.assert_array_equal(decoded.coords["x"].values, [-1, 1])


def test_scalars_as_streaming_data_types_writes_them_are_0d() -> None:
    # It writes 1-element arrays with shape (1,), and Python ints and floats with their
    # byte count as shape, (8,); without axes, both are scalars.
    payload = serialise_da00(
        "k",
        7,
        [
            Variable(name="signal", data=np.array([1.0, 2.0]), axes=["x"]),
            Variable(name="time", data=np.array([99], dtype=np.int64), axes=[], unit="ns"),
            Variable(name="start_time", data=42, unit="ns"),
            Variable(name="scale", data=2.5),
        ],
    )
    _, _, decoded = decode_da00(payload)
    for name, value in (("time", 99), ("start_time", 42), ("scale", 2.5)):
        assert decoded.coords[name].dims == ()
        assert decoded.coords[name].value == value
    assert decoded.coords["start_time"].dtype == sc.DType.int64


def test_streaming_data_types_reads_what_we_encode() -> None:
    data = sc.DataArray(
        sc.array(dims=["x"], values=[1.0, 2.0], unit="counts"),
        coords={"x": sc.array(dims=["x"], values=[0.0, 1.0, 2.0], unit="m")},
    )
    result = deserialise_da00(encode_da00("key", data, timestamp_ns=5, label="T"))
    assert result.source_name == "key"
    assert result.timestamp_ns == 5
    by_name = {v.name: v for v in result.data}
    assert by_name["signal"].axes == ["x"]
    assert by_name["signal"].unit == "counts"
    np.testing.assert_array_equal(by_name["x"].data, [0.0, 1.0, 2.0])


def test_encode_refuses_coordinate_with_variances() -> None:
    data = sc.DataArray(
        sc.array(dims=["x"], values=[1.0]),
        coords={"x": sc.array(dims=["x"], values=[1.0], variances=[1.0])},
    )
    with pytest.raises(EncodeError, match="variances"):
        encode_da00("k", data, timestamp_ns=0)


@pytest.mark.parametrize("name", ["signal", "errors"])
def test_encode_refuses_reserved_coordinate_names(name: str) -> None:
    data = sc.DataArray(
        sc.array(dims=["x"], values=[1.0]), coords={name: sc.array(dims=["x"], values=[1.0])}
    )
    with pytest.raises(EncodeError, match="reserved"):
        encode_da00("k", data, timestamp_ns=0)


def test_encode_refuses_string_coordinates() -> None:
    data = sc.DataArray(
        sc.array(dims=["x"], values=[1.0]), coords={"l": sc.array(dims=["x"], values=["a"])}
    )
    with pytest.raises(EncodeError, match="dtype"):
        encode_da00("k", data, timestamp_ns=0)


def test_encode_refuses_bin_edge_masks() -> None:
    data = sc.DataArray(
        sc.array(dims=["x"], values=[1.0, 2.0]),
        masks={"m": sc.array(dims=["x"], values=[True, False, False])},
    )
    with pytest.raises(EncodeError, match="bin edges"):
        encode_da00("k", data, timestamp_ns=0)


# -- copies --------------------------------------------------------------------------


def image_with_errors(n: int = 1000) -> sc.DataArray:
    rng = np.random.default_rng(1)
    return sc.DataArray(
        sc.array(
            dims=["y", "x"],
            values=rng.random((n, n)),
            variances=rng.random((n, n)),
            unit="counts",
        ),
        coords={"x": sc.arange("x", n + 1.0, unit="mm"), "time": sc.scalar(5, unit="ns")},
    )


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int64"])
def test_variables_are_aligned_views_into_the_message(dtype: str) -> None:
    data = sc.DataArray(
        sc.array(dims=["x"], values=np.arange(7), unit="counts", dtype=dtype),
        coords={"x": sc.arange("x", 8.0, unit="m")},
    )
    if dtype.startswith("float"):
        data.variances = data.values * 2
    buf = encode_da00("key", data, timestamp_ns=3)
    source, timestamp, variables = decode_da00_variables(buf)
    assert (source, timestamp) == ("key", 3)
    message = np.frombuffer(buf, dtype=np.uint8)
    for var in variables.values():
        assert np.shares_memory(var.values, message)
        assert not var.values.flags.writeable  # bytes are immutable
        # Aligned relative to the message start (a bytes object's data is 8-aligned).
        offset = var.values.ctypes.data - message.ctypes.data
        assert offset % DATA_ALIGNMENT == 0
    np.testing.assert_array_equal(variables["signal"].values, np.arange(7))
    np.testing.assert_array_equal(variables["x"].values, np.arange(8.0))
    assert variables["signal"].axes == ("x",)
    assert variables["signal"].unit == "counts"


def test_decoding_copies_each_array_once_into_scipp() -> None:
    """Values and variances go from the message straight into scipp's own memory
    (which tracemalloc does not see): no numpy temporaries on the way."""
    data = image_with_errors()
    buf = encode_da00("key", data, timestamp_ns=3)
    decode_da00(buf)  # warm up scipp's first-call setup
    tracemalloc.start()
    try:
        _, _, decoded = decode_da00(buf)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < data.values.nbytes // 10  # an 8 MB image: no array-sized copy
    np.testing.assert_array_equal(decoded.values, data.values)
    np.testing.assert_allclose(decoded.variances, data.variances, rtol=1e-15)
    assert sc.identical(decoded.coords["x"], data.coords["x"])


def test_encoding_copies_the_arrays_into_the_builder_only() -> None:
    data = image_with_errors()
    encode_da00("key", data, timestamp_ns=3)
    tracemalloc.start()
    try:
        buf = encode_da00("key", data, timestamp_ns=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The builder's buffer and the bytes returned (two message sizes) and the standard
    # deviations (one array); no tobytes() copy of each array on the way.
    assert peak < 2 * len(buf) + data.values.nbytes + 2**20


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x08\x00\x00",
        b"garbage of twenty bytes!",
        encode_da00("key", image_with_errors(4), timestamp_ns=3)[:-9],
    ],
)
def test_variables_of_a_bad_message_raise_decode_errors(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_da00_variables(payload)
