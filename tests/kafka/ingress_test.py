"""Ingress: decode by schema, route by (topic, source), count every drop."""

import json
import uuid

import numpy as np
import pytest
import scipp as sc
from structlog.testing import capture_logs

from livedata.config.instrument import DetectorBank, Instrument, LogSignal, Monitor
from livedata.core.control import (
    InvalidCommand,
    JobAction,
    JobCommand,
    RoiUpdate,
    WorkflowConfig,
)
from livedata.core.identity import JobId, WorkflowId
from livedata.core.message import StreamKind
from livedata.core.values import EventBatch, LogSample, RunStart, RunStop
from livedata.kafka import ingress as ingress_module
from livedata.kafka.ingress import REJECTION_LOG_INTERVAL_S, Ingress
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
        ("inst_detector", b"\x00" * 3, "inst_detector", "truncated"),
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


def test_detector_events_without_pixel_ids_are_refused() -> None:
    # Joined with good events in a window they would strip those of their pixel ids.
    ingress = Ingress(instrument="inst", streams=INSTRUMENT.dev_streams())
    no_pixels = EventBatch(
        time_of_arrival=np.array([1, 2], dtype=np.int32),
        pixel_id=None,
        reference_time=np.array([T0]),
        reference_time_index=np.array([0], dtype=np.int32),
    )
    assert ingress.route("inst_detector", encode_ev44("panel_0", 1, no_pixels), KAFKA_NS) is None
    assert ingress.stats() == {"panel_0": {"missing_field": 1}}
    # Monitors may leave pixel ids out.
    monitor = ingress.route("inst_beam_monitor", encode_ev44("monitor1", 1, no_pixels), KAFKA_NS)
    assert monitor is not None
    assert monitor.value.pixel_id is None


def test_an_empty_detector_message_without_pixel_ids_still_marks_time() -> None:
    ingress = Ingress(instrument="inst", streams=INSTRUMENT.dev_streams())
    empty = EventBatch(
        time_of_arrival=np.empty(0, dtype=np.int32),
        pixel_id=None,
        reference_time=np.array([T0]),
        reference_time_index=np.array([0], dtype=np.int32),
    )
    message = ingress.route("inst_detector", encode_ev44("panel_0", 1, empty), KAFKA_NS)
    assert message is not None
    assert message.timestamp == T0
    assert message.value.pixel_id is not None
    assert len(message.value.pixel_id) == 0
    # ... so it joins a window of good events without costing them their pixel ids.
    joined = EventBatch.concatenate([message.value, events(3)])
    assert joined.pixel_id is not None
    assert ingress.stats() == {}


def test_an_invalid_command_naming_its_sender_is_passed_on_to_be_refused() -> None:
    ingress = Ingress(instrument="inst", streams=INSTRUMENT.dev_streams())
    message_id = str(uuid.uuid4())
    payload = json.dumps(
        {
            "kind": "workflow_config",
            "identifier": {"instrument": "inst", "name": "view", "version": 1},
            "message_id": message_id,
            "job_id": {"source_name": "panel_0", "job_number": str(uuid.uuid4())},
            "params": {"bins": 10},
            "colour": "red",
        }
    ).encode()
    message = ingress.route("inst_livedata_commands", payload, KAFKA_NS)
    assert message is not None
    assert message.stream.kind is StreamKind.COMMANDS
    assert isinstance(message.value, InvalidCommand)
    assert (message.value.message_id, message.value.device) == (message_id, "panel_0")
    assert "colour" in message.value.error
    # Still a rejected message: counted like any other.
    assert ingress.stats() == {"inst_livedata_commands": {"invalid_value": 1}}
    # Without a readable message id there is nobody to answer.
    unnamed = json.loads(payload) | {"message_id": "?"}
    assert ingress.route("inst_livedata_commands", json.dumps(unnamed).encode(), KAFKA_NS) is None
    assert ingress.stats() == {"inst_livedata_commands": {"invalid_value": 2}}


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_rejections_is_logged_once_per_interval(monkeypatch) -> None:
    clock = FakeMonotonic()
    monkeypatch.setattr(ingress_module.time, "monotonic", clock)
    ingress = Ingress(instrument="inst", streams=INSTRUMENT.dev_streams())
    with capture_logs() as logs:
        for _ in range(1000):
            ingress.route("inst_detector", b"garbage-garbage-garbage", KAFKA_NS)
            clock.now += 0.001  # 1000 messages in one second
        ingress.route("inst_detector", b"", KAFKA_NS)  # another reason: its own line
        clock.now += REJECTION_LOG_INTERVAL_S
        ingress.route("inst_detector", b"garbage-garbage-garbage", KAFKA_NS)
    lines = [
        (e["stream"], e["reason"], e["count"]) for e in logs if e["event"] == "message_rejected"
    ]
    assert lines == [
        ("inst_detector", "wrong_schema", 1),
        ("inst_detector", "empty", 1),
        # The next line comes an interval later and carries the running count.
        ("inst_detector", "wrong_schema", 1001),
    ]
    assert ingress.stats() == {"inst_detector": {"wrong_schema": 1001, "empty": 1}}
