"""The dashboard killed and restarted while its jobs run (QUALITY.md reliability table;
issue 6: "after a dashboard restart, running jobs are adopted from heartbeats").

``livedata dashboard`` runs as its own process on a broker of this test's (the CLI serves
instruments by their registered name, so the topics are the real ``dummy_*`` ones, which
the session broker must not share), next to the detector_data and timeseries services
and the fake producers. Jobs are started from the first dashboard's page; the dashboard
is SIGKILLed (no goodbye, nothing saved); a second one started on the same port must show
the jobs as running, plot their results, and stop them; afterwards the services'
heartbeats count no running job: nothing was orphaned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from dashboard_pages import cell, cell_state, open_dashboard, open_tab, workflow
from playwright.sync_api import Locator, Page, expect

from livedata.config.registry import load_instrument
from livedata.core.identity import JobId
from livedata.core.status import JobState, ServiceState
from livedata.kafka.embedded_broker import EmbeddedBroker, free_port
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.protocol.heartbeats import JobHeartbeat, ServiceHeartbeat
from livedata.services.fake_producers.cli import ProducerOptions, run
from livedata.services.fake_producers.sources import Kind, SourceOptions
from livedata.services.runner import ServiceOptions, build_service
from livedata.testing.stack import HeartbeatReader, RunningService

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.filterwarnings(
        "ignore:reference already known:bokeh.util.warnings.BokehUserWarning"
    ),
]

INSTRUMENT = "dummy"
SERVICES = ("detector_data", "timeseries")
LISTEN_TIMEOUT_S = 60.0
"""A dashboard process imports Panel, HoloViews and scipp: seconds on a loaded machine."""
HEARTBEAT_S = 2.0


class DashboardProcess:
    """``livedata dashboard`` in its own OS process, its output in a file."""

    def __init__(self, port: int, settings: KafkaSettings, folder: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self.log_path = folder / f"dashboard-{time.monotonic_ns()}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        cli = Path(sys.executable).with_name("livedata")
        self.process = subprocess.Popen(
            [
                str(cli),
                "dashboard",
                "--instrument",
                INSTRUMENT,
                "--port",
                str(port),
                "--grid-dir",
                str(folder / "grids"),
                "--audit-log",
                str(folder / "audit.jsonl"),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers},
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_listening(self) -> None:
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"the dashboard did not listen:\n{self.output()}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


@dataclass
class Stack:
    settings: KafkaSettings
    folder: Path
    heartbeats: HeartbeatReader


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _running(service: str) -> Callable[[ServiceHeartbeat | JobHeartbeat], bool]:
    def running(hb: ServiceHeartbeat | JobHeartbeat) -> bool:
        return (
            isinstance(hb, ServiceHeartbeat)
            and hb.status.service_name == service
            and hb.status.state is ServiceState.RUNNING
        )

    return running


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    instrument = load_instrument(INSTRUMENT)
    options = ProducerOptions(
        instrument=INSTRUMENT,
        sources=SourceOptions(
            kinds=frozenset({Kind.DETECTOR, Kind.LOG}),
            event_rate=10_000,
            monitor_rate=0,
            frame_rate=1.0,
        ),
        seed=1,
    )
    stop = threading.Event()
    with EmbeddedBroker(port=free_port()) as broker, contextlib.ExitStack() as cleanup:
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap)
        create_topics(settings, INSTRUMENT)
        heartbeats = HeartbeatReader(settings, INSTRUMENT)
        cleanup.callback(heartbeats.close)
        for name in SERVICES:
            service = RunningService(
                build_service(
                    ServiceOptions(service_name=name, instrument=INSTRUMENT, memory_limit=None),
                    settings=settings,
                    instrument=instrument,
                )
            )
            cleanup.callback(service.stop)
        producer = threading.Thread(
            target=run,
            args=(instrument, options),
            kwargs={"settings": settings, "should_stop": stop.is_set},
            daemon=True,
        )
        producer.start()
        cleanup.callback(producer.join, 10)
        cleanup.callback(stop.set)
        for name in SERVICES:
            heartbeats.wait_for(_running(name), timeout_s=60)
        yield Stack(settings, tmp_path, heartbeats)


@pytest.fixture
def dashboards(stack: Stack) -> Iterator[Callable[[int], DashboardProcess]]:
    started: list[DashboardProcess] = []

    def start(port: int) -> DashboardProcess:
        dashboard = DashboardProcess(port, stack.settings, stack.folder)
        started.append(dashboard)
        dashboard.wait_listening()
        return dashboard

    yield start
    for dashboard in started:
        dashboard.close()


def _start_from_the_form(page: Page, name: str, sources: list[str]) -> None:
    card = workflow(page, name)
    boxes = card.locator(f".ld-sources-{name}")
    for source in sources:
        boxes.get_by_label(source).check()
    card.locator(f".ld-start-{name} button").click()


def _read(heartbeats: HeartbeatReader) -> None:
    """Take in the heartbeats that arrived (reading for half a second)."""
    heartbeats.latest(lambda _hb: True, timeout_s=0.5)


def _latest_jobs(stack: Stack) -> dict[JobId, JobHeartbeat]:
    """The newest heartbeat of every job seen so far (the broker is this test's only)."""
    latest: dict[JobId, JobHeartbeat] = {}
    for hb in stack.heartbeats.seen:
        if isinstance(hb, JobHeartbeat):
            latest[hb.status.job_id] = hb
    return latest


def _job_row(page: Page, workflow_name: str, job: JobId) -> Locator:
    """The job's row (one start for several sources gives their jobs one number)."""
    rows = workflow(page, workflow_name).locator(".ld-job")
    number = str(job.job_number)[:8]
    return rows.filter(has=page.locator(".ld-job-row", has_text=number)).filter(
        has_text=job.source_name
    )


def test_jobs_outlive_a_killed_dashboard_and_the_next_one_adopts_and_stops_them(
    stack: Stack, dashboards: Callable[[int], DashboardProcess], page: Page
) -> None:
    port = free_port()
    first = dashboards(port)
    page.goto(first.url)
    open_tab(page, "Workflows")
    _start_from_the_form(page, "panel_0_xy", ["panel_0"])
    _start_from_the_form(page, "timeseries_data", ["motion1", "motion2"])
    for name in ("panel_0_xy", "timeseries_data"):
        feedback = workflow(page, name).locator(".ld-feedback")
        expect(feedback).to_contain_text("ACK from", timeout=30_000)

    def three_active() -> bool:
        _read(stack.heartbeats)
        active = [hb for hb in _latest_jobs(stack).values() if hb.status.state is JobState.ACTIVE]
        return len(active) == 3

    _wait(three_active, 30, "three active jobs")
    jobs = {job: hb.status.workflow_id.name for job, hb in _latest_jobs(stack).items()}

    first.kill()  # no clean exit: nothing the dashboard knew is saved anywhere
    second = dashboards(port)
    open_dashboard(page, second.url)  # waits for the adopted jobs' first plot data
    cell_state(cell(page, "Panel 0, current window"), "live")

    open_tab(page, "Status")
    table = page.locator("table.ld-jobs")
    for job in jobs:
        expect(table).to_contain_text(str(job.job_number)[:8], timeout=20_000)

    open_tab(page, "Workflows")
    for job, name in jobs.items():
        row = _job_row(page, name, job)
        expect(row.locator(".ld-job-active")).to_be_visible(timeout=20_000)
    for job, name in jobs.items():
        _job_row(page, name, job).locator(".ld-job-stop button").click()
    for job, name in jobs.items():
        expect(_job_row(page, name, job).locator(".ld-job-stopped")).to_be_visible(timeout=30_000)

    # Nothing orphaned: every job stopped, and the services run none any more.
    def all_stopped() -> bool:
        _read(stack.heartbeats)
        latest = _latest_jobs(stack)
        return all(latest[job].status.state is JobState.STOPPED for job in jobs)

    _wait(all_stopped, 30, "every job's stopped heartbeat")
    after_stop = len(stack.heartbeats.seen)

    def services_idle() -> bool:
        _read(stack.heartbeats)
        newest = {
            hb.status.service_name: hb.status.active_job_count
            for hb in stack.heartbeats.seen[after_stop:]
            if isinstance(hb, ServiceHeartbeat)
        }
        return newest.keys() >= set(SERVICES) and not any(newest.values())

    _wait(services_idle, 10 * HEARTBEAT_S, "services' heartbeats with no running job")
