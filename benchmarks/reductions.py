"""Reduction kernels (SANS I(Q), powder I(d), monitor wavelength spectrum): events/s per
core, next to ``np.bincount`` on a precomputed index of the same events.

Run: ``.venv/bin/python benchmarks/reductions.py``

Each figure is the median of ``REPEATS`` runs on ``N_EVENTS`` events in thread CPU time.
"Ours" starts from raw ev44-like int32 arrays (time of arrival, pixel id) and includes
the pixel bounds check, the per-pixel factor lookup, the coordinate, the wavelength
band (SANS), the exact edge placement and the ``bincount``. "bincount" is
``np.bincount`` alone on the final bin index of the events the kernel accepts,
computed beforehand (QUALITY.md's floor for a numpy kernel). "image" is the detector
image kernel (``PixelCounts``) on the same pixel ids: it pays the same random access
over a megapixel table, so it shows what any per-pixel work costs at that size. The
"workflow" rows time ``accumulate`` + ``finalize`` of the whole workflow per 1e7-event
window (monitor included).

Geometries are synthetic: a LoKI-like flat bank 5 m behind the sample (L1 = 23.6 m)
and a DREAM-like cylindrical mantle of radius 1.1 m (L1 = 76.5 m).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import numpy.typing as npt

from livedata.core.values import EventBatch
from livedata.workflows.coordinate_bins import CoordinateBins
from livedata.workflows.coordinate_histogram import CoordinateHistogram, Gate
from livedata.workflows.histogram import PixelRange
from livedata.workflows.pixel_counts import PixelCounts
from livedata.workflows.powder import PowderIdParams, PowderIdWorkflow, d_factors
from livedata.workflows.sans import SansIqParams, SansIqWorkflow, q_factors
from livedata.workflows.wavelength import ANGSTROM_METRE_PER_NS, wavelength_per_ns

N_EVENTS = 10_000_000
"""1 s of LoKI at its planned peak rate: one window's worth for one job."""

REPEATS = 7
FRAME_NS = 71_428_571
LOKI_PIXELS = (1732, 1732)
"""3.0 M pixels: LoKI's ~3.2 M, as one flat bank (the worst case for one job)."""
LOKI_HALF = (1225, 1225)
"""1.5 M pixels: a LoKI bank of the size of DREAM."""
DREAM_MANTLE = (2381, 640)
"""1.52 M pixels (DREAM's highest id is 1,523,680), as (angle, height) on a cylinder."""


@dataclass(frozen=True)
class Beamline:
    source_position: npt.NDArray[np.float64]
    sample_position: npt.NDArray[np.float64]
    pixel_positions: npt.NDArray[np.float64]
    monitor_positions: Mapping[str, npt.NDArray[np.float64]] = field(default_factory=dict)


def loki_bank(side: tuple[int, int]) -> Beamline:
    ny, nx = side
    x = (np.arange(nx) - nx / 2 + 0.5) * 0.6 / nx
    y = (np.arange(ny) - ny / 2 + 0.5) * 0.6 / ny
    xx, yy = np.meshgrid(x, y)
    pixels = np.stack([xx.ravel(), yy.ravel(), np.full(xx.size, 5.0)], axis=1)
    return Beamline(
        source_position=np.array([0.0, 0.0, -23.6]),
        sample_position=np.zeros(3),
        pixel_positions=pixels,
        monitor_positions={"monitor1": np.array([0.0, 0.0, -2.0])},
    )


def dream_mantle() -> Beamline:
    n_angle, n_height = DREAM_MANTLE
    angle = np.radians(np.linspace(30, 150, n_angle))
    a, h = np.meshgrid(angle, np.linspace(-0.5, 0.5, n_height), indexing="ij")
    pixels = np.stack([1.1 * np.sin(a), h, 1.1 * np.cos(a)], axis=-1).reshape(-1, 3)
    return Beamline(
        source_position=np.array([0.0, 0.0, -76.5]),
        sample_position=np.zeros(3),
        pixel_positions=pixels,
        monitor_positions={"monitor1": np.array([0.0, 0.0, -4.0])},
    )


@dataclass(frozen=True)
class Case:
    name: str
    n_pixels: int
    ours: Callable[[], object]
    baseline: Callable[[], object]
    image: Callable[[], object] | None


def cpu_seconds(fn: Callable[[], object]) -> float:
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def rate(fn: Callable[[], object], runs: list[float]) -> float:
    return N_EVENTS / statistics.median(runs) if runs else float("nan")


def measure(case: Case) -> tuple[float, float, float]:
    for fn in (case.ours, case.baseline, case.image):
        if fn is not None:
            fn()  # warm up: scratch buffers, page faults
    ours: list[float] = []
    base: list[float] = []
    image: list[float] = []
    for _ in range(REPEATS):  # alternate, so all see the same noise
        ours.append(cpu_seconds(case.ours))
        base.append(cpu_seconds(case.baseline))
        if case.image is not None:
            image.append(cpu_seconds(case.image))
    return rate(case.ours, ours), rate(case.baseline, base), rate(case.image, image)


def final_index(x: npt.NDArray[np.float64], keep: npt.NDArray[np.bool_], bins: CoordinateBins):
    """The bin index of the accepted events, computed another way (searchsorted)."""
    edges = bins.edges()
    keep = keep & (x >= edges[0]) & (x < edges[-1])
    return np.searchsorted(edges, x[keep], side="right").astype(np.intp) - 1


def events(rng: np.random.Generator, n_pixels: int, toa: npt.NDArray[np.int32]) -> EventBatch:
    return EventBatch(
        time_of_arrival=toa,
        pixel_id=rng.integers(1, n_pixels + 1, N_EVENTS, dtype=np.int32),
        reference_time=np.zeros(1, dtype=np.int64),
        reference_time_index=np.zeros(1, dtype=np.int32),
    )


def sans_cases(rng: np.random.Generator, side: tuple[int, int]) -> list[Case]:
    beamline = loki_bank(side)
    n = side[0] * side[1]
    q_factor, wavelength_factor = q_factors(beamline)
    pixel = rng.integers(0, n, N_EVENTS)
    # Wavelengths 1-12 Å, so the 1-10 Å band keeps most events, as on the instrument.
    toa = np.round(rng.uniform(1.0, 12.0, N_EVENTS) / wavelength_factor[pixel]).astype(np.int32)
    batch = EventBatch(
        time_of_arrival=toa,
        pixel_id=(pixel + 1).astype(np.int32),
        reference_time=np.zeros(1, dtype=np.int64),
        reference_time_index=np.zeros(1, dtype=np.int32),
    )
    bins = CoordinateBins(0.005, 0.5, 100, "log")
    kernel = CoordinateHistogram(
        bins,
        factor=q_factor,
        exponent=-1,
        pixels=PixelRange(1, n),
        gate=Gate(1.0, 10.0, wavelength_factor),
    )
    out = np.zeros(bins.count, dtype=np.int64)
    t = toa.astype(np.float64)
    wavelength = wavelength_factor[pixel] * t
    index = final_index(q_factor[pixel] / t, (wavelength >= 1.0) & (wavelength < 10.0), bins)
    image = PixelCounts(PixelRange(1, n))
    image_out = np.zeros(n, dtype=np.int64)
    assert batch.pixel_id is not None
    ids = batch.pixel_id
    workflow = SansIqWorkflow(
        source_name="rear",
        monitor_name="monitor1",
        beamline=beamline,
        first_pixel_id=1,
        params=SansIqParams(),
    )
    monitor_toa = np.round(
        rng.uniform(1.0, 12.0, N_EVENTS // 100) * 21.6 / ANGSTROM_METRE_PER_NS
    ).astype(np.int32)
    monitor = EventBatch(
        time_of_arrival=monitor_toa,
        pixel_id=None,
        reference_time=np.zeros(1, dtype=np.int64),
        reference_time_index=np.zeros(1, dtype=np.int32),
    )
    window = [0]

    def run_workflow() -> None:
        # A fresh monitor batch object per window, as the engine would deliver it.
        window[0] += 1
        fresh = EventBatch(
            time_of_arrival=monitor.time_of_arrival,
            pixel_id=None,
            reference_time=monitor.reference_time,
            reference_time_index=monitor.reference_time_index,
        )
        start = window[0] * 1_000_000_000
        workflow.accumulate(
            {"rear": batch, "monitor1": fresh}, start_time=start, end_time=start + 10**9
        )
        workflow.finalize()

    size = f"{n / 1e6:.1f} M px"
    return [
        Case(
            f"SANS I(Q) kernel, {size}",
            n,
            partial(kernel.add, out, toa, ids),
            partial(np.bincount, index, minlength=bins.count),
            partial(image.add, image_out, ids),
        ),
        Case(
            f"SANS I(Q) workflow, {size}",
            n,
            run_workflow,
            partial(np.bincount, index, minlength=bins.count),
            None,
        ),
    ]


def powder_cases(rng: np.random.Generator) -> list[Case]:
    beamline = dream_mantle()
    n = DREAM_MANTLE[0] * DREAM_MANTLE[1]
    d_factor, _ = d_factors(beamline)
    toa = rng.integers(0, FRAME_NS, N_EVENTS, dtype=np.int32)
    batch = events(rng, n, toa)
    assert batch.pixel_id is not None
    ids = batch.pixel_id
    bins = CoordinateBins(0.5, 5.0, 2000)
    kernel = CoordinateHistogram(bins, factor=d_factor, pixels=PixelRange(1, n))
    out = np.zeros(bins.count, dtype=np.int64)
    x = d_factor.astype(np.float32).astype(np.float64)[ids - 1] * toa
    index = final_index(x, np.ones(N_EVENTS, dtype=bool), bins)
    image = PixelCounts(PixelRange(1, n))
    image_out = np.zeros(n, dtype=np.int64)
    workflow = PowderIdWorkflow(
        source_name="mantle", beamline=beamline, first_pixel_id=1, params=PowderIdParams()
    )

    def run_workflow() -> None:
        workflow.accumulate({"mantle": batch}, start_time=0, end_time=10**9)
        workflow.finalize()

    size = f"{n / 1e6:.1f} M px"
    return [
        Case(
            f"powder I(d) kernel, {size}",
            n,
            partial(kernel.add, out, toa, ids),
            partial(np.bincount, index, minlength=bins.count),
            partial(image.add, image_out, ids),
        ),
        Case(
            f"powder I(d) workflow, {size}",
            n,
            run_workflow,
            partial(np.bincount, index, minlength=bins.count),
            None,
        ),
    ]


def monitor_case(rng: np.random.Generator) -> Case:
    toa = rng.integers(0, FRAME_NS, N_EVENTS, dtype=np.int32)
    bins = CoordinateBins(0.5, 15.0, 100)
    factor = float(wavelength_per_ns(21.6))
    kernel = CoordinateHistogram(bins, factor=factor)
    out = np.zeros(bins.count, dtype=np.int64)
    index = final_index(factor * toa.astype(np.float64), np.ones(N_EVENTS, dtype=bool), bins)
    return Case(
        "monitor wavelength spectrum",
        0,
        partial(kernel.add, out, toa),
        partial(np.bincount, index, minlength=bins.count),
        None,
    )


def main() -> None:
    rng = np.random.default_rng(20_260_521)
    print(
        f"{N_EVENTS:.0e} events per run, median of {REPEATS} runs, events per CPU-second (one core)"
    )
    print(f"{'case':<34}{'ours':>10}{'bincount':>12}{'ratio':>8}{'image':>10}")
    cases = [
        monitor_case(rng),
        *sans_cases(rng, LOKI_HALF),
        *sans_cases(rng, LOKI_PIXELS),
        *powder_cases(rng),
    ]
    for case in cases:
        ours, base, image = measure(case)
        image_text = "" if np.isnan(image) else f"{image / 1e6:>8.0f} M"
        print(
            f"{case.name:<34}{ours / 1e6:>8.0f} M{base / 1e6:>10.0f} M"
            f"{ours / base:>8.2f}{image_text:>10}"
        )


if __name__ == "__main__":
    main()
