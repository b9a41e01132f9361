"""Serving the dashboard: one ``DashboardContext`` per process, one ``Session`` per page.

Without a users file the dashboard listens on loopback only, and its one user is
``local`` (an operator). With one (``CredentialStore``), every page asks for a login
first, on any address, and each session acts as its user: a ``CommandGate`` checks the
user's role and writes every command and ROI to the audit log. The websocket accepts
only pages served from the address the server is bound to, and session tokens are
signed with the cookie secret when logins are on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ipaddress
import re
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import panel as pn
import structlog
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from livedata.dashboard.access import LOCAL_USER, User
from livedata.dashboard.audit import AuditLog
from livedata.dashboard.credentials import CredentialStore
from livedata.dashboard.gate import CommandGate
from livedata.dashboard.ui.context import DashboardContext
from livedata.dashboard.ui.hvsetup import ensure_holoviews
from livedata.dashboard.ui.login import (
    CredentialsAuthProvider,
    cookie_secret,
    session_client,
    session_user,
)
from livedata.dashboard.ui.session import NOT_LOGGED_IN, Session

logger = structlog.get_logger(__name__)

DEFAULT_PORT = 5009
DEFAULT_ADDRESS = "127.0.0.1"


class NotLoopbackError(ValueError):
    """The dashboard was asked to listen beyond loopback without authentication."""


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_address(address: str, *, authenticated: bool = False) -> None:
    """Refuse a non-loopback ``address`` unless logins are required (``authenticated``).

    Raises
    ------
    NotLoopbackError
        For an address beyond loopback without a users file.
    """
    if not authenticated and not is_loopback(address):
        raise NotLoopbackError(
            f"refusing to serve the dashboard on {address!r} without authentication: "
            "give a users file (--auth-file, or $LIVEDATA_DASHBOARD_AUTH_FILE; create it "
            "with 'livedata dashboard-user add'), or listen on a loopback address "
            "(127.0.0.1, ::1 or localhost) and reach it through an SSH tunnel "
            "(ssh -L 5009:127.0.0.1:5009 <host>)."
        )


ORIGIN = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")
"""A host name or address with an optional port, as a browser's Origin names the page
(no scheme, no path, no wildcards)."""


def check_origin(origin: str) -> str:
    """Raises ``ValueError`` unless ``origin`` is ``host`` or ``host:port``."""
    if ORIGIN.fullmatch(origin) is None:
        raise ValueError(
            f"--origin {origin!r}: give the host name (and port) browsers use for the "
            "page, e.g. dashboard.example.org or myhost:5009 (no scheme, no wildcards)"
        )
    return origin


def websocket_origins(address: str, port: int, extra: Sequence[str] = ()) -> list[str]:
    """Origins allowed to open the websocket: the bound address (and its localhost name;
    on every interface, the host's names), and ``extra`` (e.g. a reverse proxy's name).

    Raises
    ------
    ValueError
        For an ``extra`` origin that is not ``host`` or ``host:port``.
    """
    host = f"[{address}]" if ":" in address else address
    origins = [f"{host}:{port}"]
    if address in ("127.0.0.1", "localhost"):
        origins += [f"localhost:{port}", f"127.0.0.1:{port}"]
    if address in ("0.0.0.0", "::"):
        origins += [f"{socket.gethostname()}:{port}", f"{socket.getfqdn()}:{port}"]
    origins += [check_origin(origin) for origin in extra]
    return sorted(set(origins))


def _current(users: CredentialStore | None, user: User) -> Callable[[], User | None] | None:
    """How a session's gate learns the user's role as the users file says now."""
    if users is None:
        return None
    store = users

    def current() -> User | None:
        return store.user(user.name, client=user.client)

    return current


def quiet_closed_websocket_writes() -> None:
    """Make this thread's event loop treat a write to a websocket that just closed (a
    page closed or reloaded while a frame was on its way) as what it is, routine, not
    as an "exception was never retrieved" traceback in the log. Idempotent."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    previous = loop.get_exception_handler()
    if getattr(previous, "quiets_closed_websockets", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), (WebSocketClosedError, StreamClosedError)):
            logger.debug("websocket_closed_while_writing")
            return
        if previous is None:
            loop.default_exception_handler(context)
        else:
            previous(loop, context)

    handler.quiets_closed_websockets = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


def create_app(
    ctx: DashboardContext,
    *,
    users: CredentialStore | None = None,
    audit: AuditLog | None = None,
    secret: str | None = None,
) -> Any:
    """The function Panel calls for every new page: a ``Session`` acting as its user."""

    def app() -> Any:
        quiet_closed_websocket_writes()
        user: User | None
        if users is None:
            user = dataclasses.replace(LOCAL_USER, client=session_client())
        else:
            user = session_user(users, secret or cookie_secret())
            if user is None:  # the provider lets no such request in; never show data
                return pn.pane.HTML(NOT_LOGGED_IN)
        gate = CommandGate(ctx.backend, user, audit, current=_current(users, user))
        removed = None if users is None else functools.partial(users.removed, user.name)
        return Session(ctx.for_session(user, gate, user_removed=removed)).panel

    return app


def serve(
    ctx: DashboardContext,
    *,
    port: int = DEFAULT_PORT,
    address: str = DEFAULT_ADDRESS,
    show: bool = False,
    threaded: bool = False,
    start: bool = True,
    users: CredentialStore | None = None,
    audit: AuditLog | None = None,
    origins: Sequence[str] = (),
    behind_proxy: bool = False,
) -> Any:
    """Serve the dashboard (blocks unless ``threaded``; then returns the server thread,
    once it accepts connections, whose ``stop()`` ends it).

    ``users``: require a login (any address); without, loopback only. ``audit``: where
    commands, ROIs and logins are recorded (None: the structured log only). ``origins``:
    more names browsers may reach the page by (``websocket_origins``). ``behind_proxy``:
    take the client's address and scheme from the reverse proxy's ``X-Forwarded-*``
    headers (only behind a proxy that sets them: otherwise any client could claim any
    address).
    """
    check_address(address, authenticated=users is not None)
    allowed = websocket_origins(address, port, origins)
    ensure_holoviews()
    pn.extension()
    auth: dict[str, Any] = {}
    secret = None
    if users is not None:
        secret = cookie_secret()
        auth = {
            "auth_provider": CredentialsAuthProvider(users, audit=audit),
            "cookie_secret": secret,
            # Signed session tokens: a browser cannot forge the cookies a session
            # believes it was opened with.
            "secret_key": secret,
            "sign_sessions": True,
        }
    server = pn.serve(
        {"/": create_app(ctx, users=users, audit=audit, secret=secret)},
        port=port,
        address=address,
        websocket_origin=allowed,
        use_xheaders=behind_proxy,
        show=show,
        threaded=threaded,
        start=start,
        title=f"livedata · {ctx.instrument.name}",
        verbose=False,
        admin=False,
        **auth,
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
