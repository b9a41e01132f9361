"""The backend without a broker: it starts, keeps trying, and reports what it could not send."""

import time

import pytest

from livedata.config.registry import load_instrument
from livedata.core.control import JobAction
from livedata.core.identity import WorkflowId
from livedata.dashboard.backend import BackendClosedError, KafkaBackend
from livedata.dashboard.contract import CommandOutcome, Level
from livedata.kafka.embedded_broker import free_port
from livedata.kafka.settings import KafkaSettings


def test_with_the_broker_down_commands_are_reported_not_sent() -> None:
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")  # nobody there
    dummy = load_instrument("dummy")
    backend = KafkaBackend(settings, dummy, send_timeout_s=1.0, command_timeout_s=1.0)
    try:
        outcomes: list[CommandOutcome] = []
        started = time.monotonic()
        backend.start_workflow(
            WorkflowId(instrument="dummy", name="panel_0_xy", version=1),
            ["panel_0"],
            {},
            on_outcome=outcomes.append,
        )
        while not outcomes and time.monotonic() - started < 10:
            time.sleep(0.05)
        assert outcomes == [CommandOutcome(acked=[], refused={}, unanswered=["panel_0"])]
        (note,) = backend.notifications.entries()
        assert note.level is Level.ERROR
        assert note.text == "start Panel 0 (panel_0_xy) not sent: Local: Message timed out"
        assert backend.stats()["sender.send_failed"] == 1
    finally:
        backend.close()
    with pytest.raises(BackendClosedError):
        backend.job_action(JobAction.STOP)
