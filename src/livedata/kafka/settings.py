"""Kafka connection settings, from the environment only.

Secrets come from environment variables or from files named by them, never from the
command line (where any user sees them in the process list) and never into logs:
``redacted()`` is what we log, and ``repr()`` shows only that.

=================================== =====================================================
Variable                            Meaning
=================================== =====================================================
``KAFKA_BOOTSTRAP_SERVERS``         ``host:port[,host:port...]``; unset: the local
                                    development broker (``127.0.0.1:9092``)
``KAFKA_SECURITY_PROTOCOL``         ``PLAINTEXT`` (default), ``SSL``, ``SASL_SSL``,
                                    ``SASL_PLAINTEXT``
``KAFKA_SASL_MECHANISM``            ``SCRAM-SHA-512`` (default), ``SCRAM-SHA-256``,
                                    ``PLAIN`` (``PLAIN`` only over ``SASL_SSL``)
``KAFKA_SASL_USERNAME``             SASL user
``KAFKA_SASL_PASSWORD``             SASL password, or ``KAFKA_SASL_PASSWORD_FILE``: a
                                    file holding it (one trailing newline is ignored)
``KAFKA_SSL_CA_LOCATION``           PEM file or directory of CA certificates, or
                                    ``probe``; unset: OpenSSL's default locations
``KAFKA_SSL_CERTIFICATE_LOCATION``  client certificate (PEM), for mutual TLS
``KAFKA_SSL_KEY_LOCATION``          the client certificate's private key (PEM)
``KAFKA_SSL_KEY_PASSWORD``          the key's passphrase, or
                                    ``KAFKA_SSL_KEY_PASSWORD_FILE``
``KAFKA_SSL_ENDPOINT_IDENTIFICATION`` ``https`` (default: the broker's certificate must
                                    name the host we connect to) or ``none``
=================================== =====================================================

Every mistake we can see before connecting is a ``SettingsError`` naming the variable:
an unknown value, a missing or unreadable file, a file that holds no PEM data, a TLS or
SASL variable set for a protocol that would silently ignore it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livedata.kafka.client_errors import ClientErrors

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"

MAX_MESSAGE_BYTES = 100 * 1024 * 1024
"""Largest message we produce or accept: a 14 Hz ev44 message at 1e8 events/s is ~57 MB,
and a full DREAM image result ~12 MB; 100 MiB leaves room without being unbounded."""

_SECURITY_PROTOCOLS = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
_SSL_PROTOCOLS = {"SSL", "SASL_SSL"}
_SASL_PROTOCOLS = {"SASL_PLAINTEXT", "SASL_SSL"}
_SASL_MECHANISMS = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
_DEFAULT_SASL_MECHANISM = "SCRAM-SHA-512"
_ENDPOINT_IDENTIFICATION = {"https", "none"}

_SASL_VARIABLES = (
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SASL_PASSWORD_FILE",
)
_SSL_VARIABLES = (
    "KAFKA_SSL_CA_LOCATION",
    "KAFKA_SSL_CERTIFICATE_LOCATION",
    "KAFKA_SSL_KEY_LOCATION",
    "KAFKA_SSL_KEY_PASSWORD",
    "KAFKA_SSL_KEY_PASSWORD_FILE",
    "KAFKA_SSL_ENDPOINT_IDENTIFICATION",
)

MAX_SECRET_FILE_BYTES = 4096
"""A password file holds one line; anything longer is the wrong file (and is not read)."""

MAX_PEM_FILE_BYTES = 1024 * 1024
"""A CA bundle is ~200 kB; we read at most this much to check for PEM data."""

_CERTIFICATE_MARKER = b"-----BEGIN CERTIFICATE-----"
_PRIVATE_KEY_MARKER = b"PRIVATE KEY-----"  # PKCS#8, encrypted PKCS#8, RSA, EC


class SettingsError(ValueError):
    """The environment describes an impossible connection."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaSettings:
    bootstrap_servers: str = DEFAULT_BOOTSTRAP
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: str | None = field(default=None, repr=False)
    ssl_endpoint_identification: bool = True
    """Check that the broker's certificate names the host we connect to."""
    external: bool = False
    """True when ``KAFKA_BOOTSTRAP_SERVERS`` names a broker we did not start."""
    client_errors: ClientErrors = field(default_factory=ClientErrors, repr=False, compare=False)
    """librdkafka's errors and log lines from every client built from these settings."""

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> KafkaSettings:
        """Read and check the ``KAFKA_*`` variables; raises ``SettingsError``.

        Empty variables count as unset (``KAFKA_SASL_PASSWORD= livedata ...``).
        """
        env = os.environ if env is None else env
        variables = {key: value for key, value in env.items() if value.strip()}
        protocol = variables.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").strip().upper()
        if protocol not in _SECURITY_PROTOCOLS:
            raise SettingsError(
                f"KAFKA_SECURITY_PROTOCOL={protocol!r}; use one of {sorted(_SECURITY_PROTOCOLS)}"
            )
        sasl = _sasl_from_env(variables, protocol)
        ssl = _ssl_from_env(variables, protocol)
        bootstrap = variables.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        return KafkaSettings(
            bootstrap_servers=bootstrap or DEFAULT_BOOTSTRAP,
            security_protocol=protocol,
            **sasl,
            **ssl,
            external=bool(bootstrap),
        )

    def client_config(self) -> dict[str, Any]:
        """librdkafka settings shared by every client (contains secrets: never log)."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            # Brokers close idle connections routinely; librdkafka would log each one.
            "log.connection.close": False,
            # Its errors and log lines come to us (served by the client's poll): a refused
            # login is recorded, and repeats are logged once per interval, not per retry.
            "error_cb": self.client_errors.error_cb,
            "logger": self.client_errors,
        }
        if self.sasl_mechanism is not None:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password
        if self.ssl_ca_location is not None:
            config["ssl.ca.location"] = self.ssl_ca_location
        if self.ssl_certificate_location is not None:
            config["ssl.certificate.location"] = self.ssl_certificate_location
        if self.ssl_key_location is not None:
            config["ssl.key.location"] = self.ssl_key_location
        if self.ssl_key_password is not None:
            config["ssl.key.password"] = self.ssl_key_password
        if self.security_protocol in _SSL_PROTOCOLS:
            # librdkafka's default is "https" too; saying so keeps it if that ever changes.
            config["ssl.endpoint.identification.algorithm"] = (
                "https" if self.ssl_endpoint_identification else "none"
            )
        return config

    def redacted(self) -> dict[str, Any]:
        """What may be logged: everything but the passwords."""
        shown: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_username": self.sasl_username,
        }
        if self.security_protocol in _SSL_PROTOCOLS:
            shown["ssl_ca_location"] = self.ssl_ca_location
            shown["ssl_certificate_location"] = self.ssl_certificate_location
            shown["ssl_key_location"] = self.ssl_key_location
            shown["ssl_endpoint_identification"] = self.ssl_endpoint_identification
        return shown

    def __repr__(self) -> str:  # keep the password out of tracebacks and debug prints
        return f"KafkaSettings({self.redacted()})"


def _sasl_from_env(variables: Mapping[str, str], protocol: str) -> dict[str, Any]:
    if protocol not in _SASL_PROTOCOLS:
        _refuse_unused(variables, _SASL_VARIABLES, protocol, "SASL_SSL or SASL_PLAINTEXT")
        return {}
    mechanism = variables.get("KAFKA_SASL_MECHANISM", _DEFAULT_SASL_MECHANISM).strip().upper()
    if mechanism not in _SASL_MECHANISMS:
        raise SettingsError(
            f"KAFKA_SASL_MECHANISM={mechanism!r}; use one of {sorted(_SASL_MECHANISMS)}"
        )
    if mechanism == "PLAIN" and protocol == "SASL_PLAINTEXT":
        raise SettingsError(
            "KAFKA_SASL_MECHANISM=PLAIN over SASL_PLAINTEXT would send the password in "
            "clear text; use KAFKA_SECURITY_PROTOCOL=SASL_SSL or a SCRAM mechanism"
        )
    username = variables.get("KAFKA_SASL_USERNAME")
    password = _secret(variables, "KAFKA_SASL_PASSWORD")
    if username is None or password is None:
        raise SettingsError(
            f"{protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD "
            "(or KAFKA_SASL_PASSWORD_FILE)"
        )
    return {"sasl_mechanism": mechanism, "sasl_username": username, "sasl_password": password}


def _ssl_from_env(variables: Mapping[str, str], protocol: str) -> dict[str, Any]:
    if protocol not in _SSL_PROTOCOLS:
        _refuse_unused(variables, _SSL_VARIABLES, protocol, "SSL or SASL_SSL")
        return {}
    ca = variables.get("KAFKA_SSL_CA_LOCATION")
    if ca is not None and ca != "probe":  # "probe": librdkafka searches the usual places
        _check_pem(variables, "KAFKA_SSL_CA_LOCATION", _CERTIFICATE_MARKER, directory_ok=True)
    certificate = variables.get("KAFKA_SSL_CERTIFICATE_LOCATION")
    key = variables.get("KAFKA_SSL_KEY_LOCATION")
    if (certificate is None) != (key is None):
        raise SettingsError(
            "KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION go together: "
            "a client certificate is of no use without its key"
        )
    if certificate is not None:
        _check_pem(variables, "KAFKA_SSL_CERTIFICATE_LOCATION", _CERTIFICATE_MARKER)
        _check_pem(variables, "KAFKA_SSL_KEY_LOCATION", _PRIVATE_KEY_MARKER)
    key_password = _secret(variables, "KAFKA_SSL_KEY_PASSWORD")
    if key_password is not None and key is None:
        raise SettingsError("KAFKA_SSL_KEY_PASSWORD is set but KAFKA_SSL_KEY_LOCATION is not")
    identification = variables.get("KAFKA_SSL_ENDPOINT_IDENTIFICATION", "https").strip().lower()
    if identification not in _ENDPOINT_IDENTIFICATION:
        raise SettingsError(
            f"KAFKA_SSL_ENDPOINT_IDENTIFICATION={identification!r}; use 'https' (check the "
            "broker's host name, the default) or 'none'"
        )
    return {
        "ssl_ca_location": ca,
        "ssl_certificate_location": certificate,
        "ssl_key_location": key,
        "ssl_key_password": key_password,
        "ssl_endpoint_identification": identification == "https",
    }


def _refuse_unused(
    variables: Mapping[str, str], names: tuple[str, ...], protocol: str, wanted: str
) -> None:
    """A variable the protocol ignores is a mistake that would connect less securely."""
    unused = [name for name in names if name in variables]
    if unused:
        raise SettingsError(
            f"{', '.join(unused)} set, but KAFKA_SECURITY_PROTOCOL={protocol} does not use "
            f"{'it' if len(unused) == 1 else 'them'}; set KAFKA_SECURITY_PROTOCOL to {wanted}"
        )


def _secret(variables: Mapping[str, str], name: str) -> str | None:
    """``name`` itself, or the content of the file ``{name}_FILE`` names (not both).

    A file keeps the secret out of the process environment, which other tools (a crash
    reporter, ``docker inspect``, a shell's ``env``) are apt to show. Errors name the
    variable and the path, never the content.
    """
    file_name = f"{name}_FILE"
    value = variables.get(name)
    path = variables.get(file_name)
    if path is None:
        return value
    if value is not None:
        raise SettingsError(f"set {name} or {file_name}, not both")
    data = _read_bounded(file_name, Path(path), MAX_SECRET_FILE_BYTES)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise SettingsError(
            f"{file_name}={path} is longer than {MAX_SECRET_FILE_BYTES} bytes: "
            "it should hold only the secret"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{file_name}={path} is not UTF-8 text") from None
    # Editors and `echo` end a file with a newline that is not part of the secret.
    secret = text.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise SettingsError(f"{file_name}={path} is empty")
    if "\n" in secret or "\r" in secret:
        raise SettingsError(f"{file_name}={path} holds more than one line")
    return secret


def _check_pem(
    variables: Mapping[str, str], name: str, marker: bytes, *, directory_ok: bool = False
) -> None:
    """Fail now, naming the variable, rather than at the first connection attempt."""
    path = Path(variables[name])
    if directory_ok and path.is_dir():
        if not os.access(path, os.R_OK | os.X_OK):
            raise SettingsError(f"{name}={path}: directory is not readable")
        return
    data = _read_bounded(name, path, MAX_PEM_FILE_BYTES)
    if marker not in data:
        kind = "certificate" if marker == _CERTIFICATE_MARKER else "private key"
        raise SettingsError(f"{name}={path} holds no PEM {kind} ('-----BEGIN ...' line)")


def _read_bounded(name: str, path: Path, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of a regular file (so callers can tell it is too long)."""
    try:
        if not path.is_file():
            what = "does not exist" if not path.exists() else "is not a regular file"
            raise SettingsError(f"{name}={path} {what}")
        with path.open("rb") as handle:
            return handle.read(limit + 1)
    except OSError as err:
        raise SettingsError(f"{name}={path} cannot be read: {err.strerror}") from None
