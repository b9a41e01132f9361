"""``livedata dashboard-user``: passwords from the terminal or stdin, never argv."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from livedata.cli.dashboard_user import main, parser, read_password
from livedata.dashboard.access import Role
from livedata.dashboard.credentials import CredentialStore, load_credentials


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_add_reads_the_password_from_stdin_and_stores_only_a_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.yaml"
    code = main(
        ["add", "alice", "--role", "operator", "--file", str(users)],
        stdin=io.StringIO("alice-password\n"),
    )
    assert code == 0
    assert "added alice (operator)" in capsys.readouterr().out
    assert "alice-password" not in users.read_text()
    alice = CredentialStore(users).verify("alice", "alice-password")
    assert alice is not None
    assert alice.role is Role.OPERATOR


def test_add_again_changes_role_and_password_and_remove_removes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.yaml"
    args = ["--file", str(users)]
    assert main(["add", "bob", "--role", "operator", *args], stdin=io.StringIO("first-pass\n")) == 0
    assert main(["add", "bob", "--role", "viewer", *args], stdin=io.StringIO("second-pass\n")) == 0
    assert main(["add", "carol", "--role", "viewer", *args], stdin=io.StringIO("carol-pass\n")) == 0
    store = CredentialStore(users)
    assert store.verify("bob", "first-pass") is None
    bob = store.verify("bob", "second-pass")
    assert bob is not None
    assert bob.role is Role.VIEWER
    capsys.readouterr()
    assert main(["list", *args]) == 0
    assert capsys.readouterr().out.splitlines() == ["bob\tviewer", "carol\tviewer"]
    assert main(["remove", "bob", *args]) == 0
    assert set(load_credentials(users).users) == {"carol"}
    assert main(["remove", "bob", *args]) == 2
    assert "no user 'bob'" in capsys.readouterr().err


def test_on_a_terminal_the_password_is_asked_twice() -> None:
    answers = iter(["typed-password", "typed-password"])
    assert read_password(Terminal(), ask=lambda _: next(answers)) == "typed-password"
    answers = iter(["typed-password", "typo-password"])
    with pytest.raises(ValueError, match="differ"):
        read_password(Terminal(), ask=lambda _: next(answers))


def test_there_is_no_password_argument() -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["add", "x", "--role", "viewer", "--password", "secret-pass"])


@pytest.mark.parametrize(
    ("argv", "stdin", "problem"),
    [
        (["add", "guest", "--role", "viewer"], "long-enough\n", "reserved"),
        (["add", "dave", "--role", "viewer"], "short\n", "at least 8"),
        (["add", "dave", "--role", "viewer"], "", "no password"),
    ],
)
def test_bad_input_is_an_error_and_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str,
    problem: str,
) -> None:
    users = tmp_path / "users.yaml"
    assert main([*argv, "--file", str(users)], stdin=io.StringIO(stdin)) == 2
    assert problem in capsys.readouterr().err
    assert not users.exists()


def test_the_file_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = tmp_path / "users.yaml"
    monkeypatch.setenv("LIVEDATA_DASHBOARD_AUTH_FILE", str(users))
    assert main(["add", "erin", "--role", "viewer"], stdin=io.StringIO("erin-password\n")) == 0
    assert "erin" in load_credentials(users).users
