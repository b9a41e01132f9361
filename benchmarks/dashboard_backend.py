"""The dashboard backend's ingest: results per second it decodes into its store.

Three figures, in one run on this machine:

1. **Baseline, no Kafka**: decode (``decode_da00``) + ``ResultStore.put`` of a 128x128
   image result with variances, in a loop: the most one core can store.
2. **Steady**: ``--jobs`` jobs x ``--outputs`` 128x128 image outputs each published at
   1 Hz (100 x 4 = 400 images/s, ~106 MB/s) by a producer process through the broker
   into a ``KafkaBackend``. Printed: results stored per second vs published, the
   backend process's CPU (all its threads, incl. librdkafka's, as a fraction of one
   core), and data age at the store (receipt - the result's ``time``, which the
   producer stamps when it publishes) p50 / p99.
3. **Backlog**: the backend's consumer thread is stalled (its store blocks) while 2000
   images are flooded into the broker, then released: either 2000 different outputs
   (each must be decoded) or 80 outputs x ``--burst`` frames (latest value wins: of one
   output's frames in a consumed batch only the newest is decoded). Printed: time to
   take the backlog, images per second, how many were decoded, the CPU it cost, and the
   CPU decoding every frame would take at the baseline rate.

Producer, broker (embedded Tansu, unless ``KAFKA_BOOTSTRAP_SERVERS`` is set) and backend
share this machine's cores: the figures are lower bounds for a dashboard host.

Run: ``.venv/bin/python benchmarks/dashboard_backend.py [--seconds 15] [--jobs 100]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from contextlib import ExitStack

import numpy as np
import scipp as sc
from confluent_kafka import Producer

from livedata.config.registry import load_instrument
from livedata.config.topics import Topic, topic_name
from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.dashboard.backend import KafkaBackend
from livedata.dashboard.contract import ResultEntry
from livedata.dashboard.stores import ResultStore
from livedata.kafka.embedded_broker import EmbeddedBroker, free_port
from livedata.kafka.settings import KafkaSettings
from livedata.kafka.sink import producer_config
from livedata.kafka.topics import create_topics
from livedata.protocol.da00 import decode_da00, encode_da00
from livedata.protocol.result_key import encode_result_key

SIDE = 128
OUTPUTS = ("current", "cumulative", "current_b", "cumulative_b")
TICKS = os.sysconf("SC_CLK_TCK")


def image(seed: int, start_ns: int, end_ns: int) -> sc.DataArray:
    values = np.random.default_rng(seed).poisson(5.0, (SIDE, SIDE)).astype(np.float64)
    return sc.DataArray(
        sc.array(dims=["y", "x"], values=values, variances=values, unit="counts"),
        coords={
            "y": sc.arange("y", SIDE, unit=None),
            "x": sc.arange("x", SIDE, unit=None),
            "start_time": sc.scalar(start_ns, unit="ns", dtype="int64"),
            "time": sc.scalar(end_ns, unit="ns", dtype="int64"),
        },
    )


def source_names(instrument: str, jobs: int, outputs: int) -> list[str]:
    workflow = WorkflowId(instrument=instrument, name="panel_0_xy", version=1)
    names = []
    for _ in range(jobs):
        job = JobId(source_name="panel_0", job_number=uuid.uuid4())
        for output in OUTPUTS[:outputs]:
            key = ResultKey(workflow_id=workflow, job_id=job, output_name=output)
            names.append(encode_result_key(key))
    return names


# -- the producer process -------------------------------------------------------------------


def produce(args: argparse.Namespace) -> int:
    settings = KafkaSettings(bootstrap_servers=args.bootstrap)
    producer = Producer(producer_config(settings))
    topic = topic_name(args.instrument, Topic.DATA)
    names = source_names(args.instrument, args.jobs, args.outputs)
    # Values are encoded once per output; only the time coords change per publish.
    sent = 0
    if args.mode == "steady":
        start = time.monotonic()
        for tick in range(int(args.seconds)):
            time.sleep(max(0.0, start + tick - time.monotonic()))
            for i, name in enumerate(names):
                now = time.time_ns()
                payload = encode_da00(name, image(i, now - 1_000_000_000, now), timestamp_ns=now)
                producer.produce(topic, payload, timestamp=now // 1_000_000)
                producer.poll(0)
                sent += 1
    else:
        # A flood: payloads encoded up front, sent back to back as fast as the broker
        # takes them (as after a stall upstream).
        now = time.time_ns()
        payloads = [
            encode_da00(name, image(i, now - 1_000_000_000, now), timestamp_ns=now)
            for i, name in enumerate(names)
        ]
        for _ in range(args.burst):
            for payload in payloads:
                while True:
                    try:
                        producer.produce(topic, payload, timestamp=time.time_ns() // 1_000_000)
                        break
                    except BufferError:
                        producer.poll(0.05)
                producer.poll(0)
                sent += 1
    remaining = producer.flush(60)
    print(json.dumps({"sent": sent - remaining}), flush=True)
    return 0


# -- measuring --------------------------------------------------------------------------------


def cpu_seconds() -> float:
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def baseline(repeats: int = 300) -> float:
    """Results per second one core decodes and stores, no Kafka (median of 5 runs)."""
    names = source_names("bench", 1, 1)
    now = time.time_ns()
    payload = encode_da00(names[0], image(0, now - 1, now), timestamp_ns=now)
    store = ResultStore()
    key = ResultKey(
        workflow_id=WorkflowId(instrument="bench", name="x", version=1),
        job_id=JobId(source_name="panel_0", job_number=uuid.uuid4()),
        output_name="current",
    )
    rates = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeats):
            store.put(key, decode_da00(payload)[2], received_ns=0)
        rates.append(repeats / (time.perf_counter() - t0))
    return float(np.median(rates))


def run_producer(bootstrap: str, instrument: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--produce",
            "--bootstrap",
            bootstrap,
            "--instrument",
            instrument,
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def sent_count(process: subprocess.Popen[str]) -> int:
    out, _ = process.communicate(timeout=300)
    return int(json.loads(out.strip().splitlines()[-1])["sent"])


def steady(settings: KafkaSettings, instrument, jobs: int, outputs: int, seconds: float) -> None:
    with KafkaBackend(settings, instrument) as backend:
        time.sleep(2.0)  # topics assigned at the newest offset
        producer = run_producer(
            settings.bootstrap_servers,
            instrument.name,
            "--mode",
            "steady",
            "--jobs",
            str(jobs),
            "--outputs",
            str(outputs),
            "--seconds",
            str(seconds),
        )
        cpu0, t0 = cpu_seconds(), time.monotonic()
        ages: list[float] = []
        seen: dict[ResultKey, int] = {}
        while producer.poll() is None:
            time.sleep(0.25)
            keys = backend.results.keys()
            for key in keys:
                entry = backend.results.get(key)
                if entry is None or seen.get(key) == entry.version:
                    continue
                seen[key] = entry.version
                ages.append((entry.received_ns - int(entry.data.coords["time"].value)) / 1e9)
        elapsed = time.monotonic() - t0
        cpu = (cpu_seconds() - cpu0) / elapsed
        sent = sent_count(producer)
        time.sleep(1.0)
        stats = backend.stats()
    print(
        f"steady: {jobs} jobs x {outputs} images of {SIDE}x{SIDE} at 1 Hz for {seconds:g} s: "
        f"published {sent / seconds:.0f}/s, stored {stats.get('decoded', 0) / seconds:.0f}/s "
        f"({stats.get('decoded', 0)}/{sent}, superseded {stats.get('superseded', 0)}), "
        f"backend CPU {cpu:.0%} of a core, data age p50 {np.percentile(ages, 50):.3f} s "
        f"p99 {np.percentile(ages, 99):.3f} s ({len(ages)} samples)",
        flush=True,
    )


class StallingStore(ResultStore):
    """A store whose first write blocks until released: the consumer thread stalls (as
    behind a stuck disk or a GIL-hogging render) while a backlog builds in the broker."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.stalled = threading.Event()

    def put(self, key: ResultKey, data: sc.DataArray, *, received_ns: int) -> ResultEntry:
        if not self.release.is_set():
            self.stalled.set()
            self.release.wait()
        return super().put(key, data, received_ns=received_ns)


def burst(settings: KafkaSettings, instrument, jobs: int, updates: int, base_rate: float) -> None:
    outputs = 4
    store = StallingStore()
    with KafkaBackend(settings, instrument, results=store) as backend:
        time.sleep(2.0)
        producer = run_producer(
            settings.bootstrap_servers,
            instrument.name,
            "--mode",
            "burst",
            "--jobs",
            str(jobs),
            "--outputs",
            str(outputs),
            "--burst",
            str(updates),
        )
        sent = sent_count(producer)
        if not store.stalled.wait(30):
            raise SystemExit("no result reached the backend")
        cpu0, t0 = cpu_seconds(), time.monotonic()
        store.release.set()
        deadline = t0 + 120
        while backend.stats().get("consumed", 0) < sent and time.monotonic() < deadline:
            time.sleep(0.01)
        drained = time.monotonic() - t0
        cpu = cpu_seconds() - cpu0
        stats = backend.stats()
    consumed, decoded = stats.get("consumed", 0), stats.get("decoded", 0)
    print(
        f"backlog: {jobs * outputs} outputs x {updates} frames = {sent} images waiting after "
        f"a stall: taken in {drained:.2f} s ({consumed / drained:.0f} images/s, CPU "
        f"{cpu:.2f} s), decoded {decoded} ({decoded / max(consumed, 1):.0%}, superseded "
        f"{stats.get('superseded', 0)}); decoding all at the baseline rate: "
        f"{sent / base_rate:.2f} s",
        flush=True,
    )


def expected(jobs: int, outputs: int, updates: int) -> int:
    return jobs * outputs * updates


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--jobs", type=int, default=100)
    p.add_argument("--outputs", type=int, default=4, choices=range(1, len(OUTPUTS) + 1))
    p.add_argument("--burst", type=int, default=25, help="updates per output in a burst")
    p.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mode", default="steady", help=argparse.SUPPRESS)
    p.add_argument("--bootstrap", help=argparse.SUPPRESS)
    p.add_argument("--instrument", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.produce:
        return produce(args)

    base_rate = baseline()
    print(
        f"baseline (no Kafka): decode + store of a {SIDE}x{SIDE} image result with variances: "
        f"{base_rate:.0f} results/s on one core",
        flush=True,
    )
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    with ExitStack() as stack:
        if external:
            settings = KafkaSettings.from_env()
        else:
            port = free_port()
            stack.enter_context(EmbeddedBroker(port=port))
            settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")
        for run in ("steady", "distinct", "repeated"):
            name = f"bench{uuid.uuid4().hex[:6]}"
            instrument = dataclasses.replace(load_instrument("dummy"), name=name)
            create_topics(settings, name)
            if run == "steady":
                steady(settings, instrument, args.jobs, args.outputs, args.seconds)
            elif run == "distinct":  # every frame a different output: all are decoded
                burst(settings, instrument, 500, 1, base_rate)
            else:  # few outputs, many frames each: latest value wins
                burst(settings, instrument, 20, args.burst, base_rate)
    print(f"(producer, broker and backend share {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
