"""Local params validation and following commands to their answers (no broker)."""

import math
import uuid

import pydantic
import pytest

from livedata.config.registry import load_instrument
from livedata.core.control import CommandResponse
from livedata.core.identity import WorkflowId
from livedata.core.workflow import WorkflowSpec
from livedata.dashboard.commands import CommandTracker, validate_params
from livedata.dashboard.contract import CommandOutcome, InvalidParams, Level
from livedata.dashboard.status_store import NotificationLog


@pytest.fixture(scope="module")
def specs():
    dummy = load_instrument("dummy")
    return {spec.workflow_id.name: spec for spec in dummy.build_workflows(dummy).specs()}


def test_valid_params_come_back_as_json_with_defaults(specs) -> None:
    params = validate_params(specs["monitor_histogram"], {"bins": 50})
    assert params["bins"] == 50
    assert set(params) == {"bins", "toa_range"}
    assert validate_params(specs["panel_0_xy"], {}) == validate_params(specs["panel_0_xy"], {})


def test_invalid_params_list_each_field_and_problem(specs) -> None:
    with pytest.raises(InvalidParams) as caught:
        validate_params(specs["monitor_histogram"], {"bins": 0, "colour": "red"})
    error = caught.value
    assert isinstance(error, ValueError)
    assert set(error.problems) == {"bins", "colour"}
    assert "greater than or equal to 1" in error.problems["bins"]
    text = str(error)
    assert "monitor_histogram" in text
    assert "bins:" in text
    assert "colour:" in text


def test_nested_fields_are_named_by_dotted_path(specs) -> None:
    with pytest.raises(InvalidParams) as caught:
        validate_params(specs["panel_0_xy"], {"roi_spectrum": {"bins": -1}})
    assert list(caught.value.problems) == ["roi_spectrum.bins"]


def test_non_finite_numbers_are_refused_before_sending(specs) -> None:
    with pytest.raises(InvalidParams) as caught:
        validate_params(specs["panel_0_xy"], {"toa_range": {"start_ns": 0, "stop_ns": math.inf}})
    assert list(caught.value.problems) == ["toa_range.stop_ns"]

    class Lenient(pydantic.BaseModel):  # a model that would let NaN through
        model_config = pydantic.ConfigDict(extra="forbid")
        scale: list[float] = [1.0]

    spec = WorkflowSpec(
        workflow_id=WorkflowId(instrument="dummy", name="lenient", version=1),
        service="data_reduction",
        title="Lenient",
        description="",
        source_names=("panel_0",),
        params=Lenient,
    )
    with pytest.raises(InvalidParams) as caught:
        validate_params(spec, {"scale": [1.0, math.nan]})
    assert caught.value.problems == {"scale.1": "must be a finite number (not NaN or infinity)"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log() -> NotificationLog:
    return NotificationLog()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tracker(log, clock) -> CommandTracker:
    return CommandTracker(log, timeout_s=10.0, quiet_s=2.0, clock=clock)


def mid() -> str:
    return str(uuid.uuid4())


def texts(log: NotificationLog) -> list[tuple[Level, str]]:
    return [(n.level, n.text) for n in log.entries()]


def test_every_answer_becomes_a_notification_and_the_outcome_is_reported(
    tracker, log, clock
) -> None:
    outcomes: list[CommandOutcome] = []
    message_id = mid()
    tracker.track(
        message_id=message_id,
        what="start Monitor histogram (monitor_histogram)",
        owner="monitor_data",
        devices=["monitor1", "monitor2"],
        messages=2,
        on_outcome=outcomes.append,
    )
    tracker.sent(message_id, "monitor1", None)
    tracker.sent(message_id, "monitor2", None)
    assert tracker.answer(CommandResponse(message_id=message_id, device="monitor1"))
    assert not outcomes
    assert tracker.answer(
        CommandResponse(message_id=message_id, device="monitor2", error="bins too large")
    )
    assert texts(log) == [
        (Level.SUCCESS, "start Monitor histogram (monitor_histogram): monitor1 ACK"),
        (
            Level.ERROR,
            "start Monitor histogram (monitor_histogram) refused for monitor2: bins too large",
        ),
    ]
    assert outcomes == [
        CommandOutcome(acked=["monitor1"], refused={"monitor2": "bins too large"}, unanswered=[])
    ]
    assert len(tracker) == 0


def test_silence_past_the_timeout_names_the_service_that_should_answer(tracker, log, clock) -> None:
    outcomes: list[CommandOutcome] = []
    message_id = mid()
    tracker.track(
        message_id=message_id,
        what="start Panel 0 (panel_0_xy)",
        owner="detector_data",
        devices=["panel_0"],
        messages=1,
        on_outcome=outcomes.append,
    )
    clock.now = 100.0  # the clock starts at the broker's confirmation, not before
    tracker.expire()
    assert outcomes == []
    tracker.sent(message_id, "panel_0", None)
    clock.now = 109.9
    tracker.expire()
    assert outcomes == []
    clock.now = 110.0
    tracker.expire()
    assert outcomes == [CommandOutcome(acked=[], refused={}, unanswered=["panel_0"])]
    assert texts(log) == [
        (
            Level.ERROR,
            "no service answered start Panel 0 (panel_0_xy) for panel_0 within 10 s: "
            "is detector_data running?",
        )
    ]
    # A late answer is not matched any more.
    assert not tracker.answer(CommandResponse(message_id=message_id, device="panel_0"))


def test_duplicate_and_foreign_answers_are_ignored(tracker, log) -> None:
    message_id = mid()
    tracker.track(
        message_id=message_id, what="stop job x", owner="s", devices=["a", "b"], messages=2
    )
    assert not tracker.answer(CommandResponse(message_id=mid(), device="a"))
    assert not tracker.answer(CommandResponse(message_id=message_id, device="c"))
    assert tracker.answer(CommandResponse(message_id=message_id, device="a"))
    assert not tracker.answer(CommandResponse(message_id=message_id, device="a"))
    assert len(log.entries()) == 1


def test_a_broadcast_is_summarised_once_it_goes_quiet(tracker, log, clock) -> None:
    outcomes: list[CommandOutcome] = []
    message_id = mid()
    tracker.track(
        message_id=message_id,
        what="stop all jobs",
        owner="any livedata service",
        devices=[],
        messages=1,
        on_outcome=outcomes.append,
    )
    tracker.sent(message_id, "all", None)
    tracker.answer(CommandResponse(message_id=message_id, device="all"))
    clock.now = 1.0
    tracker.answer(CommandResponse(message_id=message_id, device="all"))
    tracker.answer(CommandResponse(message_id=message_id, device="all", error="busy"))
    clock.now = 2.9
    tracker.expire()
    assert outcomes == []
    clock.now = 3.0
    tracker.expire()
    assert outcomes == [
        CommandOutcome(acked=["all", "all"], refused={"all#2": "busy"}, unanswered=[])
    ]
    assert texts(log) == [
        (Level.ERROR, "stop all jobs refused for all: busy"),
        (Level.SUCCESS, "stop all jobs: 2 service(s) acknowledged"),
    ]


def test_a_broadcast_nobody_answers_fails_after_the_timeout(tracker, log, clock) -> None:
    message_id = mid()
    tracker.track(message_id=message_id, what="stop all jobs", owner="x", devices=[], messages=1)
    tracker.sent(message_id, "all", None)
    clock.now = 10.0
    tracker.expire()
    assert texts(log) == [
        (Level.ERROR, "no service answered stop all jobs within 10 s: is x running?")
    ]


def test_a_command_the_broker_refused_is_reported_not_sent(tracker, log) -> None:
    outcomes: list[CommandOutcome] = []
    message_id = mid()
    tracker.track(
        message_id=message_id,
        what="reset job j",
        owner="s",
        devices=["j"],
        messages=1,
        on_outcome=outcomes.append,
    )
    tracker.sent(message_id, "j", "Local: Message timed out")
    assert texts(log) == [(Level.ERROR, "reset job j not sent: Local: Message timed out")]
    assert outcomes == [CommandOutcome(acked=[], refused={}, unanswered=["j"])]
    assert len(tracker) == 0


def test_an_answer_may_overtake_the_delivery_report(tracker, log) -> None:
    message_id = mid()
    tracker.track(message_id=message_id, what="stop job j", owner="s", devices=["j"], messages=1)
    tracker.answer(CommandResponse(message_id=message_id, device="j"))
    tracker.sent(message_id, "j", None)  # arrives after the command finished: ignored
    assert texts(log) == [(Level.SUCCESS, "stop job j: j ACK")]


def test_a_failing_outcome_callback_does_not_escape(tracker, log) -> None:
    def broken(outcome: CommandOutcome) -> None:
        raise RuntimeError("UI bug")

    message_id = mid()
    tracker.track(
        message_id=message_id, what="w", owner="s", devices=["d"], messages=1, on_outcome=broken
    )
    tracker.answer(CommandResponse(message_id=message_id, device="d"))
    assert len(tracker) == 0
