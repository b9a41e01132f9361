"""Throwaway TLS certificates for tests: a CA, a server and a client certificate.

Made with the ``openssl`` command (no Python dependency); EC P-256 keys, because they
are generated in milliseconds. Valid for one day, for loopback names only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OpenSslMissingError", "TestPki", "make_test_pki", "openssl_available"]

_DAYS = "1"
_CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
_KEY_PASSWORD_ENV = "LIVEDATA_TEST_KEY_PASSWORD"
"""Passphrases go to openssl through its environment (``-passout env:``), never argv."""


class OpenSslMissingError(RuntimeError):
    """The ``openssl`` command is not installed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TestPki:
    """PEM files of one throwaway certificate authority and what it signed."""

    __test__ = False  # not a pytest test class, despite its name

    ca: Path
    server_certificate: Path
    server_key: Path
    client_certificate: Path
    client_key: Path
    """Encrypted with ``client_key_password`` when that is set."""
    client_key_password: str | None
    other_ca: Path
    """A second CA that signed nothing here: trusting only it must fail."""


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def _openssl(*args: str, env: dict[str, str] | None = None) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise OpenSslMissingError("the openssl command is needed to make test certificates")
    subprocess.run(
        [binary, *args],
        check=True,
        capture_output=True,
        env={**os.environ, **(env or {})},
    )


def _self_signed_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req", "-x509", *_CURVE, "-nodes", "-days", _DAYS,
        "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def _signed(
    directory: Path, name: str, ca: tuple[Path, Path], extensions: list[str]
) -> tuple[Path, Path]:
    cert, key, csr = (directory / f"{name}{ext}" for ext in (".pem", ".key", ".csr"))
    ext_file = directory / f"{name}.ext"
    ext_file.write_text("\n".join(extensions) + "\n")
    _openssl(
        "req", *_CURVE, "-nodes", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(csr)
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-days", _DAYS, "-out", str(cert), "-extfile", str(ext_file),
    )  # fmt: skip
    return cert, key


def make_test_pki(
    directory: Path,
    *,
    server_names: tuple[str, ...] = ("127.0.0.1", "localhost"),
    client_key_password: str | None = None,
) -> TestPki:
    """Write a CA, a server certificate for ``server_names`` and a client certificate.

    Names that parse as IPv4 addresses become IP subject-alternative names, the rest
    DNS names; a client checking the host name only accepts those.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca = _self_signed_ca(directory, "test-ca")
    other_ca, _ = _self_signed_ca(directory, "other-ca")
    alt_names = ",".join(
        f"IP:{name}" if name.replace(".", "").isdigit() else f"DNS:{name}" for name in server_names
    )
    server = _signed(
        directory,
        "server",
        ca,
        [f"subjectAltName={alt_names}", "extendedKeyUsage=serverAuth"],
    )
    client_cert, client_key = _signed(directory, "client", ca, ["extendedKeyUsage=clientAuth"])
    if client_key_password is not None:
        encrypted = directory / "client.encrypted.key"
        _openssl(
            "pkcs8", "-topk8", "-in", str(client_key), "-out", str(encrypted),
            "-passout", f"env:{_KEY_PASSWORD_ENV}",
            env={_KEY_PASSWORD_ENV: client_key_password},
        )  # fmt: skip
        client_key.unlink()
        client_key = encrypted
    return TestPki(
        ca=ca[0],
        server_certificate=server[0],
        server_key=server[1],
        client_certificate=client_cert,
        client_key=client_key,
        client_key_password=client_key_password,
        other_ca=other_ca,
    )
