"""The hostile wire through the real broker: every service survives every bad message.

Each case sends a bad message to a topic a service reads, then a good probe on the
same topic and partition. The probe's effect (a result, an ACK, a control counter)
proves the service got past the bad message; the first heartbeat that counts the probe
must show the bad message rejected under the expected reason, or, for messages that
are valid on the wire (NaN values, pixel ids outside the detector), processed and not
counted as rejected.

The four services run in-process, one per instrument name, each in its own thread
running its cases in order; one module-scoped run serves every test here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import scipp as sc
from confluent_kafka import Producer
from hostile_payloads import (
    GARBAGE,
    RawVariable,
    ad00,
    cut,
    da00,
    ev44,
    f144_with_string_member,
    roi_payload,
    with_vector_length,
)
from streaming_data_types import serialise_ad00, serialise_pl72
from structlog.testing import capture_logs

from livedata.cli.watch import tail_consumer
from livedata.config.instrument import Instrument
from livedata.config.registry import load_instrument
from livedata.config.topics import Topic, topic_name
from livedata.core.control import CommandResponse, JobAction, JobCommand, Roi, RoiUpdate
from livedata.core.identity import JobId
from livedata.core.rejections import rejections_by_reason
from livedata.core.values import AreaFrame, EventBatch, LogSample, RunStart, RunStop
from livedata.dashboard.status_store import StatusStore
from livedata.dashboard.ui.format import rejected_html
from livedata.kafka.ingress import REJECTION_LOG_INTERVAL_S
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.sink import producer_config
from livedata.kafka.topics import create_topics
from livedata.protocol.ad00 import encode_ad00
from livedata.protocol.commands import MAX_COMMAND_BYTES, encode_command
from livedata.protocol.da00 import encode_da00
from livedata.protocol.errors import DecodeError
from livedata.protocol.ev44 import encode_ev44
from livedata.protocol.f144 import encode_f144
from livedata.protocol.heartbeats import JobHeartbeat, ServiceHeartbeat
from livedata.protocol.responses import decode_response
from livedata.protocol.roi import encode_roi
from livedata.protocol.run_control import encode_6s4t, encode_pl72
from livedata.services.runner import ServiceOptions, build_service
from livedata.testing.stack import (
    PULSE_NS,
    HeartbeatReader,
    ResultReader,
    RunningService,
    start_job,
)

pytestmark = pytest.mark.integration

WINDOW_S = 0.25
"""Short windows: a probe's result is out within ~1 s (the backstop adds half a second)."""

PROBE_TIMEOUT_S = 20.0
PARTITION = 0
PANEL_PIXELS = 128 * 128
AREA_SHAPE = (256, 256)
PROBE_EVENTS = 7

U = "5b0e3c7a-1d2f-4e6a-9b8c-0123456789ab"
"""A fixed job number for hostile commands that name a job."""

# -- what each service runs ---------------------------------------------------------------

JOBS: dict[str, list[tuple[str, str]]] = {
    "monitor_data": [("monitor_histogram", "monitor1")],
    "detector_data": [("panel_0_xy", "panel_0"), ("area_panel_xy", "area_panel")],
    "data_reduction": [("total_counts", "panel_0")],
    "timeseries": [("timeseries_data", "motion1")],
}

MAIN_SOURCE = {
    "monitor_data": "monitor1",
    "detector_data": "panel_0",
    "data_reduction": "panel_0",
    "timeseries": "motion1",
}

# -- payload builders (called at send time: data carries current timestamps) ------------


ON_PANEL = "on_panel"
"""``pixels=ON_PANEL``: random pixel ids, all on the 128x128 panel."""


def now_events(
    n: int, *, pixels: object = ON_PANEL, toa: object = None, ref: int | None = None
) -> EventBatch:
    """``n`` events of one pulse stamped now (or ``ref``)."""
    rng = np.random.default_rng(n)
    if pixels is ON_PANEL:
        pixel_id = rng.integers(1, PANEL_PIXELS + 1, n, dtype=np.int32)
    elif pixels is None:
        pixel_id = None
    else:
        pixel_id = np.asarray(pixels, dtype=np.int32)
    times = rng.integers(0, PULSE_NS, n, dtype=np.int32) if toa is None else toa
    return EventBatch(
        time_of_arrival=np.asarray(times, dtype=np.int32),
        pixel_id=pixel_id,
        reference_time=np.array([time.time_ns() if ref is None else ref], dtype=np.int64),
        reference_time_index=np.array([0], dtype=np.int32),
    )


def ev44_now(source: str, n: int = 3, **kwargs: Any) -> Callable[[], bytes]:
    return lambda: encode_ev44(source, 1, now_events(n, **kwargs))


def f144_now(source: str, value: Any) -> Callable[[], bytes]:
    return lambda: encode_f144(source, LogSample(time=time.time_ns(), value=value))


def ad00_now(data: np.ndarray, source: str = "area_panel") -> Callable[[], bytes]:
    return lambda: encode_ad00(source, AreaFrame(unique_id=1, time=time.time_ns(), data=data))


def command_json(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def workflow_config_json(**override: Any) -> dict[str, Any]:
    base = {
        "kind": "workflow_config",
        "identifier": {"instrument": "x", "name": "monitor_histogram", "version": 1},
        "message_id": str(uuid.uuid4()),
        "job_id": {"source_name": "monitor1", "job_number": U},
    }
    return base | override


NAN_PIXEL = (3, 4)
NAN_FRAME = np.ones(AREA_SHAPE)
NAN_FRAME[NAN_PIXEL] = np.nan
FRAME_SUM = AREA_SHAPE[0] * AREA_SHAPE[1] - 1
"""A frame of ones summed over every pixel but ``NAN_PIXEL`` (NaN there is NaN for good)."""

# -- the corpus ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    service: str
    topic: Topic
    payload: bytes | Callable[[], bytes]
    reason: str | None
    """Rejection reason; ``None``: the message is valid on the wire and processed."""
    label: str | None = None
    """Stream the rejection is counted under; ``None``: the topic."""
    count: int = 1
    """How many copies are sent (a burst)."""
    adds: float = 0.0
    """What the bad message adds to the probe's running total (events, frame sums)."""
    appends: tuple[float, ...] = ()
    """Values the bad message appends to a timeseries."""
    timestamp_issue: str | None = None
    err_device: str | None = None
    """A command refused with ERR for this device (the message id could be read)."""
    nan_pixel: bool = False
    """The frame holds NaN at ``NAN_PIXEL``: from then on the camera's sums do too."""
    job_warning: str | None = None
    """Refused by the job's workflow (not at ingress): the job's heartbeat says so."""


def case(id: str, service: str, topic: Topic, payload: Any, reason: str | None, **kw: Any):
    return Case(id, service, topic, payload, reason, **kw)


M, D, R, T = "monitor_data", "detector_data", "data_reduction", "timeseries"
MON, DET, AREA, MOT = Topic.BEAM_MONITOR, Topic.DETECTOR, Topic.AREA_DETECTOR, Topic.MOTION
CMD, ROI, RUN = Topic.COMMANDS, Topic.ROI, Topic.FILEWRITER

BAD_IDS = [-5, -(2**31), 0, PANEL_PIXELS + 1, 2**31 - 1, 2**31 - 1]
MONITOR_TOA = np.array([11, 22, 33, 44], dtype=np.int32)
VALID_MONITOR_EV44 = encode_ev44(
    "monitor1",
    1,
    EventBatch(
        time_of_arrival=MONITOR_TOA,
        pixel_id=None,
        reference_time=np.array([1_700_000_000 * 10**9]),
        reference_time_index=np.array([0], dtype=np.int32),
    ),
)
VALID_DA00 = encode_da00(
    "monitor1",
    sc.DataArray(sc.array(dims=["toa"], values=[1.0, 2.0], unit="counts")),
    timestamp_ns=5,
)
WF_ERR = workflow_config_json(params={"bins": 10}, evil=1)
JOB_ERR = {
    "kind": "job_command",
    "message_id": str(uuid.uuid4()),
    "action": "explode",
    "job_id": {"source_name": "monitor1", "job_number": U},
}

CASES: list[Case] = [
    # --- ev44 on the detector topic: detector_data (pixels) and data_reduction (totals) ---
    case(
        "panel-no-pixel-ids",
        D,
        DET,
        ev44_now("panel_0", pixels=None),
        "missing_field",
        label="panel_0",
    ),
    case("panel-pixels-vs-tof", D, DET, ev44(pixel_id=[1, 2]), "length_mismatch"),
    case(
        "panel-ref-time-vs-index",
        D,
        DET,
        ev44(reference_time=[1, 2], reference_time_index=[0]),
        "length_mismatch",
    ),
    case(
        "panel-index-decreases",
        D,
        DET,
        ev44(reference_time=[1, 2, 3], reference_time_index=[0, 2, 1]),
        "unordered",
    ),
    case(
        "panel-pixel-ids-outside-detector",
        D,
        DET,
        ev44_now("panel_0", len(BAD_IDS), pixels=BAD_IDS),
        None,
        adds=0,
    ),
    case("panel-ad00-on-detector-topic", D, DET, ad00_now(np.ones(AREA_SHAPE)), "unknown_source"),
    case("panel-source-not-utf8", R, DET, ev44(source_name=b"\xff\xfe"), "malformed"),
    case("panel-zero-vtable", R, DET, b"\x00\x00\x00\x00ev44" + bytes(16), "malformed"),
    case("counts-empty", R, DET, b"", "empty"),
    case("counts-garbage", R, DET, GARBAGE, "wrong_schema"),
    case(
        "counts-ev44-length-beyond-payload",
        R,
        DET,
        with_vector_length(ev44(time_of_flight=[5, 6, 7]), np.array([5, 6, 7], np.int32), 1000),
        "truncated",
    ),
    case(
        "counts-index-beyond-events",
        R,
        DET,
        ev44(reference_time=[1, 2], reference_time_index=[0, 4]),
        "out_of_range",
    ),
    case(
        "counts-negative-index",
        R,
        DET,
        ev44(reference_time=[1, 2], reference_time_index=[-1, 1]),
        "out_of_range",
    ),
    case(
        "counts-f144-on-detector", R, DET, f144_now("panel_0", 1.0), "wrong_schema", label="panel_0"
    ),
    case("counts-monitor-on-detector-topic", R, DET, ev44_now("monitor1"), "unknown_source"),
    case(
        "counts-pixel-ids-outside-detector",
        R,
        DET,
        ev44_now("panel_0", len(BAD_IDS), pixels=BAD_IDS),
        None,
        adds=len(BAD_IDS),
    ),
    case(
        "counts-far-future-pulse",
        R,
        DET,
        ev44_now("panel_0", 5, ref=time.time_ns() + 3600 * 10**9),
        None,
        adds=5,
        timestamp_issue="far_future_timestamp",
    ),
    case(
        "counts-pre-epoch-pulse",
        R,
        DET,
        ev44_now("panel_0", 4, ref=5),
        None,
        adds=4,
        timestamp_issue="pre_epoch_timestamp",
    ),
    case(
        "counts-negative-pulse",
        R,
        DET,
        ev44_now("panel_0", 2, ref=-(10**18)),
        None,
        adds=2,
        timestamp_issue="negative_timestamp",
    ),
    # --- ev44 and da00 on the beam monitor topic: monitor_data ----------------------
    case("monitor-empty", M, MON, b"", "empty"),
    case("monitor-garbage", M, MON, GARBAGE, "wrong_schema"),
    case("monitor-3-bytes", M, MON, b"\x08\x00\x00", "truncated"),
    case("monitor-ev44-cut-half", M, MON, cut(VALID_MONITOR_EV44, 40), "truncated"),
    case("monitor-unknown-source", M, MON, ev44_now("monitor9", pixels=None), "unknown_source"),
    case(
        "monitor-f144-on-monitor",
        M,
        MON,
        f144_now("monitor1", 1.0),
        "wrong_schema",
        label="monitor1",
    ),
    case(
        "monitor-da00-no-signal",
        M,
        MON,
        da00([RawVariable.of("c", np.ones(2), ["x"])]),
        "missing_field",
    ),
    case(
        "monitor-da00-huge-shape",
        M,
        MON,
        da00([RawVariable(name="signal", data=bytes(8), axes=["x"], shape=[1 << 40])]),
        "too_large",
    ),
    case("monitor-da00-on-event-monitor", M, MON, VALID_DA00, "wrong_schema", label="monitor1"),
    case(
        "monitor-ev44-2G-events-header",
        M,
        MON,
        with_vector_length(VALID_MONITOR_EV44, MONITOR_TOA, 2**31 - 1),
        "too_large",
    ),
    case(
        "monitor-ev44-no-tof",
        M,
        MON,
        ev44(source_name="monitor1", time_of_flight=None, pixel_id=None),
        "missing_field",
    ),
    case(
        "monitor-toa-out-of-frame",
        M,
        MON,
        ev44_now("monitor1", 3, pixels=None, toa=[-1, 2**31 - 1, -(2**31)]),
        None,
    ),
    case("monitor-burst-of-garbage", M, MON, GARBAGE[:50], "wrong_schema", count=40),
    # --- ad00 on the camera topic: detector_data ------------------------------------
    case("camera-1d-frame", D, AREA, serialise_ad00("area_panel", 1, 2, np.ones(4)), "bad_shape"),
    case("camera-short-data", D, AREA, ad00(dimensions=[2, 2], data=bytes(3)), "length_mismatch"),
    case(
        "camera-terapixel-header",
        D,
        AREA,
        ad00(dimensions=[1 << 20, 1 << 20], data=bytes(4)),
        "too_large",
    ),
    case(
        "camera-bad-dtype",
        D,
        AREA,
        ad00(dimensions=[2, 2], data=bytes(4), data_type=42),
        "unsupported",
    ),
    case(
        "camera-ev44-on-camera-topic",
        D,
        AREA,
        ev44_now("area_panel"),
        "wrong_schema",
        label="area_panel",
    ),
    case(
        "camera-frame-of-wrong-size",
        D,
        AREA,
        ad00_now(np.ones((4, 4))),
        None,
        job_warning="1 frames refused, last: area_panel: frame 1 has shape (4, 4)",
    ),
    case(
        "camera-nan-pixel",
        D,
        AREA,
        ad00_now(NAN_FRAME),
        None,
        adds=FRAME_SUM,
        nan_pixel=True,
    ),
    # --- f144 on the motion topic: timeseries ---------------------------------------
    case("motion-empty", T, MOT, b"", "empty"),
    case("motion-string-value", T, MOT, f144_with_string_member(value_type=21), "unsupported"),
    case("motion-no-value", T, MOT, f144_with_string_member(value_type=0), "missing_field"),
    case(
        "motion-double-tag-on-string", T, MOT, f144_with_string_member(value_type=10), "malformed"
    ),
    case(
        "motion-f144-cut",
        T,
        MOT,
        cut(encode_f144("motion1", LogSample(time=1, value=1.0)), 30),
        "truncated",
    ),
    case("motion-ev44-on-motion", T, MOT, ev44_now("motion1"), "wrong_schema", label="motion1"),
    case("motion-unknown-source", T, MOT, f144_now("motion9", 1.0), "unknown_source"),
    case("motion-nan", T, MOT, f144_now("motion1", math.nan), None, appends=(math.nan,)),
    case("motion-inf-is-nan", T, MOT, f144_now("motion1", math.inf), None, appends=(math.nan,)),
    case(
        "motion-array-on-scalar-log",
        T,
        MOT,
        f144_now("motion1", np.array([1.0, 2.0])),
        None,
        job_warning="1 samples refused, last: motion1: array-valued sample of shape (2,)",
    ),
    # --- da00 ROIs (every service reads them; detector_data echoes them) ------------
    case("roi-garbage", D, ROI, GARBAGE, "wrong_schema"),
    case("roi-nan-x", D, ROI, roi_payload(x=[0, math.nan], y=[0, 1], index=[0, 0]), "non_finite"),
    case(
        "roi-65-rectangles",
        D,
        ROI,
        roi_payload(x=[0, 1] * 65, y=[0, 1] * 65, index=[i for i in range(65) for _ in (0, 1)]),
        "too_large",
    ),
    case(
        "roi-bad-job-number",
        D,
        ROI,
        roi_payload(x=[0, 1], y=[0, 1], index=[0, 0], job_number="not-a-uuid"),
        "invalid_value",
    ),
    case("roi-empty", R, ROI, b"", "empty"),
    case(
        "roi-polygon-2-vertices",
        T,
        ROI,
        roi_payload(shape="polygon", dim="vertex", x=[0, 1], y=[0, 1], index=[0, 0]),
        "bad_shape",
    ),
    # --- JSON commands (monitor_data is the dummy's responder: it answers ERR) ------
    case(
        "command-without-message-id",
        R,
        CMD,
        command_json(**{k: v for k, v in WF_ERR.items() if k != "message_id"}),
        "invalid_value",
    ),
    case("command-empty", R, CMD, b"", "empty"),
    case("command-too-large", R, CMD, b" " * (MAX_COMMAND_BYTES + 1), "too_large"),
    case("command-not-utf8", M, CMD, b"\xff\xfe{", "malformed"),
    case(
        "command-nan-param",
        M,
        CMD,
        b'{"kind": "workflow_config", "params": {"x": NaN}}',
        "malformed",
    ),
    case(
        "command-extra-field-gets-err",
        M,
        CMD,
        command_json(**WF_ERR),
        "invalid_value",
        err_device="monitor1",
    ),
    case(
        "command-unknown-action-gets-err",
        M,
        CMD,
        command_json(**JOB_ERR),
        "invalid_value",
        err_device=f"monitor1/{U}",
    ),
    case("command-json-array", T, CMD, b"[1, 2]", "malformed"),
    case(
        "command-nested-too-deep",
        T,
        CMD,
        b'{"kind": "job_command", "params": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "malformed",
    ),
    # --- pl72 / 6s4t run control ----------------------------------------------------
    case("filewriter-garbage", R, RUN, GARBAGE, "wrong_schema"),
    case(
        "run-start-beyond-int64",
        R,
        RUN,
        serialise_pl72("j", "f", start_time=2**63, run_name="r"),
        "out_of_range",
    ),
    case(
        "run-stop-cut",
        T,
        RUN,
        cut(encode_6s4t(RunStop(run_name="r", stop_time=1)), 20),
        "truncated",
    ),
]


def test_corpus_covers_every_service_schema_and_many_cases() -> None:
    assert len(CASES) >= 30
    assert {c.service for c in CASES} == set(JOBS)
    assert {c.topic for c in CASES} >= {MON, DET, AREA, MOT, CMD, ROI, RUN}
    assert len({c.id for c in CASES}) == len(CASES)


# -- the rig: one service, its readers and its running totals ------------------------------


def payload_of(item: bytes | Callable[[], bytes]) -> bytes:
    return item() if callable(item) else item


@dataclass
class Counts:
    """What one service heartbeat says about a case."""

    rejected: Counter[tuple[str, str]]
    timestamp_issues: Counter[str]
    keys: Counter[str]
    """Messages processed: ``messages/<stream>`` and ``control/<kind>``."""

    @staticmethod
    def of(heartbeat: ServiceHeartbeat) -> Counts:
        stats = heartbeat.status.stream_stats
        rejected: Counter[tuple[str, str]] = Counter()
        for label, reasons in stats.get("ingress", {}).get("rejected", {}).items():
            for reason, count in reasons.items():
                rejected[(label, reason)] = count
        keys: Counter[str] = Counter()
        for group in ("messages", "control"):
            for name, count in stats.get(group, {}).items():
                keys[f"{group}/{name}"] = count
        issues = Counter(stats.get("batching", {}).get("timestamp_issues", {}))
        return Counts(rejected=rejected, timestamp_issues=issues, keys=keys)


@dataclass
class Outcome:
    case: Case
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Responses:
    """ACK/ERR answers on one instrument's responses topic, kept from creation on."""

    def __init__(self, settings: KafkaSettings, instrument: str) -> None:
        self._consumer = tail_consumer(settings, topic_name(instrument, Topic.RESPONSES))
        self.seen: list[CommandResponse] = []

    def wait_for(self, message_id: str, timeout_s: float) -> list[CommandResponse]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in self._consumer.consume(50, 0.2):
                if message.error() is None:
                    try:
                        self.seen.append(decode_response(message.value() or b""))
                    except DecodeError:
                        continue
            answers = [r for r in self.seen if r.message_id == message_id]
            if answers:
                return answers
        return []

    def close(self) -> None:
        self._consumer.close()


class Rig:
    """One service on its own instrument, with a producer, readers and running totals."""

    def __init__(self, service: str, settings: KafkaSettings) -> None:
        self.service = service
        self.settings = settings
        name = f"h{uuid.uuid4().hex[:8]}"
        self.instrument: Instrument = dataclasses.replace(load_instrument("dummy"), name=name)
        create_topics(settings, name)
        self.results = ResultReader(settings, name)
        self.heartbeats = HeartbeatReader(settings, name)
        self.responses = Responses(settings, name)
        self.producer = Producer(producer_config(settings))
        options = ServiceOptions(
            service_name=service,
            instrument=name,
            batch_window_s=WINDOW_S,
            worker_id="hostile",
            restore_jobs=False,
        )
        self.running = RunningService(
            build_service(options, settings=settings, instrument=self.instrument)
        )
        self.jobs: dict[str, JobId] = {}
        self.totals: Counter[Topic] = Counter()
        self.series: list[float] = []
        self.nan_pixel = False
        self.probes = 0
        self.counts = Counts(Counter(), Counter(), Counter())

    def start(self) -> None:
        """Start the service's jobs and take the counts after a first probe."""
        for workflow, source in JOBS[self.service]:
            self.jobs[source] = start_job(self.settings, self.instrument, workflow, source)
        self.counts = self._baseline()

    def close(self) -> None:
        self.running.stop()
        self.producer.flush(5)
        del self.producer  # librdkafka keeps reconnecting until its producer is freed
        for reader in (self.results, self.heartbeats, self.responses):
            reader.close()

    # -- sending ------------------------------------------------------------------------

    def send(self, topic: Topic, payload: bytes) -> None:
        self.producer.produce(topic_name(self.instrument.name, topic), payload, partition=PARTITION)

    def flush(self) -> None:
        assert self.producer.flush(10) == 0

    # -- probes: a good message on the case's topic, and how to see it took effect ---------

    def probe(self, topic: Topic) -> tuple[str, Callable[[], None]]:
        """Send the good message; return its heartbeat counter and a wait for its effect."""
        self.probes += 1
        k = self.probes
        main = MAIN_SOURCE[self.service]
        job = self.jobs[main]
        if topic in (DET, MON):
            pixels = ON_PANEL if topic is DET else None
            self.send(topic, encode_ev44(main, k, now_events(PROBE_EVENTS, pixels=pixels)))
            self.totals[topic] += PROBE_EVENTS
            return f"messages/{main}", self._wait_total(job, topic)
        if topic is AREA:
            self.send(topic, payload_of(ad00_now(np.ones(AREA_SHAPE))))
            self.totals[topic] += FRAME_SUM
            return "messages/area_panel", self._wait_total(self.jobs["area_panel"], topic)
        if topic is MOT:
            value = 100.0 + k
            self.send(topic, payload_of(f144_now(main, value)))
            self.series.append(value)
            return f"messages/{main}", self._wait_series(job)
        if topic is CMD:
            command = JobCommand(message_id=str(uuid.uuid4()), action=JobAction.RESUME, job_id=job)
            self.send(topic, encode_command(command))
            return "control/commands", self._wait_ack(command)
        if topic is ROI:
            rois = {0: Roi(shape="rectangle", x=(0.0, float(k)), y=(0.0, 1.0))}
            self.send(topic, encode_roi(RoiUpdate(job_id=job, shape="rectangle", rois=rois)))
            if self.service != D:
                return "control/rois", lambda: None  # no detector view: the count is the effect
            self.flush()
            self.send(DET, encode_ev44(main, k, now_events(PROBE_EVENTS)))
            self.totals[DET] += PROBE_EVENTS
            return "control/rois", self._wait_echo(job, k)
        assert topic is RUN
        self.send(topic, encode_pl72(RunStart(run_name=f"run{k}", start_time=time.time_ns())))
        return "control/RunStart", lambda: None  # the heartbeat's count is the effect

    def _output(self, topic: Topic) -> str:
        if self.service == R:
            return "total"
        return "cumulative" if topic is AREA else "counts_total_cumulative"

    def _wait_result(self, matches: Callable[[Any, sc.DataArray], bool]) -> Callable[[], None]:
        def wait() -> None:
            self.results.wait_for(matches, PROBE_TIMEOUT_S)

        return wait

    def _total(self, topic: Topic, values: np.ndarray) -> float:
        """What a probe's running total is compared with (NaN: a pixel in the wrong state)."""
        if topic is not AREA:
            return float(values.sum())
        if np.isnan(values[NAN_PIXEL]) != self.nan_pixel:
            return math.nan
        return float(np.nansum(values) - np.nan_to_num(values[NAN_PIXEL]))

    def _wait_total(self, job: JobId, topic: Topic) -> Callable[[], None]:
        expected, output = self.totals[topic], self._output(topic)
        return self._wait_result(
            lambda key, data: (
                key.job_id == job
                and key.output_name == output
                and self._total(topic, data.values) == expected
            )
        )

    def _wait_series(self, job: JobId) -> Callable[[], None]:
        expected = np.array(self.series)
        return self._wait_result(
            lambda key, data: (
                key.job_id == job and np.array_equal(data.values, expected, equal_nan=True)
            )
        )

    def _wait_echo(self, job: JobId, k: int) -> Callable[[], None]:
        return self._wait_result(
            lambda key, data: (
                key.job_id == job
                and key.output_name == "roi_rectangle"
                and data.coords["x"].values.tolist() == [0.0, float(k)]
            )
        )

    def _wait_ack(self, command: JobCommand) -> Callable[[], None]:
        def wait() -> None:
            answers = self.responses.wait_for(command.message_id, PROBE_TIMEOUT_S)
            assert [(a.device, a.ok) for a in answers] == [(command.device, True)], answers

        return wait

    # -- heartbeats -----------------------------------------------------------------------

    def _baseline(self) -> Counts:
        """Counts once the jobs run and a first probe went through."""
        key, wait = self.probe(DET if self.service in (D, R) else MON if self.service == M else MOT)
        self.flush()
        wait()
        return self.heartbeat_counting(key, 1)

    def heartbeat_counting(self, key: str, at_least: int) -> Counts:
        """The first service heartbeat whose ``key`` counter reached ``at_least``."""
        beat = self.heartbeats.wait_for(
            lambda h: isinstance(h, ServiceHeartbeat) and Counts.of(h).keys[key] >= at_least,
            timeout_s=10,
        )
        assert isinstance(beat, ServiceHeartbeat)
        return Counts.of(beat)

    def latest_counts(self) -> Counts:
        """The newest heartbeat's counts, a heartbeat period from now (to rebaseline)."""
        with contextlib.suppress(AssertionError):  # the wait only collects what arrives
            self.heartbeats.wait_for(lambda h: False, timeout_s=2.5)
        beats = [h for h in self.heartbeats.seen if isinstance(h, ServiceHeartbeat)]
        return Counts.of(beats[-1])

    def _resync(self, topic: Topic) -> None:
        """After a lost probe, take the running totals from the newest results, so that
        one failing case does not fail every later one."""
        with contextlib.suppress(AssertionError):  # the wait only collects what arrives
            self.results.wait_for(lambda key, data: False, timeout_s=2.0)
        topic = DET if topic is ROI else topic
        wanted = "timeseries" if topic is MOT else self._output(topic)
        job = self.jobs["area_panel" if topic is AREA else MAIN_SOURCE[self.service]]
        for key, data in reversed(self.results.seen):
            if key.job_id != job or key.output_name != wanted:
                continue
            if topic is MOT:
                self.series = list(data.values)
            else:
                self.totals[topic] = self._total(topic, data.values)
            return

    def _check_job_warning(self, c: Case, outcome: Outcome) -> None:
        job = self.jobs["area_panel" if c.topic is AREA else MAIN_SOURCE[self.service]]
        try:
            self.heartbeats.wait_for(
                lambda h: (
                    isinstance(h, JobHeartbeat)
                    and h.status.job_id == job
                    and c.job_warning in (h.status.warning or "")
                ),
                timeout_s=10,
            )
        except AssertionError:
            outcome.problems.append(f"no job heartbeat warned {c.job_warning!r}")

    # -- one case -------------------------------------------------------------------------

    def run(self, c: Case) -> Outcome:
        started = time.monotonic()
        outcome = self._run(c)
        outcome.seconds = time.monotonic() - started
        return outcome

    def _run(self, c: Case) -> Outcome:
        outcome = Outcome(c)
        before = self.counts
        for _ in range(c.count):
            self.send(c.topic, payload_of(c.payload))
        self.totals[DET if c.topic is ROI else c.topic] += c.adds
        self.series.extend(c.appends)
        self.nan_pixel |= c.nan_pixel
        passes = c.reason is None or c.err_device is not None
        key, wait = self.probe(c.topic)
        self.flush()
        try:
            wait()
        except AssertionError as err:
            outcome.problems.append(f"probe after the bad message had no effect: {err}")
            self._resync(c.topic)
        if c.job_warning is not None:
            self._check_job_warning(c, outcome)
        if c.err_device is not None:
            message_id = json.loads(payload_of(c.payload))["message_id"]
            answers = self.responses.wait_for(message_id, 10)
            got = [(a.device, a.ok) for a in answers]
            if got != [(c.err_device, False)]:
                outcome.problems.append(f"expected one ERR for {c.err_device}, got {answers}")
        expected_key = before.keys[key] + 1 + (c.count if passes else 0)
        try:
            after = self.heartbeat_counting(key, expected_key)
        except AssertionError:
            outcome.problems.append(f"no heartbeat counted {key} up to {expected_key}")
            self.counts = self.latest_counts()
            return outcome
        self.counts = after
        label = c.label or topic_name(self.instrument.name, c.topic)
        expected = Counter(before.rejected)
        if c.reason is not None:
            expected[(label, c.reason)] += c.count
        if +after.rejected != +expected:
            outcome.problems.append(
                f"rejections: expected {dict(+expected - before.rejected)}, "
                f"got {dict(+after.rejected - before.rejected)}"
            )
        issues = Counter(before.timestamp_issues)
        if c.timestamp_issue is not None:
            issues[c.timestamp_issue] += c.count
        if +after.timestamp_issues != +issues:
            outcome.problems.append(
                f"timestamp issues: expected {dict(issues)}, got {dict(after.timestamp_issues)}"
            )
        if after.keys[key] != expected_key:
            outcome.problems.append(f"{key}: expected {expected_key}, got {after.keys[key]}")
        return outcome


@dataclass
class ServiceRun:
    instrument: str
    outcomes: list[Outcome]
    last_heartbeat: ServiceHeartbeat


@dataclass
class CorpusRun:
    services: dict[str, ServiceRun]
    logs: list[dict[str, Any]]
    duration_s: float

    @property
    def outcomes(self) -> dict[str, Outcome]:
        return {o.case.id: o for run in self.services.values() for o in run.outcomes}


def run_service(service: str, settings: KafkaSettings) -> ServiceRun:
    rig = Rig(service, settings)
    try:
        rig.start()
        outcomes = [rig.run(c) for c in CASES if c.service == service]
        beats = [h for h in rig.heartbeats.seen if isinstance(h, ServiceHeartbeat)]
        return ServiceRun(rig.instrument.name, outcomes, beats[-1])
    finally:
        rig.close()


@pytest.fixture(scope="module")
def corpus(kafka_settings: KafkaSettings) -> CorpusRun:
    started = time.monotonic()
    with capture_logs() as logs, ThreadPoolExecutor(max_workers=len(JOBS)) as pool:
        runs = list(pool.map(lambda s: run_service(s, kafka_settings), JOBS))
    services = dict(zip(JOBS, runs, strict=True))
    return CorpusRun(services, list(logs), time.monotonic() - started)


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_service_gets_past_the_bad_message_and_counts_it(corpus: CorpusRun, c: Case) -> None:
    outcome = corpus.outcomes[c.id]
    assert not outcome.problems, "; ".join(outcome.problems)


def test_rejections_are_logged_at_most_once_per_interval(corpus: CorpusRun) -> None:
    rejected = [e for e in corpus.logs if e.get("event") == "message_rejected"]
    per_key = Counter((e["stream"], e["reason"]) for e in rejected)
    allowed = 1 + int(corpus.duration_s // REJECTION_LOG_INTERVAL_S)
    assert per_key, "no rejection was logged at all"
    assert max(per_key.values()) <= allowed, per_key
    # The burst of 40 on one topic is far more messages than log lines.
    burst = corpus.outcomes["monitor-burst-of-garbage"].case
    topic = topic_name(corpus.services[burst.service].instrument, burst.topic)
    assert 1 <= per_key[(topic, "wrong_schema")] <= allowed


@pytest.mark.parametrize("service", list(JOBS))
def test_the_dashboard_status_shows_the_rejections_by_reason(
    corpus: CorpusRun, service: str
) -> None:
    expected: Counter[str] = Counter()
    for c in CASES:
        if c.service == service and c.reason is not None:
            expected[c.reason] += c.count
    heartbeat = corpus.services[service].last_heartbeat
    store = StatusStore()
    store.observe(heartbeat, sent_ns=time.time_ns())
    (row,) = store.services(time.time_ns())
    shown = rejections_by_reason(row.status.stream_stats)
    assert {reason: sum(streams.values()) for reason, streams in shown.items()} == expected
    assert row.rejected == sum(expected.values())
    cell = rejected_html(row)
    assert cell.startswith(f"{row.rejected}<br>")
    top_reason, top_count = expected.most_common(1)[0]
    assert f"{top_reason} {top_count}</span>" in cell


def test_the_heartbeat_counts_the_events_left_out_of_histograms(corpus: CorpusRun) -> None:
    """Pixel ids outside the detector and times outside the frame pass the wire: they
    are left out of the histograms and counted per job and reason (``stream_stats["jobs"]``)."""

    def left_out(service: str) -> dict[str, dict[str, int]]:
        jobs = corpus.services[service].last_heartbeat.status.stream_stats.get("jobs", {})
        return {key.split("/")[0]: entry["events_left_out"] for key, entry in jobs.items()}

    assert left_out(D) == {"panel_0": {"pixel_out_of_range": len(BAD_IDS)}}
    assert left_out(M) == {"monitor1": {"time_out_of_range": 3}}  # monitor-toa-out-of-frame
    assert left_out(R) == {}  # total counts histogram nothing: every event counts
