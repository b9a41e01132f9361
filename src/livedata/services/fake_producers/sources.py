"""Fake sources: each turns a generator's values into encoded messages for one topic.

Every source is polled once per pulse (the producer's loop runs on the 14 Hz grid).
Pulsed sources (detectors, monitors) send one message per pulse; slow sources (logs,
camera frames, run control) keep their own schedule and send when something is due,
using the pulse's frame end as "now".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
import scipp as sc

from livedata.config.fake_models import FakeBeam
from livedata.config.instrument import AreaDetector, Instrument, LogSignal, Monitor
from livedata.config.topics import Topic, topic_name
from livedata.core.values import Int32Array, RunStart, RunStop
from livedata.protocol.ad00 import encode_ad00
from livedata.protocol.da00 import encode_da00
from livedata.protocol.ev44 import encode_ev44
from livedata.protocol.f144 import encode_f144
from livedata.protocol.run_control import encode_6s4t, encode_pl72
from livedata.services.fake_producers.area_frames import AreaFrameGenerator
from livedata.services.fake_producers.event_pools import (
    EventDraw,
    PulsedEvents,
    check_pixel_ids,
    detector_generator,
    events_in_pulse,
    frame_edges,
    monitor_flight_path,
    monitor_generator,
    monitor_time_of_arrival,
    pooled_generator,
    spectrum_shape,
    split_rate,
)
from livedata.services.fake_producers.log_profiles import LogGenerator
from livedata.services.fake_producers.pacing import Pulse
from livedata.services.fake_producers.patterns import (
    BankModel,
    has_model,
    instrument_models,
    sample_events,
)
from livedata.services.fake_producers.run_cycle import RunCycle

HISTOGRAM_BINS = 200
"""Time-of-arrival bins of a histogram monitor's da00 spectrum (0.36 ms each)."""

HISTOGRAM_SHAPE_EVENTS = 1 << 18
"""Events drawn once to shape a histogram monitor's spectrum."""


class Kind(StrEnum):
    """What a fake producer can send; the CLI's ``--kinds``."""

    DETECTOR = "detector"
    MONITOR = "monitor"
    LOG = "log"
    AREA = "area"
    RUN = "run"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One encoded message ready for Kafka."""

    topic: str
    payload: bytes
    timestamp_ns: int
    """The Kafka message timestamp."""
    source_name: str
    events: int = 0


class Source(Protocol):
    kind: Kind
    name: str

    def poll(self, pulse: Pulse) -> list[Outgoing]:
        """Messages due once ``pulse``'s frame has ended."""
        ...

    def close(self, now_ns: int) -> list[Outgoing]:
        """Last messages before the producer exits."""
        ...


class _NoClose:
    def close(self, now_ns: int) -> list[Outgoing]:
        return []


class EventSource(_NoClose):
    """A detector or beam monitor sending one ev44 message per pulse."""

    def __init__(self, *, kind: Kind, name: str, topic: str, generator: PulsedEvents) -> None:
        self.kind = kind
        self.name = name
        self._topic = topic
        self._generator = generator
        self._message_id = 0

    @property
    def rate(self) -> int:
        return self._generator.rate

    def poll(self, pulse: Pulse) -> list[Outgoing]:
        events = self._generator.events(pulse)
        self._message_id += 1
        payload = encode_ev44(self.name, self._message_id, events)
        return [Outgoing(self._topic, payload, pulse.time_ns, self.name, len(events))]


class HistogramMonitorSource(_NoClose):
    """A beam monitor sending a da00 time-of-arrival histogram per pulse."""

    kind = Kind.MONITOR

    def __init__(
        self,
        *,
        name: str,
        topic: str,
        rate: int,
        rng: np.random.Generator,
        flight_path_m: float,
        beam: FakeBeam | None = None,
    ) -> None:
        self.name = name
        self.rate = rate
        self._topic = topic
        self._rng = rng
        self._shape = spectrum_shape(
            monitor_time_of_arrival(rng, HISTOGRAM_SHAPE_EVENTS, flight_path_m, beam),
            HISTOGRAM_BINS,
        )
        self._edges = sc.array(
            dims=["time_of_arrival"], values=frame_edges(HISTOGRAM_BINS), unit="ns"
        )

    def poll(self, pulse: Pulse) -> list[Outgoing]:
        expected = self._shape * events_in_pulse(self.rate, pulse.index)
        counts = self._rng.poisson(expected).astype(np.float64)
        data = sc.DataArray(
            sc.array(dims=["time_of_arrival"], values=counts, unit="counts"),
            coords={"time_of_arrival": self._edges},
        )
        payload = encode_da00(self.name, data, timestamp_ns=pulse.time_ns)
        return [Outgoing(self._topic, payload, pulse.time_ns, self.name, int(counts.sum()))]


class LogSource(_NoClose):
    """A slow-control log; repeats re-send the identical bytes, as the forwarder does."""

    kind = Kind.LOG

    def __init__(self, *, topic: str, generator: LogGenerator) -> None:
        self.name = generator.signal.name
        self._topic = topic
        self._generator = generator
        self._cached: bytes | None = None

    def poll(self, pulse: Pulse) -> list[Outgoing]:
        update = self._generator.poll(pulse.end_ns)
        if update is None:
            return []
        if not update.repeat or self._cached is None:
            self._cached = encode_f144(self.name, update.sample)
        # A repeat keeps its old f144 timestamp; only the Kafka timestamp says "now".
        return [Outgoing(self._topic, self._cached, pulse.end_ns, self.name)]


class AreaSource(_NoClose):
    kind = Kind.AREA

    def __init__(self, *, topic: str, generator: AreaFrameGenerator) -> None:
        self.name = generator.detector.name
        self._topic = topic
        self._generator = generator

    def poll(self, pulse: Pulse) -> list[Outgoing]:
        frame = self._generator.poll(pulse.end_ns)
        if frame is None:
            return []
        return [Outgoing(self._topic, encode_ad00(self.name, frame), frame.time, self.name)]


class RunSource:
    """pl72 when a run starts, 6s4t when it stops (and when the producer exits)."""

    kind = Kind.RUN
    name = "run_control"

    def __init__(self, *, topic: str, cycle: RunCycle) -> None:
        self._topic = topic
        self._cycle = cycle

    def poll(self, pulse: Pulse) -> list[Outgoing]:
        return self._encode(self._cycle.poll(pulse.end_ns), pulse.end_ns)

    def close(self, now_ns: int) -> list[Outgoing]:
        return self._encode(self._cycle.close(now_ns), now_ns)

    def _encode(self, transitions: Sequence[RunStart | RunStop], now_ns: int) -> list[Outgoing]:
        out = []
        for t in transitions:
            if isinstance(t, RunStart):
                payload = encode_pl72(t, job_id=t.run_name, filename=f"{t.run_name}.nxs")
            else:
                payload = encode_6s4t(t, job_id=t.run_name)
            out.append(Outgoing(self._topic, payload, now_ns, t.run_name))
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceOptions:
    """What to send and how fast."""

    kinds: frozenset[Kind]
    event_rate: int
    """Total detector events/s, split over the banks in proportion to their pixels (or,
    for an instrument with a fake sample, to the intensity its model gives each bank)."""
    monitor_rate: int
    """Events/s of each beam monitor."""
    frame_rate: float
    """Frames/s of each area detector."""
    run_length_s: float | None = None


def available_kinds(instrument: Instrument) -> frozenset[Kind]:
    """The kinds this instrument has something to send for (run control always)."""
    kinds = {Kind.RUN}
    if instrument.detectors:
        kinds.add(Kind.DETECTOR)
    if instrument.monitors:
        kinds.add(Kind.MONITOR)
    if instrument.logs:
        kinds.add(Kind.LOG)
    if instrument.area_detectors:
        kinds.add(Kind.AREA)
    return frozenset(kinds)


def build_sources(
    instrument: Instrument, options: SourceOptions, *, rng: np.random.Generator, start_ns: int
) -> list[Source]:
    """Every source of ``instrument`` of the requested kinds (dev topic names)."""
    missing = options.kinds - available_kinds(instrument)
    if missing:
        raise ValueError(
            f"instrument {instrument.name} has no {', '.join(sorted(missing))} to fake"
        )

    def topic(role: Topic) -> str:
        return topic_name(instrument.name, role)

    sources: list[Source] = []
    if Kind.DETECTOR in options.kinds:
        sources += _detectors(instrument, options.event_rate, topic(Topic.DETECTOR), rng)
    if Kind.MONITOR in options.kinds:
        sources += _monitors(instrument, options.monitor_rate, topic(Topic.BEAM_MONITOR), rng)
    if Kind.LOG in options.kinds:
        sources += _logs(instrument.logs, topic(Topic.MOTION), rng, start_ns)
    if Kind.AREA in options.kinds:
        sources += _areas(
            instrument.area_detectors, options.frame_rate, topic(Topic.AREA_DETECTOR), rng
        )
    if Kind.RUN in options.kinds:
        cycle = RunCycle(instrument=instrument.name, run_length_s=options.run_length_s)
        sources.append(RunSource(topic=topic(Topic.FILEWRITER), cycle=cycle))
    return sources


WEIGHT_SCALE = 10**9
"""Bank intensities become integers on this scale to split the event rate exactly."""


def _detectors(
    instrument: Instrument, total_rate: int, topic: str, rng: np.random.Generator
) -> list[Source]:
    banks = instrument.detectors
    for bank in banks:
        check_pixel_ids(bank)
    generators: list[PulsedEvents]
    if has_model(instrument):
        # Rings, a spot or arcs from the geometry; banks get events as the model lights them.
        beam = instrument.fake_beam
        assert beam is not None  # has_model checked it
        models = instrument_models(instrument)
        totals = [m.total for m in models]
        rates = split_rate(total_rate, [round(t / max(totals) * WEIGHT_SCALE) for t in totals])
        generators = [
            pooled_generator(_model_draw(rng, model, beam), rate=rate, rng=rng)
            for model, rate in zip(models, rates, strict=True)
        ]
    else:
        rates = split_rate(total_rate, [bank.n_pixels for bank in banks])
        generators = [
            detector_generator(bank, rate=rate, rng=rng)
            for bank, rate in zip(banks, rates, strict=True)
        ]
    return [
        EventSource(kind=Kind.DETECTOR, name=bank.name, topic=topic, generator=generator)
        for bank, generator in zip(banks, generators, strict=True)
    ]


def _model_draw(rng: np.random.Generator, model: BankModel, beam: FakeBeam) -> EventDraw:
    def draw(n: int) -> tuple[Int32Array, Int32Array | None]:
        return sample_events(rng, model, beam, n)

    return draw


def _monitor_flight_path(instrument: Instrument, monitor: Monitor, position: int) -> float:
    """Source to monitor from the instrument's geometry, else by the monitor's position
    in the list (``monitor_flight_path``)."""
    if monitor.position is None or instrument.source_position is None:
        return monitor_flight_path(position)
    return math.dist(monitor.position, instrument.source_position)


def _monitors(
    instrument: Instrument, rate: int, topic: str, rng: np.random.Generator
) -> list[Source]:
    sources: list[Source] = []
    beam = instrument.fake_beam
    for position, monitor in enumerate(instrument.monitors):
        flight_path = _monitor_flight_path(instrument, monitor, position)
        if monitor.histogram:
            sources.append(
                HistogramMonitorSource(
                    name=monitor.name,
                    topic=topic,
                    rate=rate,
                    rng=rng,
                    flight_path_m=flight_path,
                    beam=beam,
                )
            )
        else:
            generator = monitor_generator(rate=rate, rng=rng, flight_path_m=flight_path, beam=beam)
            sources.append(
                EventSource(kind=Kind.MONITOR, name=monitor.name, topic=topic, generator=generator)
            )
    return sources


def _logs(
    logs: Sequence[LogSignal], topic: str, rng: np.random.Generator, start_ns: int
) -> list[Source]:
    return [
        LogSource(topic=topic, generator=LogGenerator(log, rng=rng, start_ns=start_ns))
        for log in logs
    ]


def _areas(
    areas: Sequence[AreaDetector], frame_rate: float, topic: str, rng: np.random.Generator
) -> list[Source]:
    return [
        AreaSource(
            topic=topic, generator=AreaFrameGenerator(area, frame_rate_hz=frame_rate, rng=rng)
        )
        for area in areas
    ]
