"""The service runtime: clean exit on signals, non-zero exit on unhandled errors."""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from livedata.core.service import EXIT_ERROR, EXIT_FORCED, EXIT_OK, Service
from livedata.testing.fakes import StepCounter


def test_request_stop_ends_the_loop_cleanly() -> None:
    processor = StepCounter()
    closed: list[str] = []
    service = Service(name="t", processor=processor, on_close=[lambda: closed.append("x")])
    processor.service = service
    assert service.run() == EXIT_OK
    assert processor.steps == 3
    assert processor.shutdowns == [None]
    assert closed == ["x"]


def test_unhandled_error_exits_non_zero_and_reports_it() -> None:
    processor = StepCounter(fail_at=2)
    assert Service(name="t", processor=processor).run() == EXIT_ERROR
    assert processor.shutdowns == ["RuntimeError: kaput"]


def test_shutdown_that_overruns_the_grace_period_is_cut_short() -> None:
    exits: list[int] = []

    class Hangs(StepCounter):
        def shutdown(self, *, error: str | None = None) -> None:
            time.sleep(0.3)

    processor = Hangs()
    service = Service(name="t", processor=processor, grace_s=0.05, force_exit=exits.append)
    processor.service = service
    service.run()
    assert exits == [EXIT_FORCED]


SCRIPT = textwrap.dedent(
    """
    import sys, time
    from livedata.core.service import Service

    class Slow:
        def process(self):
            time.sleep(0.01)
            print("step", flush=True)

        def shutdown(self, *, error=None):
            print("shutdown", error, flush=True)

    sys.exit(Service(name="t", processor=Slow()).run())
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_gives_a_clean_exit_within_the_grace_period(signum: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # wait until the loop runs (logs come first)
            if line.strip() == "step":
                break
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_OK
    assert "shutdown None" in out
    assert elapsed < 5
