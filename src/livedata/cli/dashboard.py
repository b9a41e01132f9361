"""``livedata dashboard``: serve the live dashboard of one instrument.

Kafka settings come from the ``KAFKA_*`` environment variables. The page is served on
127.0.0.1:5009 by default; any non-loopback address is refused until the dashboard has
authentication (QUALITY.md). ``start_dashboard`` runs it on a thread for ``livedata demo``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from livedata.config.instrument import Instrument
from livedata.config.registry import load_instrument
from livedata.dashboard.backend import KafkaBackend
from livedata.dashboard.policy.grid_files import GRID_DIR_ENV, GridLibrary
from livedata.dashboard.ui.context import DEFAULT_TICK_MS, DashboardContext
from livedata.dashboard.ui.server import (
    DEFAULT_ADDRESS,
    DEFAULT_PORT,
    NotLoopbackError,
    check_address,
    serve,
)
from livedata.kafka.settings import KafkaSettings, SettingsError
from livedata.services.logging import configure_logging

logger = structlog.get_logger(__name__)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="livedata dashboard",
        description=(
            "Serve the live dashboard of one instrument (Kafka settings from KAFKA_* "
            "environment variables). Loopback addresses only: the dashboard has no "
            "authentication yet."
        ),
    )
    p.add_argument("--instrument", required=True)
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help=f"address to listen on (default {DEFAULT_ADDRESS}; loopback only)",
    )
    p.add_argument(
        "--grid-dir",
        type=Path,
        help=f"where saved grids live (default: ${GRID_DIR_ENV} or ~/.local/share/livedata/grids)",
    )
    p.add_argument(
        "--tick-ms",
        type=int,
        default=DEFAULT_TICK_MS,
        help=f"how often each page refreshes, in ms (default {DEFAULT_TICK_MS})",
    )
    p.add_argument("--show", action="store_true", help="open the page in a browser")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-json", action="store_true")
    return p


@dataclass
class RunningDashboard:
    """A dashboard served on a thread (``start_dashboard``); ``stop()`` ends it."""

    url: str
    backend: KafkaBackend
    context: DashboardContext
    _server: Any

    def stop(self) -> None:
        self._server.stop()
        self.backend.close()


def start_dashboard(
    instrument: Instrument,
    settings: KafkaSettings,
    *,
    port: int = DEFAULT_PORT,
    address: str = DEFAULT_ADDRESS,
    grid_dir: Path | None = None,
    tick_ms: int = DEFAULT_TICK_MS,
) -> RunningDashboard:
    """Serve the dashboard on a background thread (what ``livedata demo`` calls).

    Raises
    ------
    NotLoopbackError
        For an address other than a loopback one.
    """
    check_address(address)
    backend = KafkaBackend(settings, instrument)
    try:
        ctx = DashboardContext(
            backend,
            instrument,
            grids=GridLibrary(grid_dir) if grid_dir is not None else None,
            tick_ms=tick_ms,
        )
        server = serve(ctx, port=port, address=address, threaded=True)
    except BaseException:
        backend.close()
        raise
    return RunningDashboard(_url(address, port), backend, ctx, server)


def _url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        check_address(args.address)
        if not 0 < args.port < 65536:
            raise ValueError(f"--port {args.port} is not a TCP port")
        if not 50 <= args.tick_ms <= 10_000:
            raise ValueError("--tick-ms must be between 50 and 10000")
        instrument = load_instrument(args.instrument)
        settings = KafkaSettings.from_env()
    except NotLoopbackError as err:
        print(f"error: {err}", file=sys.stderr)
        print(
            "Authentication for other addresses is planned (issue 7).",
            file=sys.stderr,
        )
        return 2
    except (LookupError, ValueError, SettingsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    configure_logging(level=args.log_level, json=args.log_json)
    dashboard = start_dashboard(
        instrument,
        settings,
        port=args.port,
        address=args.address,
        grid_dir=args.grid_dir,
        tick_ms=args.tick_ms,
    )
    print(f"livedata dashboard for {instrument.name}: {dashboard.url}", flush=True)
    if args.show:
        import webbrowser

        webbrowser.open(dashboard.url)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        dashboard.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
