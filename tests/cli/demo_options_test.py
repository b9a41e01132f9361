"""``livedata demo``: refusals before anything starts, and what reaches its dashboard."""

import argparse
from pathlib import Path

import pytest

from livedata.cli import demo


@pytest.fixture(autouse=True)
def keep_pytests_signal_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """``main`` installs its own SIGINT/SIGTERM handlers; they must not outlive a test."""
    monkeypatch.setattr(demo.signal, "signal", lambda signum, handler: None)


def test_a_secured_protocol_without_a_broker_is_refused_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_broker(*args: object, **kwargs: object) -> None:
        raise AssertionError("the embedded broker must not start")

    monkeypatch.setattr(demo, "start_broker", no_broker)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    assert demo.main(["--no-dashboard"]) == 2
    out = capsys.readouterr()
    assert "PLAINTEXT only" in out.out + out.err


def test_impossible_kafka_settings_are_an_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "CARRIER_PIGEON")
    assert demo.main(["--no-dashboard"]) == 2
    out = capsys.readouterr()
    assert "KAFKA_SECURITY_PROTOCOL" in out.out + out.err


def test_the_users_file_reaches_the_dashboard_by_path() -> None:
    args = argparse.Namespace(dashboard_port=5010, dashboard_auth_file=Path("/etc/users.yaml"))
    assert demo.dashboard_args(args) == ["--port", "5010", "--auth-file", "/etc/users.yaml"]


def test_without_a_users_file_the_dashboard_gets_only_its_port() -> None:
    args = argparse.Namespace(dashboard_port=5009, dashboard_auth_file=None)
    assert demo.dashboard_args(args) == ["--port", "5009"]
