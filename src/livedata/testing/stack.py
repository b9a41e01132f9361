"""Helpers for tests that run services against a real broker: in-process services,
raw-data producers, result readers and job starters."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import scipp as sc
from confluent_kafka import Producer

from livedata.cli.watch import tail_consumer
from livedata.config.instrument import Instrument
from livedata.config.topics import Topic, topic_name
from livedata.core.control import RunPolicy, WorkflowConfig
from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.core.service import Service
from livedata.core.values import EventBatch
from livedata.kafka.command_client import CommandClient
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.sink import producer_config
from livedata.protocol.da00 import decode_da00
from livedata.protocol.errors import DecodeError
from livedata.protocol.heartbeats import JobHeartbeat, ServiceHeartbeat, decode_heartbeat
from livedata.protocol.result_key import decode_result_key

PULSE_NS = 71_428_571


class RunningService:
    """A service's loop on a thread; ``stop()`` asks for the clean exit and waits."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.exit_code: int | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.exit_code = self.service.run()

    def stop(self, timeout: float = 10.0) -> int | None:
        self.service.request_stop()
        self._thread.join(timeout)
        return self.exit_code


class ResultReader:
    """Collects decoded results of one instrument from the moment it is created."""

    def __init__(self, settings: KafkaSettings, instrument: str) -> None:
        self._consumer = tail_consumer(settings, topic_name(instrument, Topic.DATA))
        self.seen: list[tuple[ResultKey, sc.DataArray]] = []

    def wait_for(
        self, predicate: Callable[[ResultKey, sc.DataArray], bool], timeout_s: float = 30.0
    ) -> tuple[ResultKey, sc.DataArray]:
        """The first result, seen before or arriving, for which ``predicate`` holds."""
        for key, data in self.seen:
            if predicate(key, data):
                return key, data
        checked = len(self.seen)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in self._consumer.consume(100, 0.2):
                if message.error() is not None:
                    continue
                try:
                    source_name, _, data = decode_da00(message.value() or b"")
                    key = decode_result_key(source_name)
                except DecodeError:
                    continue
                self.seen.append((key, data))
            # Keep the whole consumed batch before answering: a later wait may want the rest.
            for key, data in self.seen[checked:]:
                if predicate(key, data):
                    return key, data
            checked = len(self.seen)
        raise AssertionError(
            f"no matching result within {timeout_s} s ({len(self.seen)} results seen)"
        )

    def close(self) -> None:
        self._consumer.close()


class RawProducer:
    """Publishes encoded instrument data to an instrument's raw topics."""

    def __init__(self, settings: KafkaSettings, instrument: str) -> None:
        self._instrument = instrument
        self._producer = Producer(producer_config(settings))

    def send(self, role: Topic, payload: bytes) -> None:
        self._producer.produce(topic_name(self._instrument, role), payload)

    def flush(self) -> None:
        assert self._producer.flush(10) == 0


def pulses(
    count: int, events_per_pulse: int, *, pixels: bool = True, seed: int = 0
) -> Iterator[EventBatch]:
    """``count`` ev44 pulses of the 128x128 panel stamped now and onwards, known events."""
    rng = np.random.default_rng(seed)
    t0 = time.time_ns()
    for i in range(count):
        yield EventBatch(
            time_of_arrival=rng.integers(0, PULSE_NS, events_per_pulse, dtype=np.int32),
            pixel_id=rng.integers(1, 128 * 128 + 1, events_per_pulse, dtype=np.int32)
            if pixels
            else None,
            reference_time=np.array([t0 + i * PULSE_NS], dtype=np.int64),
            reference_time_index=np.array([0], dtype=np.int32),
        )


def start_job(
    settings: KafkaSettings,
    instrument: Instrument,
    workflow: str,
    source: str,
    *,
    params: dict[str, Any] | None = None,
    run_policy: RunPolicy = RunPolicy.KEEP,
) -> JobId:
    """Send a ``workflow_config``; return the JobId once ACKed (retrying while the
    service starts)."""
    command = WorkflowConfig(
        message_id=str(uuid.uuid4()),
        workflow_id=WorkflowId(instrument=instrument.name, name=workflow, version=1),
        job_id=JobId(source_name=source, job_number=uuid.uuid4()),
        params=params or {},
        run_policy=run_policy,
    )
    with CommandClient(settings=settings, instrument=instrument.name) as client:
        for _attempt in range(6):  # the service may still be starting
            client.send([command])
            answers = client.wait_for(command.message_id, [source], timeout_s=5)
            if answers.responses:
                assert answers.ok, answers.responses
                return command.job_id
    raise AssertionError(f"no answer to starting {workflow} for {source}")


class HeartbeatReader:
    """Collects decoded heartbeats of one instrument from the moment it is created."""

    def __init__(self, settings: KafkaSettings, instrument: str) -> None:
        self._consumer = tail_consumer(settings, topic_name(instrument, Topic.HEARTBEAT))
        self.seen: list[ServiceHeartbeat | JobHeartbeat] = []

    def wait_for(
        self,
        predicate: Callable[[ServiceHeartbeat | JobHeartbeat], bool],
        timeout_s: float = 30.0,
    ) -> ServiceHeartbeat | JobHeartbeat:
        """The first heartbeat, seen before or arriving, for which ``predicate`` holds."""
        for heartbeat in self.seen:
            if predicate(heartbeat):
                return heartbeat
        checked = len(self.seen)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in self._consumer.consume(100, 0.2):
                if message.error() is not None:
                    continue
                try:
                    heartbeat = decode_heartbeat(message.value() or b"")
                except DecodeError:
                    continue
                self.seen.append(heartbeat)
            # Keep the whole consumed batch before answering: a later wait may want the rest.
            for heartbeat in self.seen[checked:]:
                if predicate(heartbeat):
                    return heartbeat
            checked = len(self.seen)
        raise AssertionError(f"no matching heartbeat within {timeout_s} s")

    def close(self) -> None:
        self._consumer.close()


class ServiceProcess:
    """A processing service in its own OS process (for signals: SIGTERM, SIGKILL)."""

    def __init__(
        self, name: str, *, instrument: str, settings: KafkaSettings, worker_id: str
    ) -> None:
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the process
            prefix=f"{name}-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                f"livedata.services.{name}",
                "--instrument",
                instrument,
                "--worker-id",
                worker_id,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers},
        )

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout_s: float) -> int:
        return self.process.wait(timeout=timeout_s)

    def output(self) -> str:
        with open(self.log.name) as f:
            return f.read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()
        os.unlink(self.log.name)
