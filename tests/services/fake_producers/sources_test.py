"""Every fake message decodes with livedata's own decoders into valid values."""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict

import numpy as np
import pytest

from livedata.config.instrument import Instrument, LogSignal, Monitor
from livedata.protocol.ad00 import decode_ad00
from livedata.protocol.da00 import decode_da00
from livedata.protocol.ev44 import decode_ev44
from livedata.protocol.f144 import decode_f144
from livedata.protocol.run_control import decode_6s4t, decode_pl72
from livedata.services.fake_producers.event_pools import FRAME_LENGTH_NS
from livedata.services.fake_producers.pacing import PULSE_RATE_HZ, Pulse, pulse_at, pulse_time
from livedata.services.fake_producers.sources import (
    Kind,
    Outgoing,
    SourceOptions,
    available_kinds,
    build_sources,
)

T_START = 1_700_000_000_000_000_000
K0 = pulse_at(T_START)


def options(**changes: object) -> SourceOptions:
    base = SourceOptions(
        kinds=frozenset(Kind),
        event_rate=100_003,
        monitor_rate=10_000,
        frame_rate=1.0,
        run_length_s=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def produce(
    instrument: Instrument, opts: SourceOptions, pulses: int, seed: int = 0
) -> dict[str, list[Outgoing]]:
    """Everything the sources send over ``pulses`` consecutive pulses, by topic."""
    sources = build_sources(instrument, opts, rng=np.random.default_rng(seed), start_ns=T_START)
    sent: dict[str, list[Outgoing]] = defaultdict(list)
    for i in range(pulses):
        for source in sources:
            for message in source.poll(Pulse(K0 + i)):
                sent[message.topic].append(message)
    return sent


def test_detector_sends_one_message_per_pulse_with_exactly_the_rate(
    instrument: Instrument,
) -> None:
    sent = produce(instrument, options(kinds=frozenset({Kind.DETECTOR})), pulses=3 * 14)
    assert set(sent) == {"fakeinst_detector"}
    messages = [decode_ev44(m.payload) for m in sent["fakeinst_detector"]]
    assert len(messages) == 3 * 14
    for second in range(3):
        in_second = messages[second * 14 : (second + 1) * 14]
        assert sum(len(m.events) for m in in_second) == 100_003
    for i, m in enumerate(messages):
        assert m.source_name == "panel_0"
        assert m.message_id == i + 1
        assert m.events.reference_time.tolist() == [pulse_time(K0 + i)]
        assert m.events.reference_time_index.tolist() == [0]
        assert m.data_time == pulse_time(K0 + i)
        # On the 14 Hz grid: the time is the start of a whole pulse.
        assert pulse_time(pulse_at(m.data_time)) == m.data_time
        pixel_id = m.events.pixel_id
        assert pixel_id is not None
        assert pixel_id.min() >= 1
        assert pixel_id.max() <= 128 * 128
        assert m.events.time_of_arrival.min() >= 0
        assert m.events.time_of_arrival.max() < FRAME_LENGTH_NS


def test_reference_times_are_14_hz_apart(instrument: Instrument) -> None:
    sent = produce(instrument, options(kinds=frozenset({Kind.DETECTOR})), pulses=15)
    times = [decode_ev44(m.payload).data_time for m in sent["fakeinst_detector"]]
    assert times[-1] - times[0] == 10**9 * 14 // PULSE_RATE_HZ  # 14 periods: one second
    assert {b - a for a, b in itertools.pairwise(times)} <= {71_428_571, 71_428_572}


def test_rate_is_split_over_banks_by_pixel_count(instrument: Instrument) -> None:
    small = dataclasses.replace(instrument.detectors[0], name="small", shape=(32, 128))
    small = dataclasses.replace(small, first_pixel_id=128 * 128 + 1)
    two_banks = dataclasses.replace(instrument, detectors=(instrument.detectors[0], small))
    sent = produce(two_banks, options(kinds=frozenset({Kind.DETECTOR})), pulses=14)
    per_bank: dict[str, int] = defaultdict(int)
    for m in sent["fakeinst_detector"]:
        decoded = decode_ev44(m.payload)
        per_bank[decoded.source_name] += len(decoded.events)
        assert decoded.events.pixel_id is not None
        if decoded.source_name == "small":
            assert decoded.events.pixel_id.min() > 128 * 128
    assert sum(per_bank.values()) == 100_003
    assert per_bank["panel_0"] == pytest.approx(4 * per_bank["small"], abs=4)


def test_monitors_send_events_without_pixels(instrument: Instrument) -> None:
    sent = produce(instrument, options(kinds=frozenset({Kind.MONITOR})), pulses=14)
    messages = [decode_ev44(m.payload) for m in sent["fakeinst_beam_monitor"]]
    assert len(messages) == 2 * 14
    by_source: dict[str, int] = defaultdict(int)
    for m in messages:
        assert m.events.pixel_id is None
        assert m.events.time_of_arrival.max() < FRAME_LENGTH_NS
        by_source[m.source_name] += len(m.events)
    assert by_source == {"monitor1": 10_000, "monitor2": 10_000}


def test_histogram_monitor_sends_da00(instrument: Instrument) -> None:
    histogram = dataclasses.replace(instrument, monitors=(Monitor(name="mon", histogram=True),))
    sent = produce(histogram, options(kinds=frozenset({Kind.MONITOR})), pulses=14)
    messages = sent["fakeinst_beam_monitor"]
    assert len(messages) == 14
    total = 0.0
    for i, m in enumerate(messages):
        source, timestamp, data = decode_da00(m.payload)
        assert source == "mon"
        assert timestamp == pulse_time(K0 + i)
        assert data.dims == ("time_of_arrival",)
        assert data.coords["time_of_arrival"].values[-1] == FRAME_LENGTH_NS
        assert str(data.unit) == "counts"
        total += float(data.sum().value)
    assert total == pytest.approx(10_000, rel=0.05)  # Poisson around the rate


def test_logs_stay_in_range_and_republish_unchanged_values(instrument: Instrument) -> None:
    seconds = 120
    sent = produce(instrument, options(kinds=frozenset({Kind.LOG})), pulses=seconds * 14)
    by_source: dict[str, list[Outgoing]] = defaultdict(list)
    for m in sent["fakeinst_motion"]:
        by_source[m.source_name].append(m)
    assert set(by_source) == {"motion1", "motion2"}
    ranges = {"motion1": (-5.0, 5.0), "motion2": (0.0, 100.0)}
    for name, messages in by_source.items():
        # A few Hz while moving, about 1 Hz while still: between 1 and 5 per second.
        assert seconds <= len(messages) <= 5 * seconds
        samples = []
        for m in messages:
            source, sample = decode_f144(m.payload)
            assert source == name
            assert isinstance(sample.value, float)
            lo, hi = ranges[name]
            assert lo <= sample.value <= hi
            assert sample.time <= m.timestamp_ns
            samples.append(sample)
        values = [s.value for s in samples]
        assert len(set(values)) > 20  # ramps and noise: many distinct values
        repeats = [(a, b) for a, b in itertools.pairwise(messages) if a.payload == b.payload]
        assert len(repeats) > 10
        for a, b in repeats:
            # The forwarder re-sends the cached message: same bytes, newer Kafka time.
            assert b.timestamp_ns - a.timestamp_ns >= 10**9 - 10**8
        changes = [(a, b) for a, b in itertools.pairwise(samples) if a.value != b.value]
        steps = [abs(b.value - a.value) for a, b in changes]
        lo, hi = ranges[name]
        assert max(steps) > 0.2 * (hi - lo)  # a step
        assert min(steps) < 0.01 * (hi - lo)  # a slow ramp or noise


def test_area_frames_have_the_declared_shape_and_a_moving_blob(instrument: Instrument) -> None:
    sent = produce(instrument, options(kinds=frozenset({Kind.AREA})), pulses=5 * 14)
    frames = [decode_ad00(m.payload) for m in sent["fakeinst_area_detector"]]
    assert len(frames) in (5, 6)  # 1 Hz over five seconds, the first one at once
    peaks = []
    for i, (source, frame) in enumerate(frames):
        assert source == "area_panel"
        assert frame.data.shape == (256, 256)
        assert frame.data.dtype == np.uint16
        assert frame.time % 10**9 == 0
        assert frame.unique_id == i + 1
        assert frame.data.max() > 10 * np.median(frame.data)
        peaks.append(np.unravel_index(np.argmax(frame.data), frame.data.shape))
    assert len(set(peaks)) > 1


@pytest.mark.parametrize("rate", [0.25, 2.0, 14.0])
def test_frame_rate(instrument: Instrument, rate: float) -> None:
    sent = produce(
        instrument, options(kinds=frozenset({Kind.AREA}), frame_rate=rate), pulses=8 * 14
    )
    assert abs(len(sent["fakeinst_area_detector"]) - 8 * rate) <= 1


def test_run_start_and_stops(instrument: Instrument) -> None:
    opts = options(kinds=frozenset({Kind.RUN}), run_length_s=2.0)
    sources = build_sources(instrument, opts, rng=np.random.default_rng(), start_ns=T_START)
    (run,) = sources
    sent = [m for i in range(5 * 14) for m in run.poll(Pulse(K0 + i))]
    sent += run.close(pulse_time(K0 + 5 * 14))
    decoded = [
        decode_pl72(m.payload, fallback_time=0)
        if m.payload[4:8] == b"pl72"
        else decode_6s4t(m.payload, fallback_time=0)
        for m in sent
    ]
    kinds = [type(d).__name__ for d in decoded]
    assert kinds == ["RunStart", "RunStop", "RunStart", "RunStop", "RunStart", "RunStop"]
    assert all(m.topic == "fakeinst_filewriter" for m in sent)
    first_start, first_stop = decoded[0], decoded[1]
    assert first_start.run_name == first_stop.run_name == "fakeinst-fake-0001"
    assert first_stop.stop_time - first_start.start_time == 2 * 10**9  # type: ignore[union-attr]
    assert abs(first_start.start_time - pulse_time(K0 + 1)) < 10**6  # type: ignore[union-attr]
    assert decoded[2].run_name == "fakeinst-fake-0002"


def test_without_run_length_one_run_until_close(instrument: Instrument) -> None:
    opts = options(kinds=frozenset({Kind.RUN}))
    (run,) = build_sources(instrument, opts, rng=np.random.default_rng(), start_ns=T_START)
    sent = [m for i in range(60 * 14) for m in run.poll(Pulse(K0 + i))]
    assert len(sent) == 1
    assert decode_pl72(sent[0].payload, fallback_time=0).stop_time is None
    (stop,) = run.close(T_START + 60 * 10**9)
    assert decode_6s4t(stop.payload, fallback_time=0).stop_time == T_START + 60 * 10**9


def test_available_kinds(instrument: Instrument) -> None:
    assert available_kinds(instrument) == frozenset(Kind)
    logs_only = Instrument(name="x", logs=(LogSignal(name="t", unit="K"),))
    assert available_kinds(logs_only) == {Kind.LOG, Kind.RUN}


def test_kinds_the_instrument_lacks_are_refused() -> None:
    logs_only = Instrument(name="x", logs=(LogSignal(name="t", unit="K"),))
    with pytest.raises(ValueError, match="no area, detector"):
        build_sources(
            logs_only,
            options(kinds=frozenset({Kind.DETECTOR, Kind.AREA})),
            rng=np.random.default_rng(),
            start_ns=T_START,
        )


def test_default_kinds_send_on_every_topic(instrument: Instrument) -> None:
    sent = produce(instrument, options(), pulses=14)
    assert {topic: len(ms) for topic, ms in sent.items()} == {
        "fakeinst_detector": 14,
        "fakeinst_beam_monitor": 28,
        "fakeinst_motion": pytest.approx(8, abs=6),
        "fakeinst_area_detector": pytest.approx(1, abs=1),
        "fakeinst_filewriter": 1,
    }
