"""The memory guard in a real service: a runaway job is stopped, the service goes on."""

import dataclasses
import threading
import time
import uuid

import numpy as np
import pytest

from livedata.config.instrument import Instrument
from livedata.config.topics import Topic
from livedata.core.control import JobAction, JobCommand
from livedata.core.memory import MIB, MemoryLimit, process_rss_bytes
from livedata.core.status import JobState, ServiceState
from livedata.core.values import EventBatch
from livedata.core.workflow import WorkflowRegistry
from livedata.kafka.command_client import CommandClient
from livedata.protocol.ev44 import encode_ev44
from livedata.protocol.heartbeats import ServiceHeartbeat
from livedata.services.runner import ServiceOptions, build_service
from livedata.testing.stack import HeartbeatReader, RunningService, start_job
from livedata.testing.workflows import runaway_factory, runaway_spec

pytestmark = pytest.mark.integration

BALLAST = 64 * MIB
"""What the runaway job adds to its state every window (0.5 s): ~130 MB/s."""

HEADROOM = 512 * MIB
"""The limit is this far above the test process's resident memory before the service
is built: room for the service itself (~100 MB) and a few windows of ballast."""


def with_runaway(dummy: Instrument) -> Instrument:
    """The dummy instrument with the runaway test workflow added to detector_data."""

    def build(instrument: Instrument) -> WorkflowRegistry:
        registry = dummy.build_workflows(instrument)
        registry.register(runaway_spec(instrument=instrument.name), runaway_factory)
        return registry

    return dataclasses.replace(dummy, build_workflows=build)


class PulseSender:
    """Sends 1000 detector events stamped now, ten times a second, until stopped."""

    def __init__(self, raw) -> None:
        self._raw = raw
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        rng = np.random.default_rng(0)
        i = 0
        while not self._stop.is_set():
            batch = EventBatch(
                time_of_arrival=rng.integers(0, 71_000_000, 1000, dtype=np.int32),
                pixel_id=rng.integers(1, 128 * 128 + 1, 1000, dtype=np.int32),
                reference_time=np.array([time.time_ns()], dtype=np.int64),
                reference_time_index=np.array([0], dtype=np.int32),
            )
            self._raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
            self._raw.flush()
            i += 1
            self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def test_a_runaway_job_is_stopped_with_a_published_error_and_the_service_goes_on(
    dummy, results, raw, kafka_settings
) -> None:
    instrument = with_runaway(dummy)
    beats = HeartbeatReader(kafka_settings, instrument.name)
    limit = process_rss_bytes() + HEADROOM
    options = ServiceOptions(
        service_name="detector_data",
        instrument=instrument.name,
        batch_window_s=0.5,
        restore_jobs=False,
        memory_limit=MemoryLimit(absolute=limit),
    )
    service = RunningService(build_service(options, settings=kafka_settings, instrument=instrument))
    sender = None
    try:
        other = start_job(kafka_settings, instrument, "panel_0_xy", "panel_0")
        runaway = start_job(
            kafka_settings,
            instrument,
            "runaway",
            "panel_0",
            params={"ballast_bytes_per_window": BALLAST},
        )
        sender = PulseSender(raw)

        error = beats.wait_for_job(runaway, JobState.ERROR, timeout_s=60).status.error
        halted_at = time.time_ns()
        assert error.startswith("stopped by the memory guard: service RSS ")
        assert "over the limit" in error
        assert "this job held" in error

        after: list[ServiceHeartbeat] = []

        def third_report_after_the_stop(beat) -> bool:
            # The first is sent with the job's error; the third comes >= 4 s later.
            if (
                isinstance(beat, ServiceHeartbeat)
                and beat.status.service_name == "detector_data"
                and beat.status.stream_stats.get("memory", {}).get("jobs_stopped") == 1
            ):
                after.append(beat)
            return len(after) >= 3

        service_beat = beats.wait_for(third_report_after_the_stop, timeout_s=30)
        memory = service_beat.status.stream_stats["memory"]
        assert service_beat.status.state is ServiceState.RUNNING
        assert service_beat.status.error is None
        # Stopped before the process grew far past its limit (a check a second, and a
        # step on a loaded machine may run a few windows), and the memory came back.
        assert memory["limit_bytes"] == limit
        assert memory["peak_rss_bytes"] < limit + 6 * BALLAST
        assert memory["rss_bytes"] < limit

        # The other job still gets data and publishes results for windows after the stop.
        results.wait_for(
            lambda key, data: key.job_id == other and data.coords["time"].value > halted_at,
            timeout_s=30,
        )
        # An operator's stop ends the halted job: ACKed, and its last state is stopped.
        command = JobCommand(message_id=str(uuid.uuid4()), action=JobAction.STOP, job_id=runaway)
        with CommandClient(settings=kafka_settings, instrument=instrument.name) as client:
            client.send([command])
            answers = client.wait_for(command.message_id, [command.device], timeout_s=10)
        assert answers.ok, answers.responses
        beats.wait_for_job(runaway, JobState.STOPPED, timeout_s=30)
    finally:
        if sender is not None:
            sender.stop()
        service.stop()
        beats.close()
