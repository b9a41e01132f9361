"""ROIs over the wire: detector_data applies a job's ROI, echoes it and counts its events.

(Not ``roi_test.py``: ``tests/protocol/roi_test.py`` has that basename, and test modules
of one basename cannot be collected together without packages.)
"""

import time

import numpy as np
import pytest

from livedata.config.topics import Topic
from livedata.core.control import Roi, RoiUpdate
from livedata.core.values import EventBatch
from livedata.protocol.ev44 import encode_ev44
from livedata.protocol.roi import encode_roi, rois_from_data_array
from livedata.testing.stack import pulses, start_job

pytestmark = pytest.mark.integration

SIDE = 128
"""The dummy panel: 128 x 128 pixels, ids 1 + y * 128 + x."""


def one_event(pixel_id: int) -> EventBatch:
    """A pulse stamped now with one event on ``pixel_id``."""
    return EventBatch(
        time_of_arrival=np.zeros(1, dtype=np.int32),
        pixel_id=np.array([pixel_id], dtype=np.int32),
        reference_time=np.array([time.time_ns()], dtype=np.int64),
        reference_time_index=np.array([0], dtype=np.int32),
    )


def test_detector_view_echoes_an_roi_and_counts_its_events(
    dummy, start_service, results, raw, kafka_settings
) -> None:
    start_service("detector_data", dummy)
    job_id = start_job(kafka_settings, dummy, "panel_0_xy", "panel_0")
    rois = {3: Roi(shape="rectangle", x=(10.0, 40.0), y=(20.0, 60.0))}
    raw.send(Topic.ROI, encode_roi(RoiUpdate(job_id=job_id, shape="rectangle", rois=rois)))
    raw.flush()

    def echoed(key, data) -> bool:
        return (
            key.job_id == job_id and key.output_name == "roi_rectangle" and data.sizes["bounds"] > 0
        )

    # ROIs and events come on different topics, so their order is not guaranteed: probe
    # with events outside the ROI until the echo shows it applied. Probe events count in
    # no ROI spectrum, whether they were processed before the ROI or after.
    outside = 1 + 100 * SIDE + 100  # pixel (x=100, y=100)
    message_id = 0
    for _attempt in range(20):
        raw.send(Topic.DETECTOR, encode_ev44("panel_0", message_id, one_event(outside)))
        raw.flush()
        message_id += 1
        try:
            _, echo = results.wait_for(echoed, timeout_s=2)
            break
        except AssertionError:
            continue
    else:
        raise AssertionError("the ROI was never echoed")
    assert rois_from_data_array("rectangle", echo) == rois

    inside = 0
    for i, batch in enumerate(pulses(28, 500, seed=11)):
        x, y = (batch.pixel_id - 1) % SIDE, (batch.pixel_id - 1) // SIDE
        inside += int(((x >= 10) & (x <= 40) & (y >= 20) & (y <= 60)).sum())
        raw.send(Topic.DETECTOR, encode_ev44("panel_0", message_id + i, batch))
    raw.flush()
    assert 0 < inside < 28 * 500

    def roi_total(key, data) -> bool:
        return (
            key.job_id == job_id
            and key.output_name == "roi_spectra_cumulative"
            and float(data.sum().value) == inside
        )

    _, spectra = results.wait_for(roi_total)
    assert spectra.dims == ("roi", "time_of_arrival")
    assert spectra.coords["roi"].values.tolist() == [3]
