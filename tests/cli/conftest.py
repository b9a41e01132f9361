"""Running ``livedata ctl`` in-process against services on the session broker.

The instrument is the dummy under a unique name (so tests never share topics); ctl
finds it through the ``load`` hook of its ``main``, as the services get it passed in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import structlog

from livedata.cli.ctl import main as ctl_main
from livedata.config.instrument import Instrument
from livedata.config.registry import load_instrument
from livedata.config.topics import Topic
from livedata.core.values import LogSample
from livedata.kafka.settings import KafkaSettings
from livedata.protocol.f144 import encode_f144
from livedata.services.runner import ServiceOptions, build_service
from livedata.testing.stack import RawProducer, RunningService

FEED_PERIOD_S = 0.1
"""Motion samples every 100 ms: windows close every second and jobs keep publishing."""


@dataclasses.dataclass(frozen=True)
class CtlRun:
    code: int
    out: str
    err: str
    seconds: float


@pytest.fixture(autouse=True)
def _keep_logging_config() -> Iterator[None]:
    """``ctl`` configures structlog for its process; a test must not leave that behind."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def ctl(
    dummy: Instrument, kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CtlRun]:
    """``ctl("start", ...)`` runs ``livedata ctl ... --instrument <test instrument>``.

    Its stdout and stderr are captured apart from the logs of in-process services.
    """
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)

    def load(name: str) -> Instrument:
        return dummy if name == dummy.name else load_instrument(name)

    def run(*argv: str) -> CtlRun:
        out, err = io.StringIO(), io.StringIO()
        started = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = ctl_main([*argv, "--instrument", dummy.name], load=load)
        seconds = time.monotonic() - started
        return CtlRun(code=code, out=out.getvalue(), err=err.getvalue(), seconds=seconds)

    return run


@pytest.fixture
def start_service(kafka_settings: KafkaSettings) -> Iterator[Callable[[str, Instrument], None]]:
    """Run processing services on threads; each is stopped cleanly at teardown.

    Their logs go to the process's own stderr, so that what a test captures of ctl's
    output (``redirect_stdout`` swaps the stream for every thread) is ctl's alone.
    Once ctl has run, they follow its configuration (warnings only, to stderr).
    """
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.__stderr__))
    running: list[RunningService] = []

    def start(name: str, instrument: Instrument) -> None:
        options = ServiceOptions(service_name=name, instrument=instrument.name)
        service = build_service(options, settings=kafka_settings, instrument=instrument)
        running.append(RunningService(service))

    yield start
    for service in running:
        service.stop()


@pytest.fixture
def motion_feed(kafka_settings: KafkaSettings, dummy: Instrument) -> Iterator[None]:
    """Publishes changing motion1/motion2 readings until the test ends."""
    producer = RawProducer(kafka_settings, dummy.name)
    stop = threading.Event()

    def feed() -> None:
        value = 0.0
        while not stop.wait(FEED_PERIOD_S):
            value += 1.0  # a repeated value would be a re-publish, not a sample
            for name in ("motion1", "motion2"):
                sample = LogSample(time=time.time_ns(), value=value)
                producer.send(Topic.MOTION, encode_f144(name, sample))

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)
    producer.flush()
