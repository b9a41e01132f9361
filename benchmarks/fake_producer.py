"""How cheaply the fake producer makes detector events.

Run: ``.venv/bin/python benchmarks/fake_producer.py`` (add ``--kafka`` to also run the
real producer process against the embedded broker and read its steady-state CPU;
``--instruments dream,loki,bifrost`` to time whole shaped instruments, DREAM by default).

Without Kafka it times, per data-second of the dummy's 128 x 128 panel at each rate,
the CPU seconds spent (a) slicing events from the pools, (b) slicing and encoding
ev44, and as a baseline in the same run (c) drawing uniform random events per pulse
and encoding them, the naive way. Figures are medians of several repeats; events per
CPU-second = rate / CPU fraction.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from livedata.config.instrument import DetectorBank
from livedata.config.registry import load_instrument
from livedata.core.values import EventBatch
from livedata.protocol.ev44 import encode_ev44
from livedata.services.fake_producers.event_pools import (
    FRAME_LENGTH_NS,
    detector_generator,
    events_in_pulse,
)
from livedata.services.fake_producers.pacing import PULSE_RATE_HZ, Pulse, pulse_at

REPEATS = 5
SECONDS = 2
"""Data-seconds per repeat (28 pulses)."""


def cpu_per_data_second(step: Callable[[Pulse], object]) -> float:
    """Median CPU seconds ``step`` needs for one second of pulses."""
    k0 = pulse_at(time.time_ns())
    for i in range(3):  # warm-up: page in the pools and the allocator
        step(Pulse(k0 + i))
    timings = []
    for r in range(REPEATS):
        start = time.process_time()
        for i in range(SECONDS * PULSE_RATE_HZ):
            step(Pulse(k0 + r * 1000 + i))
        timings.append((time.process_time() - start) / SECONDS)
    return statistics.median(timings)


def _measure(panel: DetectorBank, rate: int) -> tuple[float, float, float, float]:
    """Pool start-up seconds, then CPU per data-second: generate, +encode, naive baseline."""
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    generator = detector_generator(panel, rate=rate, rng=rng)
    build_s = time.perf_counter() - start

    def generate(pulse: Pulse) -> object:
        return generator.events(pulse)

    def generate_and_encode(pulse: Pulse) -> object:
        return encode_ev44("panel_0", 1, generator.events(pulse))

    def naive(pulse: Pulse) -> object:
        n = events_in_pulse(rate, pulse.index)
        batch = EventBatch(
            time_of_arrival=rng.integers(0, FRAME_LENGTH_NS, n, dtype=np.int32),
            pixel_id=rng.integers(1, panel.n_pixels + 1, n, dtype=np.int32),
            reference_time=np.array([pulse.time_ns], dtype=np.int64),
            reference_time_index=np.zeros(1, dtype=np.int32),
        )
        return encode_ev44("panel_0", 1, batch)

    return (
        build_s,
        cpu_per_data_second(generate),
        cpu_per_data_second(generate_and_encode),
        cpu_per_data_second(naive),
    )


def in_process(rates: list[int]) -> None:
    panel = load_instrument("dummy").detector("panel_0")
    print(f"fake detector events, dummy panel_0 (128x128), medians of {REPEATS} x {SECONDS} s")
    print(
        f"{'rate/s':>10} {'pool':>7} {'gen cpu':>8} {'gen+enc cpu':>11} "
        f"{'ev/cpu-s':>9} {'naive cpu':>9} {'naive/ours':>10}"
    )
    for rate in rates:
        build_s, gen, ours, base = _measure(panel, rate)
        print(
            f"{rate:>10.0e} {build_s:>6.2f}s {gen:>8.4f} {ours:>11.4f} "
            f"{rate / ours:>9.2e} {base:>9.4f} {base / ours:>10.2f}"
        )
    print("cpu = CPU seconds per second of data (fraction of one core); pool = start-up time")


def _poll_all(sources: list[Any], pulse: Pulse) -> object:
    return [source.poll(pulse) for source in sources]


def shaped_in_process(name: str, rates: list[int]) -> None:
    """A whole shaped instrument (all its banks, events from its geometry's pattern):
    pool start-up, and CPU per data-second to slice and ev44-encode every bank's pulses."""
    from livedata.services.fake_producers.sources import Kind, SourceOptions, build_sources

    inst = load_instrument(name)
    pixels = sum(b.n_pixels for b in inst.detectors)
    print(f"\nfake detector events, {name} ({len(inst.detectors)} banks, {pixels:,} pixels)")
    print(f"{'rate/s':>10} {'pool':>7} {'gen+enc cpu':>11} {'ev/cpu-s':>9}")
    for rate in rates:
        options = SourceOptions(
            kinds=frozenset({Kind.DETECTOR}), event_rate=rate, monitor_rate=0, frame_rate=0
        )
        start = time.perf_counter()
        sources = build_sources(inst, options, rng=np.random.default_rng(0), start_ns=0)
        build_s = time.perf_counter() - start

        cpu = cpu_per_data_second(partial(_poll_all, sources))
        print(f"{rate:>10.0e} {build_s:>6.2f}s {cpu:>11.4f} {rate / cpu:>9.2e}")
    print("pool = start-up (geometry, model, pools); cpu = CPU seconds per data-second")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def through_kafka(rates: list[int], seconds: float) -> None:
    from livedata.kafka.embedded_broker import EmbeddedBroker, free_port
    from livedata.kafka.settings import KafkaSettings
    from livedata.kafka.topics import create_topics

    print(f"\nproducer process -> embedded broker, {seconds:g} s per rate (detector + monitors)")
    print(
        f"{'rate/s':>10} {'cpu':>6} {'ev/s sent':>10} {'skipped':>8} {'dropped':>8} "
        f"{'failed':>7} {'broker cpu':>10} {'broker rss':>10}"
    )
    with EmbeddedBroker(port=free_port()) as broker:
        assert broker.pid is not None
        create_topics(KafkaSettings(bootstrap_servers=broker.bootstrap), "dummy")
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
        for rate in rates:
            argv = [
                sys.executable,
                "-m",
                "livedata.services.fake_producers",
                "--instrument",
                "dummy",
                "--kinds",
                "detector,monitor",
                "--event-rate",
                str(rate),
                "--duration",
                str(seconds),
                "--log-json",
            ]
            broker_cpu, wall = _cpu_seconds(broker.pid), time.monotonic()
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
            broker_cpu = (_cpu_seconds(broker.pid) - broker_cpu) / (time.monotonic() - wall)
            lines = [json.loads(x) for x in done.stderr.splitlines() if x.startswith("{")]
            progress = [x for x in lines if x.get("event") == "producer_progress"]
            stopped = next(x for x in lines if x.get("event") == "producer_stopped")
            if not progress:
                print(f"{rate:>10.0e} (run longer than 10 s for a progress line)")
                continue
            cpu = statistics.median(p["cpu"] for p in progress)
            event_rate = statistics.median(p["event_rate"] for p in progress)
            dropped = stopped.get("dropped_queue_full", 0) + stopped.get("produce_failed", 0)
            print(
                f"{rate:>10.0e} {cpu:>6.2f} {event_rate:>10.3g} "
                f"{stopped['skipped_pulses']:>8} {dropped:>8} "
                f"{stopped.get('delivery_failed', 0):>7} {broker_cpu:>10.2f} "
                f"{broker.rss_bytes() / 2**30:>8.2f}GB"
            )
    print(
        "cpu = the producer process's CPU seconds per second (progress lines, median); "
        "broker cpu over the whole run; broker rss after it (Tansu keeps every byte)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="1e5,1e6,1e7", help="comma-separated events/s")
    p.add_argument("--kafka", action="store_true", help="also run the producer via Kafka")
    p.add_argument("--seconds", type=float, default=25.0, help="seconds per Kafka run")
    p.add_argument(
        "--instruments", default="dream", help="shaped instruments to time too (comma-separated)"
    )
    args = p.parse_args()
    rates = [int(float(r)) for r in args.rates.split(",")]
    in_process(rates)
    for name in filter(None, args.instruments.split(",")):
        shaped_in_process(name, rates)
    if args.kafka:
        through_kafka(rates, args.seconds)


if __name__ == "__main__":
    main()
