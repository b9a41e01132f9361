"""``livedata ctl`` against a real service on the session broker: what only the wire shows."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from livedata.config.topics import Topic, topic_name

pytestmark = pytest.mark.integration

TAIL_WATCHDOG_S = 60.0
"""``ctl tail --count`` waits for results without a timeout of its own; if none come,
a SIGINT (which tail handles by stopping) ends the test instead of hanging the suite."""


def status_until(ctl, predicate, attempts: int = 6) -> dict[str, Any]:
    """Run ``ctl status --json`` until ``predicate(doc)`` holds; return the last doc."""
    doc: dict[str, Any] = {}
    for _ in range(attempts):
        run = ctl("status", "--json")
        assert run.code == 0, run.err
        doc = json.loads(run.out)
        if predicate(doc):
            return doc
    raise AssertionError(f"status never matched: {doc}")


def job_row(doc: dict[str, Any], job: str) -> dict[str, Any] | None:
    return next((j for j in doc["jobs"] if j["job"] == job), None)


def test_start_status_tail_stop(ctl, dummy, start_service, motion_feed) -> None:
    start_service("timeseries", dummy)

    started = ctl("start", "timeseries_data", "--source", "motion1", "--json")
    assert started.code == 0, started.err
    doc = json.loads(started.out)
    assert doc["ok"] is True
    assert doc["workflow_id"] == f"{dummy.name}/timeseries_data/1"
    (job,) = doc["jobs"]
    assert job["response"] == "ACK"
    job_id = job["job_id"]
    assert job_id == f"motion1/{doc['job_number']}"

    status = status_until(ctl, lambda d: (job_row(d, job_id) or {}).get("code") == 200)
    (service,) = status["services"]
    assert (service["service"], service["state"], service["code"]) == ("timeseries", "running", 200)
    assert service["stale"] is False
    assert service["active_jobs"] == 1
    assert service["messages"] > 0
    row = job_row(status, job_id)
    assert row is not None
    assert (row["workflow_id"], row["state"]) == (f"{dummy.name}/timeseries_data/1", "active")

    watchdog = threading.Timer(TAIL_WATCHDOG_S, os.kill, (os.getpid(), signal.SIGINT))
    watchdog.start()
    try:
        tailed = ctl("tail", "--count", "3", "--json")
    finally:
        watchdog.cancel()
    assert tailed.code == 0
    records = [json.loads(line) for line in tailed.out.splitlines()]
    assert len(records) == 3
    for record in records:
        assert record["workflow_id"] == f"{dummy.name}/timeseries_data/1"
        assert f"{record['source_name']}/{record['job_number']}" == job_id

    stopped = ctl("stop", "--job", job_id, "--json")
    assert stopped.code == 0, stopped.err
    assert json.loads(stopped.out)["answers"] == [
        {"device": job_id, "response": "ACK", "message": None}
    ]
    final = status_until(ctl, lambda d: (job_row(d, job_id) or {}).get("state") == "stopped")
    row = job_row(final, job_id)
    assert row is not None
    assert (row["code"], row["stale"]) == (235, False)


def test_broadcasts_count_the_services_that_answer(ctl, dummy, start_service) -> None:
    start_service("timeseries", dummy)
    start_service("monitor_data", dummy)
    reset = ctl("reset", "--workflow", "timeseries_data")
    assert reset.code == 0, reset.err
    workflow = f"{dummy.name}/timeseries_data/1"
    assert reset.out == f"reset all jobs of {workflow}: 1 service(s) answered, 1 ACK\n"
    paused = ctl("pause", "--all", "--json")
    assert paused.code == 0, paused.err
    doc = json.loads(paused.out)
    assert [a["response"] for a in doc["answers"]] == ["ACK", "ACK"]
    # Quiet after the last answer ends the wait long before the 10 s timeout.
    assert paused.seconds < 8


def test_a_bad_param_exits_2_and_sends_nothing(ctl, dummy, kafka_settings) -> None:
    run = ctl("start", "monitor_histogram", "--source", "monitor1", "--param", "bins=0")
    assert run.code == 2
    assert "bins: Input should be greater than or equal to 1" in run.err
    consumer = Consumer(
        {**kafka_settings.client_config(), "group.id": "ctl-test", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic_name(dummy.name, Topic.COMMANDS), 0, 0)])
    try:
        sent = [m for m in consumer.consume(100, 2.0) if m.error() is None]
    finally:
        consumer.close()
    assert sent == []


def test_a_start_nobody_owns_fails_with_a_clear_message(ctl, dummy, start_service) -> None:
    start_service("timeseries", dummy)  # alive, but it does not own monitor_histogram
    run = ctl("start", "monitor_histogram", "--source", "monitor1", "--timeout", "2")
    assert run.code == 1
    assert run.out.splitlines()[-1] == "  monitor1: no answer"
    errors = [line for line in run.err.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: no answer for monitor1 within 2 s: no monitor_data service owning "
        f"{dummy.name}/monitor_histogram/1 seems to be running "
        f"(check: livedata ctl status --instrument {dummy.name})"
    ]
    assert run.seconds < 6


def test_a_broadcast_nobody_answers_fails(ctl, dummy) -> None:
    run = ctl("stop", "--all", "--timeout", "1.5")
    assert run.code == 1
    assert run.out == "stop all jobs: 0 service(s) answered, 0 ACK\n"
    assert "no answer within 1.5 s: no service of instrument" in run.err


def test_status_of_an_idle_instrument(ctl, dummy) -> None:
    run = ctl("status")
    assert run.code == 0
    assert f"no heartbeats on instrument {dummy.name}" in run.out
    started = time.monotonic()
    assert json.loads(ctl("status", "--json").out)["services"] == []
    assert time.monotonic() - started < 6
