"""Hostile commands sent to running services on the real broker.

Commands the wire format refuses (extra fields naming a broker or a file, code in a
name, NaN, oversize, garbage) are dropped and counted by reason in the heartbeat, and
the services go on answering the next good command. Commands that are well formed but
name something the instrument does not offer (a source that looks like a broker
address, params naming a path or a topic, an unknown role or workflow) are answered
ERR once, with the reason.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from livedata.cli.watch import tail_consumer
from livedata.config.topics import Topic, topic_name
from livedata.core.control import WorkflowConfig
from livedata.core.identity import JobId, WorkflowId
from livedata.kafka.command_client import CommandClient
from livedata.protocol.commands import MAX_COMMAND_BYTES
from livedata.protocol.heartbeats import ServiceHeartbeat
from livedata.protocol.responses import decode_response
from livedata.testing.stack import HeartbeatReader, RawProducer

pytestmark = pytest.mark.integration


@pytest.fixture
def services(dummy, start_service):
    # monitor_data is the dummy's designated responder for commands nobody can own.
    start_service("monitor_data", dummy)
    start_service("detector_data", dummy)
    return dummy


def config(instrument: str, workflow: str, source: str, **kwargs: Any) -> WorkflowConfig:
    return WorkflowConfig(
        message_id=str(uuid.uuid4()),
        workflow_id=WorkflowId(instrument=instrument, name=workflow, version=1),
        job_id=JobId(source_name=source, job_number=uuid.uuid4()),
        **kwargs,
    )


def answers(settings, instrument: str, command: WorkflowConfig) -> list:
    """All answers to ``command`` (re-sent while the services start; applied once)."""
    with CommandClient(settings=settings, instrument=instrument) as client:
        for _attempt in range(4):
            client.send([command])
            got = client.wait_for(command.message_id, [command.job_id.source_name], timeout_s=4)
            if got.responses:
                return got.responses
    return []


@pytest.mark.parametrize(
    ("workflow", "source", "kwargs", "reason"),
    [
        ("panel_0_xy", "kafka:9092", {}, "not accepted"),
        ("panel_0_xy", "panel_0", {"params": {"path": "/etc/passwd"}}, "invalid params"),
        ("panel_0_xy", "panel_0", {"params": {"bootstrap_servers": "x:9092"}}, "invalid params"),
        ("panel_0_xy", "panel_0", {"params": {"topic": "loki_detector"}}, "invalid params"),
        ("panel_0_xy", "panel_0", {"aux_source_names": {"topic": "monitor1"}}, "unknown"),
        ("etc_passwd", "panel_0", {}, "unknown workflow"),
    ],
    ids=["broker-as-source", "path-param", "broker-param", "topic-param", "topic-role", "workflow"],
)
def test_well_formed_commands_naming_what_the_instrument_lacks_get_one_err(
    services, kafka_settings, workflow: str, source: str, kwargs: dict[str, Any], reason: str
) -> None:
    command = config(services.name, workflow, source, **kwargs)
    (response,) = answers(kafka_settings, services.name, command)
    assert not response.ok
    assert reason in response.error


def _raw(instrument: str, **changes: Any) -> dict[str, Any]:
    command: dict[str, Any] = {
        "kind": "workflow_config",
        "identifier": {"instrument": instrument, "name": "panel_0_xy", "version": 1},
        "message_id": str(uuid.uuid4()),
        "job_id": {"source_name": "panel_0", "job_number": str(uuid.uuid4())},
    }
    command.update(changes)
    return command


def hostile_payloads(instrument: str) -> dict[str, list[bytes]]:
    """Payloads the decoder refuses, by the reason it gives."""

    def encoded(**changes: Any) -> bytes:
        return json.dumps(_raw(instrument, **changes)).encode()

    return {
        "invalid_value": [
            encoded(bootstrap_servers="evil:9092"),
            encoded(topic="loki_detector"),
            encoded(path="/etc/passwd"),
            encoded(job_id={"source_name": "../../etc/passwd", "job_number": str(uuid.uuid4())}),
            encoded(
                identifier={"instrument": instrument, "name": "__import__('os')", "version": 1}
            ),
            encoded(params={"bins": 10**30}),
        ],
        "malformed": [
            encoded(params={}).replace(b'"params": {}', b'"params": {"x": NaN}'),
            b"!!python/object/apply:os.system ['id']",
            b"\x80\x04\x95 pickle",
            b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        ],
        "too_large": [encoded(params={"x": "A" * MAX_COMMAND_BYTES})],
        "empty": [b""],
    }


def test_refused_commands_are_counted_and_the_services_keep_answering(
    services, kafka_settings
) -> None:
    beats = HeartbeatReader(kafka_settings, services.name)
    commands_topic = topic_name(services.name, Topic.COMMANDS)
    # The services answer before the garbage arrives, so their consumers are assigned.
    first = config(services.name, "panel_0_xy", "panel_0")
    assert [r.ok for r in answers(kafka_settings, services.name, first)] == [True]
    expected = hostile_payloads(services.name)
    raw = RawProducer(kafka_settings, services.name)
    for payloads in expected.values():
        for payload in payloads:
            raw.send(Topic.COMMANDS, payload)
    raw.flush()
    after = config(services.name, "panel_0_xy", "panel_0")
    assert [r.ok for r in answers(kafka_settings, services.name, after)] == [True]
    counts = {reason: len(payloads) for reason, payloads in expected.items()}

    def counted_everything(beat) -> bool:
        if not isinstance(beat, ServiceHeartbeat):
            return False
        ingress = beat.status.stream_stats.get("ingress", {})
        rejected = ingress.get("rejected", {}).get(commands_topic, {})
        return all(rejected.get(reason, 0) >= n for reason, n in counts.items())

    for service in ("monitor_data", "detector_data"):
        beats.wait_for(lambda b, s=service: counted_everything(b) and b.status.service_name == s)
    beats.close()


def test_a_refused_command_with_a_readable_message_id_is_answered_err(
    services, kafka_settings
) -> None:
    first = config(services.name, "panel_0_xy", "panel_0")
    assert [r.ok for r in answers(kafka_settings, services.name, first)] == [True]
    command = _raw(services.name, bootstrap_servers="evil:9092")
    consumer = tail_consumer(kafka_settings, topic_name(services.name, Topic.RESPONSES))
    try:
        raw = RawProducer(kafka_settings, services.name)
        raw.send(Topic.COMMANDS, json.dumps(command).encode())
        raw.flush()
        got = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and not got:
            for message in consumer.consume(50, 0.2):
                if message.error() is None:
                    response = decode_response(message.value())
                    if response.message_id == command["message_id"]:
                        got.append(response)
    finally:
        consumer.close()
    assert [(r.ok, r.device) for r in got] == [(False, "panel_0")]
    assert "bootstrap_servers" in (got[0].error or "")
