"""``livedata demo``: the whole stack for one instrument, with one command.

Starts the embedded broker (unless ``KAFKA_BOOTSTRAP_SERVERS`` names one), creates the
topics, runs the four processing services and the fake producers, starts a job of every
workflow for every source so results flow at once, and stops it all on Ctrl-C.

The embedded broker's memory is kept under ``--broker-memory`` (ADR 0006); a status
line every ``--status-interval`` seconds shows it, its rotations, each process's
memory and the watchdog's restarts.

A watchdog (on unless ``--no-watchdog``) restarts a processing service whose process
exited or whose heartbeats stopped or stalled, at most once per ``--watchdog-window-s``
per service; a service that fails again within its window stops the demo if it exited,
and is reported (not restarted) if it hangs.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import structlog

from livedata.cli.broker import (
    STATUS_INTERVAL_S,
    RunningBroker,
    add_budget_option,
    describe_guard,
    start_broker,
)
from livedata.cli.processes import Child, stop_all
from livedata.cli.supervisor import HeartbeatMonitor, Supervisor
from livedata.cli.watch import wait_for_services
from livedata.config.instrument import Instrument
from livedata.config.registry import load_instrument
from livedata.core.control import WorkflowConfig
from livedata.core.identity import JobId
from livedata.core.memory import describe_bytes, process_rss_bytes
from livedata.kafka.command_client import CommandClient
from livedata.kafka.embedded_broker import DEFAULT_PORT, BrokerError
from livedata.kafka.settings import KafkaSettings, SettingsError
from livedata.kafka.topics import create_topics
from livedata.services.logging import configure_logging
from livedata.services.runner import SERVICE_NAMES
from livedata.services.watchdog import (
    DEFAULT_STALE_S,
    DEFAULT_STARTUP_S,
    DEFAULT_WINDOW_S,
    WatchdogPolicy,
)

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


def exited(children: Sequence[Child], broker: RunningBroker | None) -> list[str]:
    """The names of the processes of the stack that have ended."""
    dead = [child.name for child in children if not child.running]
    if broker is not None and not broker.running:
        dead.append("broker")
    return dead


def status_line(
    broker: RunningBroker | None, children: Sequence[Child], supervisor: Supervisor | None = None
) -> str:
    """The broker's memory and rotations (embedded broker only), each child's memory and
    the watchdog's restarts."""
    parts = [describe_guard(broker.guard.stats())] if broker is not None else []
    memory = []
    for child in children:
        try:
            memory.append(f"{child.name} {describe_bytes(process_rss_bytes(child.process.pid))}")
        except ProcessLookupError:
            memory.append(f"{child.name} exited")
    parts.append(", ".join(memory))
    if supervisor is not None:
        parts.append(supervisor.summary())
    return "status: " + " | ".join(parts)


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def add_watchdog_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--watchdog",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=(
            "restart a processing service whose process exited or whose heartbeats "
            "stopped, at most once per window (default: on)"
        ),
    )
    p.add_argument(
        "--watchdog-stale-s",
        type=_positive_seconds,
        default=DEFAULT_STALE_S,
        help="seconds without a heartbeat before a service is restarted (default: %(default)s)",
    )
    p.add_argument(
        "--watchdog-startup-s",
        type=_positive_seconds,
        default=DEFAULT_STARTUP_S,
        help="seconds a (re)started service has for its first heartbeat (default: %(default)s)",
    )
    p.add_argument(
        "--watchdog-window-s",
        type=_positive_seconds,
        default=DEFAULT_WINDOW_S,
        help="at most one restart per service within this many seconds (default: %(default)s)",
    )


def watchdog_policy(args: argparse.Namespace) -> WatchdogPolicy:
    return WatchdogPolicy(
        stale_s=args.watchdog_stale_s,
        startup_s=args.watchdog_startup_s,
        window_s=args.watchdog_window_s,
    )


def dashboard_args(args: argparse.Namespace) -> list[str]:
    """The dashboard child's own options (its users file by path: never a secret)."""
    out = ["--port", str(args.dashboard_port)]
    if args.dashboard_auth_file is not None:
        out += ["--auth-file", str(args.dashboard_auth_file)]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="livedata demo", description=__doc__)
    p.add_argument("--instrument", default="dummy")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="embedded broker port")
    p.add_argument("--event-rate", type=float, default=1e5, help="detector events/s")
    p.add_argument("--no-jobs", action="store_true", help="do not start the default jobs")
    p.add_argument("--dashboard-port", type=int, default=5009)
    p.add_argument("--no-dashboard", action="store_true", help="do not serve the dashboard")
    p.add_argument(
        "--dashboard-auth-file",
        type=Path,
        help="users file: the dashboard asks for a login (see `livedata dashboard-user`)",
    )
    add_budget_option(p)
    add_watchdog_options(p)
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
    try:
        settings = KafkaSettings.from_env()
    except SettingsError as err:
        say(f"error: {err}")
        return 2
    if not settings.external and settings.security_protocol != "PLAINTEXT":
        # The children would inherit these variables and fail against a broker that
        # speaks plaintext only; silently dropping them could hide a misdirected setup.
        say(
            f"error: KAFKA_SECURITY_PROTOCOL={settings.security_protocol} is set but "
            "KAFKA_BOOTSTRAP_SERVERS is not: the embedded broker speaks PLAINTEXT only. "
            "Name your secured broker in KAFKA_BOOTSTRAP_SERVERS, or unset the KAFKA_* "
            "security variables to use the embedded one."
        )
        return 2
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
        say(f"broker memory budget {describe_bytes(args.broker_memory)}")
    env = {"KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers, "PYTHONUNBUFFERED": "1"}
    common = ["--instrument", instrument.name, "--log-level", args.log_level]
    lock = threading.Lock()
    # --no-restore: the demo starts its own default jobs; restoring an earlier demo's
    # jobs from an external broker's job registry would pile them up.
    # A watchdog restart does restore: the jobs it brings back are this demo's own,
    # from the snapshot the service published before it failed.
    services = [
        Child(
            name,
            f"livedata.services.{name}",
            [*common, "--no-restore"],
            env=env,
            lock=lock,
            restart_args=common,
        )
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
                [*common, *dashboard_args(args)],
                env=env,
                lock=lock,
            )
        )
    code = 0
    monitor: HeartbeatMonitor | None = None
    supervisor: Supervisor | None = None
    try:
        say(f"starting {len(services)} services and the fake producers ...")
        if not wait_for_services(
            settings,
            instrument.name,
            SERVICE_NAMES,
            timeout_s=SERVICE_START_TIMEOUT_S,
            stop=stop,
            report=say,
            exited=lambda: exited(services + producers, broker),
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
        if code == 0 and args.watchdog:
            monitor = HeartbeatMonitor(settings, instrument.name)
            supervisor = Supervisor(services, monitor, policy=watchdog_policy(args), report=say)
            say(
                f"watchdog on: a service silent for {args.watchdog_stale_s:.0f} s or exited "
                f"is restarted, at most once per {args.watchdog_window_s:.0f} s"
            )
        next_status = time.monotonic() + args.status_interval
        while code == 0 and not stop.wait(1.0):
            if supervisor is not None:
                supervisor.check()  # a service still dead after this was held back
            dead = exited(services + producers, broker)
            if dead:
                held = supervisor is not None and any(c.name in dead for c in services)
                again = " (not restarted by the watchdog: see above)" if held else ""
                say(f"error: {', '.join(dead)} exited{again}; stopping")
                code = 1
            elif args.status_interval > 0 and time.monotonic() >= next_status:
                next_status += args.status_interval
                say(status_line(broker, services + producers, supervisor))
    finally:
        say("stopping ...")
        if monitor is not None:
            monitor.close()
        stop_all(producers + services)
        if broker is not None:
            broker.stop()
        say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
