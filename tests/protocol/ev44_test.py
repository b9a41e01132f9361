import numpy as np
import pytest
from streaming_data_types import deserialise_ev44, serialise_ev44

from livedata.core.values import EventBatch
from livedata.protocol.ev44 import decode_ev44, encode_ev44


def make_batch(*, with_pixels: bool = True) -> EventBatch:
    return EventBatch(
        time_of_arrival=np.array([10, 20, 30, 40, 50], dtype=np.int32),
        pixel_id=np.array([1, 7, 7, 3, 0], dtype=np.int32) if with_pixels else None,
        reference_time=np.array([1_700_000_000_000_000_000, 1_700_000_000_071_428_571]),
        reference_time_index=np.array([0, 3], dtype=np.int32),
    )


def assert_batches_equal(actual: EventBatch, expected: EventBatch) -> None:
    np.testing.assert_array_equal(actual.time_of_arrival, expected.time_of_arrival)
    np.testing.assert_array_equal(actual.reference_time, expected.reference_time)
    np.testing.assert_array_equal(actual.reference_time_index, expected.reference_time_index)
    if expected.pixel_id is None:
        assert actual.pixel_id is None
    else:
        assert actual.pixel_id is not None
        np.testing.assert_array_equal(actual.pixel_id, expected.pixel_id)


@pytest.mark.parametrize("with_pixels", [True, False])
def test_round_trip(with_pixels: bool) -> None:
    batch = make_batch(with_pixels=with_pixels)
    message = decode_ev44(encode_ev44("panel_0", 42, batch))
    assert message.source_name == "panel_0"
    assert message.message_id == 42
    assert message.data_time == 1_700_000_000_071_428_571
    assert_batches_equal(message.events, batch)


def test_decoded_arrays_have_the_event_batch_dtypes() -> None:
    events = decode_ev44(encode_ev44("panel_0", 1, make_batch())).events
    assert events.time_of_arrival.dtype == np.int32
    assert events.pixel_id is not None
    assert events.pixel_id.dtype == np.int32
    assert events.reference_time.dtype == np.int64
    assert events.reference_time_index.dtype == np.int32


def test_decoded_arrays_are_read_only_views_of_the_payload() -> None:
    payload = encode_ev44("panel_0", 1, make_batch())
    events = decode_ev44(payload).events
    for array in (events.time_of_arrival, events.pixel_id, events.reference_time):
        assert array is not None
        assert not array.flags.owndata
        assert not array.flags.writeable


def test_decodes_what_streaming_data_types_serialises() -> None:
    payload = serialise_ev44("det", 9, [100, 200, 300], [0, 2, 2], [5, 6, 7, 8], [11, 12, 13, 14])
    message = decode_ev44(payload)
    assert message.source_name == "det"
    assert message.message_id == 9
    assert message.data_time == 300
    np.testing.assert_array_equal(message.events.time_of_arrival, [5, 6, 7, 8])
    np.testing.assert_array_equal(message.events.pixel_id, [11, 12, 13, 14])
    np.testing.assert_array_equal(message.events.reference_time_index, [0, 2, 2])


def test_streaming_data_types_reads_what_we_encode() -> None:
    batch = make_batch()
    data = deserialise_ev44(encode_ev44("panel_0", 3, batch))
    assert data.source_name == "panel_0"
    assert data.message_id == 3
    np.testing.assert_array_equal(data.time_of_flight, batch.time_of_arrival)
    np.testing.assert_array_equal(data.pixel_id, batch.pixel_id)
    np.testing.assert_array_equal(data.reference_time, batch.reference_time)


def test_message_without_pulses_has_no_data_time() -> None:
    batch = EventBatch(
        time_of_arrival=np.array([1, 2], dtype=np.int32),
        pixel_id=np.array([3, 4], dtype=np.int32),
        reference_time=np.empty(0, dtype=np.int64),
        reference_time_index=np.empty(0, dtype=np.int32),
    )
    message = decode_ev44(encode_ev44("panel_0", 0, batch))
    assert message.data_time is None
    assert len(message.events) == 2


def test_empty_message_round_trips() -> None:
    message = decode_ev44(encode_ev44("panel_0", 0, EventBatch.empty()))
    assert len(message.events) == 0
    assert message.events.pixel_id is not None
    assert len(message.events.pixel_id) == 0
    assert message.data_time is None


def test_pulses_without_events_are_valid() -> None:
    # Index == number of events: the pulse has no events, which the EFU does send.
    batch = EventBatch(
        time_of_arrival=np.empty(0, dtype=np.int32),
        pixel_id=np.empty(0, dtype=np.int32),
        reference_time=np.array([5, 6]),
        reference_time_index=np.array([0, 0], dtype=np.int32),
    )
    message = decode_ev44(encode_ev44("m", 0, batch))
    assert message.data_time == 6
    np.testing.assert_array_equal(message.events.reference_time_index, [0, 0])


def test_limit_equal_to_event_count_is_accepted() -> None:
    message = decode_ev44(encode_ev44("panel_0", 1, make_batch()), max_events=5)
    assert len(message.events) == 5


def test_decodes_from_bytearray_and_memoryview() -> None:
    payload = encode_ev44("panel_0", 1, make_batch())
    for buf in (bytearray(payload), memoryview(payload)):
        assert_batches_equal(decode_ev44(buf).events, make_batch())
