"""The dashboard's outbox: a small thread producing commands and ROIs.

Callers (Panel sessions) only enqueue, so a slow or absent broker never blocks a page.
Production uses ``acks=all`` with idempotence; every message gets a delivery report
within ``SEND_TIMEOUT_S`` (success or the reason it failed), passed to the caller's
callback on this thread. Queued ROI updates of one stream coalesce: only the newest of
those still waiting is sent (dragging a rectangle makes many).
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException, Producer

from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings

logger = structlog.get_logger(__name__)

SEND_TIMEOUT_S = 10.0
"""librdkafka's ``message.timeout.ms``: a message the broker did not confirm within this
is reported as not sent (instead of after librdkafka's default of five minutes)."""

SEND_RETRIES = 10
SEND_RETRY_WAIT_S = 0.05
"""Up to half a second waiting on a full local producer queue before giving up."""

IDLE_POLL_S = 0.1
"""How often an idle sender serves delivery reports and checks for ``close()``."""

Delivered = Callable[[str | None], None]
"""Called with None once the broker confirmed a message, else with the reason it failed."""


@dataclass(frozen=True, slots=True)
class _Send:
    topic: str
    payload: bytes
    on_delivery: Delivered | None
    coalesce: Hashable | None


class Sender:
    """Produces queued messages on its own thread (started on construction)."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        send_timeout_s: float = SEND_TIMEOUT_S,
        name: str = "dashboard-sender",
    ) -> None:
        self._producer = Producer(
            {
                **settings.client_config(),
                "acks": "all",
                "enable.idempotence": True,
                "message.max.bytes": MAX_MESSAGE_BYTES,
                "message.timeout.ms": int(send_timeout_s * 1000),
                "linger.ms": 0,
            }
        )
        self._outbox: queue.Queue[_Send | None] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self.counters: Counter[str] = Counter()
        """sent, send_failed, superseded (read with ``stats``)."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def send(
        self,
        topic: str,
        payload: bytes,
        *,
        on_delivery: Delivered | None = None,
        coalesce: Hashable | None = None,
    ) -> None:
        """Queue one message; with ``coalesce``, a newer message of the same value that
        is queued before this one goes out replaces it (its callback is not called)."""
        if self._closed:
            raise RuntimeError("the dashboard's sender is closed")
        self._outbox.put(_Send(topic, payload, on_delivery, coalesce))

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counters)

    def close(self, timeout_s: float = 5.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._outbox.put(None)
        self._thread.join(timeout=timeout_s)
        self._producer.flush(1.0)

    def _count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def _run(self) -> None:
        while True:
            try:
                first = self._outbox.get(timeout=IDLE_POLL_S)
            except queue.Empty:
                self._producer.poll(0)
                continue
            batch = [first]
            while True:
                try:
                    batch.append(self._outbox.get_nowait())
                except queue.Empty:
                    break
            sends = [item for item in batch if item is not None]
            newest = {s.coalesce: i for i, s in enumerate(sends) if s.coalesce is not None}
            for i, send in enumerate(sends):
                if send.coalesce is not None and newest[send.coalesce] != i:
                    self._count("superseded")
                    continue
                try:
                    self._produce(send)
                except Exception:  # a bad callback must not end the sender
                    logger.exception("dashboard_send_failed", topic=send.topic)
            self._producer.poll(0.05)
            if len(sends) != len(batch):  # close() queued None
                return

    def _produce(self, send: _Send) -> None:
        def delivered(error: KafkaError | None, _message: Any) -> None:
            self._report(send, None if error is None else error.str())

        for _ in range(SEND_RETRIES):
            try:
                self._producer.produce(send.topic, send.payload, on_delivery=delivered)
                return
            except BufferError:
                self._producer.poll(SEND_RETRY_WAIT_S)
            except KafkaException as err:
                self._report(send, err.args[0].str() if err.args else str(err))
                return
        self._report(send, "the local producer queue stayed full")

    def _report(self, send: _Send, error: str | None) -> None:
        self._count("sent" if error is None else "send_failed")
        if error is not None:
            logger.warning("dashboard_message_not_sent", topic=send.topic, error=error)
        if send.on_delivery is not None:
            try:
                send.on_delivery(error)
            except Exception:
                logger.exception("dashboard_delivery_callback_failed", topic=send.topic)
