"""``livedata dashboard``: serve the live dashboard of one instrument.

Kafka settings come from the ``KAFKA_*`` environment variables. The page is served on
127.0.0.1:5009 by default. With a users file (``--auth-file`` or
``$LIVEDATA_DASHBOARD_AUTH_FILE``, made by ``livedata dashboard-user``) every page asks
for a login and any address may be used; without one, only loopback addresses are
(QUALITY.md). Every command and ROI is appended to the audit log (``--audit-log``).
``start_dashboard`` runs it on a thread.
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
from livedata.dashboard.audit import (
    AUDIT_LOG_ENV,
    DEFAULT_AUDIT_LOG,
    AuditError,
    AuditLog,
    audit_log_path,
)
from livedata.dashboard.backend import KafkaBackend
from livedata.dashboard.credentials import (
    AUTH_FILE_ENV,
    CredentialsError,
    CredentialStore,
    auth_file_path,
)
from livedata.dashboard.policy.grid_files import GRID_DIR_ENV, GridLibrary
from livedata.dashboard.ui.context import DEFAULT_TICK_MS, DashboardContext
from livedata.dashboard.ui.server import (
    DEFAULT_ADDRESS,
    DEFAULT_PORT,
    check_address,
    serve,
    websocket_origins,
)
from livedata.kafka.settings import KafkaSettings, SettingsError
from livedata.services.logging import configure_logging

logger = structlog.get_logger(__name__)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="livedata dashboard",
        description=(
            "Serve the live dashboard of one instrument (Kafka settings from KAFKA_* "
            "environment variables). With a users file (--auth-file) every page asks for "
            "a login, operators may send commands and viewers only look, and any address "
            "may be served; without one, loopback addresses only, with no login. Every "
            "command and ROI is recorded in the audit log."
        ),
    )
    p.add_argument("--instrument", required=True)
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help=(
            f"address to listen on (default {DEFAULT_ADDRESS}); anything but loopback "
            "needs --auth-file"
        ),
    )
    p.add_argument(
        "--auth-file",
        type=Path,
        help=(
            f"users file (default: ${AUTH_FILE_ENV}); made with 'livedata dashboard-user "
            "add'. Given, every page asks for a login, also on loopback"
        ),
    )
    p.add_argument(
        "--origin",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help=(
            "another name browsers reach the page by (repeatable), e.g. the reverse "
            "proxy's dashboard.example.org; the bound address (and on 0.0.0.0 the host's "
            "names) are allowed already"
        ),
    )
    p.add_argument(
        "--behind-proxy",
        action="store_true",
        help=(
            "take client addresses and the scheme from the reverse proxy's X-Forwarded-* "
            "headers (use only behind a proxy that sets them)"
        ),
    )
    p.add_argument(
        "--audit-log",
        type=Path,
        help=(
            f"where commands, ROIs and logins are appended as JSON lines (default: "
            f"${AUDIT_LOG_ENV} or {DEFAULT_AUDIT_LOG})"
        ),
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
    audit: AuditLog

    def stop(self) -> None:
        self._server.stop()
        self.backend.close()
        self.audit.close()


def start_dashboard(
    instrument: Instrument,
    settings: KafkaSettings,
    *,
    port: int = DEFAULT_PORT,
    address: str = DEFAULT_ADDRESS,
    grid_dir: Path | None = None,
    tick_ms: int = DEFAULT_TICK_MS,
    auth_file: Path | None = None,
    audit_log: Path | None = None,
    origins: Sequence[str] = (),
    behind_proxy: bool = False,
) -> RunningDashboard:
    """Serve the dashboard on a background thread.

    ``auth_file``: the users file (logins required); ``audit_log``: where commands are
    recorded (default ``$LIVEDATA_DASHBOARD_AUDIT_LOG`` or ``DEFAULT_AUDIT_LOG``);
    ``origins`` and ``behind_proxy``: see ``serve``.

    Raises
    ------
    NotLoopbackError
        For an address other than a loopback one without ``auth_file``.
    CredentialsError
        For a users file that is missing, invalid or writable by others.
    AuditError
        For an audit log that cannot be opened.
    """
    check_address(address, authenticated=auth_file is not None)
    users = CredentialStore(auth_file) if auth_file is not None else None
    audit = AuditLog(audit_log_path(audit_log))
    try:
        backend = KafkaBackend(settings, instrument)
    except BaseException:
        audit.close()
        raise
    try:
        ctx = DashboardContext(
            backend,
            instrument,
            grids=GridLibrary(grid_dir) if grid_dir is not None else None,
            tick_ms=tick_ms,
        )
        server = serve(
            ctx,
            port=port,
            address=address,
            threaded=True,
            users=users,
            audit=audit,
            origins=origins,
            behind_proxy=behind_proxy,
        )
    except BaseException:
        backend.close()
        audit.close()
        raise
    return RunningDashboard(_url(address, port), backend, ctx, server, audit)


def _url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    auth_file = auth_file_path(args.auth_file)
    try:
        check_address(args.address, authenticated=auth_file is not None)
        if auth_file is not None:
            CredentialStore(auth_file)  # a bad users file is an error before anything starts
        if not 0 < args.port < 65536:
            raise ValueError(f"--port {args.port} is not a TCP port")
        if not 50 <= args.tick_ms <= 10_000:
            raise ValueError("--tick-ms must be between 50 and 10000")
        websocket_origins(args.address, args.port, args.origin)  # ValueError if malformed
        instrument = load_instrument(args.instrument)
        settings = KafkaSettings.from_env()
    except (LookupError, ValueError, SettingsError, CredentialsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    configure_logging(level=args.log_level, json=args.log_json)
    try:
        dashboard = start_dashboard(
            instrument,
            settings,
            port=args.port,
            address=args.address,
            grid_dir=args.grid_dir,
            tick_ms=args.tick_ms,
            auth_file=auth_file,
            audit_log=args.audit_log,
            origins=args.origin,
            behind_proxy=args.behind_proxy,
        )
    except (AuditError, ValueError) as err:  # an unwritable audit log, a short secret
        print(f"error: {err}", file=sys.stderr)
        return 2
    login = f"logins from {auth_file}" if auth_file is not None else "no login (loopback)"
    print(f"livedata dashboard for {instrument.name}: {dashboard.url} ({login})", flush=True)
    print(f"audit log: {dashboard.audit.path}", flush=True)
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
