"""librdkafka's errors and log lines: refusals told from the weather, repeats logged once
per interval (no broker here: the errors are built as librdkafka reports them)."""

from __future__ import annotations

import logging
import threading

import pytest
from confluent_kafka import KafkaError
from structlog.testing import capture_logs

from livedata.kafka.client_errors import (
    ClientErrors,
    KafkaRefusedError,
    Refusal,
    RefusalKind,
    classify,
    kind_of,
    refusal_message,
)
from livedata.kafka.settings import KafkaSettings

BROKER = "sasl_ssl://127.0.0.1:9093/bootstrap"
PASSWORD = "Hunter2-not-logged"

WRONG_PASSWORD = (
    f"{BROKER}: SASL authentication error: Authentication failed during authentication due "
    "to invalid credentials with SASL mechanism SCRAM-SHA-512 (after 14ms in state AUTH_REQ)"
)
UNTRUSTED_BROKER = (
    f"{BROKER}: SSL handshake failed: error:0A000086:SSL routines::certificate verify "
    "failed: broker certificate could not be verified (after 2ms in state SSL_HANDSHAKE)"
)
CLIENT_CERTIFICATE_REQUIRED = (
    f"{BROKER}: Receive failed: error:0A00045C:SSL routines::tlsv13 alert certificate "
    "required: SSL alert number 116 (after 1ms in state APIVERSION_QUERY)"
)
CONNECTION_REFUSED = (
    "127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused "
    "(after 0ms in state CONNECT)"
)


class FakeError:
    """What librdkafka hands ``error_cb``, with any code and text."""

    def __init__(self, code: int, text: str, name: str = "FAKE") -> None:
        self._code, self._text, self._name = code, text, name

    def code(self) -> int:
        return self._code

    def name(self) -> str:
        return self._name

    def str(self) -> str:
        return self._text


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("code", "text", "kind"),
    [
        (KafkaError._AUTHENTICATION, WRONG_PASSWORD, RefusalKind.LOGIN),
        (
            KafkaError._AUTHENTICATION,
            "SASL SCRAM-SHA-256 mechanism handshake failed: Broker: Unsupported SASL mechanism",
            RefusalKind.LOGIN,
        ),
        (KafkaError.SASL_AUTHENTICATION_FAILED, "Authentication failed", RefusalKind.LOGIN),
        (KafkaError.UNSUPPORTED_SASL_MECHANISM, "no such mechanism", RefusalKind.LOGIN),
        (KafkaError.ILLEGAL_SASL_STATE, "Broker: Illegal SASL state", RefusalKind.LOGIN),
        (KafkaError._SSL, UNTRUSTED_BROKER, RefusalKind.TLS),
        (
            KafkaError._SSL,
            "Failed to verify broker certificate: unable to get local issuer certificate",
            RefusalKind.TLS,
        ),
        (KafkaError._TRANSPORT, CLIENT_CERTIFICATE_REQUIRED, RefusalKind.TLS),
        (
            KafkaError._TRANSPORT,
            "Receive failed: SSL routines::sslv3 alert bad certificate",
            RefusalKind.TLS,
        ),
    ],
)
def test_refused_logins_and_tls_handshakes_are_refusals(
    code: int, text: str, kind: RefusalKind
) -> None:
    refusal = classify(KafkaError(code, text))
    assert refusal is not None
    assert refusal.kind is kind
    assert refusal.code == KafkaError(code).name()


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (KafkaError._TRANSPORT, CONNECTION_REFUSED),  # broker down or restarting
        (KafkaError._TRANSPORT, f"{BROKER}: Disconnected (after 5012ms in state UP)"),
        (
            KafkaError._TRANSPORT,
            f"{BROKER}: SSL handshake failed: Disconnected: connecting "
            "to a PLAINTEXT broker listener?",
        ),
        (KafkaError._SSL, f"{BROKER}: SSL handshake failed: SSL transport error: Broken pipe"),
        (KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"),
        (KafkaError._RESOLVE, "Failed to resolve 'kafka.example:9092'"),
        (KafkaError._MSG_TIMED_OUT, "Local: Message timed out"),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, "Broker: Topic authorization failed"),
    ],
)
def test_the_weather_is_not_a_refusal(code: int, text: str) -> None:
    assert classify(FakeError(code, text)) is None


def test_a_refusal_keeps_the_reason_without_its_timing_and_on_one_line() -> None:
    refusal = classify(FakeError(KafkaError._AUTHENTICATION, WRONG_PASSWORD + "\n", "_AUTH"))
    assert refusal == Refusal(
        kind=RefusalKind.LOGIN,
        code="_AUTH",
        reason=WRONG_PASSWORD.removesuffix(" (after 14ms in state AUTH_REQ)"),
    )


def sasl_settings() -> KafkaSettings:
    return KafkaSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "kafka.example:9093",
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_USERNAME": "livedata",
            "KAFKA_SASL_PASSWORD": PASSWORD,
        }
    )


def test_the_refusal_message_names_broker_mechanism_and_user_never_the_password() -> None:
    refusal = classify(KafkaError(KafkaError._AUTHENTICATION, WRONG_PASSWORD))
    assert refusal is not None
    text = refusal_message(refusal, sasl_settings())
    assert "\n" not in text
    assert text.startswith(
        "Kafka broker kafka.example:9093 refused the connection "
        "(SASL_PLAINTEXT SCRAM-SHA-512 as user 'livedata'): "
    )
    assert "Authentication failed" in text
    assert "KAFKA_SASL_PASSWORD" in text  # what to check
    assert PASSWORD not in text


def test_a_tls_refusal_points_at_the_certificate_settings() -> None:
    refusal = classify(KafkaError(KafkaError._SSL, UNTRUSTED_BROKER))
    assert refusal is not None
    settings = KafkaSettings(bootstrap_servers="kafka.example:9093", security_protocol="SSL")
    text = refusal_message(refusal, settings)
    assert "(SSL)" in text
    assert "certificate verify failed" in text
    assert "KAFKA_SSL_CA_LOCATION" in text


def test_the_first_refusal_is_kept_and_told_to_listeners_once() -> None:
    errors = ClientErrors()
    heard: list[Refusal] = []
    errors.on_refusal(heard.append)
    errors.error_cb(FakeError(KafkaError._TRANSPORT, CONNECTION_REFUSED))
    assert errors.refusal is None
    errors.raise_if_refused()  # nothing to raise yet
    errors.error_cb(FakeError(KafkaError._AUTHENTICATION, WRONG_PASSWORD))
    errors.error_cb(FakeError(KafkaError._SSL, UNTRUSTED_BROKER))
    assert errors.refusal is not None
    assert errors.refusal.kind is RefusalKind.LOGIN
    assert heard == [errors.refusal]
    late: list[Refusal] = []
    errors.on_refusal(late.append)  # registered after the fact: told at once
    assert late == [errors.refusal]
    with pytest.raises(KafkaRefusedError) as raised:
        errors.raise_if_refused()
    assert raised.value.refusal is errors.refusal


def test_listeners_are_told_from_the_thread_that_serves_the_client() -> None:
    errors = ClientErrors()
    told = threading.Event()
    errors.on_refusal(lambda _refusal: told.set())
    thread = threading.Thread(
        target=errors.error_cb, args=(FakeError(KafkaError._AUTHENTICATION, WRONG_PASSWORD),)
    )
    thread.start()
    thread.join()
    assert told.is_set()


def fail_line(client: str, text: str) -> tuple[int, str, str, str, str]:
    """A ``logger.log`` call as confluent-kafka makes it for librdkafka's FAIL lines."""
    thread = text.split(": ", 1)[0]
    return (logging.ERROR, "%s [%s] %s", "FAIL", client, f"[thrd:{thread}]: {text}")


def test_repeated_log_lines_are_logged_once_per_interval_with_the_count() -> None:
    clock = FakeClock()
    errors = ClientErrors(interval_s=10.0, clock=clock)
    with capture_logs() as logs:
        for _second in range(25):  # two clients, each failing twice a second for 25 s
            for client in ("rdkafka#consumer-1", "rdkafka#producer-2"):
                for attempt in range(2):
                    text = CONNECTION_REFUSED.replace("0ms", f"{attempt}ms")
                    errors.log(*fail_line(client, text))
                    errors.error_cb(FakeError(KafkaError._TRANSPORT, text, "_TRANSPORT"))
                    errors.error_cb(FakeError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
            clock.now += 1.0
    refused = [entry for entry in logs if "Connection refused" in str(entry)]
    down = [entry for entry in logs if "brokers are down" in str(entry)]
    assert len(refused) == 3  # at 0, 10 and 20 s: the error and its log line are one kind
    assert len(down) == 3
    assert refused[0] == {
        "event": "kafka_client_log",
        "log_level": "error",
        "facility": "FAIL",
        "client": "rdkafka#consumer-1",
        "message": CONNECTION_REFUSED,
    }
    assert refused[1]["repeated"] == 10 * 2 * 2 * 2 - 1  # everything since, both ways


def test_different_kinds_are_logged_each_and_the_refusal_at_error_level() -> None:
    errors = ClientErrors(clock=FakeClock())
    with capture_logs() as logs:
        errors.error_cb(FakeError(KafkaError._TRANSPORT, CONNECTION_REFUSED, "_TRANSPORT"))
        errors.error_cb(FakeError(KafkaError._AUTHENTICATION, WRONG_PASSWORD, "_AUTHENTICATION"))
        errors.log(logging.WARNING, "unexpected %s", "shape")
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("kafka_client_error", "warning"),
        ("kafka_client_error", "error"),
        ("kafka_client_log", "warning"),
    ]
    assert logs[1]["code"] == "_AUTHENTICATION"
    assert logs[2]["message"] == "unexpected shape"


def test_kinds_ignore_threads_timing_and_numbers() -> None:
    first = f"[thrd:{BROKER}]: {BROKER}: Connect failed (after 3ms in state CONNECT)"
    again = (
        f"{BROKER}: Connect failed (after 12ms in state CONNECT, 4 identical error(s) suppressed)"
    )
    other_port = first.replace("9093", "9094")
    assert kind_of(first) == kind_of(again) == kind_of(other_port)
    assert kind_of(first) != kind_of(WRONG_PASSWORD)


def test_every_client_config_hands_librdkafka_the_shared_recorder() -> None:
    settings = sasl_settings()
    config = settings.client_config()
    assert config["error_cb"] == settings.client_errors.error_cb
    assert config["logger"] is settings.client_errors
    assert "client_errors" not in repr(settings)
    assert KafkaSettings() == KafkaSettings()  # the recorder is not part of the settings' value
