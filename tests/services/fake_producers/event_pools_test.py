from __future__ import annotations

import numpy as np
import pytest

from livedata.config.instrument import DetectorBank
from livedata.services.fake_producers.event_pools import (
    FRAME_LENGTH_NS,
    check_rate,
    detector_generator,
    events_in_pulse,
    max_events_per_pulse,
    monitor_generator,
    split_rate,
)
from livedata.services.fake_producers.pacing import Pulse

K0 = 23_800_000_003  # a pulse index in 2023, not on a whole second


@pytest.mark.parametrize("rate", [0, 1, 13, 14, 15, 99_999, 100_000, 10**7 + 3])
@pytest.mark.parametrize("start", [K0, K0 + 5, 0])
def test_any_fourteen_pulses_carry_exactly_the_rate(rate: int, start: int) -> None:
    counts = [events_in_pulse(rate, start + i) for i in range(14)]
    assert sum(counts) == rate
    assert max(counts) - min(counts) <= 1
    assert max(counts) <= max_events_per_pulse(rate)


@pytest.mark.parametrize(
    ("total", "weights"),
    [(100_000, [16384]), (100_001, [1, 1, 1]), (7, [5, 3]), (0, [2, 2]), (10**8, [3, 5, 7])],
)
def test_split_rate_is_exact_and_proportional(total: int, weights: list[int]) -> None:
    shares = split_rate(total, weights)
    assert sum(shares) == total
    for share, weight in zip(shares, weights, strict=True):
        assert abs(share - total * weight / sum(weights)) < 1


def _bank(shape: tuple[int, ...], first: int = 1) -> DetectorBank:
    return DetectorBank(
        name="bank",
        shape=shape,
        dims=tuple(f"d{i}" for i in range(len(shape))),
        first_pixel_id=first,
    )


@pytest.mark.parametrize(
    ("shape", "first"), [((128, 128), 1), ((1000,), 5), ((4, 32, 16), 100_000), ((1, 64), 0)]
)
def test_detector_events_are_valid(shape: tuple[int, ...], first: int) -> None:
    bank = _bank(shape, first)
    generator = detector_generator(bank, rate=140_000, rng=np.random.default_rng(1))
    for i in range(14):
        batch = generator.events(Pulse(K0 + i))
        assert len(batch) == 10_000
        assert batch.pixel_id is not None
        assert batch.pixel_id.dtype == np.int32
        assert batch.time_of_arrival.dtype == np.int32
        assert batch.pixel_id.min() >= first
        assert batch.pixel_id.max() <= first + bank.n_pixels - 1
        assert batch.time_of_arrival.min() >= 0
        assert batch.time_of_arrival.max() < FRAME_LENGTH_NS
        assert batch.reference_time.tolist() == [Pulse(K0 + i).time_ns]
        assert batch.reference_time_index.tolist() == [0]


def test_panel_has_a_bright_centre_on_a_flat_background() -> None:
    generator = detector_generator(_bank((128, 128)), rate=1_400_000, rng=np.random.default_rng(2))
    counts = np.zeros(128 * 128)
    for i in range(14):
        pixel_id = generator.events(Pulse(K0 + i)).pixel_id
        assert pixel_id is not None
        counts += np.bincount(pixel_id - 1, minlength=128 * 128)
    image = counts.reshape(128, 128)
    centre = image[60:68, 60:68].mean()
    corners = np.mean([image[:8, :8], image[:8, -8:], image[-8:, :8], image[-8:, -8:]])
    assert centre > 10 * corners
    # The background is not empty: every corner pixel region gets counts.
    assert corners > 0.2 * image.mean()


def test_spectrum_rises_fast_and_has_a_tail_and_peaks() -> None:
    generator = detector_generator(_bank((128, 128)), rate=1_400_000, rng=np.random.default_rng(3))
    toa = np.concatenate([generator.events(Pulse(K0 + i)).time_of_arrival for i in range(14)])
    counts, _ = np.histogram(toa, bins=71, range=(0, FRAME_LENGTH_NS))  # 1 ms bins
    peak = int(np.argmax(counts))
    assert 10 <= peak <= 30  # the moderator's peak, ~16 ms at 25 m
    # A fast rise: little before ~1 A neutrons arrive, only the far tail wrapped round
    # from the previous frame (frame overlap).
    assert counts[:5].sum() < 0.005 * counts.sum()
    assert counts[peak - 8] < 0.2 * counts[peak]
    assert counts[peak + 25 :].sum() > 0.01 * counts.sum()  # a long tail
    # Bragg peaks: local maxima well above their neighbours beyond the moderator peak.
    smooth = np.convolve(counts, np.ones(7) / 7, mode="same")
    bumps = [i for i in range(peak + 3, 60) if counts[i] > 1.5 * smooth[i - 4 : i + 5].min()]
    assert bumps


def test_successive_pulses_differ() -> None:
    generator = detector_generator(_bank((128, 128)), rate=140_000, rng=np.random.default_rng(4))
    a = generator.events(Pulse(K0)).time_of_arrival
    b = generator.events(Pulse(K0 + 1)).time_of_arrival
    assert not np.array_equal(a, b)


def test_monitor_events_have_no_pixels() -> None:
    generator = monitor_generator(rate=10_000, rng=np.random.default_rng(5))
    batches = [generator.events(Pulse(K0 + i)) for i in range(14)]
    assert sum(len(b) for b in batches) == 10_000
    for batch in batches:
        assert batch.pixel_id is None
        assert batch.time_of_arrival.min() >= 0
        assert batch.time_of_arrival.max() < FRAME_LENGTH_NS


def test_pixel_ids_beyond_int32_are_refused() -> None:
    with pytest.raises(ValueError, match="int32"):
        detector_generator(_bank((16,), first=2**31 - 8), rate=10, rng=np.random.default_rng())


@pytest.mark.parametrize("rate", [-1.0, float("nan"), float("inf"), 2e8])
def test_check_rate_refuses_bad_rates(rate: float) -> None:
    with pytest.raises(ValueError, match="event rate"):
        check_rate("event rate", rate, 1e8)


def test_check_rate_rounds() -> None:
    assert check_rate("event rate", 1e7, 1e8) == 10_000_000
    assert check_rate("event rate", 2.6, 1e8) == 3
