"""Kafka secrets never show in logs, tracebacks or process listings.

Passwords reach livedata through the environment (or a file it names) and leave it only
in the librdkafka configuration. These tests look for the password everywhere else a
person or another program could see it: structlog output (plain and JSON), tracebacks,
librdkafka's own log lines (at debug level, during a good and a failed login), the
command lines of a service and of every process ``livedata demo`` starts, and, when the
password comes from a file, their environments too.
"""

from __future__ import annotations

import ast
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from confluent_kafka import Producer

import livedata
from livedata.kafka.embedded_broker import EmbeddedBroker, free_port
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.services.logging import configure_logging
from livedata.testing.certificates import TestPki, make_test_pki, openssl_available
from livedata.testing.secure_front import ScramUsers, SecureFront, TlsServerFiles

USER = "livedata-svc"
PASSWORD = "Zq9-never-Shown-sasl-7"
WRONG_PASSWORD = "Xw4-wrong-but-Secret-2"
KEY_PASSWORD = "Kp3-never-Shown-key-5"
SECRETS = (PASSWORD, WRONG_PASSWORD, KEY_PASSWORD)

needs_openssl = pytest.mark.skipif(not openssl_available(), reason="needs the openssl command")

SRC = Path(livedata.__file__).parent

_LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "msg"}
_SECRET_ATTRIBUTES = {"client_config", "sasl_password", "ssl_key_password"}


def shown_secrets(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


# -- nothing in src/ hands a secret to a logger ----------------------------------------


def test_no_log_call_is_given_a_client_configuration_or_a_password() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _LOG_METHODS
            ):
                continue
            arguments = [*node.args, *(keyword.value for keyword in node.keywords)]
            for argument in arguments:
                names = {n.attr for n in ast.walk(argument) if isinstance(n, ast.Attribute)}
                if names & _SECRET_ATTRIBUTES:
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


# -- structlog output and tracebacks ---------------------------------------------------


def sasl_settings(password: str = PASSWORD) -> KafkaSettings:
    return KafkaSettings.from_env(
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_USERNAME": USER,
            "KAFKA_SASL_PASSWORD": password,
        }
    )


def _connect(settings: KafkaSettings) -> None:
    config = settings.client_config()  # a local holding the password, as real code has
    password = settings.sasl_password
    raise ConnectionError(f"could not reach {config['bootstrap.servers']} ({len(password or '')})")


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "plain"])
def test_logged_settings_and_tracebacks_never_show_the_password(
    capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    configure_logging(json=as_json)
    try:
        logger = structlog.get_logger("secrets_test")
        settings = sasl_settings()
        logger.info("service_built", kafka=settings.redacted(), settings=settings)
        try:
            _connect(settings)
        except ConnectionError:
            logger.exception("connect_failed", settings=settings)
    finally:
        structlog.reset_defaults()
    err = capsys.readouterr().err
    assert "connect_failed" in err
    assert "Traceback" in err  # the traceback is there, its locals are not
    assert USER in err
    assert shown_secrets(err) == []


# -- librdkafka's own log lines -------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    if not openssl_available():
        pytest.skip("needs the openssl command")
    return make_test_pki(tmp_path_factory.mktemp("pki"), client_key_password=KEY_PASSWORD)


@pytest.fixture
def secured_broker(pki: TestPki) -> Iterator[SecureFront]:
    """An embedded broker behind a SASL_SSL front that also asks for a client certificate."""
    port = free_port()
    tls = TlsServerFiles(pki.server_certificate, pki.server_key, client_ca=pki.ca)
    scram = ScramUsers("SCRAM-SHA-512", {USER: PASSWORD})
    with (
        SecureFront(f"127.0.0.1:{port}", tls=tls, scram=scram) as front,
        EmbeddedBroker(port=port, advertised=front.address),
    ):
        yield front


def secured_env(front: SecureFront, pki: TestPki, password: str = PASSWORD) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": front.address,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_USERNAME": USER,
        "KAFKA_SASL_PASSWORD": password,
        "KAFKA_SSL_CA_LOCATION": str(pki.ca),
        "KAFKA_SSL_CERTIFICATE_LOCATION": str(pki.client_certificate),
        "KAFKA_SSL_KEY_LOCATION": str(pki.client_key),
        "KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD,
    }


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.integration
@needs_openssl
@pytest.mark.parametrize("password", [PASSWORD, WRONG_PASSWORD], ids=["login", "refused"])
def test_librdkafka_debug_logs_never_show_the_passwords(
    secured_broker: SecureFront, pki: TestPki, password: str
) -> None:
    settings = KafkaSettings.from_env(secured_env(secured_broker, pki, password))
    handler = _Lines()
    rdkafka_logger = logging.getLogger("secrets_test.rdkafka")
    rdkafka_logger.addHandler(handler)
    rdkafka_logger.setLevel(logging.DEBUG)
    errors: list[str] = []
    producer = Producer(
        {
            **settings.client_config(),
            "debug": "all",  # every log line librdkafka has, security ones included
            "logger": rdkafka_logger,
            "error_cb": lambda error: errors.append(str(error)),
        }
    )
    try:
        producer.produce("secrets_test", b"x")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (errors or secured_broker.authenticated_users):
            producer.poll(0.1)
        producer.flush(1)
    finally:
        rdkafka_logger.removeHandler(handler)
    text = "\n".join(handler.lines + errors)
    if password == PASSWORD:
        assert "Authenticated as livedata-svc using SCRAM-SHA-512" in text
    else:
        assert "SASL authentication error" in text
    assert shown_secrets(text) == []


# -- processes: a service and the demo ------------------------------------------------


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def read_proc(pid: int, what: str) -> str:
    try:
        return (
            Path(f"/proc/{pid}/{what}").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def wait_for_output(log: Path, predicate: Callable[[str], bool], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if predicate(text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"output did not show what was expected:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # SIGINT from the test only, never from a terminal
        )


@pytest.mark.integration
@pytest.mark.slow
@needs_openssl
@pytest.mark.parametrize("log_json", [True, False], ids=["json", "plain"])
def test_a_service_never_shows_its_password(
    secured_broker: SecureFront, pki: TestPki, tmp_path: Path, log_json: bool
) -> None:
    env = secured_env(secured_broker, pki)
    create_topics(KafkaSettings.from_env(env), "dummy")
    log = tmp_path / "service.log"
    args = ["livedata.services.detector_data", "--instrument", "dummy"]
    service = spawn([*args, "--log-json"] if log_json else args, env, log)
    try:
        wait_for_output(log, lambda text: "service_built" in text, timeout_s=60)
        command_line = read_proc(service.pid, "cmdline")
        assert "detector_data" in command_line
        assert shown_secrets(command_line) == []
    finally:
        stop(service)
    output = log.read_text()
    assert USER in output  # the redacted settings were logged
    assert USER in secured_broker.authenticated_users
    assert shown_secrets(output) == []


REFUSED_EXIT_S = 15.0
"""A service Kafka refuses is gone this soon (it imports scipp and builds first)."""


def run_refused_service(env: dict[str, str], log: Path) -> tuple[int, float, str]:
    """Run a service Kafka will refuse; its exit code, seconds until it exited, output."""
    started = time.monotonic()
    service = spawn(["livedata.services.detector_data", "--instrument", "dummy"], env, log)
    try:
        code = service.wait(REFUSED_EXIT_S * 2)
    finally:
        stop(service)
    return code, time.monotonic() - started, log.read_text()


def the_error_line(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("error: ")]
    return line


@pytest.mark.integration
@pytest.mark.slow
@needs_openssl
def test_a_service_with_a_wrong_password_says_so_without_showing_either(
    secured_broker: SecureFront, pki: TestPki, tmp_path: Path
) -> None:
    env = secured_env(secured_broker, pki, WRONG_PASSWORD)
    code, elapsed, output = run_refused_service(env, tmp_path / "service.log")
    assert code == 2  # a configuration error: systemd and the demo do not restart it
    assert elapsed < REFUSED_EXIT_S
    error = the_error_line(output)
    assert secured_broker.address in error
    assert f"SASL_SSL SCRAM-SHA-512 as user '{USER}'" in error
    assert "SASL authentication error: Authentication failed" in error
    assert "Traceback" not in output
    assert shown_secrets(output) == []
    assert secured_broker.authenticated_users == []


@pytest.mark.integration
@pytest.mark.slow
@needs_openssl
def test_a_service_that_cannot_trust_the_broker_says_so_and_exits_with_code_2(
    secured_broker: SecureFront, pki: TestPki, tmp_path: Path
) -> None:
    env = {**secured_env(secured_broker, pki), "KAFKA_SSL_CA_LOCATION": str(pki.other_ca)}
    code, elapsed, output = run_refused_service(env, tmp_path / "service.log")
    assert code == 2
    assert elapsed < REFUSED_EXIT_S
    error = the_error_line(output)
    assert secured_broker.address in error
    assert "certificate verify failed" in error
    assert "KAFKA_SSL_CA_LOCATION" in error
    assert "Traceback" not in output
    assert shown_secrets(output) == []


@pytest.mark.integration
@pytest.mark.slow
@needs_openssl
def test_the_demo_gives_its_children_the_password_file_not_the_password(
    secured_broker: SecureFront, pki: TestPki, tmp_path: Path
) -> None:
    password_file = tmp_path / "sasl-password"
    password_file.write_text(PASSWORD + "\n")
    key_password_file = tmp_path / "key-password"
    key_password_file.write_text(KEY_PASSWORD + "\n")
    env = secured_env(secured_broker, pki)
    del env["KAFKA_SASL_PASSWORD"], env["KAFKA_SSL_KEY_PASSWORD"]
    env["KAFKA_SASL_PASSWORD_FILE"] = str(password_file)
    env["KAFKA_SSL_KEY_PASSWORD_FILE"] = str(key_password_file)
    log = tmp_path / "demo.log"
    demo = spawn(
        [
            "livedata.cli.demo",
            "--instrument", "dummy", "--no-dashboard", "--no-jobs", "--status-interval", "0",
        ],
        env,
        log,
    )  # fmt: skip
    try:
        wait_for_output(log, lambda text: "(4/4)" in text or "exited" in text, timeout_s=120)
        tree = process_tree(demo.pid)
        command_lines = {pid: read_proc(pid, "cmdline") for pid in tree}
        environments = {pid: read_proc(pid, "environ") for pid in tree}
    finally:
        stop(demo)
    output = log.read_text()
    assert "(4/4)" in output, output[-3000:]
    assert sum("livedata.services." in line for line in command_lines.values()) >= 5
    for pid in tree:
        assert shown_secrets(command_lines[pid]) == [], command_lines[pid]
        assert shown_secrets(environments[pid]) == []
        if "livedata.services." in command_lines[pid]:
            assert str(password_file) in environments[pid]  # how the secret travels
    assert shown_secrets(output) == []
    assert len(secured_broker.authenticated_users) >= 5
