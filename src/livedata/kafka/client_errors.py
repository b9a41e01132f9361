"""What librdkafka says about its connections: a refusal is recorded, the rest is logged
at most once per kind per interval.

Every client built from one ``KafkaSettings`` shares its ``ClientErrors``:
``client_config`` hands it to librdkafka as ``error_cb`` and as ``logger``, so
librdkafka's errors and log lines arrive here, served by each client's ``poll``,
``consume`` or ``flush``. librdkafka retries every failed connection for ever and, left
to itself, prints each attempt: while a broker is away, or refuses a password, every
client prints a line or two several times a second. Here each kind of line is logged
once per ``LOG_INTERVAL_S``, with how often it repeated meanwhile.

Some failures no retry can mend: the broker refused our SASL login (wrong user or
password, a mechanism it does not offer) or the TLS handshake failed (a broker
certificate we do not trust or that names another host, a client certificate the broker
refuses). ``classify`` tells these refusals from the weather (a broker down, restarting,
unreachable); the first one is recorded, and the process decides what it means: a
processing service exits with code 2, a configuration error (``services.runner``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from confluent_kafka import KafkaError

if TYPE_CHECKING:  # settings.py imports this module
    from livedata.kafka.settings import KafkaSettings

logger = structlog.get_logger(__name__)

LOG_INTERVAL_S = 10.0
"""Each kind of librdkafka error or log line is logged once per interval: a broker outage
still shows at once and stays visible, without a line per client per retry."""

MAX_KINDS = 256
"""Kinds remembered for the interval; past this all are forgotten (at worst one extra
line each). Kinds are few (digits are masked), so only odd input ever gets here."""

LOGIN_REFUSALS = frozenset(
    {
        KafkaError._AUTHENTICATION,  # how librdkafka reports a failed SASL exchange
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.UNSUPPORTED_SASL_MECHANISM,
        KafkaError.ILLEGAL_SASL_STATE,
    }
)
"""Error codes of a refused SASL login: wrong user or password, an unknown mechanism."""

TRANSIENT_TLS_ERROR = "SSL transport error"
"""librdkafka's prefix for a socket error during the TLS handshake (``_SSL``, like a
refused certificate): a broker going away, not our settings."""

REFUSING_TLS_ALERTS = (
    "alert certificate",  # ... required, expired, revoked, unknown
    "alert bad certificate",
    "alert unsupported certificate",
    "alert unknown ca",
    "alert access denied",
    "alert handshake failure",
    "alert protocol version",
    "alert insufficient security",
)
"""TLS alerts by which a broker refuses our certificate or TLS settings. librdkafka
reports them as transport errors (``_TRANSPORT``: "... tlsv13 alert certificate
required: SSL alert number 116"), so they are told apart by their text."""

_THREAD_PREFIX = re.compile(r"^\[thrd:[^\]]*\]:\s*")
# librdkafka ends a connection error with "(after 3ms in state CONNECT[, 2 identical
# error(s) suppressed])": timing, not meaning.
_ATTEMPT_SUFFIX = re.compile(
    r"\s*\(after \d+ms in state \w+(?:, \d+ identical error\(s\) suppressed)?\)\s*$"
)
_DIGITS = re.compile(r"\d+")


class RefusalKind(StrEnum):
    LOGIN = "login"
    TLS = "tls"


@dataclass(frozen=True, slots=True)
class Refusal:
    """The broker refused us in a way no retry mends."""

    kind: RefusalKind
    code: str
    """librdkafka's error name, e.g. ``_AUTHENTICATION``."""
    reason: str
    """librdkafka's text: the broker's address and what went wrong (never a secret)."""


class KafkaRefusedError(RuntimeError):
    """Raised by ``ClientErrors.raise_if_refused`` once a refusal was recorded."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


class ClientError(Protocol):
    """What we use of a ``confluent_kafka.KafkaError``."""

    def code(self) -> int: ...

    def name(self) -> str: ...

    def str(self) -> str: ...


def classify(error: ClientError) -> Refusal | None:
    """A ``Refusal`` if ``error`` says the broker refused our settings; None otherwise."""
    code, reason = error.code(), one_line(error.str())
    tls_refused = (code == KafkaError._SSL and TRANSIENT_TLS_ERROR not in reason) or (
        code == KafkaError._TRANSPORT and any(alert in reason for alert in REFUSING_TLS_ALERTS)
    )
    if code in LOGIN_REFUSALS:
        kind = RefusalKind.LOGIN
    elif tls_refused:
        kind = RefusalKind.TLS
    else:
        return None
    return Refusal(kind=kind, code=error.name(), reason=_ATTEMPT_SUFFIX.sub("", reason))


def refusal_message(refusal: Refusal, settings: KafkaSettings) -> str:
    """One line for an operator: which broker, how we connected (protocol, mechanism,
    user; never a password), librdkafka's reason and which settings to check."""
    how = settings.security_protocol
    if settings.sasl_mechanism is not None:
        how += f" {settings.sasl_mechanism} as user {settings.sasl_username!r}"
    if refusal.kind is RefusalKind.LOGIN:
        check = "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD (or _FILE) and KAFKA_SASL_MECHANISM"
    else:
        check = (
            "KAFKA_SSL_CA_LOCATION, KAFKA_SSL_CERTIFICATE_LOCATION, KAFKA_SSL_KEY_LOCATION "
            "and KAFKA_SSL_ENDPOINT_IDENTIFICATION"
        )
    return (
        f"Kafka broker {settings.bootstrap_servers} refused the connection ({how}): "
        f"{refusal.reason}; check {check}"
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


def kind_of(text: str) -> str:
    """What repeats of one error have in common: no thread name, timing or numbers (a
    log line and the error reported with it share a kind, so only one is logged)."""
    text = _ATTEMPT_SUFFIX.sub("", _THREAD_PREFIX.sub("", one_line(text)))
    return _DIGITS.sub("#", text)


class ClientErrors:
    """librdkafka's ``error_cb`` and ``logger`` for every client of one process.

    Called on whichever thread serves a client (a source's consumer thread, the main
    loop's producer ``poll``), hence the lock.
    """

    def __init__(
        self,
        *,
        interval_s: float = LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._refusal: Refusal | None = None
        self._listeners: list[Callable[[Refusal], None]] = []
        self._logged_at: dict[str, float] = {}
        self._repeats: Counter[str] = Counter()

    @property
    def refusal(self) -> Refusal | None:
        """The first refusal reported by any client; None while there was none."""
        return self._refusal

    def raise_if_refused(self) -> None:
        refusal = self._refusal
        if refusal is not None:
            raise KafkaRefusedError(refusal)

    def on_refusal(self, listener: Callable[[Refusal], None]) -> None:
        """Call ``listener`` once, with the first refusal: at once if there was one."""
        with self._lock:
            refusal = self._refusal
            if refusal is None:
                self._listeners.append(listener)
        if refusal is not None:
            listener(refusal)

    # -- librdkafka's callbacks ---------------------------------------------------

    def error_cb(self, error: ClientError) -> None:
        """librdkafka's ``error_cb``."""
        refusal = classify(error)
        if refusal is not None:
            self._refuse(refusal)
        reason = one_line(error.str())
        self._log(
            logging.ERROR if refusal is not None else logging.WARNING,
            kind_of(reason),
            "kafka_client_error",
            code=error.name(),
            reason=reason,
        )

    def log(self, level: int, fmt: str, *args: Any) -> None:
        """librdkafka's ``logger``: confluent-kafka calls ``log(level, "%s [%s] %s",
        facility, client name, message)`` with a ``logging`` level."""
        if len(args) == 3:
            facility, client, message = (str(arg) for arg in args)
        else:  # not the documented call; keep the text anyway
            facility, client, message = "", "", fmt % args if args else fmt
        message = one_line(_THREAD_PREFIX.sub("", message))
        self._log(
            level,
            kind_of(message),
            "kafka_client_log",
            facility=facility,
            client=client,
            message=message,
        )

    # -- internals ----------------------------------------------------------------

    def _refuse(self, refusal: Refusal) -> None:
        with self._lock:
            if self._refusal is not None:
                return
            self._refusal = refusal
            listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener(refusal)

    def _log(self, level: int, kind: str, event: str, **fields: Any) -> None:
        now = self._clock()
        with self._lock:
            last = self._logged_at.get(kind)
            if last is not None and now - last < self._interval_s:
                self._repeats[kind] += 1
                return
            if len(self._logged_at) >= MAX_KINDS:
                self._logged_at.clear()
                self._repeats.clear()
            self._logged_at[kind] = now
            repeats = self._repeats.pop(kind, 0)
        if repeats:
            fields["repeated"] = repeats
        logger.log(level, event, **fields)
