"""The service loop tells its liveness hook: ready, each completed step, stopping."""

from livedata.core.service import EXIT_ERROR, EXIT_OK, Service
from livedata.testing.fakes import StepCounter


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    def ready(self) -> None:
        self.events.append("ready")

    def progress(self) -> None:
        self.events.append("progress")

    def stopping(self) -> None:
        self.events.append("stopping")


def test_every_completed_step_is_reported_between_ready_and_stopping() -> None:
    liveness = Recorder()
    processor = StepCounter()
    service = Service(name="t", processor=processor, liveness=liveness)
    processor.service = service
    assert service.run() == EXIT_OK
    assert liveness.events == ["ready", "progress", "progress", "progress", "stopping"]


def test_a_failed_step_is_not_progress_and_still_says_stopping() -> None:
    liveness = Recorder()
    assert (
        Service(name="t", processor=StepCounter(fail_at=2), liveness=liveness).run() == EXIT_ERROR
    )
    assert liveness.events == ["ready", "progress", "stopping"]
