"""Fake events from geometry: powder rings, a small-angle spot, spectrometer arcs."""

from __future__ import annotations

import itertools
import math
from functools import cache

import numpy as np
import pytest

from livedata.config.instrument import Instrument
from livedata.config.registry import load_instrument
from livedata.protocol.ev44 import decode_ev44
from livedata.services.fake_producers.event_pools import FRAME_LENGTH_NS
from livedata.services.fake_producers.pacing import Pulse, pulse_at
from livedata.services.fake_producers.patterns import (
    NS_PER_ANGSTROM_METRE,
    BankModel,
    band_wavelengths,
    has_model,
    instrument_models,
    sample_events,
)
from livedata.services.fake_producers.sources import Kind, SourceOptions, build_sources

T_START = 1_700_000_000_000_000_000


@cache
def instrument(name: str) -> Instrument:
    return load_instrument(name)


@cache
def models(name: str) -> dict[str, BankModel]:
    return {m.bank.name: m for m in instrument_models(instrument(name))}


def draw(name: str, bank: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    inst = instrument(name)
    assert inst.fake_beam is not None
    toa, pixel_id = sample_events(
        np.random.default_rng(seed), models(name)[bank], inst.fake_beam, n
    )
    b = inst.detector(bank)
    assert toa.dtype == np.int32
    assert pixel_id.dtype == np.int32
    assert pixel_id.min() >= b.first_pixel_id
    assert pixel_id.max() < b.first_pixel_id + b.n_pixels
    assert toa.min() >= 0
    assert toa.max() < FRAME_LENGTH_NS
    return toa, pixel_id - b.first_pixel_id


def test_the_shaped_instruments_have_models_and_the_dummy_not() -> None:
    assert all(has_model(instrument(n)) for n in ("dream", "loki", "bifrost"))
    assert not has_model(instrument("dummy"))


def ring_angles(inst: Instrument) -> list[float]:
    sample = inst.fake_sample
    return [
        math.degrees(2 * math.asin(sample.wavelength / (2 * d)))  # type: ignore[union-attr]
        for d in sample.d_spacings  # type: ignore[union-attr]
        if sample.wavelength < 2 * d  # type: ignore[union-attr]
    ]


def test_powder_rings_peak_at_the_bragg_angles() -> None:
    dream = instrument("dream")
    _, pixel = draw("dream", "mantle_detector", 400_000)
    two_theta = np.degrees(dream.geometry("mantle_detector").two_theta)
    # Counts per pixel in 0.5 degree bins of scattering angle.
    edges = np.arange(50.0, 120.0, 0.5)
    pixels_per_bin = np.histogram(two_theta, edges)[0]
    counts = np.histogram(two_theta[pixel], edges)[0]
    density = counts / np.maximum(pixels_per_bin, 1)
    centres = (edges[1:] + edges[:-1]) / 2
    background = np.median(density[pixels_per_bin > 0])
    rings = [a for a in ring_angles(dream) if 52 < a < 118]
    assert len(rings) == 6
    for ring in rings:
        at = np.argmin(np.abs(centres - ring))
        assert density[at] > 5 * background, ring
        # A local maximum: the peak is at the ring, not beside it.
        assert density[at] == density[at - 2 : at + 3].max(), ring
    between = [(a + b) / 2 for a, b in itertools.pairwise(rings)]
    for angle in between:
        assert density[np.argmin(np.abs(centres - angle))] < 2 * background


def test_powder_times_of_arrival_convert_back_to_the_d_spacings() -> None:
    dream = instrument("dream")
    beam, sample = dream.fake_beam, dream.fake_sample
    assert beam is not None
    assert sample is not None
    geometry = dream.geometry("endcap_forward_detector")
    toa, pixel = draw("dream", "endcap_forward_detector", 200_000)
    wavelength = (toa - beam.emission_centre_ns) / (
        geometry.flight_path[pixel] * NS_PER_ANGSTROM_METRE
    )
    d = wavelength / (2 * np.sin(geometry.two_theta[pixel] / 2))
    # The forward end-cap sees the 111 ring (d = 3.1355 A): a sharp peak there.
    d111 = sample.d_spacings[0]  # type: ignore[union-attr]
    near = np.abs(d / d111 - 1) < 0.01
    assert near.mean() > 0.5
    assert np.abs(np.median(d[near]) / d111 - 1) < 1e-3
    # Not an artefact of the angles: the same events' wavelengths spread over the band.
    assert np.ptp(wavelength) > 1.0


def test_small_angle_spot_fades_with_distance_from_the_beam() -> None:
    loki = instrument("loki")
    _, pixel = draw("loki", "loki_detector_0", 300_000)
    position = loki.geometry("loki_detector_0").pixel_positions
    radius = np.hypot(position[:, 0], position[:, 1])
    edges = np.array([0.0, 0.03, 0.06, 0.12, 0.25, 0.5])
    per_pixel = np.histogram(radius[pixel], edges)[0] / np.histogram(radius, edges)[0]
    assert (np.diff(per_pixel) < 0).all()
    assert per_pixel[0] > 50 * per_pixel[-1]


def test_banks_get_events_as_the_model_lights_them() -> None:
    loki = instrument("loki")
    sources = build_sources(
        loki,
        SourceOptions(
            kinds=frozenset({Kind.DETECTOR}), event_rate=1_000_003, monitor_rate=0, frame_rate=0
        ),
        rng=np.random.default_rng(1),
        start_ns=T_START,
    )
    rates = {s.name: s.rate for s in sources}  # type: ignore[attr-defined]
    assert sum(rates.values()) == 1_000_003
    assert rates["loki_detector_0"] > 0.8 * 1_000_003  # the spot is on the rear bank
    assert all(rate > 0 for rate in rates.values())  # the background reaches every bank


def test_spectrometer_arcs_show_their_elastic_lines() -> None:
    bifrost = instrument("bifrost")
    beam, sample = bifrost.fake_beam, bifrost.fake_sample
    assert beam is not None
    assert sample is not None
    geometry = bifrost.geometry("unified_detector")
    toa, pixel = draw("bifrost", "unified_detector", 300_000)
    arc = pixel // 2700
    for a, final in enumerate(sample.final_wavelengths):  # type: ignore[union-attr]
        mine = arc == a
        path = geometry.l1 + geometry.l2[pixel[mine]]
        elastic = (beam.emission_centre_ns + path * final * NS_PER_ANGSTROM_METRE) % FRAME_LENGTH_NS
        offset = (toa[mine] - elastic + FRAME_LENGTH_NS / 2) % FRAME_LENGTH_NS - FRAME_LENGTH_NS / 2
        # The elastic share lands within the moderator pulse of the elastic line.
        assert np.mean(np.abs(offset) < 1.5e6) > sample.elastic * 0.9  # type: ignore[union-attr]


def test_spectrometer_spots_along_the_arcs() -> None:
    bifrost = instrument("bifrost")
    _, pixel = draw("bifrost", "unified_detector", 300_000)
    two_theta = np.degrees(bifrost.geometry("unified_detector").two_theta)
    counts = np.bincount(pixel, minlength=13_500)
    spot = counts[np.abs(two_theta - 47.0) < 1.0].mean()
    elsewhere = counts[np.abs(two_theta - 65.0) < 1.0].mean()
    assert spot > 2.5 * elsewhere


def test_monitors_fly_from_the_source_to_their_positions_within_the_band() -> None:
    loki = instrument("loki")
    beam = loki.fake_beam
    assert beam is not None
    sources = build_sources(
        loki,
        SourceOptions(
            kinds=frozenset({Kind.MONITOR}), event_rate=0, monitor_rate=140_000, frame_rate=0
        ),
        rng=np.random.default_rng(2),
        start_ns=T_START,
    )
    k0 = pulse_at(T_START)
    for source, monitor in zip(sources, loki.monitors, strict=True):
        (message,) = source.poll(Pulse(k0))
        toa = decode_ev44(message.payload).events.time_of_arrival
        assert monitor.position is not None
        assert loki.source_position is not None
        path = math.dist(monitor.position, loki.source_position)
        lo, hi = beam.wavelength_band
        start, stop = beam.emission_window_ns
        assert toa.min() >= start + path * lo * NS_PER_ANGSTROM_METRE
        assert toa.max() <= stop + path * hi * NS_PER_ANGSTROM_METRE


def test_band_wavelengths_stay_in_the_band_and_follow_the_spectrum() -> None:
    rng = np.random.default_rng(3)
    wavelength = band_wavelengths(rng, 200_000, (2.0, 9.0))
    assert wavelength.min() >= 2.0
    assert wavelength.max() <= 9.0
    counts = np.histogram(wavelength, bins=7, range=(2, 9))[0]
    assert counts.argmax() == 0  # the Maxwellian peaks at 2.5 A and falls beyond
    assert (np.diff(counts) < 0).all()


def test_every_bank_of_every_model_gets_valid_events() -> None:
    for name in ("dream", "loki", "bifrost"):
        for bank in instrument(name).detectors:
            draw(name, bank.name, 2000, seed=4)


@pytest.mark.parametrize("name", ["dream", "bifrost"])
def test_pools_hand_out_the_models_events(name: str) -> None:
    sources = build_sources(
        instrument(name),
        SourceOptions(
            kinds=frozenset({Kind.DETECTOR}), event_rate=140_000, monitor_rate=0, frame_rate=0
        ),
        rng=np.random.default_rng(5),
        start_ns=T_START,
    )
    k0 = pulse_at(T_START)
    sent = 0
    for i in range(14):
        for source in sources:
            for message in source.poll(Pulse(k0 + i)):
                sent += message.events
                events = decode_ev44(message.payload).events
                bank = instrument(name).detector(message.source_name)
                assert events.pixel_id is not None
                assert events.pixel_id.min() >= bank.first_pixel_id
                assert events.pixel_id.max() < bank.first_pixel_id + bank.n_pixels
    assert sent == 140_000
