import os
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer

from livedata.kafka.settings import (
    DEFAULT_BOOTSTRAP,
    MAX_SECRET_FILE_BYTES,
    KafkaSettings,
    SettingsError,
)
from livedata.testing.certificates import TestPki, make_test_pki, openssl_available

PASSWORD = "s3cret-Pa55word"
KEY_PASSWORD = "k3y-Pa55phrase"

needs_openssl = pytest.mark.skipif(not openssl_available(), reason="needs the openssl command")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    if not openssl_available():
        pytest.skip("needs the openssl command")
    return make_test_pki(tmp_path_factory.mktemp("pki"), client_key_password=KEY_PASSWORD)


def sasl_env(**extra: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": "kafka1:9093,kafka2:9093",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_USERNAME": "livedata",
        "KAFKA_SASL_PASSWORD": PASSWORD,
        **extra,
    }


def mtls_env(pki: TestPki, **extra: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": "kafka1:9093",
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CA_LOCATION": str(pki.ca),
        "KAFKA_SSL_CERTIFICATE_LOCATION": str(pki.client_certificate),
        "KAFKA_SSL_KEY_LOCATION": str(pki.client_key),
        "KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD,
        **extra,
    }


def secret_file(tmp_path: Path, content: str, name: str = "secret") -> str:
    path = tmp_path / name
    path.write_text(content)
    return str(path)


# -- the configuration each protocol produces ---------------------------------------


def connection(settings: KafkaSettings) -> dict[str, Any]:
    """``client_config()`` without librdkafka's callbacks (``client_errors_test.py``)."""
    config = settings.client_config()
    assert config.pop("error_cb") == settings.client_errors.error_cb
    assert config.pop("logger") is settings.client_errors
    return config


def test_empty_environment_means_the_local_plaintext_broker() -> None:
    settings = KafkaSettings.from_env({})
    assert settings.bootstrap_servers == DEFAULT_BOOTSTRAP
    assert settings.security_protocol == "PLAINTEXT"
    assert not settings.external
    assert connection(settings) == {
        "bootstrap.servers": DEFAULT_BOOTSTRAP,
        "security.protocol": "PLAINTEXT",
        "log.connection.close": False,
    }


def test_bootstrap_from_the_environment_is_an_external_broker() -> None:
    settings = KafkaSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "redpanda:9092"})
    assert settings.bootstrap_servers == "redpanda:9092"
    assert settings.external


def test_an_empty_bootstrap_variable_counts_as_unset() -> None:
    settings = KafkaSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": ""})
    assert settings.bootstrap_servers == DEFAULT_BOOTSTRAP
    assert not settings.external


def test_sasl_ssl_with_the_system_certificate_authorities() -> None:
    assert connection(KafkaSettings.from_env(sasl_env())) == {
        "bootstrap.servers": "kafka1:9093,kafka2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",  # the default mechanism
        "sasl.username": "livedata",
        "sasl.password": PASSWORD,
        "ssl.endpoint.identification.algorithm": "https",
        "log.connection.close": False,
    }


def test_sasl_ssl_with_a_certificate_authority_file(pki: TestPki) -> None:
    config = KafkaSettings.from_env(sasl_env(KAFKA_SSL_CA_LOCATION=str(pki.ca))).client_config()
    assert config["ssl.ca.location"] == str(pki.ca)
    assert config["security.protocol"] == "SASL_SSL"


def test_a_directory_of_certificate_authorities_or_probe_is_accepted(pki: TestPki) -> None:
    for location in (str(pki.ca.parent), "probe"):
        config = KafkaSettings.from_env(sasl_env(KAFKA_SSL_CA_LOCATION=location)).client_config()
        assert config["ssl.ca.location"] == location


def test_sasl_plaintext_carries_no_ssl_settings() -> None:
    env = sasl_env(KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT")
    assert connection(KafkaSettings.from_env(env)) == {
        "bootstrap.servers": "kafka1:9093,kafka2:9093",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "livedata",
        "sasl.password": PASSWORD,
        "log.connection.close": False,
    }


def test_mutual_tls_with_an_encrypted_key(pki: TestPki) -> None:
    assert connection(KafkaSettings.from_env(mtls_env(pki))) == {
        "bootstrap.servers": "kafka1:9093",
        "security.protocol": "SSL",
        "ssl.ca.location": str(pki.ca),
        "ssl.certificate.location": str(pki.client_certificate),
        "ssl.key.location": str(pki.client_key),
        "ssl.key.password": KEY_PASSWORD,
        "ssl.endpoint.identification.algorithm": "https",
        "log.connection.close": False,
    }


def test_plain_ssl_carries_no_sasl_settings(pki: TestPki) -> None:
    env = {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": str(pki.ca)}
    config = KafkaSettings.from_env(env).client_config()
    assert config["security.protocol"] == "SSL"
    assert config["ssl.ca.location"] == str(pki.ca)
    assert not any(key.startswith("sasl.") for key in config)


@pytest.mark.parametrize(("value", "expected"), [("none", "none"), ("HTTPS", "https")])
def test_endpoint_identification_can_be_switched_off(value: str, expected: str) -> None:
    env = sasl_env(KAFKA_SSL_ENDPOINT_IDENTIFICATION=value)
    config = KafkaSettings.from_env(env).client_config()
    assert config["ssl.endpoint.identification.algorithm"] == expected


def test_protocol_and_mechanism_are_case_insensitive() -> None:
    env = sasl_env(KAFKA_SECURITY_PROTOCOL="sasl_plaintext", KAFKA_SASL_MECHANISM="scram-sha-256")
    config = KafkaSettings.from_env(env).client_config()
    assert config["security.protocol"] == "SASL_PLAINTEXT"
    assert config["sasl.mechanism"] == "SCRAM-SHA-256"


def test_plain_mechanism_over_tls_is_allowed() -> None:
    config = KafkaSettings.from_env(sasl_env(KAFKA_SASL_MECHANISM="PLAIN")).client_config()
    assert config["sasl.mechanism"] == "PLAIN"


# -- secrets from files ---------------------------------------------------------------


@pytest.mark.parametrize("content", [PASSWORD, PASSWORD + "\n", PASSWORD + "\r\n"])
def test_the_sasl_password_can_come_from_a_file(tmp_path: Path, content: str) -> None:
    env = sasl_env(KAFKA_SASL_PASSWORD_FILE=secret_file(tmp_path, content))
    del env["KAFKA_SASL_PASSWORD"]
    assert KafkaSettings.from_env(env).client_config()["sasl.password"] == PASSWORD


def test_the_key_password_can_come_from_a_file(tmp_path: Path, pki: TestPki) -> None:
    env = mtls_env(pki, KAFKA_SSL_KEY_PASSWORD_FILE=secret_file(tmp_path, KEY_PASSWORD + "\n"))
    del env["KAFKA_SSL_KEY_PASSWORD"]
    assert KafkaSettings.from_env(env).client_config()["ssl.key.password"] == KEY_PASSWORD


def test_a_password_and_a_password_file_together_are_an_error(tmp_path: Path) -> None:
    env = sasl_env(KAFKA_SASL_PASSWORD_FILE=secret_file(tmp_path, PASSWORD))
    with pytest.raises(SettingsError, match="KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE"):
        KafkaSettings.from_env(env)


def _without_password(**extra: str) -> dict[str, str]:
    env = sasl_env(**extra)
    del env["KAFKA_SASL_PASSWORD"]
    return env


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("", "is empty"),
        ("\n", "is empty"),
        ("one\ntwo\n", "more than one line"),
        ("x" * (MAX_SECRET_FILE_BYTES + 1), f"longer than {MAX_SECRET_FILE_BYTES} bytes"),
    ],
)
def test_a_bad_password_file_is_an_error_that_does_not_quote_it(
    tmp_path: Path, content: str, match: str
) -> None:
    path = secret_file(tmp_path, content)
    with pytest.raises(SettingsError, match=match) as info:
        KafkaSettings.from_env(_without_password(KAFKA_SASL_PASSWORD_FILE=path))
    assert "KAFKA_SASL_PASSWORD_FILE" in str(info.value)
    assert path in str(info.value)
    if content.strip():
        assert content.strip()[:10] not in str(info.value)


def test_a_binary_password_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SettingsError, match="not UTF-8"):
        KafkaSettings.from_env(_without_password(KAFKA_SASL_PASSWORD_FILE=str(path)))


def test_a_missing_password_file_is_an_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    with pytest.raises(SettingsError, match=f"KAFKA_SASL_PASSWORD_FILE={missing} does not exist"):
        KafkaSettings.from_env(_without_password(KAFKA_SASL_PASSWORD_FILE=missing))


def test_a_directory_as_password_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="is not a regular file"):
        KafkaSettings.from_env(_without_password(KAFKA_SASL_PASSWORD_FILE=str(tmp_path)))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_password_file_is_an_error(tmp_path: Path) -> None:
    path = secret_file(tmp_path, PASSWORD)
    os.chmod(path, 0)
    with pytest.raises(SettingsError, match="cannot be read: Permission denied"):
        KafkaSettings.from_env(_without_password(KAFKA_SASL_PASSWORD_FILE=path))


def test_a_device_is_not_read_as_a_password_file() -> None:
    # /dev/zero would never end; only regular files are read.
    with pytest.raises(SettingsError, match="is not a regular file"):
        KafkaSettings.from_env(_without_password(KAFKA_SASL_PASSWORD_FILE="/dev/zero"))


# -- mistakes that would connect less securely than intended --------------------------


@pytest.mark.parametrize("missing", ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"])
@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
def test_sasl_needs_username_and_password(missing: str, protocol: str) -> None:
    env = {k: v for k, v in sasl_env(KAFKA_SECURITY_PROTOCOL=protocol).items() if k != missing}
    with pytest.raises(SettingsError, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        KafkaSettings.from_env(env)


def test_empty_sasl_password_is_missing() -> None:
    with pytest.raises(SettingsError, match="needs KAFKA_SASL_USERNAME"):
        KafkaSettings.from_env(sasl_env(KAFKA_SASL_PASSWORD=""))


def test_plain_mechanism_without_tls_is_refused() -> None:
    env = sasl_env(KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", KAFKA_SASL_MECHANISM="PLAIN")
    with pytest.raises(SettingsError, match="password in clear text"):
        KafkaSettings.from_env(env)


@pytest.mark.parametrize(
    ("env", "match"),
    [
        (
            {"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": PASSWORD},
            r"KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD set, but KAFKA_SECURITY_PROTOCOL="
            r"PLAINTEXT does not use them; set KAFKA_SECURITY_PROTOCOL to SASL_SSL",
        ),
        ({"KAFKA_SASL_MECHANISM": "SCRAM-SHA-256"}, "KAFKA_SASL_MECHANISM set"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SASL_USERNAME": "u"},
            "KAFKA_SECURITY_PROTOCOL=SSL does not use it",
        ),
        ({"KAFKA_SSL_CA_LOCATION": "/ca.pem"}, "set KAFKA_SECURITY_PROTOCOL to SSL or SASL_SSL"),
        (
            sasl_env(
                KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", KAFKA_SSL_ENDPOINT_IDENTIFICATION="none"
            ),
            "KAFKA_SSL_ENDPOINT_IDENTIFICATION set, but KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT",
        ),
    ],
)
def test_variables_the_protocol_would_ignore_are_an_error(env: dict[str, str], match: str) -> None:
    with pytest.raises(SettingsError, match=match):
        KafkaSettings.from_env(env)


def test_unknown_security_protocol_is_an_error_naming_the_choices() -> None:
    with pytest.raises(SettingsError, match=r"KAFKA_SECURITY_PROTOCOL='TLS'.*SASL_SSL"):
        KafkaSettings.from_env({"KAFKA_SECURITY_PROTOCOL": "tls"})


def test_unknown_sasl_mechanism_is_an_error() -> None:
    with pytest.raises(SettingsError, match="KAFKA_SASL_MECHANISM='GSSAPI'"):
        KafkaSettings.from_env(sasl_env(KAFKA_SASL_MECHANISM="GSSAPI"))


def test_unknown_endpoint_identification_is_an_error() -> None:
    with pytest.raises(SettingsError, match="KAFKA_SSL_ENDPOINT_IDENTIFICATION='off'"):
        KafkaSettings.from_env(sasl_env(KAFKA_SSL_ENDPOINT_IDENTIFICATION="off"))


# -- certificate and key files ----------------------------------------------------------


@pytest.mark.parametrize(
    "variable",
    ["KAFKA_SSL_CA_LOCATION", "KAFKA_SSL_CERTIFICATE_LOCATION", "KAFKA_SSL_KEY_LOCATION"],
)
def test_a_missing_certificate_file_is_an_error_naming_the_variable(
    tmp_path: Path, pki: TestPki, variable: str
) -> None:
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(SettingsError, match=f"{variable}={missing} does not exist"):
        KafkaSettings.from_env(mtls_env(pki, **{variable: missing}))


@pytest.mark.parametrize(
    ("variable", "kind"),
    [
        ("KAFKA_SSL_CA_LOCATION", "certificate"),
        ("KAFKA_SSL_CERTIFICATE_LOCATION", "certificate"),
        ("KAFKA_SSL_KEY_LOCATION", "private key"),
    ],
)
def test_a_file_without_pem_data_is_an_error(
    tmp_path: Path, pki: TestPki, variable: str, kind: str
) -> None:
    wrong = secret_file(tmp_path, "not a certificate\n", "wrong.pem")
    with pytest.raises(SettingsError, match=f"{variable}={wrong} holds no PEM {kind}"):
        KafkaSettings.from_env(mtls_env(pki, **{variable: wrong}))


def test_a_key_where_the_certificate_belongs_is_an_error(pki: TestPki) -> None:
    env = mtls_env(pki, KAFKA_SSL_CERTIFICATE_LOCATION=str(pki.client_key))
    with pytest.raises(
        SettingsError, match=r"KAFKA_SSL_CERTIFICATE_LOCATION=.* no PEM certificate"
    ):
        KafkaSettings.from_env(env)


@pytest.mark.parametrize("missing", ["KAFKA_SSL_CERTIFICATE_LOCATION", "KAFKA_SSL_KEY_LOCATION"])
def test_a_client_certificate_needs_its_key(pki: TestPki, missing: str) -> None:
    env = {k: v for k, v in mtls_env(pki).items() if k != missing}
    env.pop("KAFKA_SSL_KEY_PASSWORD")
    with pytest.raises(SettingsError, match="go together"):
        KafkaSettings.from_env(env)


def test_a_key_password_without_a_key_is_an_error(pki: TestPki) -> None:
    env = {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD}
    with pytest.raises(SettingsError, match="KAFKA_SSL_KEY_LOCATION is not"):
        KafkaSettings.from_env(env)


# -- librdkafka takes the configuration as it is -------------------------------------


@needs_openssl
@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL", "SASL_PLAINTEXT", "PLAINTEXT"])
def test_librdkafka_accepts_the_configuration_of_every_protocol(
    pki: TestPki, protocol: str
) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "KAFKA_SECURITY_PROTOCOL": protocol}
    if "SSL" in protocol:
        env.update({k: v for k, v in mtls_env(pki).items() if k.startswith("KAFKA_SSL_")})
    if "SASL" in protocol:
        env.update(KAFKA_SASL_USERNAME="livedata", KAFKA_SASL_PASSWORD=PASSWORD)
    # Creating a client loads the CA, certificate and key: a wrong path, a key that
    # does not match or a wrong key password fail here, before any connection.
    Producer({**KafkaSettings.from_env(env).client_config(), "log_level": 0})


@needs_openssl
def test_librdkafka_refuses_a_wrong_key_password(pki: TestPki) -> None:
    config = KafkaSettings.from_env(mtls_env(pki, KAFKA_SSL_KEY_PASSWORD="wrong")).client_config()
    with pytest.raises(KafkaException, match=r"ssl\.key\.location failed"):
        Producer({**config, "log_level": 0})


# -- what is printed or logged ----------------------------------------------------------


def test_settings_errors_are_value_errors() -> None:
    assert issubclass(SettingsError, ValueError)


def test_the_passwords_never_appear_in_what_is_printed_or_logged(pki: TestPki) -> None:
    settings = KafkaSettings.from_env(
        {**mtls_env(pki), **sasl_env(KAFKA_SSL_CA_LOCATION=str(pki.ca))}
    )
    for shown in (
        repr(settings),
        str(settings),
        f"{settings!r} {settings}",
        repr(settings.redacted()),
    ):
        assert PASSWORD not in shown
        assert KEY_PASSWORD not in shown
    assert "livedata" in repr(settings)  # the user name is fine to log
    assert str(pki.client_key) in repr(settings)  # so are the file locations
    config = settings.client_config()
    assert (config["sasl.password"], config["ssl.key.password"]) == (PASSWORD, KEY_PASSWORD)
