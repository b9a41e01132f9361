import numpy as np
import pytest
from streaming_data_types import deserialise_ad00, serialise_ad00

from livedata.core.values import AreaFrame
from livedata.protocol.ad00 import decode_ad00, encode_ad00
from livedata.protocol.errors import EncodeError


@pytest.mark.parametrize(
    "dtype",
    [
        np.int8,
        np.uint8,
        np.int16,
        np.uint16,
        np.int32,
        np.uint32,
        np.int64,
        np.uint64,
        np.float32,
        np.float64,
    ],
)
def test_round_trip_keeps_dtype_shape_and_values(dtype: type[np.number]) -> None:
    data = np.arange(12, dtype=dtype).reshape(3, 4)
    frame = AreaFrame(unique_id=17, time=1_700_000_000_000_000_000, data=data)
    source, decoded = decode_ad00(encode_ad00("camera", frame))
    assert source == "camera"
    assert decoded.unique_id == 17
    assert decoded.time == 1_700_000_000_000_000_000
    assert decoded.data.dtype == dtype
    assert decoded.data.shape == (3, 4)
    np.testing.assert_array_equal(decoded.data, data)


def test_decodes_what_streaming_data_types_serialises() -> None:
    data = np.array([[1.5, 2.5, 3.5], [4.5, 5.5, 6.5]], dtype=np.float32)
    source, frame = decode_ad00(serialise_ad00("cam", 5, 77, data))
    assert (source, frame.unique_id, frame.time) == ("cam", 5, 77)
    np.testing.assert_array_equal(frame.data, data)


def test_streaming_data_types_reads_what_we_encode() -> None:
    data = np.arange(6, dtype=np.uint16).reshape(2, 3)
    result = deserialise_ad00(encode_ad00("cam", AreaFrame(unique_id=1, time=2, data=data)))
    np.testing.assert_array_equal(result.data, data)
    assert result.dimensions == (2, 3)


def test_frame_data_is_a_view_of_the_payload() -> None:
    payload = encode_ad00("cam", AreaFrame(unique_id=1, time=2, data=np.ones((64, 64))))
    _, frame = decode_ad00(payload)
    assert not frame.data.flags.writeable
    assert frame.data.base is not None


def test_empty_frame() -> None:
    _, frame = decode_ad00(encode_ad00("cam", AreaFrame(unique_id=1, time=2, data=np.ones((0, 5)))))
    assert frame.data.shape == (0, 5)


def test_non_native_byte_order_is_encoded_by_value() -> None:
    data = np.arange(4, dtype=">i4").reshape(2, 2)
    _, frame = decode_ad00(encode_ad00("cam", AreaFrame(unique_id=1, time=2, data=data)))
    np.testing.assert_array_equal(frame.data, [[0, 1], [2, 3]])


@pytest.mark.parametrize("shape", [(4,), (2, 2, 2)])
def test_encode_refuses_frames_that_are_not_2d(shape: tuple[int, ...]) -> None:
    with pytest.raises(EncodeError, match="2-D"):
        encode_ad00("cam", AreaFrame(unique_id=1, time=2, data=np.ones(shape)))


def test_encode_refuses_unsupported_dtype() -> None:
    with pytest.raises(EncodeError, match="dtype"):
        encode_ad00("cam", AreaFrame(unique_id=1, time=2, data=np.ones((2, 2), dtype=bool)))
