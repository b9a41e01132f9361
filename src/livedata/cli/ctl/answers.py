"""Collecting every answer to a broadcast job command.

A ``job_command`` for a workflow or for all jobs is answered with device ``"all"`` by
every service (and every worker) it concerns, so the number of answers is not known in
advance. ``CommandClient.wait_for`` keeps one answer per device and cannot count them;
this reader keeps all.
"""

from __future__ import annotations

import time

from confluent_kafka import TopicPartition

from livedata.cli.watch import tail_consumer
from livedata.config.topics import Topic, topic_name
from livedata.core.control import CommandResponse
from livedata.kafka.settings import KafkaSettings
from livedata.protocol.errors import DecodeError
from livedata.protocol.responses import decode_response

BROADCAST_QUIET_S = 2.0
"""After the first answer, stop once no further answer came for this long: services see
a command within one poll of each other and answer at once; waiting the full timeout
would make every ``ctl stop --all`` take ten seconds."""

METADATA_TIMEOUT_S = 5.0


class ResponseCollector:
    """Reads the responses topic from the moment it is created (open it before sending)."""

    def __init__(self, settings: KafkaSettings, instrument: str) -> None:
        topic = topic_name(instrument, Topic.RESPONSES)
        self._consumer = tail_consumer(settings, topic)
        try:
            # A concrete offset, looked up now: an answer that lands before our first
            # poll is still read (OFFSET_END would be resolved only later).
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, 0), timeout=METADATA_TIMEOUT_S
            )
            self._consumer.assign([TopicPartition(topic, 0, high)])
        except BaseException:
            self._consumer.close()
            raise

    def collect(
        self, message_id: str, *, timeout_s: float, quiet_s: float = BROADCAST_QUIET_S
    ) -> list[CommandResponse]:
        """Answers to ``message_id`` until ``timeout_s``, or ``quiet_s`` after the last one."""
        found: list[CommandResponse] = []
        deadline = time.monotonic() + timeout_s
        quiet_until: float | None = None
        while True:
            now = time.monotonic()
            end = deadline if quiet_until is None else min(deadline, quiet_until)
            if now >= end:
                return found
            for message in self._consumer.consume(100, min(0.2, end - now)):
                if message.error() is not None:
                    continue
                try:
                    response = decode_response(message.value() or b"")
                except DecodeError:
                    continue  # somebody else's garbage is not an answer
                if response.message_id == message_id:
                    found.append(response)
                    quiet_until = time.monotonic() + quiet_s

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> ResponseCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
