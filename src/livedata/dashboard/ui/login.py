"""Logging in to the dashboard: a Panel auth provider backed by the users file.

Panel's ``BasicAuthProvider`` gives the login and logout pages and the signed ``user``
cookie (``pn.state.user``); what it checks a password against is a plain-text file, so
the login handler here checks ``CredentialStore`` (salted scrypt hashes) instead,
throttles guessing per client address, and records logins in the audit log. Every
request (page, websocket) is let in only while its user is still in the users file.

``session_user`` tells a new session who opened it, from the signed cookie of the
request that created it: never from anything else the browser sends.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
from typing import Any

import jinja2
import structlog
import tornado.escape
from panel.auth import BasicAuthProvider, BasicLoginHandler, LogoutHandler
from panel.io.state import state
from panel.util import base64url_encode
from tornado.web import RequestHandler, decode_signed_value

from livedata.dashboard.access import LoginThrottle, User
from livedata.dashboard.audit import AuditError, AuditLog
from livedata.dashboard.credentials import CredentialStore

logger = structlog.get_logger(__name__)

COOKIE_SECRET_ENV = "LIVEDATA_DASHBOARD_COOKIE_SECRET"
MIN_COOKIE_SECRET_CHARS = 32

LOGIN_EXPIRY_DAYS = 0.5
"""A login lasts half a day (a shift); then the page asks again."""

LOGIN_ENDPOINT = "/login"
LOGOUT_ENDPOINT = "/logout"

USER_COOKIE = "user"
"""Panel's name for the signed cookie holding the user name (``pn.state.user`` reads it)."""

_process_secret: str | None = None
_secret_lock = threading.Lock()


def cookie_secret() -> str:
    """The secret signing login cookies and session tokens: ``$LIVEDATA_DASHBOARD_COOKIE_SECRET``
    (so logins survive a restart, or several servers share them), else one random secret
    per process (a restart logs everyone out).

    Raises
    ------
    ValueError
        If the variable is set to something shorter than 32 characters.
    """
    global _process_secret
    configured = os.environ.get(COOKIE_SECRET_ENV, "")
    if configured:
        if len(configured) < MIN_COOKIE_SECRET_CHARS:
            raise ValueError(
                f"{COOKIE_SECRET_ENV} must have at least {MIN_COOKIE_SECRET_CHARS} characters"
            )
        return configured
    with _secret_lock:
        if _process_secret is None:
            _process_secret = secrets.token_urlsafe(48)
        return _process_secret


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>livedata · {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f6f8fa; margin: 0; }}
.box {{ width: 340px; margin: 12vh auto; background: white; border: 1px solid #d0d7de;
        border-radius: 6px; padding: 1.5em 2em; }}
h1 {{ font-size: 1.3em; margin: 0 0 0.8em 0; }}
input {{ width: 100%; box-sizing: border-box; padding: 8px; margin: 0 0 0.8em 0;
         border: 1px solid #d0d7de; border-radius: 4px; }}
button, a.button {{ width: 100%; padding: 8px; background: #0969da; color: white;
         border: 0; border-radius: 4px; font-size: 1em; display: block; text-align: center;
         text-decoration: none; box-sizing: border-box; }}
.error {{ color: #cf222e; font-weight: 600; min-height: 1.2em; }}
</style></head>
<body><div class="box">{body}</div></body></html>
"""

LOGIN_TEMPLATE = jinja2.Template(
    _PAGE.format(
        title="log in",
        body="""<h1>livedata dashboard</h1>
<form class="ld-login" action=".{{ login_endpoint }}" method="post">
<p class="error ld-login-error">{{ errormessage|e }}</p>
<input name="username" type="text" autocomplete="username" autocapitalize="off"
       placeholder="user name" required autofocus>
<input name="password" type="password" autocomplete="current-password"
       placeholder="password" required>
<button type="submit">Log in</button>
</form>""",
    )
)
"""Self-contained (Panel's own page loads its logo from a CDN, absent on a beamline)."""

LOGOUT_TEMPLATE = jinja2.Template(
    _PAGE.format(
        title="logged out",
        body="""<h1>livedata dashboard</h1>
<p class="ld-logged-out">You are logged out.</p>
<a class="button" href=".{{ LOGIN_ENDPOINT }}">Log in again</a>""",
    )
)


LOGIN_ERRORS = {
    "wrong": "Wrong user name or password.",
    "throttled": "Too many failed logins: wait a minute and try again.",
    "busy": "The server is busy checking other logins: try again in a moment.",
}

MAX_CONCURRENT_LOGINS = 2
"""Password checks running at once per server; more are refused (429), not queued. Each
costs ~50 ms of a core (scrypt), and the machine also runs the services."""


def _client(handler: RequestHandler) -> str:
    return str(handler.request.remote_ip or "unknown")


class CredentialsLoginHandler(BasicLoginHandler):
    """Panel's login page, checking the users file (set per server by the provider)."""

    store: CredentialStore
    throttle: LoginThrottle
    audit: AuditLog | None
    checking: threading.BoundedSemaphore
    """Free slots for password checks (``MAX_CONCURRENT_LOGINS``), shared by the server."""

    async def post(self) -> None:
        name = self.get_argument("username", "")
        password = self.get_argument("password", "")
        client = _client(self)
        if not self.checking.acquire(blocking=False):
            self._record("login", name, client, "refused: busy")
            self._busy()
            return
        try:
            await self._check(name, password, client)
        finally:
            self.checking.release()

    async def _check(self, name: str, password: str, client: str) -> None:
        # Counted as a failure before the check: parallel guesses cannot all get past.
        if not self.throttle.reserve(client):
            self._record("login", name, client, "refused: too many failures")
            self._fail("throttled")
            return
        # scrypt takes tens of milliseconds: off the server's event loop.
        user = await asyncio.get_running_loop().run_in_executor(
            None, self.store.verify, name, password, client
        )
        if user is None:
            self._record("login", name, client, "refused: wrong user name or password")
            self._fail("wrong")
            return
        self.throttle.succeeded(client)
        self._record("login", name, client, "ok", role=user.role.value)
        self.set_current_user(user.name)
        self.redirect(state.base_url or "/")

    def get(self) -> None:
        # Only our own messages, by code: a link cannot make the page say anything else.
        message = LOGIN_ERRORS.get(self.get_argument("error", ""), "")
        self.write(
            self._login_template.render(login_endpoint=self._login_endpoint, errormessage=message)
        )

    def _fail(self, code: str) -> None:
        self.redirect(f"{self.request.path}?error={tornado.escape.url_escape(code)}")

    def _busy(self) -> None:
        """Too Many Requests, with the login page again: nothing counted, nothing checked."""
        self.set_status(429)
        self.set_header("Retry-After", "1")
        self.write(
            self._login_template.render(
                login_endpoint=self._login_endpoint, errormessage=LOGIN_ERRORS["busy"]
            )
        )

    def set_current_user(self, user: str) -> None:
        self.clear_cookie("is_guest")
        options: dict[str, Any] = {
            "expires_days": LOGIN_EXPIRY_DAYS,
            "httponly": True,
            "samesite": "Lax",
            "path": "/",
            # Over HTTPS (directly, or as a proxy in front reports it) never sent in clear.
            "secure": self.request.protocol == "https",
        }
        self.set_secure_cookie(USER_COOKIE, user, **options)
        # Panel's pn.state.user_info reads this one.
        self.set_secure_cookie("id_token", base64url_encode(json.dumps({"user": user})), **options)

    def _record(self, event: str, name: str, client: str, result: str, **extra: Any) -> None:
        logger.info("dashboard_login", user=name[:64], client=client, result=result)
        if self.audit is None:
            return
        try:
            self.audit.write(
                {"event": event, "user": name[:64], "client": client, "result": result, **extra}
            )
        except AuditError as err:
            logger.error("audit_log_unwritable", error=str(err))


class CredentialsAuthProvider(BasicAuthProvider):
    """Login and logout pages, and a user only while the users file still lists them."""

    def __init__(
        self,
        store: CredentialStore,
        *,
        audit: AuditLog | None = None,
        throttle: LoginThrottle | None = None,
        max_concurrent_logins: int | None = None,
    ) -> None:
        self.store = store
        slots = MAX_CONCURRENT_LOGINS if max_concurrent_logins is None else max_concurrent_logins
        # A handler class per provider: Panel configures its own by class attributes,
        # which would leak between servers in one process. Made before Panel's
        # constructor, which asks for them.
        self._login = type(
            "LoginHandler",
            (CredentialsLoginHandler,),
            {
                "store": store,
                "throttle": throttle if throttle is not None else LoginThrottle(),
                "audit": audit,
                "checking": threading.BoundedSemaphore(slots),
                "_login_endpoint": LOGIN_ENDPOINT,
                "_login_template": LOGIN_TEMPLATE,
            },
        )
        self._logout = type(
            "LogoutHandler",
            (LogoutHandler,),
            {"_login_endpoint": LOGIN_ENDPOINT, "_logout_template": LOGOUT_TEMPLATE},
        )
        super().__init__(login_endpoint=LOGIN_ENDPOINT, logout_endpoint=LOGOUT_ENDPOINT)

    @property
    def get_user(self) -> Any:
        panel_get_user = super().get_user

        def get_user(handler: RequestHandler) -> str | None:
            raw = handler.get_secure_cookie(USER_COOKIE, max_age_days=LOGIN_EXPIRY_DAYS)
            if not raw:
                return None  # no guests, whatever Panel's config says
            if self.store.user(raw.decode("utf-8")) is None:
                return None  # removed from the users file since logging in
            user: str | None = panel_get_user(handler)
            return user

        return get_user

    @property
    def login_handler(self) -> Any:
        return self._login

    @property
    def logout_handler(self) -> Any:
        return self._logout


def _request_of_session() -> Any:
    doc = state.curdoc
    context = None if doc is None else doc.session_context
    return getattr(context, "request", None)  # a server session's; None elsewhere


def session_client() -> str | None:
    """The address of the browser that opened the current session, if known."""
    request = _request_of_session()
    ip = None if request is None else getattr(request, "remote_ip", None)
    return None if ip is None else str(ip)


def session_user(store: CredentialStore, secret: str) -> User | None:
    """The logged-in user of the current Panel session (its signed ``user`` cookie,
    checked against the users file now), or None."""
    request = _request_of_session()
    cookie = None if request is None else request.cookies.get(USER_COOKIE)
    if not cookie:
        return None
    name = decode_signed_value(secret, USER_COOKIE, cookie, max_age_days=LOGIN_EXPIRY_DAYS)
    if name is None:
        return None
    return store.user(name.decode("utf-8"), client=session_client())
