"""``python -m livedata.services.fake_producers``: fake instrument data on Kafka.

Kafka settings come from the ``KAFKA_*`` environment variables. SIGINT or SIGTERM
stops the producer: the current run is stopped (6s4t), queued messages are flushed
for at most a few seconds, and the process exits 0.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import numpy as np
import structlog

from livedata.config.instrument import Instrument
from livedata.config.registry import load_instrument
from livedata.kafka.settings import KafkaSettings
from livedata.services.fake_producers.area_frames import MAX_FRAME_RATE_HZ
from livedata.services.fake_producers.event_pools import check_rate
from livedata.services.fake_producers.pacing import PacingClock, SystemClock
from livedata.services.fake_producers.producer import FakeProducer
from livedata.services.fake_producers.run_cycle import MAX_RUN_LENGTH_S, MIN_RUN_LENGTH_S
from livedata.services.fake_producers.sources import (
    Kind,
    SourceOptions,
    available_kinds,
    build_sources,
)
from livedata.services.fake_producers.transport import KafkaTransport, Transport
from livedata.services.logging import configure_logging

logger = structlog.get_logger(__name__)

DEFAULT_EVENT_RATE = 1e5
MAX_EVENT_RATE = 1e8
"""Above DREAM's planned peak (7.5e7/s); one pulse is then 57 MB of ev44, inside the
100 MiB message limit. What a small machine can actually send is far lower."""

DEFAULT_MONITOR_RATE = 1e4
MAX_MONITOR_RATE = 1e7
"""Per monitor; real beam monitors count far below detector rates."""

DEFAULT_FRAME_RATE = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProducerOptions:
    instrument: str
    sources: SourceOptions
    duration_s: float | None = None
    seed: int | None = None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m livedata.services.fake_producers",
        description=(
            "Send fake detector events, monitor events, logs, camera frames and run "
            "transitions of an instrument to Kafka in real time on the 14 Hz pulse grid "
            "(Kafka settings from KAFKA_* environment variables)."
        ),
    )
    p.add_argument("--instrument", required=True)
    p.add_argument(
        "--kinds",
        help=f"comma-separated subset of {','.join(Kind)} (default: all the instrument has)",
    )
    p.add_argument(
        "--event-rate",
        type=float,
        default=DEFAULT_EVENT_RATE,
        help=f"total detector events/s over all banks (default {DEFAULT_EVENT_RATE:g}, "
        f"max {MAX_EVENT_RATE:g})",
    )
    p.add_argument(
        "--monitor-rate",
        type=float,
        default=DEFAULT_MONITOR_RATE,
        help=f"events/s of each beam monitor (default {DEFAULT_MONITOR_RATE:g})",
    )
    p.add_argument(
        "--frame-rate",
        type=float,
        default=DEFAULT_FRAME_RATE,
        help=f"camera frames/s (default {DEFAULT_FRAME_RATE:g}, max {MAX_FRAME_RATE_HZ:g})",
    )
    p.add_argument("--duration", type=float, help="seconds to run (default: until stopped)")
    p.add_argument(
        "--run-length",
        type=float,
        help="seconds per run: runs follow each other (default: one run until stopped)",
    )
    p.add_argument("--seed", type=int, help="random seed, for reproducible data")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-json", action="store_true")
    return p


def parse_kinds(text: str | None, instrument: Instrument) -> frozenset[Kind]:
    available = available_kinds(instrument)
    if text is None:
        return available
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError("--kinds is empty")
    unknown = [n for n in names if n not in set(Kind)]
    if unknown:
        raise ValueError(f"unknown kinds {unknown}; choose from {[k.value for k in Kind]}")
    return frozenset(Kind(n) for n in names)


def options_from_args(args: argparse.Namespace, instrument: Instrument) -> ProducerOptions:
    """Validated options; ValueError with a message for the user otherwise."""
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise ValueError(f"--duration must be a positive number of seconds, not {args.duration}")
    run_length = args.run_length
    if run_length is not None and not MIN_RUN_LENGTH_S <= run_length <= MAX_RUN_LENGTH_S:
        raise ValueError(
            f"--run-length must be between {MIN_RUN_LENGTH_S} and {MAX_RUN_LENGTH_S:g} s"
        )
    if not (math.isfinite(args.frame_rate) and 0 < args.frame_rate <= MAX_FRAME_RATE_HZ):
        raise ValueError(f"--frame-rate must be in (0, {MAX_FRAME_RATE_HZ:g}]")
    return ProducerOptions(
        instrument=instrument.name,
        sources=SourceOptions(
            kinds=parse_kinds(args.kinds, instrument),
            event_rate=check_rate("--event-rate", args.event_rate, MAX_EVENT_RATE),
            monitor_rate=check_rate("--monitor-rate", args.monitor_rate, MAX_MONITOR_RATE),
            frame_rate=args.frame_rate,
            run_length_s=run_length,
        ),
        duration_s=args.duration,
        seed=args.seed,
    )


def build_producer(
    instrument: Instrument,
    options: ProducerOptions,
    *,
    transport: Transport,
    clock: PacingClock | None = None,
) -> FakeProducer:
    clock = clock or SystemClock()
    rng = np.random.default_rng(options.seed)
    sources = build_sources(instrument, options.sources, rng=rng, start_ns=clock.now_ns())
    return FakeProducer(sources=sources, transport=transport, clock=clock)


def run(
    instrument: Instrument,
    options: ProducerOptions,
    *,
    settings: KafkaSettings,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Produce to Kafka until stopped or for ``options.duration_s``; return the stats."""
    producer = build_producer(instrument, options, transport=KafkaTransport.from_settings(settings))
    logger.info(
        "fake_producer_starting",
        instrument=instrument.name,
        kinds=sorted(k.value for k in options.sources.kinds),
        event_rate=options.sources.event_rate,
        monitor_rate=options.sources.monitor_rate,
        frame_rate=options.sources.frame_rate,
        run_length_s=options.sources.run_length_s,
        duration_s=options.duration_s,
        kafka=settings.redacted(),
    )
    return dict(producer.run(duration_s=options.duration_s, should_stop=should_stop))


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        instrument = load_instrument(args.instrument)
        options = options_from_args(args, instrument)
        settings = KafkaSettings.from_env()
    except (LookupError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    configure_logging(level=args.log_level, json=args.log_json)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        run(instrument, options, settings=settings, should_stop=stop.is_set)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
