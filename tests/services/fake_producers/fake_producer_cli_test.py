"""The command line: options, validation, exit codes and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from livedata.config.instrument import Instrument, LogSignal
from livedata.kafka.embedded_broker import free_port
from livedata.services.fake_producers.cli import (
    main,
    options_from_args,
    parse_kinds,
    parser,
)
from livedata.services.fake_producers.sources import Kind


def options(instrument: Instrument, *argv: str):  # type: ignore[no-untyped-def]
    return options_from_args(parser().parse_args(["--instrument", "x", *argv]), instrument)


def test_defaults(instrument: Instrument) -> None:
    opts = options(instrument)
    assert opts.sources.kinds == frozenset(Kind)
    assert opts.sources.event_rate == 100_000
    assert opts.sources.monitor_rate == 10_000
    assert opts.sources.frame_rate == 1.0
    assert opts.sources.run_length_s is None
    assert opts.duration_s is None


def test_rates_and_kinds(instrument: Instrument) -> None:
    opts = options(
        instrument,
        "--kinds",
        "detector, run",
        "--event-rate",
        "1e7",
        "--monitor-rate",
        "0",
        "--frame-rate",
        "0.5",
        "--duration",
        "30",
        "--run-length",
        "10",
    )
    assert opts.sources.kinds == {Kind.DETECTOR, Kind.RUN}
    assert opts.sources.event_rate == 10_000_000
    assert opts.sources.monitor_rate == 0
    assert opts.sources.frame_rate == 0.5
    assert opts.sources.run_length_s == 10.0
    assert opts.duration_s == 30.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--event-rate", "-1"], "--event-rate"),
        (["--event-rate", "1e9"], "--event-rate"),
        (["--event-rate", "nan"], "--event-rate"),
        (["--monitor-rate", "inf"], "--monitor-rate"),
        (["--frame-rate", "0"], "--frame-rate"),
        (["--frame-rate", "100"], "--frame-rate"),
        (["--duration", "0"], "--duration"),
        (["--duration", "nan"], "--duration"),
        (["--run-length", "0.01"], "--run-length"),
        (["--kinds", "detector,neutrinos"], "unknown kinds"),
        (["--kinds", ","], "empty"),
    ],
)
def test_bad_options_are_refused(instrument: Instrument, argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        options(instrument, *argv)


def test_default_kinds_are_what_the_instrument_has() -> None:
    logs_only = Instrument(name="x", logs=(LogSignal(name="t", unit="K"),))
    assert parse_kinds(None, logs_only) == {Kind.LOG, Kind.RUN}


def test_unknown_instrument_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--instrument", "no_such_instrument"]) == 2
    assert "unknown instrument" in capsys.readouterr().err


def test_bad_rate_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--instrument", "dummy", "--event-rate", "1e12"]) == 2
    assert "--event-rate" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_flushes_within_bounds_and_exits_0() -> None:
    # No broker listens: messages stay queued, so the flush runs to its bound.
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "livedata.services.fake_producers", "--instrument", "dummy"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3.0)
        assert process.poll() is None
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=15)
        assert process.returncode == 0, err
        assert time.monotonic() - started < 7.0
        assert "stop_requested" in err
        assert "producer_stopped" in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
