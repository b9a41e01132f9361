"""The dashboard's users file: names, roles and salted password hashes (never passwords).

The file is YAML, read with ``yaml.safe_load`` and validated (unknown keys refused)::

    users:
      alice:
        role: operator
        password: scrypt$16384$8$1$<salt, base64>$<hash, base64>
      bob:
        role: viewer
        password: scrypt$...

Hashes are scrypt (``hashlib.scrypt``) with a random 16-byte salt per user; a check
compares in constant time and costs as much for an unknown name as for a known one.
``livedata dashboard-user`` writes the file. ``CredentialStore`` re-reads it when it
changes, so adding, removing or demoting a user needs no restart (it applies at the
user's next login or page load); a file that became invalid lets nobody in until fixed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import pydantic
import structlog
import yaml

from livedata.dashboard.access import Role, User

logger = structlog.get_logger(__name__)

AUTH_FILE_ENV = "LIVEDATA_DASHBOARD_AUTH_FILE"


def auth_file_path(
    configured: Path | None = None, env: Mapping[str, str] = os.environ
) -> Path | None:
    """``configured``, else ``$LIVEDATA_DASHBOARD_AUTH_FILE``, else None (no logins)."""
    if configured is not None:
        return configured.expanduser()
    from_env = env.get(AUTH_FILE_ENV, "").strip()
    return Path(from_env).expanduser() if from_env else None


SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
"""scrypt's interactive-login parameters (16 MiB, ~50 ms a check): slow enough to make
guessing from a stolen file expensive, fast enough for a login form."""

MAX_SCRYPT_N = 2**20
MAX_SCRYPT_R = 32
MAX_SCRYPT_P = 16
"""Bounds on each parameter read from a file; what they may cost together is bounded
below (each alone allows 128 x 2^20 x 32 bytes = 4 GiB)."""

MAX_SCRYPT_MEMORY_BYTES = 64 * 2**20
"""Memory one check may take (scrypt needs 128 n r bytes): four times the default's, so
an edited file cannot make one login allocate gigabytes."""

MAX_SCRYPT_WORK = 8 * SCRYPT_N * SCRYPT_R * SCRYPT_P
"""Bound on n r p (scrypt's time goes as that product): eight times the default's, under
half a second a check, on a machine that also runs the services."""

SALT_BYTES = 16
HASH_BYTES = 32
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
MAX_USERS = 1000

USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
RESERVED_NAMES = frozenset({"guest", "local"})
"""``guest`` is what Panel calls an unauthenticated visitor; ``local`` is the user of a
dashboard without authentication. Neither may be a real user, so neither can be mistaken
for one in a session or in the audit log."""

_HASH = re.compile(
    r"scrypt\$(?P<n>\d{1,8})\$(?P<r>\d{1,3})\$(?P<p>\d{1,3})"
    r"\$(?P<salt>[A-Za-z0-9+/=]{4,64})\$(?P<hash>[A-Za-z0-9+/=]{4,128})"
)


class CredentialsError(ValueError):
    """The users file is missing, unreadable, invalid or unsafe."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # maxmem: scrypt needs 128 * n * r bytes; allow exactly that plus slack.
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=128 * n * r + 2**20,
        dklen=length,
    )


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in the file's format.

    Raises
    ------
    ValueError
        For a password shorter than ``MIN_PASSWORD_CHARS`` or absurdly long.
    """
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"a password has at most {MAX_PASSWORD_CHARS} characters")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _check_hash(encoded: str) -> str:
    match = _HASH.fullmatch(encoded)
    if match is None:
        raise ValueError("not a scrypt hash made by 'livedata dashboard-user' (plain text?)")
    n, r, p = int(match["n"]), int(match["r"]), int(match["p"])
    if n < 2 or n & (n - 1) or n > MAX_SCRYPT_N:
        raise ValueError(f"scrypt n must be a power of two up to {MAX_SCRYPT_N}")
    if not (1 <= r <= MAX_SCRYPT_R and 1 <= p <= MAX_SCRYPT_P):
        raise ValueError(f"scrypt r must be 1..{MAX_SCRYPT_R} and p 1..{MAX_SCRYPT_P}")
    if 128 * n * r > MAX_SCRYPT_MEMORY_BYTES:
        raise ValueError(
            f"scrypt n={n}, r={r} needs {128 * n * r // 2**20} MiB a check, more than "
            f"{MAX_SCRYPT_MEMORY_BYTES // 2**20} MiB"
        )
    if n * r * p > MAX_SCRYPT_WORK:
        raise ValueError(f"scrypt n*r*p = {n * r * p} is more than {MAX_SCRYPT_WORK} (too slow)")
    try:
        base64.b64decode(match["salt"], validate=True)
        base64.b64decode(match["hash"], validate=True)
    except ValueError as err:
        raise ValueError(f"bad base64 in the hash: {err}") from None
    return encoded


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (constant-time comparison)."""
    match = _HASH.fullmatch(encoded)
    if match is None or len(password) > MAX_PASSWORD_CHARS:
        return False
    expected = base64.b64decode(match["hash"])
    actual = _scrypt(
        password,
        base64.b64decode(match["salt"]),
        int(match["n"]),
        int(match["r"]),
        int(match["p"]),
        len(expected),
    )
    return hmac.compare_digest(actual, expected)


def _check_name(name: str) -> str:
    if USER_NAME.fullmatch(name) is None:
        raise ValueError(
            "a user name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a "
            "letter or digit"
        )
    if name.lower() in RESERVED_NAMES:
        raise ValueError(f"{name!r} is reserved")
    return name


UserName = Annotated[str, pydantic.AfterValidator(_check_name)]
PasswordHash = Annotated[str, pydantic.AfterValidator(_check_hash)]


class UserEntry(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    role: Role
    password: PasswordHash


class CredentialsFile(pydantic.BaseModel):
    """What the users file holds."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    users: dict[UserName, UserEntry] = pydantic.Field(default_factory=dict, max_length=MAX_USERS)


def _check_file_safe(path: Path) -> None:
    """Refuse a file others may write: whoever can edit it can make themselves operator."""
    mode = path.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CredentialsError(
            f"{path} is writable by other users (mode {stat.filemode(mode)}); "
            f"make it private: chmod 600 {path}"
        )


def load_credentials(path: Path) -> CredentialsFile:
    """Read and validate the users file.

    Raises
    ------
    CredentialsError
        If it cannot be read, is not valid YAML, does not match the format, holds a
        plain-text password, or is writable by other users.
    """
    try:
        _check_file_safe(path)
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise CredentialsError(f"cannot read the users file {path}: {err.strerror}") from None
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CredentialsError(f"{path} is not valid YAML: {err}") from None
    try:
        return CredentialsFile.model_validate(raw if raw is not None else {})
    except pydantic.ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in err.errors(include_url=False, include_input=False)
        )
        raise CredentialsError(f"{path}: {problems}") from None


def save_credentials(path: Path, credentials: CredentialsFile) -> None:
    """Write the users file atomically, readable and writable by its owner only."""
    data = {
        "users": {
            name: {"role": entry.role.value, "password": entry.password}
            for name, entry in sorted(credentials.users.items())
        }
    }
    text = "# livedata dashboard users: edit with 'livedata dashboard-user'.\n" + yaml.safe_dump(
        data, sort_keys=False
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def with_user(
    credentials: CredentialsFile, name: str, role: Role, password: str
) -> CredentialsFile:
    """``credentials`` with ``name`` added (or its role and password replaced).

    Raises
    ------
    ValueError
        For an invalid name or a password too short.
    """
    entry = UserEntry(role=role, password=hash_password(password))
    return CredentialsFile.model_validate(
        {"users": {**credentials.users, _check_name(name): entry}}
    )


def without_user(credentials: CredentialsFile, name: str) -> CredentialsFile:
    """``credentials`` without ``name``. Raises ``KeyError`` if there is no such user."""
    if name not in credentials.users:
        raise KeyError(name)
    users = {k: v for k, v in credentials.users.items() if k != name}
    return CredentialsFile(users=users)


_DUMMY_HASH = (
    f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(bytes(SALT_BYTES))}${_b64(bytes(HASH_BYTES))}"
)
"""Checked for an unknown name, so a wrong name costs as long as a wrong password (the
time of a refusal must not tell which names exist)."""


class CredentialStore:
    """The users file, re-read when it changes; thread-safe.

    Raises
    ------
    CredentialsError
        On construction, if the file is not valid (the server then does not start).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._credentials: CredentialsFile | None = load_credentials(path)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> CredentialsFile | None:
        """The file's users now, or None while it is missing or invalid (nobody gets in)."""
        stamp = self._stat()
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._credentials = load_credentials(self.path)
                    logger.info("dashboard_users_reloaded", path=str(self.path))
                except CredentialsError as err:
                    self._credentials = None
                    logger.error("dashboard_users_invalid", path=str(self.path), error=str(err))
            return self._credentials

    def verify(self, name: str, password: str, client: str | None = None) -> User | None:
        """The user if ``password`` is theirs, else None."""
        credentials = self.current()
        entry = None if credentials is None else credentials.users.get(name)
        ok = verify_password(password, entry.password if entry is not None else _DUMMY_HASH)
        if entry is None or not ok:
            return None
        return User(name=name, role=entry.role, client=client, authenticated=True)

    def removed(self, name: str) -> bool:
        """Whether a valid users file no longer lists ``name``. False while the file is
        missing or invalid: a file being rewritten must not end anyone's open page
        (logins and commands are refused meanwhile all the same)."""
        credentials = self.current()
        return credentials is not None and name not in credentials.users

    def user(self, name: str, client: str | None = None) -> User | None:
        """The user ``name`` with the role the file gives them now (None if removed)."""
        credentials = self.current()
        entry = None if credentials is None else credentials.users.get(name)
        if entry is None:
            return None
        return User(name=name, role=entry.role, client=client, authenticated=True)
