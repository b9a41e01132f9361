import pytest

from livedata.core.batching import DataTimeBatcher
from livedata.core.job_manager import JobManager
from livedata.core.processor import OrchestratingProcessor, ServiceIdentity
from livedata.core.workflow import AuxSource, WorkflowRegistry
from livedata.testing import FakeClock, FakeSink, FakeSource
from livedata.testing.messages import T0
from livedata.testing.workflows import event_count_factory, event_count_spec


class Rig:
    """A processor wired to fakes, with the handles a test needs."""

    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.source = FakeSource()
        self.sink = FakeSink()
        registry = WorkflowRegistry()
        self.spec = event_count_spec(source_names=("panel_0", "panel_1"))
        registry.register(self.spec, event_count_factory)
        self.aux_spec = event_count_spec(
            source_names=("panel_0",),
            aux_sources={"position": AuxSource(choices=("motion1", "motion2"))},
        )
        self.aux_spec = type(self.aux_spec)(
            **{
                **{f: getattr(self.aux_spec, f) for f in self.aux_spec.__dataclass_fields__},
                "workflow_id": type(self.aux_spec.workflow_id)(
                    instrument="test", name="event_count_with_position", version=1
                ),
            }
        )
        registry.register(self.aux_spec, event_count_factory)
        self.jobs = JobManager(instrument="test", registry=registry)
        self.processor = OrchestratingProcessor(
            identity=ServiceIdentity(
                instrument="test", service_name="detector_data", worker_id="w1"
            ),
            source=self.source,
            sink=self.sink,
            batcher=DataTimeBatcher(clock=self.clock),
            job_manager=self.jobs,
            clock=self.clock,
        )

    def step(self, *messages, advance_s: float = 0.0) -> None:
        """Feed messages; the wall clock follows the data, as it does live."""
        self.clock.advance(advance_s)
        newest = max((m.timestamp for m in messages), default=0)
        if newest > self.clock.now_ns():
            self.clock.set(newest)
        self.source.push(*messages)
        self.processor.process()


@pytest.fixture
def rig() -> Rig:
    return Rig()
