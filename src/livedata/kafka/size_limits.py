"""How large a message each topic takes, so the sink can shrink a result to fit.

Our clients allow ``MAX_MESSAGE_BYTES``, but the broker has the last word: a topic's
``max.message.bytes`` (Apache Kafka's default is about 1 MB) may be far lower, and a
message over it is refused at delivery, i.e. silently lost but for a counter. So the
limit of each topic is looked up (``DescribeConfigs``) on a short-lived thread, again
every ``RECHECK_S``, and a refusal teaches a lower limit at once (brokers whose ACLs do
not allow the lookup still refuse). The processing loop never waits for any of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import structlog
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings

logger = structlog.get_logger(__name__)

MESSAGE_OVERHEAD_BYTES = 1024
"""The broker limits the record batch, not the payload: a batch of one record adds
about 70 bytes of headers to it; a kilobyte is ample."""

RECHECK_S = 300.0
"""Topic limits change only by an administrator's hand; every five minutes is enough."""

RETRY_S = 30.0
"""A failed lookup (broker away) is tried again after this long."""

LOOKUP_TIMEOUT_S = 10.0

TOPIC_LIMIT = "max.message.bytes"


class TopicSizeLimits:
    """The largest payload each of ``topics`` takes, in bytes.

    ``settings=None`` never asks a broker (the limit is ours, or what refusals taught).
    """

    def __init__(self, settings: KafkaSettings | None, topics: Iterable[str]) -> None:
        self._settings = settings
        self._topics = list(topics)
        self._configured: dict[str, int] = {}
        self._refused: dict[str, int] = {}
        self._next_lookup = 0.0
        self._lookup: threading.Thread | None = None
        self._look_up_if_due()  # at once: the first large result should find it known

    def limit(self, topic: str) -> int:
        self._look_up_if_due()
        limit = MAX_MESSAGE_BYTES - MESSAGE_OVERHEAD_BYTES
        for known in (self._configured, self._refused):
            if topic in known:
                limit = min(limit, known[topic])
        return limit

    def refused(self, topic: str, size: int) -> None:
        """The broker refused a ``size``-byte payload on ``topic`` as too large."""
        below = size - MESSAGE_OVERHEAD_BYTES
        if below < self._refused.get(topic, below + 1):
            self._refused[topic] = below
            logger.warning("topic_size_limit_learnt", topic=topic, limit=below)

    def _look_up_if_due(self) -> None:
        if self._settings is None or time.monotonic() < self._next_lookup:
            return
        if self._lookup is not None and self._lookup.is_alive():
            return
        self._next_lookup = time.monotonic() + RETRY_S  # moved on once it succeeds
        self._lookup = threading.Thread(
            target=self._look_up, args=(self._settings,), name="topic-size-limits", daemon=True
        )
        self._lookup.start()

    def _look_up(self, settings: KafkaSettings) -> None:
        try:
            with AdminClient(settings.client_config()) as admin:
                futures = admin.describe_configs(
                    [ConfigResource(ResourceType.TOPIC, topic) for topic in self._topics],
                    request_timeout=LOOKUP_TIMEOUT_S,
                )
                for resource, future in futures.items():
                    entry = future.result(LOOKUP_TIMEOUT_S).get(TOPIC_LIMIT)
                    if entry is not None and entry.value is not None and entry.value.isdigit():
                        limit = int(entry.value) - MESSAGE_OVERHEAD_BYTES
                        if self._configured.get(resource.name) != limit:
                            logger.info("topic_size_limit", topic=resource.name, limit=limit)
                        self._configured[resource.name] = limit
        except (KafkaException, TimeoutError, OSError) as err:  # broker away, not allowed
            logger.info("topic_size_limit_lookup_failed", error=str(err))
            return
        # A refusal counts until the next successful lookup: an administrator may have
        # raised the limit since.
        self._refused.clear()
        self._next_lookup = time.monotonic() + RECHECK_S
