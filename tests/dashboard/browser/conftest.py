"""A real stack for the browser tests, shared by a module: the session broker, the
detector_data, monitor_data and timeseries services and the fake producers in-process
(under a unique instrument name), a ``KafkaBackend`` and the dashboard served on a free
loopback port. Chromium is Debian's (never ``playwright install``)."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from livedata.config.instrument import Instrument
from livedata.config.registry import load_instrument
from livedata.core.identity import JobId, WorkflowId
from livedata.core.status import ServiceState
from livedata.dashboard.access import Role
from livedata.dashboard.audit import AuditLog
from livedata.dashboard.backend import KafkaBackend
from livedata.dashboard.contract import CommandOutcome
from livedata.dashboard.credentials import (
    CredentialsFile,
    CredentialStore,
    save_credentials,
    with_user,
)
from livedata.dashboard.policy.grid_files import GridLibrary
from livedata.dashboard.ui.context import DashboardContext
from livedata.dashboard.ui.server import serve
from livedata.kafka.embedded_broker import free_port
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.services.fake_producers.cli import ProducerOptions, run
from livedata.services.fake_producers.sources import Kind, SourceOptions
from livedata.services.runner import ServiceOptions, build_service
from livedata.testing.stack import RunningService

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"

SERVICES = ("detector_data", "monitor_data", "timeseries")

EVENT_RATE = 20_000
"""Detector events/s: enough for a visibly changing image, little CPU on two cores."""


@pytest.fixture(scope="session")
def base_url() -> None:
    """Replaces pytest-base-url's fixture, which pytest 9 deprecates (an error here, with
    warnings as errors); the tests use the stack's own URL."""
    return


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_context_args,
        "viewport": {"width": 1500, "height": 950},
        "accept_downloads": True,
    }


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@dataclass
class Stack:
    instrument: Instrument
    backend: KafkaBackend
    ctx: DashboardContext
    url: str

    def start_job(self, workflow: str, source: str, params: dict[str, Any] | None = None) -> JobId:
        """Start a job through the backend and wait for its ACK."""
        done = threading.Event()
        outcomes: list[CommandOutcome] = []

        def answered(outcome: CommandOutcome) -> None:
            outcomes.append(outcome)
            done.set()

        wid = WorkflowId(instrument=self.instrument.name, name=workflow, version=1)
        for _attempt in range(3):  # a service may still be subscribing to commands
            done.clear()
            (job_id,) = self.backend.start_workflow(
                wid, [source], params or {}, on_outcome=answered
            )
            assert done.wait(30), f"no outcome for starting {workflow}"
            if outcomes[-1].ok:
                return job_id
        raise AssertionError(f"{workflow} for {source} did not start: {outcomes[-1]}")


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def stack(
    kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    name = f"b{uuid.uuid4().hex[:8]}"
    instrument = dataclasses.replace(load_instrument("dummy"), name=name)
    create_topics(kafka_settings, name)
    services = [
        RunningService(
            build_service(
                ServiceOptions(service_name=service, instrument=name),
                settings=kafka_settings,
                instrument=instrument,
            )
        )
        for service in SERVICES
    ]
    stop = threading.Event()
    options = ProducerOptions(
        instrument=name,
        sources=SourceOptions(
            kinds=frozenset({Kind.DETECTOR, Kind.MONITOR, Kind.LOG}),
            event_rate=EVENT_RATE,
            monitor_rate=2_000,
            frame_rate=1.0,
        ),
        seed=1,
    )
    producer = threading.Thread(
        target=run,
        args=(instrument, options),
        kwargs={"settings": kafka_settings, "should_stop": stop.is_set},
        daemon=True,
    )
    producer.start()
    backend = KafkaBackend(kafka_settings, instrument)
    ctx = DashboardContext(backend, instrument, grids=GridLibrary(tmp_path_factory.mktemp("grids")))
    port = free_port()
    server = serve(ctx, port=port, threaded=True)
    stack = Stack(instrument, backend, ctx, f"http://127.0.0.1:{port}/")
    try:

        def all_running() -> bool:
            rows = backend.status.services(time.time_ns())
            running = {
                r.status.service_name for r in rows if r.status.state is ServiceState.RUNNING
            }
            return running >= set(SERVICES)

        _wait(all_running, 60, "the services' heartbeats")
        stack.start_job("panel_0_xy", "panel_0")
        stack.start_job("monitor_histogram", "monitor1")
        stack.start_job("timeseries_data", "motion1")
        stack.start_job("timeseries_data", "motion2")
        yield stack
    finally:
        server.stop()
        backend.close()
        stop.set()
        producer.join(10)
        for service in services:
            service.stop()


PASSWORDS = {"alice": "alice-operator-pw", "bob": "bob-viewer-pw"}
"""The users of ``auth_stack``: alice is an operator, bob a viewer."""


@dataclass
class AuthStack:
    """The module's stack served a second time, with logins, on its own loopback port."""

    stack: Stack
    url: str
    audit: Path
    passwords: dict[str, str]


@pytest.fixture(scope="module")
def auth_stack(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthStack]:
    folder = tmp_path_factory.mktemp("auth")
    users = folder / "users.yaml"
    creds = with_user(CredentialsFile(), "alice", Role.OPERATOR, PASSWORDS["alice"])
    save_credentials(users, with_user(creds, "bob", Role.VIEWER, PASSWORDS["bob"]))
    audit = AuditLog(folder / "audit.jsonl")
    port = free_port()
    server = serve(stack.ctx, port=port, threaded=True, users=CredentialStore(users), audit=audit)
    try:
        yield AuthStack(stack, f"http://127.0.0.1:{port}/", audit.path, dict(PASSWORDS))
    finally:
        server.stop()
        audit.close()
