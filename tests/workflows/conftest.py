import numpy as np
import pytest

from livedata.core.values import EventBatch

T0 = 1_700_000_000_000_000_000


def make_batch(pixel_id, time_of_arrival=None) -> EventBatch:
    """Events of one pulse; ``pixel_id=None`` makes monitor events."""
    n = len(time_of_arrival if pixel_id is None else pixel_id)
    toa = np.zeros(n) if time_of_arrival is None else time_of_arrival
    return EventBatch(
        time_of_arrival=np.asarray(toa, dtype=np.int32),
        pixel_id=None if pixel_id is None else np.asarray(pixel_id, dtype=np.int32),
        reference_time=np.array([T0], dtype=np.int64),
        reference_time_index=np.array([0], dtype=np.int32),
    )


@pytest.fixture
def batch():
    return make_batch
