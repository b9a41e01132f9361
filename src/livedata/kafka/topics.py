"""An instrument's topics (WIRE.md dev names) and creating them on a broker."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from livedata.config.topics import RAW_DATA_TOPICS, Topic, instrument_topics
from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings

logger = structlog.get_logger(__name__)


RAW_RETENTION_MS = 10 * 60 * 1000
"""Raw data is read live and never replayed; ten minutes is enough to debug a producer."""

RAW_RETENTION_BYTES = 2 * 1024**3
"""And at most 2 GiB per partition: ten minutes at 1e7 events/s would be 48 GB."""

RESULTS_RETENTION_MS = 60 * 60 * 1000
"""Results are read from the newest offset (dashboard, NICOS, CLI); an hour is plenty
to look back at, and they are large: ~2 MB/s for the dummy's default jobs."""

RESULTS_RETENTION_BYTES = 1024**3
"""And at most 1 GiB per partition."""

CONTROL_RETENTION_MS = 7 * 24 * 3600 * 1000
"""Commands, responses, ROIs, heartbeats, run transitions and job snapshots: a week, to
audit a beamtime. They are small (kilobytes per second)."""

SEGMENT_MS = 5 * 60 * 1000
"""Kafka deletes whole segments, and rolls a quiet topic's segment only after a week by
default; rolling every five minutes lets the time limits above apply on quiet topics."""

CREATE_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class TopicPlan:
    name: str
    config: dict[str, str]
    role: Topic | None = None
    partitions: int = 1


def _config(role: Topic) -> dict[str, str]:
    config = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
    if role in RAW_DATA_TOPICS:
        config |= {
            "retention.ms": str(RAW_RETENTION_MS),
            "retention.bytes": str(RAW_RETENTION_BYTES),
            "segment.ms": str(SEGMENT_MS),
        }
    elif role is Topic.DATA:
        config |= {
            "retention.ms": str(RESULTS_RETENTION_MS),
            "retention.bytes": str(RESULTS_RETENTION_BYTES),
            "segment.ms": str(SEGMENT_MS),
        }
    else:
        config["retention.ms"] = str(CONTROL_RETENTION_MS)
    return config


def topic_plan(instrument: str) -> list[TopicPlan]:
    """Every topic of an instrument with its retention and size limit."""
    return [
        TopicPlan(name, _config(role), role=role)
        for role, name in instrument_topics(instrument).items()
    ]


def create_topics(settings: KafkaSettings, instrument: str) -> list[str]:
    """Create the instrument's topics that do not exist yet; return the ones created."""
    with AdminClient(settings.client_config()) as admin:  # frees its threads and sockets
        existing = set(admin.list_topics(timeout=CREATE_TIMEOUT_S).topics)
        wanted = [p for p in topic_plan(instrument) if p.name not in existing]
        if not wanted:
            return []
        futures = admin.create_topics(
            [
                NewTopic(
                    p.name, num_partitions=p.partitions, replication_factor=-1, config=p.config
                )
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
