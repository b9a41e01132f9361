"""Sends commands to an instrument's services and collects their answers.

Used by the demo, the ``livedata ctl`` CLI and the dashboard. A command counts as
sent only once its delivery report succeeds (``acks=all``, idempotent producer);
answers are read from the responses topic, which is watched from before the send.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import OFFSET_END, KafkaError, Producer

from livedata.config.topics import Topic, topic_name
from livedata.core.control import Command, CommandResponse
from livedata.kafka.assigned_consumer import AssignedConsumer
from livedata.kafka.settings import KafkaSettings
from livedata.protocol.commands import encode_command
from livedata.protocol.errors import DecodeError
from livedata.protocol.responses import decode_response

SEND_TIMEOUT_S = 10.0

MAX_PENDING_ANSWERS = 10_000
"""Answers kept for commands not waited on yet (a client sending many, then waiting)."""


class CommandNotSentError(RuntimeError):
    """The broker did not confirm the command; nothing was sent."""


@dataclass(frozen=True, slots=True)
class Answers:
    """Responses collected for one command, and which devices stayed silent."""

    responses: list[CommandResponse]
    missing: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing and all(r.ok for r in self.responses)


class CommandClient:
    def __init__(self, *, settings: KafkaSettings, instrument: str) -> None:
        self._commands_topic = topic_name(instrument, Topic.COMMANDS)
        self._responses_topic = topic_name(instrument, Topic.RESPONSES)
        self._producer = Producer(
            {**settings.client_config(), "acks": "all", "enable.idempotence": True}
        )
        # Kept assigned through the topic's deletion and recreation (AssignedConsumer).
        self._consumer = AssignedConsumer(
            {
                **settings.client_config(),
                "group.id": f"livedata-client-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
            },
            {self._responses_topic: OFFSET_END},
        )
        self._pending: list[CommandResponse] = []
        self._started_ms = time.time_ns() // 1_000_000

    def close(self) -> None:
        self._consumer.close()
        self._producer.flush(1.0)

    def __enter__(self) -> CommandClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, commands: Sequence[Command]) -> None:
        """Send commands in order; raise ``CommandNotSentError`` unless all are confirmed."""
        failures: list[str] = []

        def on_delivery(error: KafkaError | None, _message: object) -> None:
            if error is not None:
                failures.append(str(error))

        for command in commands:
            self._producer.produce(
                self._commands_topic, encode_command(command), on_delivery=on_delivery
            )
        undelivered = self._producer.flush(SEND_TIMEOUT_S)
        if undelivered or failures:
            reason = failures[0] if failures else f"{undelivered} not confirmed in time"
            raise CommandNotSentError(f"command not sent: {reason}")

    def wait_for(self, message_id: str, devices: Sequence[str], *, timeout_s: float) -> Answers:
        """Collect the answers to ``message_id`` from ``devices`` until all came or time ran out."""
        wanted = set(devices)
        got: dict[str, CommandResponse] = {}
        deadline = time.monotonic() + timeout_s
        while wanted - set(got) and time.monotonic() < deadline:
            for response in self._poll(min(0.2, max(0.0, deadline - time.monotonic()))):
                if response.message_id == message_id and response.device in wanted:
                    got.setdefault(response.device, response)
                elif len(self._pending) < MAX_PENDING_ANSWERS:
                    self._pending.append(response)  # may answer a later wait_for
        return Answers(
            responses=[got[d] for d in devices if d in got],
            missing=[d for d in devices if d not in got],
        )

    def _poll(self, timeout_s: float) -> list[CommandResponse]:
        responses, self._pending = self._pending, []
        for message in self._consumer.consume(100, timeout_s):
            if message.error() is not None or message.timestamp()[1] < self._started_ms:
                continue
            try:
                responses.append(decode_response(message.value() or b""))
            except DecodeError:
                continue  # somebody else's garbage is not an answer
        return responses
