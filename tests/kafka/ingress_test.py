"""Ingress: decode by schema, route by (topic, source), count every drop."""

import uuid

import numpy as np
import pytest
import scipp as sc

from livedata.config.instrument import DetectorBank, Instrument, LogSignal, Monitor
from livedata.core.control import JobAction, JobCommand, RoiUpdate, WorkflowConfig
from livedata.core.identity import JobId, WorkflowId
from livedata.core.message import StreamKind
from livedata.core.values import EventBatch, LogSample, RunStart, RunStop
from livedata.kafka.ingress import Ingress
from livedata.protocol.commands import encode_command
from livedata.protocol.da00 import encode_da00
from livedata.protocol.ev44 import encode_ev44
from livedata.protocol.f144 import encode_f144
from livedata.protocol.roi import encode_roi
from livedata.protocol.run_control import encode_6s4t, encode_pl72
from livedata.testing.messages import T0, events

INSTRUMENT = Instrument(
    name="inst",
    detectors=(DetectorBank(name="panel_0", shape=(4, 4), dims=("y", "x")),),
    monitors=(Monitor(name="monitor1"), Monitor(name="monitor2", histogram=True)),
    logs=(LogSignal(name="motion1", unit="mm"),),
)
KAFKA_NS = T0 - 123


@pytest.fixture
def ingress() -> Ingress:
    return Ingress(instrument="inst", streams=INSTRUMENT.dev_streams())


def test_reads_control_topics_and_the_data_topics_of_its_streams(ingress: Ingress) -> None:
    assert ingress.topics() == [
        "inst_beam_monitor",
        "inst_detector",
        "inst_filewriter",
        "inst_livedata_commands",
        "inst_livedata_roi",
        "inst_motion",
    ]
    narrow = Ingress(instrument="inst", streams=INSTRUMENT.dev_streams(), wanted={"motion1"})
    assert "inst_detector" not in narrow.topics()


def test_ev44_is_routed_with_its_pulse_time(ingress: Ingress) -> None:
    batch = events(100)
    message = ingress.route("inst_detector", encode_ev44("panel_0", 7, batch), KAFKA_NS)
    assert message is not None
    assert message.stream.kind is StreamKind.DETECTOR_EVENTS
    assert message.stream.name == "panel_0"
    assert message.timestamp == T0  # the last reference time, not the Kafka time
    assert isinstance(message.value, EventBatch)
    np.testing.assert_array_equal(message.value.pixel_id, batch.pixel_id)


def test_ev44_without_pulses_uses_the_kafka_time(ingress: Ingress) -> None:
    batch = EventBatch(
        time_of_arrival=np.array([1], dtype=np.int32),
        pixel_id=None,
        reference_time=np.empty(0, dtype=np.int64),
        reference_time_index=np.empty(0, dtype=np.int32),
    )
    message = ingress.route("inst_beam_monitor", encode_ev44("monitor1", 1, batch), KAFKA_NS)
    assert message is not None
    assert (message.timestamp, message.stream.kind) == (KAFKA_NS, StreamKind.MONITOR_EVENTS)


def test_f144_and_da00(ingress: Ingress) -> None:
    log = ingress.route(
        "inst_motion", encode_f144("motion1", LogSample(time=T0 + 5, value=1.5)), KAFKA_NS
    )
    assert log is not None
    # placed by arrival (re-publishes carry old stamps); the sample keeps its own time
    assert (log.timestamp, log.value.time, log.value.value) == (KAFKA_NS, T0 + 5, 1.5)
    histogram = sc.DataArray(sc.array(dims=["toa"], values=[1.0, 2.0], unit="counts"))
    monitor = ingress.route(
        "inst_beam_monitor", encode_da00("monitor2", histogram, timestamp_ns=T0), KAFKA_NS
    )
    assert monitor is not None
    assert monitor.stream.kind is StreamKind.MONITOR_COUNTS
    assert sc.identical(monitor.value.data, histogram.data)


def test_control_messages(ingress: Ingress) -> None:
    wid = WorkflowId(instrument="inst", name="view", version=1)
    job_id = JobId(source_name="panel_0", job_number=uuid.uuid4())
    config = WorkflowConfig(message_id=str(uuid.uuid4()), workflow_id=wid, job_id=job_id)
    stop = JobCommand(message_id=str(uuid.uuid4()), action=JobAction.STOP)
    for command in (config, stop):
        message = ingress.route("inst_livedata_commands", encode_command(command), KAFKA_NS)
        assert message is not None
        assert message.value == command
        assert message.stream.kind is StreamKind.COMMANDS
    roi = RoiUpdate(job_id=job_id, shape="rectangle", rois={})
    message = ingress.route("inst_livedata_roi", encode_roi(roi), KAFKA_NS)
    assert message is not None
    assert isinstance(message.value, RoiUpdate)
    start = RunStart(run_name="r1", start_time=T0)
    stop_run = RunStop(run_name="r1", stop_time=T0 + 10**9)
    for payload, kind in ((encode_pl72(start), RunStart), (encode_6s4t(stop_run), RunStop)):
        message = ingress.route("inst_filewriter", payload, KAFKA_NS)
        assert message is not None
        assert isinstance(message.value, kind)
        assert message.stream.kind is StreamKind.RUN_CONTROL


@pytest.mark.parametrize(
    ("topic", "payload", "label", "reason"),
    [
        ("inst_detector", b"", "inst_detector", "empty"),
        ("inst_detector", b"\x00" * 3, "inst_detector", "wrong_schema"),
        ("inst_detector", b"garbage-garbage-garbage", "inst_detector", "wrong_schema"),
        ("inst_detector", encode_ev44("panel_9", 1, events(3)), "inst_detector", "unknown_source"),
        ("inst_elsewhere", encode_ev44("panel_0", 1, events(3)), "inst_elsewhere", "unknown_topic"),
        (
            "inst_detector",
            encode_f144("panel_0", LogSample(time=T0, value=1.0)),
            "panel_0",
            "wrong_schema",
        ),
        ("inst_livedata_commands", b'{"kind": "nope"}', "inst_livedata_commands", "invalid_value"),
        ("inst_livedata_commands", b"\xff\xfe", "inst_livedata_commands", "malformed"),
        ("inst_detector", encode_ev44("panel_0", 1, events(3))[:40], "inst_detector", "truncated"),
    ],
)
def test_bad_messages_are_dropped_and_counted(
    ingress: Ingress, topic: str, payload: bytes, label: str, reason: str
) -> None:
    assert ingress.route(topic, payload, KAFKA_NS) is None
    assert ingress.stats() == {label: {reason: 1}}
    # ... and the next good message goes through.
    good = ingress.route("inst_detector", encode_ev44("panel_0", 2, events(5)), KAFKA_NS)
    assert good is not None


def test_streams_other_services_read_are_dropped_quietly() -> None:
    ingress = Ingress(instrument="inst", streams=INSTRUMENT.dev_streams(), wanted={"monitor1"})
    assert ingress.route("inst_detector", encode_ev44("panel_0", 1, events(3)), KAFKA_NS) is None
    assert ingress.stats() == {"panel_0": {"not_wanted": 1}}
