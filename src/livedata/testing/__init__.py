"""Fakes for livedata's seams, so a whole processor runs in a unit test in milliseconds.

Runtime code never imports this package (an import-linter contract enforces it).
"""

from livedata.testing.fakes import FakeClock, FakeSink, FakeSource
from livedata.testing.workflows import (
    EventCountWorkflow,
    event_count_factory,
    event_count_spec,
)

__all__ = [
    "EventCountWorkflow",
    "FakeClock",
    "FakeSink",
    "FakeSource",
    "event_count_factory",
    "event_count_spec",
]
