"""Where the dashboard may listen, and who may open its websocket."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from pathlib import Path

import pytest
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from livedata.cli.dashboard import main
from livedata.dashboard.ui.server import (
    NotLoopbackError,
    check_address,
    is_loopback,
    quiet_closed_websocket_writes,
    websocket_origins,
)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_are_served(address: str) -> None:
    assert is_loopback(address)
    check_address(address)


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.5", "::", "example.org", ""])
def test_other_addresses_are_refused_without_authentication(address: str) -> None:
    with pytest.raises(NotLoopbackError, match="without authentication"):
        check_address(address)


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.5", "::"])
def test_other_addresses_are_served_with_authentication(address: str) -> None:
    check_address(address, authenticated=True)


def test_the_websocket_accepts_only_the_served_origin() -> None:
    assert websocket_origins("127.0.0.1", 5009) == ["127.0.0.1:5009", "localhost:5009"]
    assert websocket_origins("::1", 5009) == ["[::1]:5009"]


def test_the_cli_refuses_a_public_address_without_a_users_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIVEDATA_DASHBOARD_AUTH_FILE", raising=False)
    assert main(["--instrument", "dummy", "--address", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "without authentication" in err
    assert "--auth-file" in err
    assert "livedata dashboard-user add" in err


def test_the_cli_refuses_an_invalid_users_file_before_starting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    users = tmp_path / "users.yaml"
    users.write_text("users:\n  eve:\n    role: operator\n    password: plain-text\n")
    users.chmod(0o600)
    args = ["--instrument", "dummy", "--address", "0.0.0.0", "--auth-file", str(users)]
    assert main(args) == 2
    assert "plain text" in capsys.readouterr().err


def test_the_users_file_may_come_from_the_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEDATA_DASHBOARD_AUTH_FILE", str(tmp_path / "absent.yaml"))
    assert main(["--instrument", "dummy", "--address", "0.0.0.0"]) == 2
    assert "cannot read the users file" in capsys.readouterr().err


def test_on_every_interface_the_hosts_names_are_allowed_origins() -> None:
    origins = websocket_origins("0.0.0.0", 5009)
    assert f"{socket.gethostname()}:5009" in origins
    assert "0.0.0.0:5009" in origins


def test_more_origins_may_be_given_but_not_wildcards_or_urls() -> None:
    origins = websocket_origins("0.0.0.0", 5009, ["dash.example.org", "[2001:db8::1]:443"])
    assert "dash.example.org" in origins
    assert "[2001:db8::1]:443" in origins
    for bad in ("*", "*.example.org", "https://dash.example.org", "host/path", ""):
        with pytest.raises(ValueError, match="--origin"):
            websocket_origins("0.0.0.0", 5009, [bad])


def test_a_write_to_a_websocket_that_just_closed_is_no_traceback() -> None:
    """A page closed while a frame was on its way: tornado's write future fails and
    nobody awaits it; the loop would print "Task exception was never retrieved"."""
    seen: list[dict[str, object]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: seen.append(context))
        quiet_closed_websocket_writes()
        quiet_closed_websocket_writes()  # a second page: no second wrapper
        handler = loop.get_exception_handler()
        assert handler is not None
        handler(loop, {"message": "closed", "exception": WebSocketClosedError()})
        handler(loop, {"message": "closed", "exception": StreamClosedError()})
        assert seen == []
        other = {"message": "a bug", "exception": RuntimeError("bug")}
        handler(loop, other)
        assert seen == [other]

    # On a thread of its own: a browser test before this one may leave an event loop
    # running in the main thread, where ``asyncio.run`` refuses to start.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result(timeout=10)
