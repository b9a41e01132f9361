"""Builds one processing service from an instrument and runs it against Kafka."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType

import structlog
from confluent_kafka import KafkaException

from livedata.config.instrument import Instrument
from livedata.config.registry import load_instrument
from livedata.core.batching import NS_PER_S, DataTimeBatcher
from livedata.core.clock import SystemClock
from livedata.core.job_manager import JobManager
from livedata.core.memory import MemoryLimit
from livedata.core.memory_guard import DEFAULT_MEMORY_LIMIT, MemoryGuard
from livedata.core.processor import OrchestratingProcessor, ServiceIdentity
from livedata.core.service import EXIT_CONFIG, EXIT_FORCED, EXIT_OK, Liveness, Service
from livedata.core.workflow import WorkflowRegistry
from livedata.kafka.client_errors import KafkaRefusedError, refusal_message
from livedata.kafka.ingress import Ingress
from livedata.kafka.job_registry import RegistryUnreadableError, latest_snapshot
from livedata.kafka.settings import KafkaSettings, SettingsError
from livedata.kafka.sink import KafkaSink
from livedata.kafka.source import KafkaSource
from livedata.services.logging import configure_logging
from livedata.services.sd_notify import SystemdNotifier

logger = structlog.get_logger(__name__)

SERVICE_NAMES = ("monitor_data", "detector_data", "data_reduction", "timeseries")

MEMORY_LIMIT_ENV = "LIVEDATA_MEMORY_LIMIT"
"""Default of ``--memory-limit``, so a supervisor can set it for every service at once."""

MEMORY_GUARD_OFF = "off"


def wanted_streams(registry: WorkflowRegistry) -> set[str]:
    """Every stream some workflow of this service may read (sources and aux choices)."""
    names: set[str] = set()
    for spec in registry.specs():
        names.update(spec.source_names)
        for aux in spec.aux_sources.values():
            names.update(aux.choices)
    return names


def command_responder(registry: WorkflowRegistry) -> str | None:
    """The one service that refuses commands no service can own (unknown workflow,
    wrong instrument): the first in ``SERVICE_NAMES`` that runs any workflow."""
    services = {spec.service for spec in registry.specs()}
    return next((name for name in SERVICE_NAMES if name in services), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceOptions:
    service_name: str
    instrument: str
    dev: bool = True
    batch_window_s: float = 1.0
    worker_id: str = ""
    restore_jobs: bool = True
    """Bring back the jobs of this worker's newest snapshot (ADR 0005)."""
    memory_limit: MemoryLimit | None = DEFAULT_MEMORY_LIMIT
    """Over this, the memory guard stops the job holding the most; None: no guard."""


def build_service(
    options: ServiceOptions,
    *,
    settings: KafkaSettings,
    instrument: Instrument | None = None,
    liveness: Liveness | None = None,
) -> Service:
    """Wire instrument, Kafka source and sink, processor and runtime for one service;
    ``liveness`` hears of every turn of its loop (systemd's watchdog)."""
    instrument = instrument or load_instrument(options.instrument)
    everything = instrument.build_workflows(instrument)
    registry = everything.for_service(options.service_name)
    # Stable across restarts, so a restarted worker finds its own job snapshot; run two
    # workers of one service on one host with distinct --worker-id values.
    worker_id = options.worker_id or socket.gethostname()
    job_manager = JobManager(
        instrument=instrument.name,
        registry=registry,
        known_workflows=everything,
        answers_unowned=options.service_name == command_responder(everything),
    )
    registry_read = True
    if options.restore_jobs:
        try:
            snapshot = latest_snapshot(
                settings, instrument.name, service_name=options.service_name, worker_id=worker_id
            )
        except RegistryUnreadableError as err:
            registry_read = False
            logger.warning("jobs_not_restored", reason="job registry unreadable", error=str(err))
        else:
            if snapshot is not None and snapshot.jobs:
                restored = job_manager.restore(snapshot.jobs)
                logger.info("jobs_restored", jobs=[str(j) for j in restored])
    ingress = Ingress(
        instrument=instrument.name,
        streams=instrument.streams(dev=options.dev),
        wanted=wanted_streams(registry),
    )
    source = KafkaSource(
        settings=settings,
        ingress=ingress,
        # Unique per process: every worker reads everything (assign, not subscribe).
        group_id=f"livedata-{instrument.name}-{options.service_name}-{uuid.uuid4().hex[:8]}",
    )
    sink = KafkaSink(settings=settings, instrument=instrument.name)
    clock = SystemClock()
    memory_guard = None
    if options.memory_limit is not None:
        memory_guard = MemoryGuard.from_limit(options.memory_limit)
    processor = OrchestratingProcessor(
        identity=ServiceIdentity(
            instrument=instrument.name, service_name=options.service_name, worker_id=worker_id
        ),
        source=source,
        sink=sink,
        batcher=DataTimeBatcher(clock=clock, window_ns=int(options.batch_window_s * NS_PER_S)),
        job_manager=job_manager,
        clock=clock,
        # Unread registry: keep the old snapshot until someone changes the jobs.
        publish_snapshots=registry_read,
        memory_guard=memory_guard,
    )
    source.start()
    logger.info(
        "service_built",
        service=options.service_name,
        instrument=instrument.name,
        workflows=[str(w) for w in registry],
        memory_limit=memory_guard.limit_bytes if memory_guard is not None else None,
        topics=ingress.topics(),
        kafka=settings.redacted(),
    )
    return Service(
        name=options.service_name, processor=processor, on_close=[source.close], liveness=liveness
    )


def parser(service_name: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"livedata.services.{service_name}" if service_name else "livedata service",
        description="Run a livedata processing service (Kafka settings from KAFKA_* env vars).",
    )
    if service_name is None:
        p.add_argument("service", choices=SERVICE_NAMES)
    p.add_argument("--instrument", required=True)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dev", action="store_true", default=True, help="dev topic names (default)")
    mode.add_argument("--prod", dest="dev", action="store_false", help="production topic names")
    p.add_argument("--batch-window", type=float, default=1.0, help="window length in seconds")
    p.add_argument(
        "--worker-id", default="", help="stable name of this worker (default: the host name)"
    )
    p.add_argument(
        "--no-restore",
        dest="restore_jobs",
        action="store_false",
        help="start without the jobs this worker ran before its restart",
    )
    p.add_argument(
        "--memory-limit",
        type=_memory_limit,
        default=os.environ.get(MEMORY_LIMIT_ENV, str(DEFAULT_MEMORY_LIMIT.share)),
        help=(
            "stop the job holding the most memory when the service's resident memory "
            "passes this: a share of the machine's memory (0.25 or 25%%), a size (3G, "
            f"512M) or '{MEMORY_GUARD_OFF}' (default: ${MEMORY_LIMIT_ENV} or 0.25)"
        ),
    )
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-json", action="store_true")
    return p


def _memory_limit(text: str) -> MemoryLimit | None:
    if text.strip().lower() == MEMORY_GUARD_OFF:
        return None
    try:
        return MemoryLimit.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def main(argv: Sequence[str] | None = None, *, service_name: str | None = None) -> int:
    args = parser(service_name).parse_args(argv)
    configure_logging(level=args.log_level, json=args.log_json)
    options = ServiceOptions(
        service_name=service_name or args.service,
        instrument=args.instrument,
        dev=args.dev,
        batch_window_s=args.batch_window,
        worker_id=args.worker_id,
        restore_jobs=args.restore_jobs,
        memory_limit=args.memory_limit,
    )
    if not 0.01 <= options.batch_window_s <= 60:
        print("--batch-window must be between 0.01 and 60 seconds", file=sys.stderr)
        return EXIT_CONFIG
    try:
        settings = KafkaSettings.from_env()
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    notifier = SystemdNotifier.from_env()  # None unless run by systemd with Type=notify
    try:
        service = _build(options, settings, notifier)
        return EXIT_CONFIG if service is None else run_service(service, settings)
    except StartInterrupted as stop:
        logger.info("service_start_interrupted", service=options.service_name, signal=stop.signum)
        return EXIT_OK
    finally:
        if notifier is not None:
            notifier.close()


def run_service(service: Service, settings: KafkaSettings) -> int:
    """``service.run()``; ended at once, with exit code 2 and one line saying why, when
    Kafka refuses our login or TLS settings (a password changed on the broker): a
    restart would be refused the same way."""
    settings.client_errors.on_refusal(lambda _refusal: service.request_stop())
    code = service.run()
    refusal = settings.client_errors.refusal
    if refusal is None:
        return code
    print(f"error: {refusal_message(refusal, settings)}", file=sys.stderr)
    return EXIT_CONFIG


def _build(
    options: ServiceOptions, settings: KafkaSettings, notifier: SystemdNotifier | None
) -> Service | None:
    """``build_service``, or None after printing why the configuration cannot work.

    A signal while it builds raises ``StartInterrupted``; one after hands the stop to the
    service, which leaves ``run`` at once, cleanly.
    """
    start = _StartSignals()
    service: Service | None = None
    try:
        service = build_service(options, settings=settings, liveness=notifier)
        start.hand_over(service)
    except StartInterrupted:
        if service is None:
            raise
        service.request_stop()  # the signal came just after the build: stop it cleanly
    except KafkaRefusedError as err:
        print(f"error: {refusal_message(err.refusal, settings)}", file=sys.stderr)
    except KafkaException as err:  # librdkafka would not create a client: its settings
        reason = err.args[0].str()
        print(f"error: the Kafka settings do not work: {reason} (see KAFKA_*)", file=sys.stderr)
    except (LookupError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
    return service


class StartInterrupted(BaseException):
    """SIGINT or SIGTERM while the service was being built: a clean exit, no traceback.

    A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` on
    the way swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _StartSignals:
    """SIGINT and SIGTERM while ``build_service`` runs (reading the job registry alone may
    take 10 s): the first abandons the start, a second exits at once; once the service is
    handed over, a signal asks it to stop until ``Service.run`` installs its own handlers."""

    def __init__(self) -> None:
        self._service: Service | None = None
        self._signalled = False
        if threading.current_thread() is threading.main_thread():  # only it gets signals
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self._on_signal)

    def hand_over(self, service: Service) -> None:
        self._service = service

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._service is not None:
            self._service.request_stop()
        elif self._signalled:  # the start is being abandoned already: do not wait for it
            os._exit(EXIT_FORCED)
        else:
            self._signalled = True
            raise StartInterrupted(signum)
