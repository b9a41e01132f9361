"""Kafka connection settings, from the environment only.

Secrets come from environment variables, never from the command line (where any user
sees them in the process list) and never into logs: ``redacted()`` is what we log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"

MAX_MESSAGE_BYTES = 100 * 1024 * 1024
"""Largest message we produce or accept: a 14 Hz ev44 message at 1e8 events/s is ~57 MB,
and a full DREAM image result ~12 MB; 100 MiB leaves room without being unbounded."""

_SECURITY_PROTOCOLS = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
_SASL_MECHANISMS = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}


class SettingsError(ValueError):
    """The environment describes an impossible connection."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaSettings:
    bootstrap_servers: str = DEFAULT_BOOTSTRAP
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_ca_location: str | None = None
    external: bool = False
    """True when ``KAFKA_BOOTSTRAP_SERVERS`` names a broker we did not start."""

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> KafkaSettings:
        env = os.environ if env is None else env
        protocol = env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
        if protocol not in _SECURITY_PROTOCOLS:
            raise SettingsError(
                f"KAFKA_SECURITY_PROTOCOL={protocol!r}; use one of {sorted(_SECURITY_PROTOCOLS)}"
            )
        mechanism = env.get("KAFKA_SASL_MECHANISM")
        if protocol.startswith("SASL"):
            mechanism = (mechanism or "SCRAM-SHA-512").upper()
            if mechanism not in _SASL_MECHANISMS:
                raise SettingsError(
                    f"KAFKA_SASL_MECHANISM={mechanism!r}; use one of {sorted(_SASL_MECHANISMS)}"
                )
            if not env.get("KAFKA_SASL_USERNAME") or not env.get("KAFKA_SASL_PASSWORD"):
                raise SettingsError(f"{protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        # An empty value (``KAFKA_BOOTSTRAP_SERVERS= livedata ...``) means unset.
        bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        return KafkaSettings(
            bootstrap_servers=bootstrap or DEFAULT_BOOTSTRAP,
            security_protocol=protocol,
            sasl_mechanism=mechanism if protocol.startswith("SASL") else None,
            sasl_username=env.get("KAFKA_SASL_USERNAME"),
            sasl_password=env.get("KAFKA_SASL_PASSWORD"),
            ssl_ca_location=env.get("KAFKA_SSL_CA_LOCATION"),
            external=bool(bootstrap),
        )

    def client_config(self) -> dict[str, Any]:
        """librdkafka settings shared by every client (contains secrets: never log)."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            # Brokers close idle connections routinely; librdkafka would log each one.
            "log.connection.close": False,
        }
        if self.sasl_mechanism is not None:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password
        if self.ssl_ca_location is not None:
            config["ssl.ca.location"] = self.ssl_ca_location
        return config

    def redacted(self) -> dict[str, Any]:
        """What may be logged."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_username": self.sasl_username,
        }

    def __repr__(self) -> str:  # keep the password out of tracebacks and debug prints
        return f"KafkaSettings({self.redacted()})"
