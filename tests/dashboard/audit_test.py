"""The audit log: private, append-only JSON lines, one write per line."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from livedata.dashboard.audit import (
    AUDIT_LOG_ENV,
    AuditError,
    AuditLog,
    audit_log_path,
    read_audit_log,
)


def test_records_are_appended_as_json_lines_with_utc_time(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "audit.jsonl"
    log = AuditLog(path)
    log.write({"event": "command", "user": "alice", "params": {"bins": 10}})
    log.write({"event": "result", "result": "ACK"})
    log.close()
    records = read_audit_log(path)
    assert [r["event"] for r in records] == ["command", "result"]
    assert records[0]["params"] == {"bins": 10}
    assert records[0]["time"].endswith("Z")
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_reopening_appends_and_never_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    first = AuditLog(path)
    first.write({"event": "one"})
    first.close()
    before = path.read_bytes()
    second = AuditLog(path)
    second.write({"event": "two"})
    second.close()
    assert path.read_bytes().startswith(before)
    assert [r["event"] for r in read_audit_log(path)] == ["one", "two"]


def test_lines_of_many_threads_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)

    def write(n: int) -> None:
        for i in range(200):
            log.write({"event": "command", "thread": n, "i": i, "pad": "x" * 500})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    records = read_audit_log(path)  # every line parses
    assert len(records) == 800
    assert log.lines == 800


def test_a_closed_log_refuses_to_write(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.close()
    with pytest.raises(AuditError, match="closed"):
        log.write({"event": "x"})


def test_an_unopenable_log_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AuditError, match="cannot open"):
        AuditLog(blocker / "audit.jsonl")


def test_the_path_comes_from_the_option_the_environment_or_the_default(tmp_path: Path) -> None:
    assert audit_log_path(tmp_path / "a.jsonl", env={}) == tmp_path / "a.jsonl"
    assert audit_log_path(None, env={AUDIT_LOG_ENV: str(tmp_path / "b")}) == tmp_path / "b"
    default = audit_log_path(None, env={})
    assert default.parts[-3:] == ("share", "livedata", "audit.jsonl")
    assert default.is_absolute()
