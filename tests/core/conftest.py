from collections.abc import Callable, Iterable
from typing import Any

import pytest

from livedata.core.batching import DataTimeBatcher
from livedata.core.job_manager import JobManager
from livedata.core.memory_guard import MemoryGuard
from livedata.core.message import Message
from livedata.core.processor import OrchestratingProcessor, ServiceIdentity
from livedata.core.workflow import AuxSource, WorkflowFactory, WorkflowRegistry, WorkflowSpec
from livedata.testing import FakeClock, FakeSink, FakeSource
from livedata.testing.messages import T0
from livedata.testing.workflows import event_count_factory, event_count_spec


def default_workflows() -> tuple[WorkflowSpec, WorkflowSpec]:
    """An event count over two panels, and one with a motion as its aux source."""
    spec = event_count_spec(source_names=("panel_0", "panel_1"))
    aux_spec = event_count_spec(
        source_names=("panel_0",),
        aux_sources={"position": AuxSource(choices=("motion1", "motion2"))},
    )
    aux_spec = type(aux_spec)(
        **{
            **{f: getattr(aux_spec, f) for f in aux_spec.__dataclass_fields__},
            "workflow_id": type(aux_spec.workflow_id)(
                instrument="test", name="event_count_with_position", version=1
            ),
        }
    )
    return spec, aux_spec


class Rig:
    """A processor wired to fakes, with the handles a test needs.

    Without ``workflows`` it knows the two event counts of ``default_workflows``
    (``spec``, ``aux_spec``); a test that needs others passes them instead.
    """

    def __init__(
        self,
        *,
        workflows: Iterable[tuple[WorkflowSpec, WorkflowFactory]] | None = None,
        source: FakeSource | None = None,
        memory_guard: MemoryGuard | None = None,
    ) -> None:
        self.clock = FakeClock(T0)
        self.source = source or FakeSource()
        self.sink = FakeSink()
        self.spec, self.aux_spec = default_workflows()
        if workflows is None:
            workflows = [(self.spec, event_count_factory), (self.aux_spec, event_count_factory)]
        registry = WorkflowRegistry()
        for spec, factory in workflows:
            registry.register(spec, factory)
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
            memory_guard=memory_guard,
        )

    def step(self, *messages: Message[Any], advance_s: float = 0.0) -> None:
        """Feed messages; the wall clock follows the data, as it does live."""
        self.clock.advance(advance_s)
        newest = max((m.timestamp for m in messages), default=0)
        if newest > self.clock.now_ns():
            self.clock.set(newest)
        self.source.push(*messages)
        self.processor.process()


@pytest.fixture
def make_rig() -> Callable[..., Rig]:
    """Build a ``Rig`` with other workflows, source or memory guard."""
    return Rig


@pytest.fixture
def rig() -> Rig:
    return Rig()
