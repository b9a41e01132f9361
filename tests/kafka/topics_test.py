import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from livedata.kafka.settings import MAX_MESSAGE_BYTES, KafkaSettings
from livedata.kafka.topics import create_topics, topic_plan

WIRE_TOPICS = {
    "detector",
    "beam_monitor",
    "area_detector",
    "motion",
    "filewriter",
    "livedata_commands",
    "livedata_responses",
    "livedata_data",
    "livedata_roi",
    "livedata_heartbeat",
    "livedata_jobs",  # livedata's job snapshots (ADR 0005)
}
"""The ten per-instrument topics of WIRE.md plus the job registry, spelled out on purpose."""


def broker_topics(settings: KafkaSettings) -> set[str]:
    with AdminClient(settings.client_config()) as admin:
        return set(admin.list_topics(timeout=10).topics)


def test_an_instrument_has_the_wire_topics_and_the_job_registry() -> None:
    assert {p.name for p in topic_plan("dummy")} == {f"dummy_{t}" for t in WIRE_TOPICS}


def test_every_topic_accepts_our_largest_message() -> None:
    assert {p.config["max.message.bytes"] for p in topic_plan("dummy")} == {str(MAX_MESSAGE_BYTES)}


def test_raw_data_keeps_less_than_control_topics() -> None:
    retention = {p.name: int(p.config["retention.ms"]) for p in topic_plan("dummy")}
    assert retention["dummy_detector"] < retention["dummy_livedata_commands"]


@pytest.mark.integration
def test_create_topics_creates_all_wire_topics_once(
    kafka_settings: KafkaSettings, instrument_name: str
) -> None:
    expected = {f"{instrument_name}_{t}" for t in WIRE_TOPICS}

    assert set(create_topics(kafka_settings, instrument_name)) == expected
    assert expected <= broker_topics(kafka_settings)

    assert create_topics(kafka_settings, instrument_name) == []
    assert expected <= broker_topics(kafka_settings)


@pytest.mark.integration
def test_create_topics_fills_in_only_the_missing_ones(
    kafka_settings: KafkaSettings, instrument_name: str
) -> None:
    name = f"{instrument_name}_livedata_commands"
    with AdminClient(kafka_settings.client_config()) as admin:
        admin.create_topics([NewTopic(name, 1, -1)])[name].result(10)
    created = create_topics(kafka_settings, instrument_name)
    assert set(created) == {f"{instrument_name}_{t}" for t in WIRE_TOPICS} - {name}


def test_results_keep_less_than_control_topics_and_bulk_topics_are_bounded_in_bytes() -> None:
    config = {p.name: p.config for p in topic_plan("dummy")}
    results, commands = config["dummy_livedata_data"], config["dummy_livedata_commands"]
    assert int(results["retention.ms"]) < int(commands["retention.ms"])
    for bulk in ("dummy_detector", "dummy_livedata_data"):
        assert 0 < int(config[bulk]["retention.bytes"]) <= 2 * 1024**3
        assert int(config[bulk]["segment.ms"]) <= int(config[bulk]["retention.ms"])
    assert "retention.bytes" not in commands  # a week of commands is small
