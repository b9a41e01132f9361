"""Each processing service on the real embedded broker: raw data in, exact results out."""

import time

import numpy as np
import pytest

from livedata.config.topics import Topic
from livedata.core.values import AreaFrame, LogSample
from livedata.protocol.ad00 import encode_ad00
from livedata.protocol.ev44 import encode_ev44
from livedata.protocol.f144 import encode_f144
from livedata.testing.stack import pulses, start_job

pytestmark = pytest.mark.integration

PULSE_NS = 71_428_571


def matching(job_id, output: str, value: float):
    return lambda key, data: (
        key.job_id == job_id and key.output_name == output and float(data.sum().value) == value
    )


def test_detector_data_counts_exactly_the_events_sent(
    dummy, start_service, results, raw, kafka_settings
) -> None:
    start_service("detector_data", dummy)
    job_id = start_job(kafka_settings, dummy, "panel_0_xy", "panel_0")
    sent = 0
    for i, batch in enumerate(pulses(28, 500)):
        raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
        sent += len(batch)
    raw.flush()
    key, _ = results.wait_for(matching(job_id, "counts_total_cumulative", sent))
    assert str(key.workflow_id) == f"{dummy.name}/panel_0_xy/1"
    _, image = results.wait_for(matching(job_id, "cumulative", sent))
    assert image.dims == ("y", "x")
    assert image.shape == (128, 128)


def test_monitor_data_histograms_every_event(
    dummy, start_service, results, raw, kafka_settings
) -> None:
    start_service("monitor_data", dummy)
    job_id = start_job(kafka_settings, dummy, "monitor_histogram", "monitor1")
    sent = 0
    for i, batch in enumerate(pulses(14, 300, pixels=False)):
        raw.send(Topic.BEAM_MONITOR, encode_ev44("monitor1", i, batch))
        sent += len(batch)
    raw.flush()
    results.wait_for(matching(job_id, "counts_total_cumulative", sent))


def test_timeseries_holds_the_values_sent(
    dummy, start_service, results, raw, kafka_settings
) -> None:
    start_service("timeseries", dummy)
    job_id = start_job(kafka_settings, dummy, "timeseries_data", "motion1")
    t0 = time.time_ns()
    values = [1.5, 2.5, 2.5, 4.0, -1.0]  # the repeat is a re-publish, not a sample
    for i, value in enumerate(values):
        sample = LogSample(time=t0 + i * 100_000_000, value=value)
        raw.send(Topic.MOTION, encode_f144("motion1", sample))
    raw.flush()
    expected = [1.5, 2.5, 4.0, -1.0]

    def holds_all(key, data) -> bool:
        return key.job_id == job_id and list(data.values) == expected

    _, data = results.wait_for(holds_all)
    assert str(data.unit) == "mm"


def test_data_reduction_total_counts(dummy, start_service, results, raw, kafka_settings) -> None:
    start_service("data_reduction", dummy)
    job_id = start_job(kafka_settings, dummy, "total_counts", "panel_0")
    sent = 0
    for i, batch in enumerate(pulses(20, 250, seed=3)):
        raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
        sent += len(batch)
    raw.flush()
    results.wait_for(matching(job_id, "total", sent))


def test_area_detector_sums_frames(dummy, start_service, results, raw, kafka_settings) -> None:
    start_service("detector_data", dummy)
    job_id = start_job(kafka_settings, dummy, "area_panel_xy", "area_panel")
    rng = np.random.default_rng(1)
    t0 = time.time_ns()
    total = 0
    for i in range(3):
        frame = rng.integers(0, 100, (256, 256), dtype=np.uint16)
        total += int(frame.sum())
        raw.send(
            Topic.AREA_DETECTOR,
            encode_ad00("area_panel", AreaFrame(unique_id=i, time=t0 + i * 10**8, data=frame)),
        )
    raw.flush()
    results.wait_for(matching(job_id, "cumulative", total))
