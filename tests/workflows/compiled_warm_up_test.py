"""The compiled loops are loaded in the background when a kernel is built, for exactly
the argument types the kernels then pass with a window's events, so a job's first
window compiles nothing."""

import subprocess
import sys

WARM_THEN_COUNT = """
import numpy as np
from livedata.workflows import compiled_warm_up
from livedata.workflows.group_histogram import PixelGroupTimeOfArrivalCounts
from livedata.workflows.histogram import PixelRange, UniformBins
from livedata.workflows.mapped_counts import MappedPixelCounts
from livedata.workflows.pixel_counts import PixelCounts

pixels = PixelRange(1, 70_000)
image = PixelCounts(pixels)
assert compiled_warm_up.wait_for_warm_up(timeout=120), "warm-up did not finish"
from livedata.workflows import compiled_loops as loops

LOOPS = (loops.count_pixels, loops.count_through_table, loops.count_pixel_groups)
warm = [len(loop.signatures) for loop in LOOPS]
assert all(warm), warm


def count_everything(ids, toa):
    image.add(np.zeros(pixels.count, dtype=np.int64), ids)
    windowed = PixelCounts(pixels, time_window=(0, 500))
    windowed.add(np.zeros(pixels.count, dtype=np.int64), ids, toa)
    for n_bins in (10, 70_000):  # uint16 and uint32 tables
        table = np.arange(pixels.count) % (n_bins + 1)
        weights = np.ones(pixels.count)
        for window in (None, (0, 500)):
            view = MappedPixelCounts(pixels, table, n_bins, time_window=window, weights=weights)
            view.add(np.zeros(n_bins, dtype=np.int64), ids, toa)
            view.add_weighted(np.zeros(n_bins), np.zeros(n_bins), ids, toa)
    groups = np.arange(pixels.count) % 3
    for n_bins in (100, 30_000):  # 16- and 32-bit row offsets
        bins = UniformBins(0, 1000, n_bins)
        rois = PixelGroupTimeOfArrivalCounts(pixels, groups, 3, bins, skipped_group=2)
        rois.add(np.zeros(rois.shape, dtype=np.int64), ids, toa)


def ev44(values):  # ev44 arrays are read-only views into the message
    return np.frombuffer(np.asarray(values, dtype=np.int32).tobytes(), dtype=np.int32)


rng = np.random.default_rng(1)
ids, toa = ev44(rng.integers(0, 70_010, 5000)), ev44(rng.integers(0, 1000, 5000))
count_everything(ids, toa)
count_everything(ids.copy(), toa.copy())  # a window's parts joined: writable arrays
after = [len(loop.signatures) for loop in LOOPS]
assert after == warm, f"compiled again in the first window: {warm} -> {after}"
print("warm", warm)
"""


def test_a_kernel_warms_up_every_loop_for_a_windows_events() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WARM_THEN_COUNT], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warm" in done.stdout
