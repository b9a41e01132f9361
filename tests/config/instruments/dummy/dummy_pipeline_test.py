"""A whole processing service in-process: fakes around the dummy instrument's workflows."""

import uuid

import numpy as np
import pytest

from livedata.config.registry import load_instrument
from livedata.core.batching import NS_PER_S, DataTimeBatcher
from livedata.core.control import Roi, RoiUpdate
from livedata.core.identity import JobId, WorkflowId
from livedata.core.job_manager import JobManager
from livedata.core.message import Message, StreamId, StreamKind
from livedata.core.processor import OrchestratingProcessor, ServiceIdentity
from livedata.core.values import EventBatch, LogSample
from livedata.protocol.roi import rois_from_data_array
from livedata.testing import FakeClock, FakeSink, FakeSource
from livedata.testing.messages import T0, start_command

PULSE_NS = NS_PER_S // 14


class Service:
    def __init__(self, service_name: str) -> None:
        inst = load_instrument("dummy")
        self.clock = FakeClock(T0)
        self.source = FakeSource()
        self.sink = FakeSink()
        self.processor = OrchestratingProcessor(
            identity=ServiceIdentity(instrument="dummy", service_name=service_name, worker_id="w"),
            source=self.source,
            sink=self.sink,
            batcher=DataTimeBatcher(clock=self.clock),
            job_manager=JobManager(
                instrument="dummy",
                registry=inst.build_workflows(inst).for_service(service_name),
            ),
            clock=self.clock,
        )

    def step(self, *messages: Message) -> None:
        self.source.push(*messages)
        self.processor.process()


def events(kind: StreamKind, source: str, t: int, n: int, seed: int) -> Message[EventBatch]:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(1, 128 * 128 + 1, n, dtype=np.int32)
    return Message(
        timestamp=t,
        stream=StreamId(kind=kind, name=source),
        value=EventBatch(
            time_of_arrival=rng.integers(0, 71_000_000, n, dtype=np.int32),
            pixel_id=pixels if kind is StreamKind.DETECTOR_EVENTS else None,
            reference_time=np.array([t], dtype=np.int64),
            reference_time_index=np.array([0], dtype=np.int32),
        ),
    )


@pytest.mark.parametrize(
    ("service", "workflow", "kind", "source", "output"),
    [
        (
            "detector_data",
            "panel_0_xy",
            StreamKind.DETECTOR_EVENTS,
            "panel_0",
            "counts_total_cumulative",
        ),
        ("data_reduction", "total_counts", StreamKind.DETECTOR_EVENTS, "panel_0", "total"),
        (
            "monitor_data",
            "monitor_histogram",
            StreamKind.MONITOR_EVENTS,
            "monitor2",
            "counts_total_cumulative",
        ),
    ],
)
def test_n_events_in_give_exactly_n_counts(service, workflow, kind, source, output) -> None:
    svc = Service(service)
    workflow_id = WorkflowId(instrument="dummy", name=workflow, version=1)
    svc.step(start_command(workflow_id, source))
    (response,) = svc.sink.responses
    assert response.ok, response.error
    sent = 0
    for second in range(3):
        messages = []
        for pulse in range(14):
            n = 1000 + 37 * pulse + second
            messages.append(
                events(kind, source, T0 + second * NS_PER_S + pulse * PULSE_NS, n, pulse)
            )
            sent += n
        svc.step(*messages)
    svc.processor.shutdown()  # publishes the last, still open window
    results = svc.sink.outputs(output)
    assert len(results) == 3
    assert results[-1].data.value == sent
    assert results[-1].key.workflow_id == workflow_id
    assert results[-1].data.coords["start_time"].value == T0
    current = svc.sink.outputs("current")
    assert sum(r.data.sum().value for r in current) == sent
    assert [r.data.coords["start_time"].value for r in current] == [
        T0 + i * NS_PER_S for i in range(3)
    ]


def test_timeseries_service_publishes_the_values_sent() -> None:
    svc = Service("timeseries")
    svc.step(
        start_command(WorkflowId(instrument="dummy", name="timeseries_data", version=1), "motion2")
    )
    values = [0.5, 1.5, float("nan"), 2.5]
    stream = StreamId(kind=StreamKind.LOG, name="motion2")
    for i, value in enumerate(values):
        t = T0 + i * NS_PER_S
        svc.step(Message(timestamp=t, stream=stream, value=LogSample(time=t, value=value)))
    svc.processor.shutdown()
    last = svc.sink.outputs("timeseries")[-1].data
    np.testing.assert_array_equal(last.values, values)
    assert str(last.unit) == "deg"
    assert last.coords["start_time"].value == T0


def test_detector_view_applies_rois_sent_to_its_job() -> None:
    """The ROI path through the processor: ROI stream -> job context -> spectra, echo."""
    svc = Service("detector_data")
    job_id = JobId(source_name="panel_0", job_number=uuid.UUID(int=5))
    workflow_id = WorkflowId(instrument="dummy", name="panel_0_xy", version=1)
    svc.step(start_command(workflow_id, "panel_0", job_number=job_id.job_number))
    (response,) = svc.sink.responses
    assert response.ok, response.error
    rois = {0: Roi(shape="rectangle", x=(0, 63), y=(0, 127))}  # the left half
    roi = RoiUpdate(job_id=job_id, shape="rectangle", rois=rois)
    svc.step(Message(timestamp=T0, stream=StreamId(kind=StreamKind.ROI, name="roi"), value=roi))
    inside = 0
    for second in range(2):
        message = events(
            StreamKind.DETECTOR_EVENTS, "panel_0", T0 + second * NS_PER_S, 2000, second
        )
        inside += int(((message.value.pixel_id - 1) % 128 < 64).sum())
        svc.step(message)
    svc.processor.shutdown()
    assert rois_from_data_array("rectangle", svc.sink.outputs("roi_rectangle")[-1].data) == rois
    spectra = svc.sink.outputs("roi_spectra_cumulative")[-1].data
    assert spectra.sum().value == inside
