"""A TLS and SASL/SCRAM front for the embedded broker, so tests can connect securely.

Tansu 0.6 (our embedded broker) cannot serve either: its ``--cert`` and ``--key``
options exclude each other, and with ``--authentication`` its in-memory storage cannot
be given users (see the security page of the user guide). This front does what a
secured Kafka listener does and forwards everything else to the broker unchanged:

- TLS: it terminates TLS with a server certificate, optionally requiring a client
  certificate signed by a given CA (mutual TLS).
- SASL/SCRAM (RFC 5802, RFC 7677): it answers ``SaslHandshake`` and
  ``SaslAuthenticate`` itself, checks the client's proof against its users and closes
  the connection on a wrong password after a ``SASL_AUTHENTICATION_FAILED`` answer,
  as Kafka does. Only ``ApiVersions`` is forwarded before authentication.

Start the broker with ``advertised=front.address`` so that clients, after bootstrap,
keep talking through the front. Test code only: one thread per connection.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import select
import socket
import ssl
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["ScramUsers", "SecureFront", "TlsServerFiles"]

_API_VERSIONS = 18
_SASL_HANDSHAKE = 17
_SASL_AUTHENTICATE = 36
_UNSUPPORTED_SASL_MECHANISM = 33
_ILLEGAL_SASL_STATE = 34
_SASL_AUTHENTICATION_FAILED = 58
_SCRAM_ITERATIONS = 4096
_MAX_FRAME_BYTES = 1024 * 1024
"""Before authentication only small requests arrive; a bigger one is refused."""
_POLL_S = 0.2
_HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}


@dataclass(frozen=True, slots=True)
class TlsServerFiles:
    certificate: Path
    key: Path
    client_ca: Path | None = None
    """Require client certificates signed by this CA (mutual TLS)."""


@dataclass(frozen=True, slots=True)
class ScramUsers:
    mechanism: str
    """``SCRAM-SHA-256`` or ``SCRAM-SHA-512``."""
    passwords: Mapping[str, str]


class SecureFront:
    """Listens on a loopback port and forwards to ``upstream`` (``host:port``)."""

    def __init__(
        self,
        upstream: str,
        *,
        tls: TlsServerFiles | None = None,
        scram: ScramUsers | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if scram is not None and scram.mechanism not in _HASHES:
            raise ValueError(f"unsupported mechanism {scram.mechanism!r}")
        upstream_host, _, upstream_port = upstream.rpartition(":")
        self._upstream = (upstream_host, int(upstream_port))
        self._scram = scram
        self._context: ssl.SSLContext | None = None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls.certificate), str(tls.key))
            if tls.client_ca is not None:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(cafile=str(tls.client_ca))
            self._context = context
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(_POLL_S)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.authentication_failures = 0
        self.authenticated_users: list[str] = []
        self.tls_failures = 0
        self._accept_thread = threading.Thread(target=self._accept, name="front-accept")

    @property
    def address(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"{host}:{port}"

    def start(self) -> None:
        self._accept_thread.start()

    def close(self) -> None:
        self._closed.set()
        self._accept_thread.join(5)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)
        self._listener.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(10)
            if self._context is not None:
                try:
                    client = self._context.wrap_socket(client, server_side=True)
                except (ssl.SSLError, OSError):
                    with self._lock:
                        self.tls_failures += 1
                    return
            upstream = socket.create_connection(self._upstream, timeout=10)
            if self._scram is not None and not self._authenticate(client, upstream, self._scram):
                return
            self._pump(client, upstream)
        except (OSError, ValueError, struct.error):
            return  # the client went away or spoke nonsense: drop the connection
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy bytes both ways in one thread (an SSL socket is not safe to share)."""
        peer = {client: upstream, upstream: client}
        while not self._closed.is_set():
            ready: list[socket.socket]
            if isinstance(client, ssl.SSLSocket) and client.pending():
                ready = [client]
            else:
                ready, _, _ = select.select([client, upstream], [], [], _POLL_S)
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                peer[sock].sendall(data)

    # -- SASL ------------------------------------------------------------------------

    def _authenticate(
        self, client: socket.socket, upstream: socket.socket, scram: ScramUsers
    ) -> bool:
        """Serve the SASL exchange; True once the client proved its password."""
        exchange: _ScramExchange | None = None
        while not self._closed.is_set():
            frame = _read_frame(client)
            api_key, api_version, correlation_id, body = _parse_request(frame)
            if api_key == _API_VERSIONS:
                upstream.sendall(frame)
                client.sendall(_read_frame(upstream))
            elif api_key == _SASL_HANDSHAKE and api_version <= 1:
                mechanism = _read_string(body, 0)[0]
                ok = mechanism == scram.mechanism
                response = struct.pack(">h", 0 if ok else _UNSUPPORTED_SASL_MECHANISM)
                response += struct.pack(">i", 1) + _string(scram.mechanism)
                _send_response(client, correlation_id, response)
                if not ok:
                    return False
                exchange = _ScramExchange(scram)
            elif api_key == _SASL_AUTHENTICATE and api_version <= 1 and exchange is not None:
                (length,) = struct.unpack_from(">i", body, 0)
                reply, error = exchange.step(body[4 : 4 + length])
                code = _SASL_AUTHENTICATION_FAILED if error else 0
                response = struct.pack(">h", code) + _nullable_string(error)
                response += struct.pack(">i", len(reply)) + reply
                if api_version >= 1:
                    response += struct.pack(">q", 0)  # session lifetime: unlimited
                _send_response(client, correlation_id, response)
                if error is not None:
                    with self._lock:
                        self.authentication_failures += 1
                    return False
                if exchange.done:
                    with self._lock:
                        self.authenticated_users.append(exchange.username)
                    return True
            else:
                # Kafka closes a connection that skips authentication; so do we.
                _send_response(client, correlation_id, struct.pack(">h", _ILLEGAL_SASL_STATE))
                return False
        return False


class _ScramExchange:
    """The server side of one SCRAM conversation (two client messages)."""

    def __init__(self, users: ScramUsers) -> None:
        self._users = users
        self._hash = _HASHES[users.mechanism]
        self._salt = secrets.token_bytes(16)
        self._state = "first"
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._gs2_header = ""
        self.username = ""
        self.done = False

    def step(self, message: bytes) -> tuple[bytes, str | None]:
        """The reply to one client message, and an error text if authentication failed."""
        text = message.decode("utf-8")
        if self._state == "first":
            return self._first(text), None
        if self._state == "final":
            return self._final(text)
        return b"", "unexpected SASL message"

    def _first(self, text: str) -> bytes:
        flag, authzid, bare = text.split(",", 2)
        self._gs2_header = f"{flag},{authzid},"
        attributes = _attributes(bare)
        self.username = attributes["n"].replace("=2C", ",").replace("=3D", "=")
        self._client_first_bare = bare
        self._nonce = attributes["r"] + secrets.token_urlsafe(18)
        salt = base64.b64encode(self._salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={_SCRAM_ITERATIONS}"
        self._state = "final"
        return self._server_first.encode()

    def _final(self, text: str) -> tuple[bytes, str | None]:
        self._state = "over"
        failed = (
            "Authentication failed during authentication due to invalid credentials "
            f"with SASL mechanism {self._users.mechanism}"
        )
        without_proof, _, proof_text = text.rpartition(",p=")
        attributes = _attributes(without_proof)
        if attributes.get("r") != self._nonce or attributes.get("c") != base64.b64encode(
            self._gs2_header.encode()
        ).decode("ascii"):
            return b"", failed
        # An unknown user is checked against a random password: same answer, same work.
        password = self._users.passwords.get(self.username, secrets.token_hex(16))
        salted = hashlib.pbkdf2_hmac(self._hash, password.encode(), self._salt, _SCRAM_ITERATIONS)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self._hash, client_key).digest()
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        signature = self._hmac(stored_key, auth_message)
        proof = base64.b64decode(proof_text)
        recovered = bytes(a ^ b for a, b in zip(proof, signature, strict=False))
        if len(proof) != len(signature) or not hmac.compare_digest(
            hashlib.new(self._hash, recovered).digest(), stored_key
        ):
            return b"", failed
        server_signature = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
        self.done = True
        return b"v=" + base64.b64encode(server_signature), None

    def _hmac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self._hash).digest()


def _attributes(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(",") if "=" in part)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed")
        chunks += chunk
    return bytes(chunks)


def _read_frame(sock: socket.socket) -> bytes:
    """One size-prefixed Kafka frame, prefix included."""
    head = _recv_exact(sock, 4)
    (size,) = struct.unpack(">i", head)
    if not 0 < size <= _MAX_FRAME_BYTES:
        raise ValueError(f"frame of {size} bytes")
    return head + _recv_exact(sock, size)


def _parse_request(frame: bytes) -> tuple[int, int, int, bytes]:
    """(api_key, api_version, correlation_id, body) of a request with a v1 header."""
    api_key, api_version, correlation_id = struct.unpack_from(">hhi", frame, 4)
    client_id, offset = _read_string(frame, 12)
    del client_id
    return api_key, api_version, correlation_id, frame[offset:]


def _read_string(data: bytes, offset: int) -> tuple[str, int]:
    (length,) = struct.unpack_from(">h", data, offset)
    if length < 0:
        return "", offset + 2
    start = offset + 2
    return data[start : start + length].decode("utf-8"), start + length


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">h", len(raw)) + raw


def _nullable_string(text: str | None) -> bytes:
    return struct.pack(">h", -1) if text is None else _string(text)


def _send_response(sock: socket.socket, correlation_id: int, body: bytes) -> None:
    payload = struct.pack(">i", correlation_id) + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
