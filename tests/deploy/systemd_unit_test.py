"""The shipped systemd unit agrees with the code: its command line parses with our CLI,
its times match the watchdog's and the service's, and no secret is on its command line."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from livedata.cli.main import COMMANDS
from livedata.config.registry import load_instrument
from livedata.core.service import SHUTDOWN_GRACE_S
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.source import GET_TIMEOUT_S
from livedata.services import runner
from livedata.services.watchdog import DEFAULT_STALE_S, DEFAULT_STARTUP_S, DEFAULT_WINDOW_S

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
UNIT = DEPLOY / "livedata@.service"
ENV_EXAMPLE = DEPLOY / "livedata.env.example"

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """Sections of a unit file, each key with all its values (keys may repeat)."""
    sections: Unit = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):  # continued on the next line
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"setting outside a section: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def parse_env_file(text: str) -> dict[str, str]:
    env = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def seconds(value: str) -> float:
    """A systemd time span as used here: plain seconds, or with an ``s``/``min`` unit."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|min)?", value)
    assert match, f"unsupported time span {value!r}"
    return float(match[1]) * (60 if match[2] == "min" else 1)


@pytest.fixture(scope="module")
def unit() -> Unit:
    return parse_unit(UNIT.read_text())


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE.read_text())


def one(unit: Unit, section: str, key: str) -> str:
    values = unit[section].get(key)
    assert values is not None, f"[{section}] has no {key}"
    assert len(values) == 1, f"[{section}] {key}: {values}"
    return values[0]


def exec_start_argv(unit: Unit, instance: str, env: dict[str, str]) -> list[str]:
    """ExecStart as systemd runs it for ``instance``: ``%i`` and ``${VAR}`` replaced."""
    line = one(unit, "Service", "ExecStart").lstrip("-@:+!")
    words = shlex.split(line.replace("%i", instance))

    def substitute(word: str) -> str:
        def value(match: re.Match[str]) -> str:
            assert match[1] in env, f"${{{match[1]}}} is not in {ENV_EXAMPLE.name}"
            return env[match[1]]

        return re.sub(r"\$\{(\w+)\}", value, word)

    return [substitute(word) for word in words]


def test_the_unit_is_a_notify_service_with_a_watchdog_and_restarts(unit: Unit) -> None:
    assert one(unit, "Service", "Type") == "notify"
    assert one(unit, "Service", "NotifyAccess") == "main"
    assert one(unit, "Service", "Restart") == "on-failure"  # covers watchdog kills
    assert one(unit, "Service", "KillSignal") == "SIGTERM"


def test_watchdog_times_agree_with_the_code(unit: Unit) -> None:
    watchdog_s = seconds(one(unit, "Service", "WatchdogSec"))
    # The same patience as the demo's watchdog and the dashboard's stale mark.
    assert watchdog_s == DEFAULT_STALE_S
    # An idle loop turns every GET_TIMEOUT_S, far inside the half interval between pings.
    assert watchdog_s / 2 > GET_TIMEOUT_S * 10
    # "At most once per window": the same window as the demo's watchdog.
    assert seconds(one(unit, "Unit", "StartLimitIntervalSec")) == DEFAULT_WINDOW_S
    assert one(unit, "Unit", "StartLimitBurst") == "2"  # the start and one restart
    assert seconds(one(unit, "Service", "TimeoutStartSec")) >= DEFAULT_STARTUP_S
    assert seconds(one(unit, "Service", "TimeoutStopSec")) > 2 * SHUTDOWN_GRACE_S


def test_configuration_errors_are_not_restarted(unit: Unit) -> None:
    assert one(unit, "Service", "RestartPreventExitStatus") == "2"
    # Bad options end the service with exit code 2 (argparse), as do bad settings.
    with pytest.raises(SystemExit) as exit_:
        runner.parser().parse_args(["detector_data", "--batch-window", "soon"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("service", runner.SERVICE_NAMES)
def test_exec_start_parses_with_the_cli_for_every_service(
    unit: Unit, example_env: dict[str, str], service: str
) -> None:
    argv = exec_start_argv(unit, service, example_env)
    assert Path(argv[0]).name == "livedata"
    assert COMMANDS[argv[1]][0] == runner.__name__
    args = runner.parser().parse_args(argv[2:])
    assert args.service == service
    assert args.instrument == example_env["LIVEDATA_INSTRUMENT"]
    load_instrument(args.instrument)
    assert args.dev is False  # production topic names
    assert args.log_json is True


def test_settings_come_from_an_environment_file_never_the_command_line(
    unit: Unit, example_env: dict[str, str]
) -> None:
    files = unit["Service"]["EnvironmentFile"]
    assert "/etc/livedata/livedata.env" in files  # required: no leading "-"
    exec_start = one(unit, "Service", "ExecStart")
    assert "KAFKA" not in exec_start.upper()
    assert "PASSWORD" not in exec_start.upper()
    for setting in unit["Service"].get("Environment", []):
        assert "KAFKA_SASL_PASSWORD=" not in setting
    # The example is a complete, valid secure configuration.
    settings = KafkaSettings.from_env(example_env)
    assert settings.security_protocol == "SASL_SSL"
    assert settings.sasl_password == example_env["KAFKA_SASL_PASSWORD"]
    assert example_env["KAFKA_SASL_PASSWORD"] not in UNIT.read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_every_setting(tmp_path: Path) -> None:
    # verify also checks that ExecStart exists: point it at one that does.
    text = UNIT.read_text().replace("/opt/livedata/venv/bin/livedata", "/bin/true")
    (tmp_path / UNIT.name).write_text(text)
    checked = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "./livedata@detector_data.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    # Misspelt or misplaced settings are only warned about, with exit code 0; warnings
    # about the system's own units are not ours to fix.
    ours = [line for line in checked.stderr.splitlines() if "livedata@" in line]
    assert ours == []


def test_numba_has_a_cache_directory_the_service_may_write(unit: Unit) -> None:
    """ProtectSystem=strict and ProtectHome leave no writable directory of their own:
    the unit gives numba one (ADR 0012) and allows compiled code to run."""
    assert one(unit, "Service", "CacheDirectory") == "livedata"
    settings = dict(s.split("=", 1) for s in unit["Service"].get("Environment", []))
    assert settings["NUMBA_CACHE_DIR"].startswith("/var/cache/livedata/")
    assert "MemoryDenyWriteExecute" not in unit["Service"]
