"""The worked example of docs/instrument/instruments.md: an instrument team's own package,
found through the ``livedata.instruments`` entry points and run as a service.

The package lives in ``tests/config/example_instrument/``. "Installing" it is putting its
``src/`` on the path: next to the package sits the ``.dist-info`` directory that
``pip install`` writes, whose ``entry_points.txt`` is what ``importlib.metadata`` reads,
so discovery is the real one. (Building the package with pip would need the network for
its build tools; the project's environment is never modified.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from livedata.config.registry import available_instruments, load_instrument
from livedata.core.batching import NS_PER_S, DataTimeBatcher
from livedata.core.identity import WorkflowId
from livedata.core.job_manager import JobManager
from livedata.core.message import Message, StreamId, StreamKind
from livedata.core.processor import OrchestratingProcessor, ServiceIdentity
from livedata.core.values import EventBatch
from livedata.testing import FakeClock, FakeSink, FakeSource
from livedata.testing.messages import T0, start_command

EXAMPLE = Path(__file__).parent / "example_instrument"
SITE = EXAMPLE / "src"
GUIDE = Path(__file__).parents[2] / "docs" / "instrument" / "instruments.md"


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    assert "example" not in available_instruments()
    monkeypatch.syspath_prepend(str(SITE))
    yield
    for name in [m for m in sys.modules if m.startswith("livedata_example")]:
        del sys.modules[name]


def test_the_dist_info_declares_the_entry_point_of_pyproject() -> None:
    pyproject = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    declared = pyproject["project"]["entry-points"]["livedata.instruments"]
    text = (SITE / "livedata_example-0.1.0.dist-info" / "entry_points.txt").read_text()
    written = dict(re.findall(r"^(\w+) = (\S+)$", text, flags=re.MULTILINE))
    assert written == declared == {"example": "livedata_example:instrument"}


def test_a_fresh_interpreter_finds_it_through_entry_points() -> None:
    code = (
        "from livedata.config.registry import available_instruments, load_instrument;"
        "print(available_instruments()); print(load_instrument('example').name)"
    )
    env = {**os.environ, "PYTHONPATH": str(SITE)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    listed, name = out.stdout.strip().splitlines()
    assert "'example'" in listed
    assert "'dummy'" in listed
    assert name == "example"


def test_load_instrument_finds_it_and_a_service_runs_it(installed: None) -> None:
    inst = load_instrument("example")
    assert "example" in available_instruments()
    assert inst.detector("panel").n_pixels == 4096
    registry = inst.build_workflows(inst)
    assert sorted(w.name for w in registry) == [
        "monitor_histogram",
        "panel_coarse",
        "panel_xy",
        "timeseries_data",
    ]
    # The detector_data service, in process (fake source and sink, no Kafka).
    clock, source, sink = FakeClock(T0), FakeSource(), FakeSink()
    processor = OrchestratingProcessor(
        identity=ServiceIdentity(instrument="example", service_name="detector_data", worker_id="w"),
        source=source,
        sink=sink,
        batcher=DataTimeBatcher(clock=clock),
        job_manager=JobManager(
            instrument="example", registry=registry.for_service("detector_data")
        ),
        clock=clock,
    )
    source.push(
        start_command(WorkflowId(instrument="example", name="panel_xy", version=1), "panel"),
        start_command(WorkflowId(instrument="example", name="panel_coarse", version=1), "panel"),
    )
    processor.process()
    assert [r.ok for r in sink.responses] == [True, True]
    rng = np.random.default_rng(0)
    sent = 0
    for second in range(2):
        ids = rng.integers(1, 4097, 5000).astype(np.int32)
        sent += len(ids)
        batch = EventBatch(
            time_of_arrival=rng.integers(0, 71_000_000, 5000, dtype=np.int32),
            pixel_id=ids,
            reference_time=np.array([T0], dtype=np.int64),
            reference_time_index=np.array([0], dtype=np.int32),
        )
        stream = StreamId(kind=StreamKind.DETECTOR_EVENTS, name="panel")
        source.push(Message(timestamp=T0 + second * NS_PER_S, stream=stream, value=batch))
        processor.process()
    processor.shutdown()
    totals = sink.outputs("counts_total_cumulative")
    assert {r.data.value for r in totals[-2:]} == {sent}
    images = {r.key.workflow_id.name: r.data for r in sink.outputs("cumulative")}
    assert images["panel_xy"].sizes == {"y": 64, "x": 64}
    assert images["panel_coarse"].sizes == {"y": 16, "x": 16}


def test_the_guide_shows_the_example_as_it_is() -> None:
    """Every code block of the guide titled with a file of the example is that file."""
    guide = GUIDE.read_text()
    blocks = dict(re.findall(r'```\w+ title="([^"]+)"\n(.*?)```', guide, flags=re.DOTALL))
    shown = {name: code for name, code in blocks.items() if (EXAMPLE / name).is_file()}
    assert set(shown) >= {
        "pyproject.toml",
        "src/livedata_example/__init__.py",
        "src/livedata_example/factories.py",
    }
    for name, code in shown.items():
        assert code == (EXAMPLE / name).read_text(), name
