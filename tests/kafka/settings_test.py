import pytest

from livedata.kafka.settings import DEFAULT_BOOTSTRAP, KafkaSettings, SettingsError

PASSWORD = "s3cret-Pa55word"

SASL_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "kafka1:9093,kafka2:9093",
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_USERNAME": "livedata",
    "KAFKA_SASL_PASSWORD": PASSWORD,
    "KAFKA_SSL_CA_LOCATION": "/etc/ssl/ca.pem",
}


def test_empty_environment_means_the_local_plaintext_broker() -> None:
    settings = KafkaSettings.from_env({})
    assert settings.bootstrap_servers == DEFAULT_BOOTSTRAP
    assert settings.security_protocol == "PLAINTEXT"
    assert not settings.external
    assert settings.client_config() == {
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


def test_sasl_ssl_from_the_environment() -> None:
    settings = KafkaSettings.from_env(SASL_ENV)
    assert settings.client_config() == {
        "bootstrap.servers": "kafka1:9093,kafka2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",  # the default mechanism
        "sasl.username": "livedata",
        "sasl.password": PASSWORD,
        "ssl.ca.location": "/etc/ssl/ca.pem",
        "log.connection.close": False,
    }


def test_protocol_and_mechanism_are_case_insensitive() -> None:
    env = {
        **SASL_ENV,
        "KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
        "KAFKA_SASL_MECHANISM": "scram-sha-256",
    }
    config = KafkaSettings.from_env(env).client_config()
    assert config["security.protocol"] == "SASL_PLAINTEXT"
    assert config["sasl.mechanism"] == "SCRAM-SHA-256"


def test_plain_ssl_carries_no_sasl_settings() -> None:
    env = {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": "/ca.pem"}
    config = KafkaSettings.from_env(env).client_config()
    assert config["security.protocol"] == "SSL"
    assert config["ssl.ca.location"] == "/ca.pem"
    assert not any(key.startswith("sasl.") for key in config)


@pytest.mark.parametrize("missing", ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"])
@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
def test_sasl_needs_username_and_password(missing: str, protocol: str) -> None:
    env = {k: v for k, v in SASL_ENV.items() if k != missing}
    env["KAFKA_SECURITY_PROTOCOL"] = protocol
    with pytest.raises(SettingsError, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        KafkaSettings.from_env(env)


def test_empty_sasl_password_is_missing() -> None:
    with pytest.raises(SettingsError):
        KafkaSettings.from_env({**SASL_ENV, "KAFKA_SASL_PASSWORD": ""})


def test_unknown_security_protocol_is_an_error_naming_the_choices() -> None:
    with pytest.raises(SettingsError, match=r"KAFKA_SECURITY_PROTOCOL='TLS'.*SASL_SSL"):
        KafkaSettings.from_env({"KAFKA_SECURITY_PROTOCOL": "tls"})


def test_unknown_sasl_mechanism_is_an_error() -> None:
    with pytest.raises(SettingsError, match="KAFKA_SASL_MECHANISM='GSSAPI'"):
        KafkaSettings.from_env({**SASL_ENV, "KAFKA_SASL_MECHANISM": "GSSAPI"})


def test_settings_errors_are_value_errors() -> None:
    assert issubclass(SettingsError, ValueError)


def test_the_password_never_appears_in_what_is_printed_or_logged() -> None:
    settings = KafkaSettings.from_env(SASL_ENV)
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)
    assert PASSWORD not in f"{settings!r} {settings}"
    assert PASSWORD not in repr(settings.redacted())
    assert "livedata" in repr(settings)  # the user name is fine to log
    assert settings.client_config()["sasl.password"] == PASSWORD
