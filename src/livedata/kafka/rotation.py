"""Rotating topics of the embedded broker: delete and recreate them, with consumers warned.

The embedded broker (Tansu) keeps every byte produced until a topic is deleted, so
bounding its memory means deleting topics (ADR 0006). Deleting a topic that a
librdkafka consumer has assigned kills that consumer: Tansu answers the next fetch of
the deleted topic with a zero topic id, and librdkafka 2.16 dereferences a null topic
name handling it (SIGSEGV in ``rd_kafka_metadata_update_op``). So a rotation warns
consumers first, through the broker itself:

1. the rotator creates an empty **marker topic** ``livedata_rotating.<topic>`` for each
   topic it will rotate;
2. every livedata consumer on the embedded broker (``AssignedConsumer``, recognising the
   broker by its cluster id) looks the topic list up every ``MARKER_POLL_S`` and
   releases a topic whose marker exists;
3. after ``GRACE_S`` the rotator deletes the topics, creates them again with the same
   configuration, and deletes the markers;
4. consumers see the marker gone and assign the fresh topic from its beginning.

A consumer that does not follow markers (a tool outside livedata) must not read a
rotated topic from the embedded broker.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import structlog
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import TopicPlan

logger = structlog.get_logger(__name__)

EMBEDDED_CLUSTER_ID = "livedata-embedded"
"""The cluster id our embedded broker announces in metadata: how a consumer knows it
talks to a broker that rotates topics (an external broker never does)."""

MARKER_PREFIX = "livedata_rotating."
"""Marker topics are ``livedata_rotating.<topic>``: outside every instrument's names."""

MARKER_POLL_S = 0.25
"""How often a consumer on the embedded broker looks for markers: a metadata request to
a local broker costs well under a millisecond, and this bounds the reaction time."""

GRACE_S = 3.0
"""From creating the markers to deleting the topics. A consumer releases a topic within
one marker poll (0.25 s) plus one loop turn of its thread, and a fetch already in flight
returns within librdkafka's ``fetch.wait.max.ms`` (0.5 s); three seconds leave room for
a loaded two-core machine. Data produced meanwhile is lost to readers: the price of a
rotation."""

ADMIN_TIMEOUT_S = 15.0
"""Topic creation and deletion on a local broker take milliseconds; generous for load."""


def marker_name(topic: str) -> str:
    """The marker topic announcing that ``topic`` is about to be rotated."""
    return f"{MARKER_PREFIX}{topic}"


def is_marker(topic: str) -> bool:
    return topic.startswith(MARKER_PREFIX)


class RotationError(RuntimeError):
    """A rotation could not be completed (the broker refused or did not answer)."""


class TopicRotator:
    """Rotates topics on one broker: markers, grace period, delete, recreate, unmark.

    Parameters
    ----------
    settings:
        How to reach the broker (the embedded one: rotation is never used elsewhere).
    grace_s:
        Seconds between announcing a rotation and deleting the topics.
    stop:
        Set when the owner shuts down: a rotation waiting out its grace period is then
        abandoned (markers removed, nothing deleted).
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        grace_s: float = GRACE_S,
        stop: threading.Event | None = None,
    ) -> None:
        self._settings = settings
        self._grace_s = grace_s
        self._stop = stop or threading.Event()

    @property
    def grace_s(self) -> float:
        return self._grace_s

    def abandon(self) -> None:
        """Give up a rotation waiting out its grace period, and any later one."""
        self._stop.set()

    def rotate(self, plans: Sequence[TopicPlan]) -> bool:
        """Rotate ``plans``' topics; False if abandoned because of a stop request.

        Raises ``RotationError`` if the broker refused a step; the markers are removed
        in any case, so consumers never wait for a rotation that will not come.
        """
        if not plans:
            return True
        names = [p.name for p in plans]
        markers = [marker_name(n) for n in names]
        with AdminClient(self._settings.client_config()) as admin:
            try:
                self._create(admin, [NewTopic(m, num_partitions=1) for m in markers])
                logger.info("rotation_announced", topics=names, grace_s=self._grace_s)
                if self._stop.wait(self._grace_s):
                    return False
                self._delete(admin, names)
                self._create(
                    admin,
                    [
                        NewTopic(p.name, num_partitions=p.partitions, config=dict(p.config))
                        for p in plans
                    ],
                )
                return True
            finally:
                try:
                    self._delete(admin, markers)
                except RotationError as err:  # broker gone: its markers went with it
                    logger.warning("rotation_markers_left", markers=markers, error=str(err))

    @staticmethod
    def _create(admin: AdminClient, topics: list[NewTopic]) -> None:
        futures = admin.create_topics(topics, request_timeout=ADMIN_TIMEOUT_S)
        for name, future in futures.items():
            try:
                future.result(ADMIN_TIMEOUT_S)
            except KafkaException as err:
                if err.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise RotationError(f"creating {name}: {err}") from err

    @staticmethod
    def _delete(admin: AdminClient, names: list[str]) -> None:
        futures = admin.delete_topics(names, request_timeout=ADMIN_TIMEOUT_S)
        for name, future in futures.items():
            try:
                future.result(ADMIN_TIMEOUT_S)
            except KafkaException as err:
                if err.args[0].name() != "UNKNOWN_TOPIC_OR_PART":  # already gone
                    raise RotationError(f"deleting {name}: {err}") from err
