"""The dashboard's audit log: one JSON object per line, appended, never rewritten.

Every command and ROI a session asks for is recorded, with who asked (user, role, client
address), what (kind, action, workflow, sources, job, params, ROIs), when (UTC) and the
result. A command gets two lines sharing its ``id``: the request (``event: "command"``,
written before anything is sent; ``result`` ``"requested"`` or ``"refused: viewer"``)
and, later, its outcome (``event: "result"``: ``ACK``, ``ERR``, ``timeout`` or
``invalid: <why>``). An ROI update is one line (``event: "roi"``). See
``docs/user/dashboard-access.md`` for the fields.

The file is opened with ``O_APPEND`` (each line is one ``write``, so lines of several
threads or processes never interleave) and created readable by its owner only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

logger = structlog.get_logger(__name__)

AUDIT_LOG_ENV = "LIVEDATA_DASHBOARD_AUDIT_LOG"
DEFAULT_AUDIT_LOG = Path("~/.local/share/livedata/audit.jsonl")

MAX_LINE_BYTES = 1_000_000
"""A line is cut (its params replaced by a note) above this; commands are bounded far
below it, so this only guards the log against a bug."""


class AuditError(OSError):
    """The audit log cannot be written; commands are refused rather than unrecorded."""


def audit_log_path(configured: Path | None = None, env: Mapping[str, str] = os.environ) -> Path:
    """``configured``, else ``$LIVEDATA_DASHBOARD_AUDIT_LOG``, else the default."""
    if configured is not None:
        return configured.expanduser()
    from_env = env.get(AUDIT_LOG_ENV, "").strip()
    return Path(from_env).expanduser() if from_env else DEFAULT_AUDIT_LOG.expanduser()


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    """Appends records to ``path`` (created 0600, its folder 0700 if new); thread-safe.

    Raises
    ------
    AuditError
        If the file cannot be opened for appending.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise AuditError(f"cannot open the audit log {path}: {err.strerror}") from None
        mode = os.fstat(self._fd).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning("audit_log_not_private", path=str(path), mode=stat.filemode(mode))
        self._lock = threading.Lock()
        self._closed = False
        self.lines = 0
        """Lines written by this process."""

    def write(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` (with ``time`` added if absent) as one line.

        Raises
        ------
        AuditError
            If the line could not be written (full disk, closed log).
        """
        line = {"time": utc_now(), **record}
        data = (json.dumps(line, default=str, separators=(",", ":")) + "\n").encode()
        if len(data) > MAX_LINE_BYTES:
            line["params"] = f"<{len(data)} bytes: too large for the audit log>"
            line.pop("rois", None)
            data = (json.dumps(line, default=str, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self._closed:
                raise AuditError(f"the audit log {self.path} is closed")
            try:
                written = os.write(self._fd, data)
            except OSError as err:
                raise AuditError(f"cannot write the audit log {self.path}: {err}") from None
            if written != len(data):  # a full disk mid-line: say so, never retry a half
                raise AuditError(f"the audit log {self.path} took {written} of {len(data)} bytes")
            self.lines += 1

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._fd)


def read_audit_log(path: Path) -> list[dict[str, Any]]:
    """Every record of an audit log, oldest first (for tests and tools)."""
    with path.open(encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]
