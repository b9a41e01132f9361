"""End to end through Kafka: fake detector events -> embedded broker -> detector_data.

Drives a detector view at increasing event rates and prints, per rate: the fraction of
sent events that reached the results, the service's CPU share (of one core) and RSS,
and the data age of results (p50, p99: wall time at receipt minus the result's
``time``, the end of the data window it covers). The highest rate with >= 97 % of
events processed and p99 age under 3 s is reported as sustained. Everything runs on
this machine (producer, broker, service, reader).

The view is the dummy instrument's ``panel_0_xy``, or with ``--instrument loki`` the
LoKI-like instrument's ``detector_xy`` on all nine banks (one job per bank; the fake
producer splits the rate between the banks as its model lights them).

Run: ``.venv/bin/python benchmarks/detector_pipeline.py [--instrument dummy|loki]
[--rates 1e5,1e6,1e7] [--seconds 20]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid

import numpy as np

from livedata.cli.watch import tail_consumer
from livedata.config.topics import Topic, topic_name
from livedata.core.control import WorkflowConfig
from livedata.core.identity import JobId, WorkflowId
from livedata.kafka.command_client import CommandClient
from livedata.kafka.embedded_broker import EmbeddedBroker, free_port
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.topics import create_topics
from livedata.protocol.da00 import decode_da00
from livedata.protocol.result_key import decode_result_key

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


VIEWS = {
    "dummy": ("panel_0_xy", ["panel_0"]),
    "loki": ("detector_xy", [f"loki_detector_{i}" for i in range(9)]),
}
"""The workflow run per instrument, and the banks it runs on (one job each)."""


def start_jobs(settings: KafkaSettings, instrument: str) -> set[JobId]:
    workflow, banks = VIEWS[instrument]
    jobs = set()
    with CommandClient(settings=settings, instrument=instrument) as client:
        for bank in banks:
            job_id = JobId(source_name=bank, job_number=uuid.uuid4())
            command = WorkflowConfig(
                message_id=str(uuid.uuid4()),
                workflow_id=WorkflowId(instrument=instrument, name=workflow, version=1),
                job_id=job_id,
            )
            for _ in range(20):
                client.send([command])
                if client.wait_for(command.message_id, [bank], timeout_s=3).responses:
                    jobs.add(job_id)
                    break
            else:
                raise SystemExit("detector_data did not answer")
    return jobs


def measure(settings, env, instrument, service_pid, jobs, rate, seconds) -> dict[str, float]:
    consumer = tail_consumer(settings, topic_name(instrument, Topic.DATA))
    producer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livedata.services.fake_producers",
            "--instrument",
            instrument,
            "--kinds",
            "detector",
            "--event-rate",
            str(rate),
            "--duration",
            str(seconds),
            "--log-level",
            "WARNING",
        ],
        env=env,
    )
    cpu0, t0 = cpu_seconds(service_pid), time.monotonic()
    started_ms = time.time_ns() // 1_000_000
    processed, ages, rss = 0.0, [], []
    settle_until = time.monotonic() + seconds + 4  # let the last windows arrive
    while time.monotonic() < settle_until:
        for message in consumer.consume(200, 0.2):
            # The embedded broker may re-deliver the previous run's last batch.
            if message.error() is not None or message.timestamp()[1] < started_ms:
                continue
            source_name, _, data = decode_da00(message.value())
            key = decode_result_key(source_name)
            if key.job_id not in jobs or key.output_name != "counts_total":
                continue
            processed += float(data.value)
            ages.append((time.time_ns() - int(data.coords["time"].value)) / 1e9)
        if time.monotonic() - t0 <= seconds:
            rss.append(rss_mb(service_pid))
    cpu = (cpu_seconds(service_pid) - cpu0) / seconds
    producer.wait()
    consumer.close()
    sent = rate * seconds
    return {
        "rate": rate,
        "processed": processed / sent,
        "cpu": cpu,
        "rss": max(rss) if rss else float("nan"),
        "age_p50": float(np.percentile(ages, 50)) if ages else float("nan"),
        "age_p99": float(np.percentile(ages, 99)) if ages else float("nan"),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--instrument", choices=sorted(VIEWS), default="dummy")
    p.add_argument("--rates", default="1e5,1e6,3e6,1e7,2e7")
    p.add_argument("--seconds", type=float, default=20)
    args = p.parse_args()
    port = free_port()
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers}
    with EmbeddedBroker(port=port):
        create_topics(settings, args.instrument)
        service = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "livedata.services.detector_data",
                "--instrument",
                args.instrument,
                "--log-level",
                "WARNING",
            ],
            env=env,
        )
        try:
            jobs = start_jobs(settings, args.instrument)
            print(
                f"{'events/s':>10} {'processed':>10} {'CPU':>6} {'RSS MB':>8} "
                f"{'age p50':>8} {'age p99':>8}"
            )
            sustained = 0.0
            for rate in (float(r) for r in args.rates.split(",")):
                r = measure(settings, env, args.instrument, service.pid, jobs, rate, args.seconds)
                print(
                    f"{r['rate']:>10.0e} {r['processed']:>10.1%} {r['cpu']:>6.0%} "
                    f"{r['rss']:>8.0f} {r['age_p50']:>7.2f}s {r['age_p99']:>7.2f}s",
                    flush=True,
                )
                if r["processed"] >= 0.97 and r["age_p99"] < 3:
                    sustained = rate
            print(
                f"highest sustained rate: {sustained:.0e} events/s "
                f"(producer, broker, service and reader share {os.cpu_count()} cores)"
            )
        finally:
            service.send_signal(2)
            service.wait(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
