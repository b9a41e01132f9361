"""Soak: the whole demo stack at a high event rate, with the broker's memory budget.

Runs ``livedata demo`` (embedded broker with its memory budget, the four services, the
fake producers, the dashboard server, the default jobs) for ``--minutes`` and every
``--sample-s`` seconds prints one row: the resident memory of the broker, of every
service, of the fake producers, of the dashboard server and of the demo process (which
runs the broker's guard), the rotations so far,
the events per second the detector view counted in that interval (from its
``counts_total`` results), and the data age of those results (wall time at receipt
minus the end of the window they cover), and the batches each service's Kafka source
dropped so far (``stream_stats["ingress"]["dropped_chunks"]`` of its newest heartbeat:
whole consumed batches shed, oldest first, when the processor fell behind). The summary
gives peaks against the budget, rotations by tier, how quickly services let go of a
rotating topic, events delivered as a share of those requested, data age percentiles,
each process's CPU share, and per service the dropped batches and messages and the jobs
its memory guard stopped.

Run: ``.venv/bin/python benchmarks/demo_soak.py [--minutes 10] [--event-rate 1e7]
[--broker-memory 4G]`` (on two cores, the producer, broker, services and this reader
share them: the load average is printed too).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import scipp as sc

from livedata.cli.watch import decode_result, messages, tail_consumer
from livedata.config.topics import Topic, topic_name
from livedata.core.identity import ResultKey
from livedata.core.memory import describe_bytes, parse_size
from livedata.kafka.broker_guard import default_budget_bytes
from livedata.kafka.embedded_broker import free_port
from livedata.kafka.settings import KafkaSettings
from livedata.protocol.errors import DecodeError
from livedata.protocol.heartbeats import JobHeartbeat, ServiceHeartbeat, decode_heartbeat

TICKS = os.sysconf("SC_CLK_TCK")
INSTRUMENT = "dummy"
VIEW = "panel_0_xy"
PROCESSES = (
    "broker",
    "detector_data",
    "monitor_data",
    "data_reduction",
    "timeseries",
    "fake_producers",
    "dashboard",
    "demo",
)
SERVICES = ("detector_data", "monitor_data", "data_reduction", "timeseries")
START_TIMEOUT_S = 180.0
T = TypeVar("T")

_TIME = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z"
ROTATED = re.compile(_TIME + r".*broker_rotated\s.*rss_after=(\d+) rss_before=(\d+).*tier=(\w+)")
ANNOUNCED = re.compile(_TIME + r".*rotation_announced\s")
RELEASED = re.compile(r"^(\w+)\s*\|\s*" + _TIME + r".*topic_released_for_rotation\s")


def parse_time(text: str) -> float:
    return time.mktime(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) + float(text[19:])


def proc_stat(pid: int) -> tuple[int, float]:
    """(resident bytes, CPU seconds) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return rss, (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> dict[str, int]:
    """The demo's child processes by role: broker, each service, the producers."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if ppid != pid:
            continue
        if "tansu" in cmdline:
            found["broker"] = int(entry.name)
        elif match := re.search(r"livedata\.services\.(\w+)", cmdline):
            found[match.group(1)] = int(entry.name)
        elif "livedata.cli.dashboard" in cmdline:
            found["dashboard"] = int(entry.name)
    return found


def follow(
    settings: KafkaSettings,
    role: Topic,
    stop: threading.Event,
    decode: Callable[[bytes], T],
    take: Callable[[T], None],
) -> None:
    """Hand what ``decode`` makes of each new message on the instrument's ``role`` topic
    to ``take``, until ``stop``; messages it cannot decode are skipped."""
    consumer = tail_consumer(settings, topic_name(INSTRUMENT, role))
    try:
        for message in messages(consumer, until=stop.is_set):
            try:
                decoded = decode(message.value() or b"")
            except DecodeError:
                continue
            take(decoded)
    finally:
        consumer.close()


@dataclass
class Results:
    """What the results topic shows of the detector view, collected on a thread."""

    counts: list[tuple[float, float, float]] = field(default_factory=list)
    """(received at, window seconds, events) of each ``counts_total`` result."""
    ages: list[tuple[float, float]] = field(default_factory=list)
    """(received at, data age in s)."""
    other: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, settings: KafkaSettings, stop: threading.Event) -> None:
        follow(settings, Topic.DATA, stop, decode_result, self.take)

    def take(self, result: tuple[ResultKey, sc.DataArray]) -> None:
        key, data = result
        now = time.time()
        if key.workflow_id.name != VIEW or key.output_name != "counts_total":
            with self.lock:
                self.other += 1
            return
        end = int(data.coords["time"].value)
        start = int(data.coords["start_time"].value)
        with self.lock:
            self.counts.append((now, (end - start) / 1e9, float(data.sum().value)))
            self.ages.append((now, now - end / 1e9))

    def between(self, t0: float, t1: float) -> tuple[float, list[float]]:
        with self.lock:
            events = sum(c for at, _, c in self.counts if t0 <= at < t1)
            ages = [a for at, a in self.ages if t0 <= at < t1]
        return events / (t1 - t0), ages


@dataclass
class Heartbeats:
    """The newest heartbeat of each service, collected on a thread."""

    newest: dict[str, ServiceHeartbeat] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, settings: KafkaSettings, stop: threading.Event) -> None:
        follow(settings, Topic.HEARTBEAT, stop, decode_heartbeat, self.take)

    def take(self, beat: ServiceHeartbeat | JobHeartbeat) -> None:
        if isinstance(beat, ServiceHeartbeat):
            with self.lock:
                self.newest[beat.status.service_name] = beat

    def counter(self, service: str, group: str, name: str) -> int | None:
        """``stream_stats[group][name]`` of the service's newest heartbeat, if any."""
        with self.lock:
            beat = self.newest.get(service)
        if beat is None:
            return None
        stats = beat.status.stream_stats.get(group)
        return int(stats.get(name, 0)) if isinstance(stats, dict) else 0

    def dropped(self) -> str:
        """Dropped batches per service, ``det/mon/red/ts`` (``-``: no heartbeat yet)."""
        counts = [self.counter(s, "ingress", "dropped_chunks") for s in SERVICES]
        return "/".join("-" if c is None else str(c) for c in counts)


@dataclass
class DemoLog:
    """The demo's merged output, kept in a file and scanned for the guard's events."""

    path: Path
    rotations: list[tuple[float, str, int, int]] = field(default_factory=list)
    announced: list[float] = field(default_factory=list)
    released: list[tuple[float, str]] = field(default_factory=list)
    errors: int = 0
    results_flow: threading.Event = field(default_factory=threading.Event)

    def pump(self, stream) -> None:
        with self.path.open("w") as out:
            for line in stream:
                out.write(line)
                if "results flow" in line:
                    self.results_flow.set()
                if "[error" in line:
                    self.errors += 1
                if m := ROTATED.search(line):
                    at, after, before, tier = m.groups()
                    self.rotations.append((parse_time(at), tier, int(before), int(after)))
                elif m := ANNOUNCED.search(line):
                    self.announced.append(parse_time(m.group(1)))
                elif m := RELEASED.search(line):
                    self.released.append((parse_time(m.group(2)), m.group(1)))

    def reaction_s(self) -> list[float]:
        """For each service and rotation: seconds from announcement to letting go."""
        delays = []
        for at, _service in self.released:
            before = [a for a in self.announced if a <= at + 0.01]
            if before:
                delays.append(at - before[-1])
        return delays


def mib(n: float) -> str:
    return f"{n / 2**20:.0f}"


def longest_pause(arrivals: list[float], started: float, log: DemoLog) -> str:
    """The longest time between two detector-view results, when it ended and whether a
    broker rotation fell inside it (where to look for its cause)."""
    if len(arrivals) < 2:
        return "fewer than two results"
    gaps = np.diff(arrivals)
    i = int(np.argmax(gaps))
    start, stop = arrivals[i], arrivals[i + 1]
    across = any(start <= at <= stop for at, _, _, _ in log.rotations)
    return (
        f"longest pause between results {gaps[i]:.1f} s, ending {stop - started:.0f} s into "
        f"the run{', across a broker rotation' if across else ''}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--event-rate", type=float, default=1e7)
    p.add_argument("--broker-memory", default=None, help="e.g. 4G (default: the demo's)")
    p.add_argument("--sample-s", type=float, default=10.0)
    p.add_argument("--log", help="keep the demo's output here (default: a temporary file)")
    args = p.parse_args()
    budget = parse_size(args.broker_memory) if args.broker_memory else default_budget_bytes()
    port = free_port()
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")
    log_path = Path(args.log or tempfile.mkstemp(prefix="demo_soak-", suffix=".log")[1])
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livedata.cli.demo",
            "--instrument",
            INSTRUMENT,
            "--port",
            str(port),
            "--event-rate",
            str(args.event_rate),
            "--broker-memory",
            str(budget),
            "--status-interval",
            "0",
            "--dashboard-port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    log = DemoLog(log_path)
    assert demo.stdout is not None
    threading.Thread(target=log.pump, args=(demo.stdout,), daemon=True).start()
    stop = threading.Event()
    results = Results()
    beats = Heartbeats()
    try:
        if not log.results_flow.wait(START_TIMEOUT_S):
            print(f"the demo did not start its jobs; see {log_path}", file=sys.stderr)
            return 1
        reader = threading.Thread(target=results.read, args=(settings, stop), daemon=True)
        reader.start()
        threading.Thread(target=beats.read, args=(settings, stop), daemon=True).start()
        return soak(args, budget, demo, log, results, beats)
    finally:
        stop.set()
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            demo.kill()
        print(f"demo output: {log_path} ({log.errors} error lines)")


def soak(args, budget: int, demo, log: DemoLog, results: Results, beats: Heartbeats) -> int:
    print(
        f"demo soak: {args.event_rate:.0e} events/s for {args.minutes:g} min, broker budget "
        f"{describe_bytes(budget)}, {os.cpu_count()} cores, load before {os.getloadavg()[0]:.2f}"
    )
    header = (
        f"{'t s':>5} {'broker':>7} {'detect':>7} {'monitor':>7} {'reduct':>7} {'tseries':>7} "
        f"{'fakes':>7} {'dashb':>7} {'demo':>6} {'rot':>4} {'ev/s':>8} {'age50':>6} "
        f"{'agemax':>6} {'load':>5}  dropped det/mon/red/ts"
    )
    print(
        "RSS in MiB; ev/s counted by the detector view; age of its results in s; "
        "batches dropped by each service's source so far"
    )
    print(header, flush=True)
    pids = {**children(demo.pid), "demo": demo.pid}
    rss: dict[str, list[int]] = defaultdict(list)
    cpu0 = {name: proc_stat(pid)[1] for name, pid in pids.items()}
    started = time.time()
    t_prev = started
    end = started + args.minutes * 60
    broker_peak = 0
    while time.time() < end and demo.poll() is None:
        # Sample the broker every second for its peak; print a row every sample_s.
        next_row = t_prev + args.sample_s
        while time.time() < min(next_row, end):
            time.sleep(1.0)
            with contextlib.suppress(OSError, KeyError):
                broker_peak = max(broker_peak, proc_stat(pids["broker"])[0])
        now = time.time()
        row = {}
        for name in PROCESSES:
            try:
                row[name] = proc_stat(pids[name])[0]
                rss[name].append(row[name])
            except (OSError, KeyError):
                row[name] = 0
        rate, ages = results.between(t_prev, now)
        t_prev = now
        print(
            f"{now - started:>5.0f} "
            + " ".join(f"{mib(row[n]):>{6 if n == 'demo' else 7}}" for n in PROCESSES)
            + f" {len(log.rotations):>4} {rate:>8.2e} "
            + (f"{np.median(ages):>6.2f} {max(ages):>6.2f}" if ages else f"{'-':>6} {'-':>6}")
            + f" {os.getloadavg()[0]:>5.2f}  {beats.dropped()}",
            flush=True,
        )
    elapsed = time.time() - started
    cpu = {}
    for name, pid in pids.items():
        try:
            cpu[name] = (proc_stat(pid)[1] - cpu0[name]) / elapsed
        except OSError:
            cpu[name] = float("nan")
    summarise(args, budget, elapsed, broker_peak, rss, cpu, log, results, started)
    summarise_services(beats)
    return 0 if demo.poll() is None else 1


def summarise(args, budget, elapsed, broker_peak, rss, cpu, log, results, started) -> None:
    print()
    print(
        f"broker: peak {describe_bytes(broker_peak)} of a {describe_bytes(budget)} budget "
        f"({broker_peak / budget:.0%}), sampled every second"
    )
    tiers = defaultdict(int)
    for _, tier, _, _ in log.rotations:
        tiers[tier] += 1
    freed = [before - after for _, _, before, after in log.rotations]
    print(
        f"rotations: {len(log.rotations)} ({dict(tiers)}), one every "
        f"{elapsed / len(log.rotations):.0f} s, freeing {describe_bytes(np.median(freed))} "
        "(median)"
        if log.rotations
        else "rotations: none"
    )
    reactions = log.reaction_s()
    if reactions:
        print(
            f"services let go of a rotating topic {np.median(reactions):.2f} s (median), "
            f"{max(reactions):.2f} s (max) after the announcement; grace period 3 s"
        )
    with results.lock:
        counts = [c for at, _, c in results.counts if at >= started]
        windows = [w for at, w, _ in results.counts if at >= started]
        ages = [a for at, a in results.ages if at >= started]
        other = results.other
        arrivals = [at for at, _, _ in results.counts if at >= started]
    if counts:
        delivered = sum(counts) / elapsed
        print(
            f"detector view: {len(counts)} windows of {np.median(windows):.2f} s (median), "
            f"{delivered:.3e} events/s counted = {delivered / args.event_rate:.1%} of the "
            f"{args.event_rate:.0e} requested; {longest_pause(arrivals, started, log)}"
        )
        print(
            f"data age of its results: p50 {np.percentile(ages, 50):.2f} s, "
            f"p99 {np.percentile(ages, 99):.2f} s, max {max(ages):.2f} s; "
            f"{other} other results read"
        )
    else:
        print("detector view: no results")
    print("RSS first -> last sample, max (MiB); CPU share of one core over the run:")
    for name in PROCESSES:
        series = rss.get(name) or [0]
        print(
            f"  {name:<15} {mib(series[0]):>6} -> {mib(series[-1]):>6}, max {mib(max(series)):>6}"
            f"; CPU {cpu.get(name, float('nan')):>5.0%}"
        )
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")


def summarise_services(beats: Heartbeats) -> None:
    print("services (newest heartbeat): dropped batches / messages; jobs the memory guard stopped")
    for service in SERVICES:
        chunks = beats.counter(service, "ingress", "dropped_chunks")
        if chunks is None:
            print(f"  {service:<15} no heartbeat")
            continue
        messages = beats.counter(service, "ingress", "dropped_messages")
        stopped = beats.counter(service, "memory", "jobs_stopped")
        limit = beats.counter(service, "memory", "limit_bytes")
        print(
            f"  {service:<15} {chunks} / {messages}; memory guard stopped {stopped} "
            f"(limit {describe_bytes(limit or 0)})"
        )


if __name__ == "__main__":
    sys.exit(main())
