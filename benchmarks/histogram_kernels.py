"""Histogram kernels: events/s per core next to ``np.bincount`` on a precomputed index.

Run: ``.venv/bin/python benchmarks/histogram_kernels.py [--events 1e7] [--repeats 9]
[--only SUBSTRING]``

For each kernel and instrument size (dummy 16,384 pixels, BIFROST-like 13,500,
DREAM-like 1,523,680, LoKI-like 3,211,264) the kernel histograms ``--events`` events on
uniformly random pixels, from raw ev44-like int32 arrays: bounds checks on pixel ids and
times and the bin index computation included. The floor next to it is ``np.bincount``
alone on the final flat intp index of the same events, computed beforehand (QUALITY.md's
floor for a numpy kernel), with one discard bin for the events the kernel rejects.

Figures are medians of ``--repeats`` runs in thread CPU time (a noisy neighbour on a
small machine does not count against us); kernel and floor runs alternate, so both see
the same noise, and the ratio is ours / floor (1.0 = as fast as the bare scatter-add).
Each row is marked PASS or BELOW against the issue's target: 0.6 for images and spectra
(ROI spectra included), 0.5 for pixel x time-of-arrival cubes.

The cubes of the megapixel instruments use 10 time-of-arrival bins (a 100-bin cube of
3.2 M pixels would be 2.6 GB per histogram); the others use 100.

ROI spectra run twice per size, with 100 bins: four ROIs drawn on features (about 10 %
of the pixels, the typical case) and four large ones (about 45 %); the row's name
prints that share (of pixels, and so of these uniform events). Their kernel is one
compiled loop with no branch on the data (ADR 0012), so its cost should not depend on
the share; a kernel that skips events in no ROI would be fast only on the typical case.
"""

from __future__ import annotations

import argparse
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
    PixelRange,
    PixelTimeOfArrivalCounts,
    TimeOfArrivalSpectrum,
    UniformBins,
)
from livedata.workflows.pixel_counts import PixelCounts
from livedata.workflows.roi_geometry import partition, select_pixels
from livedata.workflows.roi_spectra import RoiSpectra, RoiSpectrumParams

FRAME_NS = 71_428_571
BAD_FRACTION = 0.01
TOA_WINDOW = (10_000_000, 40_000_000)

IMAGE_TARGET, SPECTRUM_TARGET, CUBE_TARGET = 0.6, 0.6, 0.5


@dataclass(frozen=True)
class Size:
    instrument: str
    plane: tuple[int, int]
    """The pixels as a 2-d plane, for ROIs (ny * nx = the instrument's pixel count)."""
    cube_bins: int

    @property
    def pixels(self) -> int:
        return self.plane[0] * self.plane[1]


SIZES = (
    Size("dummy", (128, 128), 100),
    Size("bifrost", (108, 125), 100),
    Size("dream", (1190, 1280), 10),  # ids up to 1,523,200 (DREAM's highest: 1,523,680)
    Size("loki", (1792, 1792), 10),  # all nine banks: 3,211,264 pixels
)


@dataclass(frozen=True)
class Case:
    kernel: str
    instrument: str
    n_bins: int
    target: float
    ours: Callable[[], object]
    floor: Callable[[], object]


def cpu_seconds(fn: Callable[[], object]) -> float:
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def measure(case: Case, n_events: int, repeats: int) -> tuple[float, float, float]:
    """Events per CPU-second of ours and of the floor (medians), and the median ratio."""
    case.ours()  # warm up: scratch buffers, page faults of the histogram
    case.floor()
    ours: list[float] = []
    floor: list[float] = []
    for _ in range(repeats):
        ours.append(cpu_seconds(case.ours))
        floor.append(cpu_seconds(case.floor))
    ratio = statistics.median(f / o for o, f in zip(ours, floor, strict=True))
    return n_events / statistics.median(ours), n_events / statistics.median(floor), ratio


def floor_of(index: npt.NDArray[np.intp], n_bins: int) -> Callable[[], object]:
    return partial(np.bincount, index, minlength=n_bins + 1)


def time_bins(toa: npt.NDArray[np.int32], n_bins: int) -> npt.NDArray[np.intp]:
    index: npt.NDArray[np.intp] = toa.astype(np.intp) * n_bins // FRAME_NS
    return index


def image_cases(
    size: Size,
    pixel_id: npt.NDArray[np.int32],
    toa: npt.NDArray[np.int32],
    rng: np.random.Generator,
) -> list[Case]:
    n = size.pixels
    kernel = PixelCounts(PixelRange(1, n))
    image = np.zeros(n, dtype=np.int64)
    result = [
        Case(
            "image",
            size.instrument,
            n,
            IMAGE_TARGET,
            partial(kernel.add, image, pixel_id),
            floor_of(pixel_id.astype(np.intp) - 1, n),
        )
    ]
    # 1 % hostile ids (negative, 2**31 - 1): the reject path's cost.
    bad = pixel_id.copy()
    where = rng.random(len(bad)) < BAD_FRACTION
    hostile = np.array([-1, 2**31 - 1, -(2**31)], dtype=np.int32)
    bad[where] = rng.choice(hostile, int(where.sum()))
    bad_index = np.where(where, n, bad.astype(np.intp) - 1)
    result.append(
        Case(
            "image, 1% bad ids",
            size.instrument,
            n,
            IMAGE_TARGET,
            partial(kernel.add, image, bad),
            floor_of(bad_index, n),
        )
    )
    windowed = PixelCounts(PixelRange(1, n), time_window=TOA_WINDOW)
    inside = (toa >= TOA_WINDOW[0]) & (toa < TOA_WINDOW[1])
    result.append(
        Case(
            "image, ToA window",
            size.instrument,
            n,
            IMAGE_TARGET,
            partial(windowed.add, image, pixel_id, toa),
            floor_of(np.where(inside, pixel_id.astype(np.intp) - 1, n), n),
        )
    )
    return result


def cube_case(size: Size, pixel_id: npt.NDArray[np.int32], toa: npt.NDArray[np.int32]) -> Case:
    n, n_time = size.pixels, size.cube_bins
    kernel = PixelTimeOfArrivalCounts(PixelRange(1, n), UniformBins(0, FRAME_NS, n_time))
    cube = np.zeros(kernel.shape, dtype=np.int64)
    index = (pixel_id.astype(np.intp) - 1) * n_time + time_bins(toa, n_time)
    return Case(
        f"pixel x ToA ({n_time} bins)",
        size.instrument,
        kernel.n_bins,
        CUBE_TARGET,
        partial(kernel.add, cube, pixel_id, toa),
        floor_of(index, kernel.n_bins),
    )


def typical_rois(ny: int, nx: int) -> list[Roi]:
    """Four ROIs on features of interest, about 10 % of the plane: two overlapping
    rectangles, a triangle and a 64-vertex disc."""
    return [
        Roi(shape="rectangle", x=(0.10 * nx, 0.30 * nx), y=(0.40 * ny, 0.60 * ny)),
        Roi(shape="rectangle", x=(0.25 * nx, 0.35 * nx), y=(0.50 * ny, 0.70 * ny)),
        Roi(shape="polygon", x=(0.6 * nx, 0.8 * nx, 0.8 * nx), y=(0.1 * ny, 0.1 * ny, 0.3 * ny)),
        _disc(nx / 2, ny / 2, nx * 0.08, ny * 0.08),
    ]


def large_rois(ny: int, nx: int) -> list[Roi]:
    """Four overlapping ROIs covering about 45 % of the plane: two rectangles, a
    triangle and a 64-vertex disc (the costly end: most events are in an ROI)."""
    return [
        Roi(shape="rectangle", x=(0, nx / 3), y=(0, ny / 2)),
        Roi(shape="rectangle", x=(nx / 4, nx / 2), y=(ny / 4, ny / 2)),
        Roi(shape="polygon", x=(nx / 2, nx, nx), y=(0, 0, ny / 3)),
        _disc(nx / 2, ny / 2, nx / 4, ny / 4),
    ]


def _disc(x: float, y: float, rx: float, ry: float) -> Roi:
    angle = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    return Roi(shape="polygon", x=tuple(x + rx * np.cos(angle)), y=tuple(y + ry * np.sin(angle)))


def roi_case(
    size: Size,
    pixel_id: npt.NDArray[np.int32],
    toa: npt.NDArray[np.int32],
    rois: list[Roi],
) -> Case:
    """ROI spectra as a detector view pays for them: the region of every event (which
    checks its pixel id), its ToA bin (which checks its time), folding regions into the
    spectra of overlapping ROIs. The floor is ``bincount`` on the precomputed (region,
    ToA bin) index of all events (events in no ROI in a bin of their own). The name
    gives the share of the detector's pixels (and, events being uniform, of its
    events) that lie in some ROI."""
    plane, n_time = size.plane, 100
    spectra = RoiSpectra(
        source_name="bench", shape=plane, first_pixel_id=1, params=RoiSpectrumParams(bins=n_time)
    )
    spectra.apply(
        {
            "roi_rectangle": _update("rectangle", rois[:2]),
            "roi_polygon": _update("polygon", rois[2:]),
        }
    )
    regions = partition([select_pixels(roi, plane) for roi in rois], plane, max_regions=64)
    groups = regions.labels.reshape(-1).astype(np.intp)
    coverage = np.count_nonzero(groups != regions.n_regions) / groups.size
    index = groups[pixel_id - 1] * n_time + time_bins(toa, n_time)
    n_bins = (regions.n_regions + 1) * n_time
    return Case(
        f"ROI spectra ({coverage:.0%} in ROIs)",
        size.instrument,
        n_bins,
        SPECTRUM_TARGET,
        partial(spectra.add, 0, pixel_id, toa),
        floor_of(index, n_bins),
    )


def _update(shape: Literal["rectangle", "polygon"], rois: list[Roi]) -> RoiUpdate:
    job_id = JobId(source_name="bench", job_number=uuid.UUID(int=0))
    return RoiUpdate(job_id=job_id, shape=shape, rois=dict(enumerate(rois)))


def spectrum_cases(toa: npt.NDArray[np.int32]) -> list[Case]:
    result = []
    for n_bins in (100, 1000, 10_000):
        kernel = TimeOfArrivalSpectrum(UniformBins(0, FRAME_NS, n_bins))
        out = np.zeros(n_bins, dtype=np.int64)
        result.append(
            Case(
                f"ToA spectrum ({n_bins} bins)",
                "monitor",
                n_bins,
                SPECTRUM_TARGET,
                partial(kernel.add, out, toa),
                floor_of(time_bins(toa, n_bins), n_bins),
            )
        )
    return result


def cases(n_events: int, only: str) -> list[Case]:
    """The benchmark cases, built lazily per size so only one size's arrays live at once."""
    rng = np.random.default_rng(20_260_521)
    toa = rng.integers(0, FRAME_NS, n_events, dtype=np.int32)
    result: list[Case] = spectrum_cases(toa)
    for size in SIZES:
        pixel_id = rng.integers(1, size.pixels + 1, n_events, dtype=np.int32)
        result += image_cases(size, pixel_id, toa, rng)
        result.append(cube_case(size, pixel_id, toa))
        result.append(roi_case(size, pixel_id, toa, typical_rois(*size.plane)))
        result.append(roi_case(size, pixel_id, toa, large_rois(*size.plane)))
    return [c for c in result if only in f"{c.kernel} {c.instrument}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=float, default=1e7, help="events per run")
    parser.add_argument("--repeats", type=int, default=9, help="runs per figure (median)")
    parser.add_argument("--only", default="", help="only cases whose name contains this")
    args = parser.parse_args()
    n_events = int(args.events)
    print(
        f"{n_events:.0e} events per run, median of {args.repeats} runs, "
        "events per CPU-second (one core)"
    )
    print(
        f"{'kernel':<32}{'instrument':<10}{'bins':>12}{'ours':>9}{'bincount':>10}"
        f"{'ratio':>7}{'target':>8}"
    )
    below = []
    for case in cases(n_events, args.only):
        ours, floor, ratio = measure(case, n_events, args.repeats)
        verdict = "PASS" if ratio >= case.target else "BELOW"
        if verdict == "BELOW":
            below.append(f"{case.kernel} {case.instrument}")
        print(
            f"{case.kernel:<32}{case.instrument:<10}{case.n_bins:>12,}{ours / 1e6:>7.0f} M"
            f"{floor / 1e6:>8.0f} M{ratio:>7.2f}{case.target:>8.1f}  {verdict}",
            flush=True,
        )
    print(f"\n{len(below)} below target" + (": " + "; ".join(below) if below else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
