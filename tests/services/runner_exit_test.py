"""How a service process ends when Kafka refuses it or a signal comes while it starts.

Kafka refusing our login or TLS settings is a configuration error: exit code 2 with one
line saying why (systemd's unit and the demo's watchdog do not restart code 2). A signal
while the service is still being built is a clean exit, without a traceback. The cases
against a real secured broker are in ``tests/cli/secrets_test.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from livedata.core.service import EXIT_CONFIG, EXIT_OK, Service
from livedata.kafka.embedded_broker import free_port
from livedata.kafka.settings import KafkaSettings
from livedata.services.runner import run_service
from livedata.testing.certificates import make_test_pki, openssl_available

PASSWORD = "Pw-9-never-printed"
REFUSED = (
    "sasl_plaintext://kafka.example:9093/bootstrap: SASL authentication error: Authentication "
    "failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
)


def sasl_settings() -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers="kafka.example:9093",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="livedata",
        sasl_password=PASSWORD,
    )


class Steps:
    """A processor whose third step is served a refusal, as a producer's ``poll`` is."""

    def __init__(self, settings: KafkaSettings, *, refuse_at: int | None) -> None:
        self.settings = settings
        self.refuse_at = refuse_at
        self.steps = 0
        self.shutdowns: list[str | None] = []
        self.service: Service | None = None

    def process(self) -> None:
        self.steps += 1
        if self.steps == self.refuse_at:
            self.settings.client_errors.error_cb(KafkaError(KafkaError._AUTHENTICATION, REFUSED))
        if self.steps == 10 and self.service is not None:
            self.service.request_stop()
        if self.steps > 100:
            raise AssertionError("the refusal did not stop the service")

    def shutdown(self, *, error: str | None = None) -> None:
        self.shutdowns.append(error)


def run_in_thread(service: Service, settings: KafkaSettings) -> int:
    """``run_service`` off the main thread, so it leaves pytest's signal handlers alone."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run_service, service, settings).result(timeout=30)


def test_a_refusal_while_running_ends_the_service_with_code_2_and_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = sasl_settings()
    steps = Steps(settings, refuse_at=3)
    service = Service(name="detector_data", processor=steps)
    assert run_in_thread(service, settings) == EXIT_CONFIG
    assert steps.steps == 3  # stopped after the step that heard it
    assert steps.shutdowns == [None]  # a clean stop: the open window is still published
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: Kafka broker kafka.example:9093 refused the connection (SASL_PLAINTEXT "
        f"SCRAM-SHA-512 as user 'livedata'): {REFUSED}; check KAFKA_SASL_USERNAME, "
        "KAFKA_SASL_PASSWORD (or _FILE) and KAFKA_SASL_MECHANISM"
    ]
    assert PASSWORD not in err


def test_without_a_refusal_the_service_keeps_its_own_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = sasl_settings()
    steps = Steps(settings, refuse_at=None)
    service = Service(name="detector_data", processor=steps)
    steps.service = service
    assert run_in_thread(service, settings) == EXIT_OK
    assert steps.steps == 10
    assert "error" not in capsys.readouterr().err


# -- whole service processes ------------------------------------------------------------


def spawn_service(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "livedata.services.detector_data", "--instrument", "dummy"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )


def exit_code(process: subprocess.Popen[bytes], *, timeout_s: float) -> int:
    """The process's exit code; killed (and the test failed) if it runs past the timeout."""
    try:
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def wait_for(log: Path, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_service_starts_is_a_clean_exit(tmp_path: Path, signum: int) -> None:
    """No broker: the service waits up to 10 s for its job registry, inside its build."""
    log = tmp_path / "service.log"
    dead = f"127.0.0.1:{free_port()}"
    service = spawn_service({"KAFKA_BOOTSTRAP_SERVERS": dead}, log)
    try:
        wait_for(log, "Connection refused", timeout_s=60)  # reading the registry now
        time.sleep(2.0)  # librdkafka retries meanwhile, several times a second per client
        sent = time.monotonic()
        service.send_signal(signum)
        code = exit_code(service, timeout_s=10)
        elapsed = time.monotonic() - sent
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):  # killed if it still runs
            exit_code(service, timeout_s=0)
    output = log.read_text()
    assert code == EXIT_OK
    assert elapsed < 3.0
    assert "service_start_interrupted" in output
    assert "Traceback" not in output
    assert "KeyboardInterrupt" not in output
    # librdkafka's retries are logged once per kind per 10 s, not once per attempt
    assert output.count("Connection refused") == 1, output


@pytest.mark.slow
@pytest.mark.skipif(not openssl_available(), reason="needs the openssl command")
def test_a_client_librdkafka_will_not_create_is_a_configuration_error(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path, client_key_password="the-right-one")
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CA_LOCATION": str(pki.ca),
        "KAFKA_SSL_CERTIFICATE_LOCATION": str(pki.client_certificate),
        "KAFKA_SSL_KEY_LOCATION": str(pki.client_key),
        "KAFKA_SSL_KEY_PASSWORD": "Not-the-right-one-7",
    }
    log = tmp_path / "service.log"
    code = exit_code(spawn_service(env, log), timeout_s=30)
    output = log.read_text()
    assert code == EXIT_CONFIG
    (error,) = [line for line in output.splitlines() if line.startswith("error: ")]
    assert "ssl.key.location failed" in error
    assert "Traceback" not in output
    assert "Not-the-right-one-7" not in output
