"""A broker restart under running services: they keep running and results resume."""

import dataclasses
import time

import pytest

from livedata.config.registry import load_instrument
from livedata.config.topics import Topic
from livedata.kafka.embedded_broker import EmbeddedBroker, free_port
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.protocol.ev44 import encode_ev44
from livedata.services.runner import ServiceOptions, build_service
from livedata.testing.stack import RawProducer, ResultReader, RunningService, pulses, start_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RESUME_WITHIN_S = 15.0
"""QUALITY.md: results resume within ~15 s of the broker's return."""


def test_results_resume_after_the_broker_restarts(instrument_name: str) -> None:
    port = free_port()
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")
    dummy = dataclasses.replace(load_instrument("dummy"), name=instrument_name)
    broker = EmbeddedBroker(port=port)
    broker.start()
    broker.wait_ready()
    create_topics(settings, dummy.name)
    options = ServiceOptions(service_name="detector_data", instrument=dummy.name)
    service = RunningService(build_service(options, settings=settings, instrument=dummy))
    try:
        job_id = start_job(settings, dummy, "panel_0_xy", "panel_0")
        reader = ResultReader(settings, dummy.name)
        raw = RawProducer(settings, dummy.name)
        for i, batch in enumerate(pulses(14, 100)):
            raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
        raw.flush()
        reader.wait_for(
            lambda k, d: (
                k.job_id == job_id
                and k.output_name == "counts_total_cumulative"
                and d.value == 1400
            )
        )
        reader.close()

        broker.stop()
        time.sleep(3)  # the services run on without a broker
        assert service.exit_code is None
        broker = EmbeddedBroker(port=port)
        broker.start()
        broker.wait_ready()
        create_topics(settings, dummy.name)  # the embedded broker kept nothing
        returned = time.monotonic()

        reader = ResultReader(settings, dummy.name)
        raw = RawProducer(settings, dummy.name)

        def more_than_before(key, data) -> bool:
            return (
                key.job_id == job_id
                and key.output_name == "counts_total_cumulative"
                and data.value > 1400
            )

        deadline = returned + RESUME_WITHIN_S
        found = None
        i = 0
        while found is None and time.monotonic() < deadline:
            for batch in pulses(7, 100, seed=i):
                raw.send(Topic.DETECTOR, encode_ev44("panel_0", i, batch))
                i += 1
            raw.flush()
            try:
                found = reader.wait_for(more_than_before, timeout_s=1.0)
            except AssertionError:
                continue
        reader.close()
        assert found is not None, f"no results within {RESUME_WITHIN_S} s of the broker's return"
        assert service.exit_code is None
    finally:
        service.stop()
        broker.stop()
