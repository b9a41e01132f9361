import math

import numpy as np
import pytest
from streaming_data_types import deserialise_f144, serialise_f144

from livedata.core.values import LogSample
from livedata.protocol.errors import EncodeError
from livedata.protocol.f144 import decode_f144, encode_f144


def test_scalar_round_trip() -> None:
    source, sample = decode_f144(encode_f144("YMIR:TEMP", LogSample(time=123, value=4.25)))
    assert source == "YMIR:TEMP"
    assert sample == LogSample(time=123, value=4.25)


def test_array_round_trip() -> None:
    values = np.array([1.5, -2.0, 3.25])
    source, sample = decode_f144(encode_f144("wave", LogSample(time=-7, value=values)))
    assert source == "wave"
    assert sample.time == -7
    assert isinstance(sample.value, np.ndarray)
    assert sample.value.dtype == np.float64
    np.testing.assert_array_equal(sample.value, values)


@pytest.mark.parametrize(
    "value",
    [
        np.int8(-5),
        np.uint8(200),
        np.int16(-300),
        np.uint16(60000),
        np.int32(-70000),
        np.uint32(4_000_000_000),
        np.int64(-(2**40)),
        np.uint64(2**40),
        np.float32(1.5),
        np.float64(2.25),
    ],
)
def test_every_scalar_type_becomes_a_float(value: np.generic) -> None:
    _, sample = decode_f144(serialise_f144("pv", value, 1))
    assert isinstance(sample.value, float)
    assert sample.value == float(value)


@pytest.mark.parametrize(
    "dtype",
    [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64],
)
def test_every_integer_array_type_becomes_float64(dtype: type[np.integer]) -> None:
    _, sample = decode_f144(serialise_f144("pv", np.array([0, 1, 100], dtype=dtype), 1))
    assert isinstance(sample.value, np.ndarray)
    assert sample.value.dtype == np.float64
    np.testing.assert_array_equal(sample.value, [0.0, 1.0, 100.0])


def test_float32_array() -> None:
    _, sample = decode_f144(serialise_f144("pv", np.array([0.5, 1.5], dtype=np.float32), 1))
    np.testing.assert_array_equal(sample.value, [0.5, 1.5])


def test_nan_passes_through() -> None:
    _, sample = decode_f144(encode_f144("pv", LogSample(time=1, value=math.nan)))
    assert isinstance(sample.value, float)
    assert math.isnan(sample.value)


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_scalar_infinity_becomes_nan(value: float) -> None:
    _, sample = decode_f144(encode_f144("pv", LogSample(time=1, value=value)))
    assert isinstance(sample.value, float)
    assert math.isnan(sample.value)


def test_array_infinities_become_nan_and_finite_values_stay() -> None:
    values = np.array([1.0, np.inf, np.nan, -np.inf, 2.0])
    _, sample = decode_f144(encode_f144("pv", LogSample(time=1, value=values)))
    np.testing.assert_array_equal(sample.value, [1.0, np.nan, np.nan, np.nan, 2.0])


def test_timestamp_is_passed_on_unchecked() -> None:
    far_future = 2**62
    _, sample = decode_f144(encode_f144("pv", LogSample(time=far_future, value=1.0)))
    assert sample.time == far_future


def test_streaming_data_types_reads_what_we_encode() -> None:
    data = deserialise_f144(encode_f144("pv", LogSample(time=99, value=3.5)))
    assert (data.source_name, data.value, data.timestamp_unix_ns) == ("pv", 3.5, 99)


def test_encode_refuses_2d_values() -> None:
    with pytest.raises(EncodeError, match="2-D"):
        encode_f144("pv", LogSample(time=1, value=np.ones((2, 2))))


def test_encode_refuses_non_numeric_values() -> None:
    with pytest.raises(EncodeError, match="dtype"):
        encode_f144("pv", LogSample(time=1, value=np.array(["a"])))  # type: ignore[arg-type]
