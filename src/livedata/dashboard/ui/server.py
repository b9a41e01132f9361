"""Serving the dashboard: one ``DashboardContext`` per process, one ``Session`` per page.

Loopback only for now: authentication is required on any other address (QUALITY.md),
and it is not built yet. The websocket accepts only pages served from the address the
server is bound to.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import Any

import panel as pn

from livedata.dashboard.ui.context import DashboardContext
from livedata.dashboard.ui.hvsetup import ensure_holoviews
from livedata.dashboard.ui.session import Session

DEFAULT_PORT = 5009
DEFAULT_ADDRESS = "127.0.0.1"


class NotLoopbackError(ValueError):
    """The dashboard was asked to listen where it would need authentication."""


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_address(address: str) -> None:
    if not is_loopback(address):
        raise NotLoopbackError(
            f"refusing to serve the dashboard on {address!r}: it has no authentication yet, "
            "so it listens on a loopback address only (127.0.0.1, ::1 or localhost). "
            "Reach it from elsewhere through an SSH tunnel "
            "(ssh -L 5009:127.0.0.1:5009 <host>)."
        )


def websocket_origins(address: str, port: int) -> list[str]:
    """Origins allowed to open the websocket: the bound address (and its localhost name)."""
    host = f"[{address}]" if ":" in address else address
    origins = [f"{host}:{port}"]
    if address in ("127.0.0.1", "localhost"):
        origins += [f"localhost:{port}", f"127.0.0.1:{port}"]
    return sorted(set(origins))


def create_app(ctx: DashboardContext) -> Any:
    """The function Panel calls for every new page."""

    def app() -> Any:
        return Session(ctx).panel

    return app


def serve(
    ctx: DashboardContext,
    *,
    port: int = DEFAULT_PORT,
    address: str = DEFAULT_ADDRESS,
    show: bool = False,
    threaded: bool = False,
    start: bool = True,
) -> Any:
    """Serve the dashboard (blocks unless ``threaded``; then returns the server thread,
    once it accepts connections, whose ``stop()`` ends it)."""
    check_address(address)
    ensure_holoviews()
    pn.extension()
    server = pn.serve(
        {"/": create_app(ctx)},
        port=port,
        address=address,
        websocket_origin=websocket_origins(address, port),
        show=show,
        threaded=threaded,
        start=start,
        title=f"livedata · {ctx.instrument.name}",
        verbose=False,
        admin=False,
    )
    if threaded and start:
        _wait_listening(address, port, server)
    return server


LISTEN_TIMEOUT_S = 30.0
"""A server thread binds its port within a second; far longer means it failed."""


def _wait_listening(address: str, port: int, server: Any) -> None:
    deadline = time.monotonic() + LISTEN_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return
        except OSError:
            if not server.is_alive():
                raise RuntimeError(f"the dashboard server on {address}:{port} died") from None
            time.sleep(0.05)
    raise RuntimeError(f"the dashboard server on {address}:{port} did not start")
