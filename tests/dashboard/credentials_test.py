"""The users file: hashes not passwords, validation, re-reading when it changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from livedata.dashboard.access import Role
from livedata.dashboard.credentials import (
    AUTH_FILE_ENV,
    CredentialsError,
    CredentialsFile,
    CredentialStore,
    auth_file_path,
    hash_password,
    load_credentials,
    save_credentials,
    verify_password,
    with_user,
    without_user,
)


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.yaml"
    creds = with_user(CredentialsFile(), "alice", Role.OPERATOR, "alice-password")
    save_credentials(path, with_user(creds, "bob", Role.VIEWER, "bob-password"))
    return path


def test_a_hash_is_salted_and_verifies_only_its_password() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second, "a random salt per hash"
    assert "correct horse" not in first
    assert verify_password("correct horse", first)
    assert verify_password("correct horse", second)
    assert not verify_password("correct hors", first)


def test_short_passwords_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        hash_password("short")


def test_the_file_holds_roles_and_hashes_and_is_private(users_file: Path) -> None:
    text = users_file.read_text()
    assert "alice-password" not in text
    assert "bob-password" not in text
    assert oct(users_file.stat().st_mode & 0o777) == "0o600"
    creds = load_credentials(users_file)
    assert {n: e.role for n, e in creds.users.items()} == {
        "alice": Role.OPERATOR,
        "bob": Role.VIEWER,
    }


def test_the_store_verifies_names_passwords_and_gives_roles(users_file: Path) -> None:
    store = CredentialStore(users_file)
    alice = store.verify("alice", "alice-password", client="10.1.2.3")
    assert alice is not None
    assert (alice.name, alice.role, alice.client, alice.authenticated) == (
        "alice",
        Role.OPERATOR,
        "10.1.2.3",
        True,
    )
    assert store.verify("alice", "bob-password") is None
    assert store.verify("mallory", "alice-password") is None
    bob = store.user("bob")
    assert bob is not None
    assert bob.role is Role.VIEWER


def test_changes_to_the_file_apply_without_a_restart(users_file: Path) -> None:
    store = CredentialStore(users_file)
    creds = load_credentials(users_file)
    creds = with_user(without_user(creds, "bob"), "alice", Role.VIEWER, "new-password")
    save_credentials(users_file, creds)
    assert store.user("bob") is None, "a removed user is gone"
    alice = store.user("alice")
    assert alice is not None
    assert alice.role is Role.VIEWER
    assert store.verify("alice", "alice-password") is None
    assert store.verify("alice", "new-password") is not None


def test_a_file_that_became_invalid_lets_nobody_in(users_file: Path) -> None:
    store = CredentialStore(users_file)
    users_file.write_text("users: [not, a, mapping]\n")
    assert store.verify("alice", "alice-password") is None
    assert store.user("alice") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("users:\n  eve:\n    role: operator\n    password: hunter22\n", "scrypt hash"),
        ("users:\n  eve:\n    role: admin\n    password: x\n", "role"),
        ("users:\n  guest:\n    role: viewer\n    password: x\n", "reserved"),
        ("users:\n  'a b':\n    role: viewer\n    password: x\n", "user name"),
        ("users: {}\nextra: 1\n", "Extra inputs"),
        ("users: !!python/object:os.system {}\n", "not valid YAML"),
        (
            "users:\n  eve:\n    role: viewer\n    password: scrypt$2097152$8$1$AAAA$AAAA\n",
            "power of two",
        ),
        (  # each parameter within its bound, together 4 GiB a check
            "users:\n  eve:\n    role: viewer\n    password: scrypt$1048576$32$1$AAAA$AAAA\n",
            "4096 MiB a check, more than 64 MiB",
        ),
        (
            "users:\n  eve:\n    role: viewer\n    password: scrypt$131072$8$1$AAAA$AAAA\n",
            "128 MiB",
        ),
        (
            "users:\n  eve:\n    role: viewer\n    password: scrypt$65536$8$16$AAAA$AAAA\n",
            "too slow",
        ),
    ],
)
def test_invalid_files_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(CredentialsError, match=problem):
        load_credentials(path)


def test_a_file_others_may_write_is_refused(users_file: Path) -> None:
    os.chmod(users_file, 0o620)
    with pytest.raises(CredentialsError, match="writable by other users"):
        CredentialStore(users_file)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="cannot read"):
        CredentialStore(tmp_path / "absent.yaml")


def test_costlier_hashes_within_the_bounds_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text("users:\n  eve:\n    role: viewer\n    password: scrypt$65536$8$2$AAAA$AAAA\n")
    path.chmod(0o600)
    assert set(load_credentials(path).users) == {"eve"}  # 64 MiB, 8 times the default work


def test_the_users_file_is_the_given_path_else_the_environments_both_expanded() -> None:
    home = Path("~").expanduser()
    assert auth_file_path(Path("~/users.yaml"), env={}) == home / "users.yaml"
    env = {AUTH_FILE_ENV: " ~/from-env.yaml "}
    assert auth_file_path(None, env=env) == home / "from-env.yaml"
    assert auth_file_path(Path("/etc/users.yaml"), env=env) == Path("/etc/users.yaml")
    assert auth_file_path(None, env={}) is None
