"""``livedata demo``: the whole stack for one instrument, with one command.

Starts the embedded broker (unless ``KAFKA_BOOTSTRAP_SERVERS`` names one), creates the
topics, runs the four processing services and the fake producers, starts a job of every
workflow for every source so results flow at once, and stops it all on Ctrl-C.

The embedded broker's memory is kept under ``--broker-memory`` (ADR 0006); a status
line every ``--status-interval`` seconds shows it, its rotations and each process's
memory.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from types import FrameType

import structlog

from livedata.cli.broker import (
    STATUS_INTERVAL_S,
    RunningBroker,
    add_budget_option,
    describe_guard,
    format_bytes,
    start_broker,
)
from livedata.cli.processes import Child, stop_all
from livedata.cli.watch import wait_for_services
from livedata.config.instrument import Instrument
from livedata.config.registry import load_instrument
from livedata.core.control import WorkflowConfig
from livedata.core.identity import JobId
from livedata.kafka.command_client import CommandClient
from livedata.kafka.embedded_broker import DEFAULT_PORT, BrokerError, process_rss_bytes
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.services.logging import configure_logging
from livedata.services.runner import SERVICE_NAMES

logger = structlog.get_logger(__name__)

SERVICE_START_TIMEOUT_S = 60.0
"""Four Python processes importing scipp on two cores take ~10 s; leave plenty."""

ACK_TIMEOUT_S = 10.0
ACK_ATTEMPTS = 3
"""Commands are re-sent (same message id, applied once) if a service has not answered."""


def say(text: str) -> None:
    print(f"{'demo':<15}| {text}", flush=True)


def default_jobs(instrument: Instrument) -> list[WorkflowConfig]:
    """One job of every workflow for each of its sources (one job number per workflow)."""
    commands: list[WorkflowConfig] = []
    for spec in instrument.build_workflows(instrument).specs():
        message_id = str(uuid.uuid4())
        number = uuid.uuid4()
        commands.extend(
            WorkflowConfig(
                message_id=message_id,
                workflow_id=spec.workflow_id,
                job_id=JobId(source_name=source, job_number=number),
            )
            for source in spec.source_names
        )
    return commands


def start_default_jobs(client: CommandClient, commands: list[WorkflowConfig]) -> bool:
    pending = list(commands)
    for _attempt in range(ACK_ATTEMPTS):
        client.send(pending)
        still: list[WorkflowConfig] = []
        for command in pending:
            answers = client.wait_for(
                command.message_id, [command.job_id.source_name], timeout_s=ACK_TIMEOUT_S
            )
            for response in answers.responses:
                verdict = "started" if response.ok else f"REFUSED: {response.error}"
                say(f"{command.workflow_id} for {response.device}: {verdict}")
            if answers.missing:
                still.append(command)
        if not still:
            return True
        pending = still
    for command in pending:
        say(f"no service answered for {command.workflow_id} / {command.job_id.source_name}")
    return False


def status_line(broker: RunningBroker | None, children: Sequence[Child]) -> str:
    """The broker's memory and rotations (embedded broker only) and each child's memory."""
    parts = [describe_guard(broker.guard.stats())] if broker is not None else []
    memory = []
    for child in children:
        try:
            memory.append(f"{child.name} {format_bytes(process_rss_bytes(child.process.pid))}")
        except ProcessLookupError:
            memory.append(f"{child.name} exited")
    parts.append(", ".join(memory))
    return "status: " + " | ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="livedata demo", description=__doc__)
    p.add_argument("--instrument", default="dummy")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="embedded broker port")
    p.add_argument("--event-rate", type=float, default=1e5, help="detector events/s")
    p.add_argument("--no-jobs", action="store_true", help="do not start the default jobs")
    p.add_argument("--dashboard-port", type=int, default=5009)
    p.add_argument("--no-dashboard", action="store_true", help="do not serve the dashboard")
    add_budget_option(p)
    p.add_argument(
        "--status-interval",
        type=float,
        default=STATUS_INTERVAL_S,
        help="seconds between status lines (0: none)",
    )
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    configure_logging(level=args.log_level)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    instrument = load_instrument(args.instrument)
    settings = KafkaSettings.from_env()
    broker: RunningBroker | None = None
    if settings.external:
        say(f"using the broker at {settings.bootstrap_servers}")
        create_topics(settings, instrument.name)
    else:
        say(f"starting the embedded broker on 127.0.0.1:{args.port} ...")
        try:
            # Stopped last, after the services have sent their final heartbeats.
            broker = start_broker(
                args.port,
                [instrument.name],
                own_session=True,
                memory_budget=args.broker_memory,
            )
        except BrokerError as err:
            say(f"error: {err}")
            return 1
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap)
        say(f"broker memory budget {format_bytes(args.broker_memory)}")
    env = {"KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers, "PYTHONUNBUFFERED": "1"}
    common = ["--instrument", instrument.name, "--log-level", args.log_level]
    lock = threading.Lock()
    # --no-restore: the demo starts its own default jobs; restoring an earlier demo's
    # jobs from an external broker's job registry would pile them up.
    services = [
        Child(name, f"livedata.services.{name}", [*common, "--no-restore"], env=env, lock=lock)
        for name in SERVICE_NAMES
    ]
    producers = [
        Child(
            "fake_producers",
            "livedata.services.fake_producers",
            [*common, "--event-rate", str(args.event_rate)],
            env=env,
            lock=lock,
        )
    ]
    if not args.no_dashboard:
        producers.append(
            Child(
                "dashboard",
                "livedata.cli.dashboard",
                [*common, "--port", str(args.dashboard_port)],
                env=env,
                lock=lock,
            )
        )
    code = 0
    try:
        say(f"starting {len(services)} services and the fake producers ...")
        if not wait_for_services(
            settings,
            instrument.name,
            SERVICE_NAMES,
            timeout_s=SERVICE_START_TIMEOUT_S,
            stop=stop,
            report=say,
        ):
            code = 1
        elif not args.no_jobs:
            with CommandClient(settings=settings, instrument=instrument.name) as client:
                start_default_jobs(client, default_jobs(instrument))
            say(
                f"results flow on {instrument.name}_livedata_data; watch them with "
                f"`.venv/bin/livedata tail --instrument {instrument.name}`; Ctrl-C stops"
            )
        if code == 0 and not args.no_dashboard:
            say(f"dashboard: http://127.0.0.1:{args.dashboard_port}/")
        next_status = time.monotonic() + args.status_interval
        while code == 0 and not stop.wait(1.0):
            dead = [c.name for c in services + producers if not c.running]
            if broker is not None and not broker.running:
                dead.append("broker")
            if dead:
                say(f"error: {', '.join(dead)} exited; stopping")
                code = 1
            elif args.status_interval > 0 and time.monotonic() >= next_status:
                next_status += args.status_interval
                say(status_line(broker, services + producers))
    finally:
        say("stopping ...")
        stop_all(producers + services)
        if broker is not None:
            broker.stop()
        say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
