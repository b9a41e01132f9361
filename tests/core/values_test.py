import numpy as np
import pytest

from livedata.core.values import EventBatch


def batch(toa, pixels, pulses, index) -> EventBatch:
    return EventBatch(
        time_of_arrival=np.array(toa, dtype=np.int32),
        pixel_id=None if pixels is None else np.array(pixels, dtype=np.int32),
        reference_time=np.array(pulses, dtype=np.int64),
        reference_time_index=np.array(index, dtype=np.int32),
    )


def test_concatenate_keeps_order_and_shifts_pulse_indices() -> None:
    a = batch([1, 2, 3], [10, 11, 12], [100, 200], [0, 2])
    b = batch([4, 5], [13, 14], [300], [0])
    joined = EventBatch.concatenate([a, b])
    np.testing.assert_array_equal(joined.time_of_arrival, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(joined.pixel_id, [10, 11, 12, 13, 14])
    np.testing.assert_array_equal(joined.reference_time, [100, 200, 300])
    np.testing.assert_array_equal(joined.reference_time_index, [0, 2, 3])
    assert joined.time_of_arrival.dtype == np.int32
    assert len(joined) == 5


def test_concatenate_without_pixels_and_edge_cases() -> None:
    a = batch([1], None, [1], [0])
    assert EventBatch.concatenate([a]) is a
    assert EventBatch.concatenate([a, a]).pixel_id is None
    assert len(EventBatch.concatenate([])) == 0


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="pixel_id"):
        batch([1, 2], [1], [0], [0])
    with pytest.raises(ValueError, match="reference_time"):
        batch([1], [1], [0, 1], [0])


def test_concatenate_keeps_the_parts_until_an_array_is_read() -> None:
    a = batch([1, 2, 3], [10, 11, 12], [100, 200], [0, 2])
    b = batch([4, 5], [13, 14], [300], [0])
    c = batch([6], [15], [400], [0])
    joined = EventBatch.concatenate([EventBatch.concatenate([a, b]), c])
    assert joined.parts == (a, b, c)  # flattened, in order, not copied
    assert len(joined) == 6
    assert joined.has_pixel_ids
    assert "3 parts" in repr(joined)
    np.testing.assert_array_equal(joined.pixel_id, [10, 11, 12, 13, 14, 15])
    assert joined.parts == (joined,)  # joined once read; the join is kept
    np.testing.assert_array_equal(joined.reference_time_index, [0, 2, 3, 5])
    without = EventBatch.concatenate([a, batch([7], None, [1], [0])])
    assert not without.has_pixel_ids
    assert len(without.parts) == 2
    assert without.pixel_id is None


def test_nbytes_counts_the_event_arrays_of_every_part() -> None:
    a = batch([1, 2, 3], [10, 11, 12], [100, 200], [0, 2])  # 12 + 12 + 16 + 8
    b = batch([4, 5], None, [300], [0])  # 8 + 8 + 4
    assert a.nbytes == 48
    assert b.nbytes == 20
    joined = EventBatch.concatenate([a, b])
    assert joined.nbytes == 68  # before the join
