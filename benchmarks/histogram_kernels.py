"""Histogram kernels: events/s per core next to ``np.bincount`` on a precomputed index.

Run: ``.venv/bin/python benchmarks/histogram_kernels.py``

Each figure is the median of ``REPEATS`` runs on ``N_EVENTS`` events, measured in
thread CPU time (so a noisy neighbour on a small machine does not count against us).
Our kernels include the bounds checks on pixel ids and times and compute the bin
index from raw ev44-like int32 arrays; the baseline is ``np.bincount`` alone on the
final flat intp index of the same events, computed beforehand (QUALITY.md's floor
for a numpy kernel). Kernel and baseline runs alternate, so both see the same noise;
the ratio is ours / baseline (1.0 = as fast as the bare scatter-add).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np
import numpy.typing as npt

from livedata.core.control import Roi, RoiUpdate
from livedata.core.identity import JobId
from livedata.workflows.histogram import (
    PixelCounts,
    PixelRange,
    PixelTimeOfArrivalCounts,
    TimeOfArrivalSpectrum,
    UniformBins,
)
from livedata.workflows.roi_geometry import partition, select_pixels
from livedata.workflows.roi_spectra import RoiSpectra, RoiSpectrumParams

N_EVENTS = 10_000_000
"""1 s of LoKI at its planned peak rate: one window's worth for one job."""

REPEATS = 9
FRAME_NS = 71_428_571
SMALL_PANEL = 128 * 128
"""The dummy panel (and BIFROST-sized detectors)."""
DREAM_PIXELS = 1_523_680
"""DREAM's highest pixel id: a histogram well beyond L2 cache."""
DREAM_PLANE = (1190, 1280)
"""As many pixels as DREAM (1.52 M), as a 2-d view for ROIs."""
BAD_FRACTION = 0.01


def benchmark_rois(ny: int, nx: int) -> list[Roi]:
    """Four overlapping ROIs covering about a third of the plane: two rectangles, a
    triangle and a 64-vertex disc."""
    angle = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    disc_x, disc_y = nx / 2 + nx / 4 * np.cos(angle), ny / 2 + ny / 4 * np.sin(angle)
    return [
        Roi(shape="rectangle", x=(0, nx / 3), y=(0, ny / 2)),
        Roi(shape="rectangle", x=(nx / 4, nx / 2), y=(ny / 4, ny / 2)),
        Roi(shape="polygon", x=(nx / 2, nx, nx), y=(0, 0, ny / 3)),
        Roi(shape="polygon", x=tuple(disc_x), y=tuple(disc_y)),
    ]


@dataclass(frozen=True)
class Case:
    name: str
    n_bins: int
    ours: Callable[[], object]
    baseline: Callable[[], object]


def cpu_seconds(fn: Callable[[], object]) -> float:
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def measure(case: Case) -> tuple[float, float]:
    case.ours()  # warm up: scratch buffers, page faults of the histogram
    case.baseline()
    ours: list[float] = []
    base: list[float] = []
    for _ in range(REPEATS):
        ours.append(cpu_seconds(case.ours))
        base.append(cpu_seconds(case.baseline))
    return N_EVENTS / statistics.median(ours), N_EVENTS / statistics.median(base)


def flat_pixel_index(pixel_id: npt.NDArray[np.int32], first: int, n: int) -> npt.NDArray[np.intp]:
    index = pixel_id.astype(np.intp) - first
    return index[(index >= 0) & (index < n)]


def cases(rng: np.random.Generator) -> list[Case]:
    toa = rng.integers(0, FRAME_NS, N_EVENTS, dtype=np.int32)
    result: list[Case] = []
    for n_pixels in (SMALL_PANEL, DREAM_PIXELS):
        pixel_id = rng.integers(1, n_pixels + 1, N_EVENTS, dtype=np.int32)
        kernel = PixelCounts(PixelRange(1, n_pixels))
        image = np.zeros(n_pixels, dtype=np.int64)
        index = flat_pixel_index(pixel_id, 1, n_pixels)
        result.append(
            Case(
                f"image {n_pixels} px",
                n_pixels,
                partial(kernel.add, image, pixel_id),
                partial(np.bincount, index, minlength=n_pixels),
            )
        )
        # The same with 1 % hostile ids (negative, 2**31-1): the reject path's cost.
        bad = pixel_id.copy()
        where = rng.random(N_EVENTS) < BAD_FRACTION
        bad[where] = rng.choice(np.array([-1, 2**31 - 1, -(2**31)], dtype=np.int32), where.sum())
        bad_index = flat_pixel_index(bad, 1, n_pixels)
        result.append(
            Case(
                f"image {n_pixels} px, 1% bad ids",
                n_pixels,
                partial(kernel.add, image, bad),
                partial(np.bincount, bad_index, minlength=n_pixels),
            )
        )
    for n_bins in (100, 10_000):
        bins = UniformBins(0, FRAME_NS, n_bins)
        spectrum = TimeOfArrivalSpectrum(bins)
        out = np.zeros(n_bins, dtype=np.int64)
        index = toa.astype(np.intp) * n_bins // FRAME_NS
        result.append(
            Case(
                f"ToA spectrum {n_bins} bins",
                n_bins,
                partial(spectrum.add, out, toa),
                partial(np.bincount, index, minlength=n_bins),
            )
        )
    pixel_id = rng.integers(1, SMALL_PANEL + 1, N_EVENTS, dtype=np.int32)
    cube_kernel = PixelTimeOfArrivalCounts(
        PixelRange(1, SMALL_PANEL), UniformBins(0, FRAME_NS, 100)
    )
    cube = np.zeros(cube_kernel.shape, dtype=np.int64)
    cube_index = (pixel_id.astype(np.intp) - 1) * 100 + toa.astype(np.intp) * 100 // FRAME_NS
    result.append(
        Case(
            f"pixel x ToA {SMALL_PANEL} x 100",
            cube_kernel.n_bins,
            partial(cube_kernel.add, cube, pixel_id, toa),
            partial(np.bincount, cube_index, minlength=cube_kernel.n_bins),
        )
    )
    for plane in ((128, 128), DREAM_PLANE):
        result.append(roi_case(rng, plane, toa))
    return result


def roi_case(rng: np.random.Generator, plane: tuple[int, int], toa: npt.NDArray[np.int32]) -> Case:
    """ROI spectra as a detector view pays for them: region lookup, ToA bins, folding
    regions into the spectra of overlapping ROIs. The baseline is ``bincount`` on the
    precomputed (region, ToA bin) index."""
    n_pixels = plane[0] * plane[1]
    pixel_id = rng.integers(1, n_pixels + 1, N_EVENTS, dtype=np.int32)
    rois = benchmark_rois(*plane)
    spectra = RoiSpectra(
        source_name="bench", shape=plane, first_pixel_id=1, params=RoiSpectrumParams(bins=100)
    )
    spectra.apply(
        {
            "roi_rectangle": _update("rectangle", rois[:2]),
            "roi_polygon": _update("polygon", rois[2:]),
        }
    )
    regions = partition([select_pixels(roi, plane) for roi in rois], plane, max_regions=64)
    groups = regions.labels.reshape(-1).astype(np.intp)
    index = groups[pixel_id - 1] * 100 + toa.astype(np.intp) * 100 // FRAME_NS
    n_bins = (regions.n_regions + 1) * 100
    return Case(
        f"ROI spectra 4 ROIs {n_pixels} px",
        n_bins,
        partial(spectra.add, 0, pixel_id, toa),
        partial(np.bincount, index, minlength=n_bins),
    )


def _update(shape: Literal["rectangle", "polygon"], rois: list[Roi]) -> RoiUpdate:
    job_id = JobId(source_name="bench", job_number=uuid.UUID(int=0))
    return RoiUpdate(job_id=job_id, shape=shape, rois=dict(enumerate(rois)))


def main() -> None:
    rng = np.random.default_rng(20_260_521)
    print(
        f"{N_EVENTS:.0e} events per run, median of {REPEATS} runs, events per CPU-second (one core)"
    )
    print(f"{'kernel':<34}{'bins':>11}{'ours':>12}{'bincount':>12}{'ratio':>8}")
    for case in cases(rng):
        ours, base = measure(case)
        print(
            f"{case.name:<34}{case.n_bins:>11,}{ours / 1e6:>10.0f} M{base / 1e6:>10.0f} M"
            f"{ours / base:>8.2f}"
        )


if __name__ == "__main__":
    main()
