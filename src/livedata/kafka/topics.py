"""An instrument's topics (WIRE.md dev names) and creating them on a broker."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from livedata.config.topics import RAW_DATA_TOPICS, instrument_topics
from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings

logger = structlog.get_logger(__name__)


RAW_RETENTION_MS = 10 * 60 * 1000
"""Raw data is read live and never replayed; ten minutes is enough to debug a producer."""

CONTROL_RETENTION_MS = 7 * 24 * 3600 * 1000
"""Commands, responses, ROIs, heartbeats and results: a week, to audit a beamtime."""

CREATE_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class TopicPlan:
    name: str
    config: dict[str, str]


def topic_plan(instrument: str) -> list[TopicPlan]:
    """Every topic of an instrument with its retention and size limit."""
    plans = []
    for role, name in instrument_topics(instrument).items():
        retention = RAW_RETENTION_MS if role in RAW_DATA_TOPICS else CONTROL_RETENTION_MS
        plans.append(
            TopicPlan(
                name,
                {"retention.ms": str(retention), "max.message.bytes": str(MAX_MESSAGE_BYTES)},
            )
        )
    return plans


def create_topics(settings: KafkaSettings, instrument: str) -> list[str]:
    """Create the instrument's topics that do not exist yet; return the ones created."""
    with AdminClient(settings.client_config()) as admin:  # frees its threads and sockets
        existing = set(admin.list_topics(timeout=CREATE_TIMEOUT_S).topics)
        wanted = [p for p in topic_plan(instrument) if p.name not in existing]
        if not wanted:
            return []
        futures = admin.create_topics(
            [
                NewTopic(p.name, num_partitions=1, replication_factor=-1, config=p.config)
                for p in wanted
            ],
            request_timeout=CREATE_TIMEOUT_S,
        )
        created = []
        for name, future in futures.items():
            try:
                future.result(CREATE_TIMEOUT_S)
                created.append(name)
            except KafkaException as err:
                if err.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent creator won
                    raise
    logger.info("topics_created", instrument=instrument, topics=created)
    return created
