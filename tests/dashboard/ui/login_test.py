"""Logging in over HTTP against a served dashboard (fake backend, no browser): the
login page, wrong passwords, throttling, forged and revoked cookies, logout, audit."""

from __future__ import annotations

import contextlib
import http.cookiejar
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from livedata.config.registry import load_instrument
from livedata.dashboard.access import MAX_LOGIN_FAILURES, Role
from livedata.dashboard.audit import AuditLog, read_audit_log
from livedata.dashboard.credentials import (
    CredentialsFile,
    CredentialStore,
    load_credentials,
    save_credentials,
    with_user,
    without_user,
)
from livedata.dashboard.policy.grid_files import GridLibrary
from livedata.dashboard.ui import login
from livedata.dashboard.ui.context import DashboardContext
from livedata.dashboard.ui.server import serve
from livedata.kafka.embedded_broker import free_port
from livedata.testing.dashboard import FakeBackend


@dataclass
class Served:
    url: str
    users: Path
    audit: Path


@contextlib.contextmanager
def _serve(
    folder: Path,
    *,
    behind_proxy: bool = False,
    store: Callable[[Path], CredentialStore] = CredentialStore,
) -> Iterator[Served]:
    users = folder / "users.yaml"
    creds = with_user(CredentialsFile(), "alice", Role.OPERATOR, "alice-password")
    creds = with_user(creds, "bob", Role.VIEWER, "bob-password")
    creds = with_user(creds, "carol", Role.VIEWER, "carol-password")
    save_credentials(users, creds)
    inst = load_instrument("dummy")
    ctx = DashboardContext(FakeBackend(inst), inst, grids=GridLibrary(folder / "grids"))
    audit = AuditLog(folder / "audit.jsonl")
    port = free_port()
    server = serve(
        ctx,
        port=port,
        threaded=True,
        users=store(users),
        audit=audit,
        behind_proxy=behind_proxy,
    )
    try:
        yield Served(f"http://127.0.0.1:{port}", users, audit.path)
    finally:
        server.stop()
        audit.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with _serve(tmp_path_factory.mktemp("login")) as it:
        yield it


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """Cookies, no redirects followed: each answer is seen as the server gave it."""

    def __init__(self, base: str, client_headers: dict[str, str] | None = None) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect
        )
        self._headers = client_headers or {}

    def get(self, path: str) -> tuple[int, str, str]:
        return self._open(urllib.request.Request(self.base + path, headers=self._headers))

    def login(self, name: str, password: str) -> tuple[int, str, str]:
        data = urllib.parse.urlencode({"username": name, "password": password}).encode()
        return self._open(
            urllib.request.Request(self.base + "/login", data=data, headers=self._headers)
        )

    def _open(self, request: urllib.request.Request) -> tuple[int, str, str]:
        try:
            with self._opener.open(request, timeout=30) as answer:
                return answer.status, answer.headers.get("Location", ""), answer.read().decode()
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.headers.get("Location", ""), err.read().decode()

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


def test_the_page_asks_for_a_login_first(served: Served) -> None:
    status, location, _ = Browser(served.url).get("/")
    assert status == 302
    assert "login" in location
    status, _, page = Browser(served.url).get("/login")
    assert status == 200
    assert 'name="password"' in page
    assert "cdn" not in page.lower(), "the login page loads nothing from the internet"


def test_a_wrong_password_is_refused_and_audited(served: Served) -> None:
    browser = Browser(served.url, {"X-Real-Ip": "10.9.8.7"})  # no proxy: ignored
    status, location, _ = browser.login("carol", "not-her-password")
    assert status == 302
    assert location.endswith("?error=wrong")
    assert browser.cookie("user") is None
    assert browser.get("/")[0] == 302
    last = read_audit_log(served.audit)[-1]
    assert (last["event"], last["user"], last["result"]) == (
        "login",
        "carol",
        "refused: wrong user name or password",
    )
    assert last["client"] == "127.0.0.1"


def test_the_right_password_opens_the_page(served: Served) -> None:
    browser = Browser(served.url)
    status, location, _ = browser.login("alice", "alice-password")
    assert (status, location) == (302, "/")
    assert "alice-password" not in (browser.cookie("user") or "")
    status, _, page = browser.get("/")
    assert status == 200
    assert "livedata" in page
    last = read_audit_log(served.audit)[-1]
    assert (last["event"], last["user"], last["result"], last["role"]) == (
        "login",
        "alice",
        "ok",
        "operator",
    )


def test_a_forged_cookie_is_not_a_login(served: Served) -> None:
    browser = Browser(served.url, {"Cookie": "user=alice; is_guest=1"})
    assert browser.get("/")[0] == 302


def test_a_removed_user_is_locked_out_at_once(served: Served) -> None:
    browser = Browser(served.url)
    browser.login("bob", "bob-password")
    assert browser.get("/")[0] == 200
    save_credentials(served.users, without_user(load_credentials(served.users), "bob"))
    assert browser.get("/")[0] == 302


def test_logout_ends_the_login(served: Served) -> None:
    browser = Browser(served.url)
    browser.login("alice", "alice-password")
    status, _, page = browser.get("/logout")
    assert status == 200
    assert "logged out" in page
    assert browser.get("/")[0] == 302


def test_guessing_is_throttled_per_client(tmp_path: Path) -> None:
    # A server of its own: every test client is 127.0.0.1, and this one gets throttled.
    with _serve(tmp_path) as served:
        browser = Browser(served.url)
        for _ in range(MAX_LOGIN_FAILURES):
            assert browser.login("carol", "guess-guess")[1].endswith("?error=wrong")
        status, location, _ = browser.login("carol", "carol-password")
        assert status == 302
        assert location.endswith("?error=throttled"), "even the right password waits"
        assert browser.cookie("user") is None
        assert read_audit_log(served.audit)[-1]["result"] == "refused: too many failures"


def test_the_websocket_is_closed_to_a_browser_without_a_login(served: Served) -> None:
    request = urllib.request.Request(
        served.url + "/ws",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Origin": served.url,
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    refused.value.close()
    assert refused.value.code == 403


def test_behind_a_proxy_the_client_address_comes_from_its_headers(tmp_path: Path) -> None:
    with _serve(tmp_path, behind_proxy=True) as served:
        Browser(served.url, {"X-Real-Ip": "10.9.8.7"}).login("alice", "alice-password")
        last = read_audit_log(served.audit)[-1]
        assert (last["user"], last["result"], last["client"]) == ("alice", "ok", "10.9.8.7")


def test_the_login_page_shows_only_its_own_messages(served: Served) -> None:
    _, _, page = Browser(served.url).get("/login?error=wrong")
    assert "Wrong user name or password." in page
    _, _, page = Browser(served.url).get("/login?error=Call+555-0100+to+reset")
    assert "555" not in page


class SlowStore(CredentialStore):
    """Checks passwords slowly (a loaded machine): parallel logins overlap for sure."""

    check_s = 0.3

    def verify(self, name: str, password: str, client: str | None = None) -> Any:
        time.sleep(self.check_s)
        return super().verify(name, password, client)


def test_parallel_guesses_are_throttled_like_sequential_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login, "MAX_CONCURRENT_LOGINS", 100)  # the throttle alone here
    guesses = 3 * MAX_LOGIN_FAILURES
    with _serve(tmp_path, store=SlowStore) as served:
        with ThreadPoolExecutor(guesses) as pool:
            answers = list(
                pool.map(lambda _: Browser(served.url).login("carol", "guess"), range(guesses))
            )
        outcomes = [location.rsplit("=", 1)[-1] for _, location, _ in answers]
        assert outcomes.count("wrong") == MAX_LOGIN_FAILURES, "each guess counted before checked"
        assert outcomes.count("throttled") == guesses - MAX_LOGIN_FAILURES
        location = Browser(served.url).login("carol", "carol-password")[1]
        assert location.endswith("?error=throttled")


class BlockingStore(CredentialStore):
    """Holds every password check until released: the server's check slots fill up."""

    entered = threading.Event()
    release = threading.Event()

    def verify(self, name: str, password: str, client: str | None = None) -> Any:
        self.entered.set()
        self.release.wait(30)
        return super().verify(name, password, client)


def test_logins_beyond_the_concurrent_checks_are_refused_as_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login, "MAX_CONCURRENT_LOGINS", 1)
    with _serve(tmp_path, store=BlockingStore) as served, ThreadPoolExecutor(1) as pool:
        first = pool.submit(Browser(served.url).login, "alice", "alice-password")
        try:
            assert BlockingStore.entered.wait(30)
            status, _, page = Browser(served.url).login("alice", "alice-password")
            assert status == 429
            assert login.LOGIN_ERRORS["busy"] in page
            assert read_audit_log(served.audit)[-1]["result"] == "refused: busy"
        finally:
            BlockingStore.release.set()
        assert first.result(timeout=30)[:2] == (302, "/")
        browser = Browser(served.url)
        assert browser.login("alice", "alice-password")[:2] == (302, "/"), "a slot is free again"
