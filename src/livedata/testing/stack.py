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
from typing import Any, Generic, TypeVar

import numpy as np
import scipp as sc
from confluent_kafka import OFFSET_BEGINNING, KafkaException, Producer, TopicPartition

from livedata.cli.watch import decode_result, tail_consumer
from livedata.config.instrument import Instrument
from livedata.config.topics import Topic, topic_name
from livedata.core.control import RunPolicy, WorkflowConfig
from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.core.memory import process_rss_bytes
from livedata.core.service import Service
from livedata.core.status import JobState
from livedata.core.values import EventBatch
from livedata.kafka.assigned_consumer import AssignedConsumer
from livedata.kafka.command_client import CommandClient
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.sink import producer_config
from livedata.protocol.errors import DecodeError
from livedata.protocol.ev44 import encode_ev44
from livedata.protocol.heartbeats import JobHeartbeat, ServiceHeartbeat, decode_heartbeat

T = TypeVar("T")

PULSE_NS = 71_428_571
PULSE_HZ = 14


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


class _TopicReader(Generic[T]):
    """Collects what ``decode`` makes of each message of one topic (``seen``);
    undecodable messages are skipped."""

    what = "message"

    def __init__(self, consumer: AssignedConsumer, decode: Callable[[bytes | None], T]) -> None:
        self._consumer = consumer
        self._decode = decode
        self.seen: list[T] = []

    def _first(self, predicate: Callable[[T], bool], timeout_s: float) -> T:
        """The first item, seen before or arriving, for which ``predicate`` holds."""
        for item in self.seen:
            if predicate(item):
                return item
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            # Keep the whole consumed batch before answering: a later wait may want the rest.
            for item in self._read_once():
                if predicate(item):
                    return item
        raise AssertionError(
            f"no matching {self.what} within {timeout_s} s ({len(self.seen)} seen)"
        )

    def read(self, seconds: float) -> list[T]:
        """What arrives within ``seconds`` (also kept in ``seen``)."""
        new: list[T] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            new.extend(self._read_once())
        return new

    def _read_once(self) -> list[T]:
        new = []
        for message in self._consumer.consume(100, 0.2):
            if message.error() is not None:
                continue
            try:
                new.append(self._decode(message.value()))
            except DecodeError:
                continue
        self.seen.extend(new)
        return new

    def close(self) -> None:
        self._consumer.close()


class ResultReader(_TopicReader[tuple[ResultKey, sc.DataArray]]):
    """Collects decoded results of one instrument from the moment it is created, or,
    with ``from_start``, everything its results topic holds (the topic must exist)."""

    what = "result"

    def __init__(
        self, settings: KafkaSettings, instrument: str, *, from_start: bool = False
    ) -> None:
        topic = topic_name(instrument, Topic.DATA)
        super().__init__(tail_consumer(settings, topic), decode_result)
        if from_start:
            self._consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])

    def wait_for(
        self, predicate: Callable[[ResultKey, sc.DataArray], bool], timeout_s: float = 30.0
    ) -> tuple[ResultKey, sc.DataArray]:
        """The first result, seen before or arriving, for which ``predicate`` holds."""
        return self._first(lambda result: predicate(*result), timeout_s)


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


class EventStream:
    """A steady ev44 stream at ``events_per_s``, 14 pulses a second stamped with the wall
    clock, published from a thread until ``stop()``; a broker that is away is ridden out
    (failures are counted, never raised)."""

    def __init__(
        self,
        settings: KafkaSettings,
        instrument: str,
        *,
        events_per_s: float,
        source: str = "panel_0",
        role: Topic = Topic.DETECTOR,
        pixels: int = 128 * 128,
        seed: int = 0,
    ) -> None:
        rng = np.random.default_rng(seed)
        per_pulse = max(1, round(events_per_s / PULSE_HZ))
        # One set of events reused for every pulse: encoding stays the only per-pulse cost.
        self._time_of_arrival = rng.integers(0, PULSE_NS, per_pulse, dtype=np.int32)
        self._pixel_id = rng.integers(1, pixels + 1, per_pulse, dtype=np.int32)
        self._source = source
        self._topic = topic_name(instrument, role)
        # Like every livedata producer, it drops what it could not deliver within a few
        # seconds (a broker that is away) rather than replaying it later.
        self._producer = Producer(producer_config(settings))
        self.events_per_pulse = per_pulse
        self.sent_pulses = 0
        self.refused_pulses = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-stream", daemon=True)

    @property
    def sent_events(self) -> int:
        return self.sent_pulses * self.events_per_pulse

    def start(self) -> EventStream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._producer.flush(5)

    def _run(self) -> None:
        period = 1.0 / PULSE_HZ
        next_pulse = time.monotonic()
        while not self._stop.is_set():
            batch = EventBatch(
                time_of_arrival=self._time_of_arrival,
                pixel_id=self._pixel_id,
                reference_time=np.array([time.time_ns()], dtype=np.int64),
                reference_time_index=np.array([0], dtype=np.int32),
            )
            try:
                self._producer.produce(
                    self._topic, encode_ev44(self._source, self.sent_pulses, batch)
                )
                self.sent_pulses += 1
            except (BufferError, KafkaException):
                self.refused_pulses += 1
            self._producer.poll(0)
            next_pulse += period
            delay = next_pulse - time.monotonic()
            if delay < -1.0:  # fell behind (a loaded machine): keep the rate, skip the debt
                next_pulse = time.monotonic()
            self._stop.wait(max(0.0, delay))


def result_data_age_s(data: sc.DataArray) -> float:
    """Seconds from the end of a result's data window to now."""
    return (time.time_ns() - int(data.coords["time"].value)) / 1e9


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


class HeartbeatReader(_TopicReader[ServiceHeartbeat | JobHeartbeat]):
    """Collects decoded heartbeats of one instrument from the moment it is created."""

    what = "heartbeat"

    def __init__(self, settings: KafkaSettings, instrument: str) -> None:
        consumer = tail_consumer(settings, topic_name(instrument, Topic.HEARTBEAT))
        super().__init__(consumer, lambda payload: decode_heartbeat(payload or b""))

    def wait_for(
        self,
        predicate: Callable[[ServiceHeartbeat | JobHeartbeat], bool],
        timeout_s: float = 30.0,
    ) -> ServiceHeartbeat | JobHeartbeat:
        """The first heartbeat, seen before or arriving, for which ``predicate`` holds."""
        return self._first(predicate, timeout_s)

    def wait_for_job(
        self, job_id: JobId, state: JobState | None = None, timeout_s: float = 30.0
    ) -> JobHeartbeat:
        """The first heartbeat of job ``job_id`` (in ``state``, if given)."""
        beat = self.wait_for(
            lambda h: (
                isinstance(h, JobHeartbeat)
                and h.status.job_id == job_id
                and (state is None or h.status.state is state)
            ),
            timeout_s=timeout_s,
        )
        assert isinstance(beat, JobHeartbeat)
        return beat

    def latest(
        self, predicate: Callable[[ServiceHeartbeat | JobHeartbeat], bool], timeout_s: float = 3.0
    ) -> ServiceHeartbeat | JobHeartbeat:
        """The newest heartbeat for which ``predicate`` holds, after reading for
        ``timeout_s`` (heartbeats come every 2 s)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._read_once()
        for heartbeat in reversed(self.seen):
            if predicate(heartbeat):
                return heartbeat
        raise AssertionError(f"no matching heartbeat within {timeout_s} s")


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

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def rss_bytes(self) -> int:
        """Resident memory of the service process (Linux)."""
        return process_rss_bytes(self.process.pid)

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
