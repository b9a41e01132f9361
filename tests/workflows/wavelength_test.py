"""Wavelength from time of flight and path: the constant, and a hand-computed neutron."""

import math

import numpy as np
import pydantic
import pytest
import scipp as sc

from livedata.workflows.coordinate_bins import CoordinateBins
from livedata.workflows.coordinate_histogram import CoordinateHistogram
from livedata.workflows.monitor_histogram import MonitorWavelengthParams
from livedata.workflows.powder import PowderIdParams
from livedata.workflows.sans import SansIqParams
from livedata.workflows.wavelength import (
    ANGSTROM_METRE_PER_NS,
    WavelengthBand,
    frame_limit_angstrom,
    wavelength_per_ns,
)

H = 6.62607015e-34  # J s
M_N = 1.67492749804e-27  # kg


def test_the_constant_is_h_over_m_n_in_angstrom_metre_per_ns() -> None:
    by_scipp = (sc.scalar(H, unit="J*s") / sc.scalar(M_N, unit="kg")).to(unit="angstrom*m/ns")
    assert math.isclose(ANGSTROM_METRE_PER_NS, by_scipp.value, rel_tol=1e-14)
    assert math.isclose(ANGSTROM_METRE_PER_NS, 3.956034e-6, rel_tol=1e-6)


def test_a_4_angstrom_neutron_over_25_m() -> None:
    # v = h / (m λ) = 989.0 m/s, so 25 m take 25.277 ms.
    speed = H / (M_N * 4e-10)
    t_ns = 25.0 / speed * 1e9
    assert math.isclose(t_ns, 25_277_000, rel_tol=1e-4)
    assert math.isclose(float(wavelength_per_ns(25.0)) * t_ns, 4.0, rel_tol=1e-12)
    # In a spectrum of 0.1 Å bins it lands in [4.0, 4.1), rounded to a whole ns either way.
    kernel = CoordinateHistogram(CoordinateBins(0.1, 10.0, 99), factor=wavelength_per_ns(25.0))
    out = np.zeros(99, dtype=np.int64)
    kernel.add(out, np.array([math.ceil(t_ns), math.floor(t_ns)], dtype=np.int32))
    assert out[39] == 1  # [4.0, 4.1)
    assert out[38] == 1  # [3.9, 4.0): a whole ns short of 4 Å


def test_the_default_time_offset_is_the_middle_of_the_pulse() -> None:
    # Every params model that converts time shares it.
    assert SansIqParams().time_offset_ns == 1_430_000
    assert PowderIdParams().time_offset_ns == 1_430_000
    assert MonitorWavelengthParams().time_offset_ns == 1_430_000


def test_frame_limit() -> None:
    # The slowest neutron of one 71.4 ms frame over 28 m: ~10.1 Å.
    assert math.isclose(frame_limit_angstrom(28.0), 10.09, rel_tol=1e-3)


def test_flight_paths_must_be_positive() -> None:
    with pytest.raises(ValueError, match="finite and positive"):
        wavelength_per_ns(np.array([1.0, 0.0]))


@pytest.mark.parametrize(
    "band",
    [
        {"start": 5.0, "stop": 1.0},
        {"start": 0.0, "stop": 1.0},
        {"start": 1.0, "stop": 1e3},
        {"start": 1.0, "stop": float("inf")},
        {"start": 1.0},
    ],
)
def test_bad_bands_are_rejected(band) -> None:
    with pytest.raises(pydantic.ValidationError):
        WavelengthBand.model_validate(band)
