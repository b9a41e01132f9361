"""Camera frames (ad00) for fake area detectors: a moving blob on noise, pure numpy.

The noise is drawn once into a pool a little longer than a frame; each frame starts at
a random offset into it, so frames differ without drawing a frame's worth of random
numbers each time. The blob circles the image and is computed only in a window
around it, so a frame costs about one copy of the image.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from livedata.config.instrument import AreaDetector
from livedata.core.values import AreaFrame
from livedata.services.fake_producers.pacing import NS_PER_S

MAX_FRAME_RATE_HZ = 14.0
"""Frames are produced on the pulse loop, so at most one per pulse."""

BACKGROUND_COUNTS = 20.0
"""Mean of the Poisson noise in every pixel."""

BLOB_PEAK_COUNTS = 2000.0
BLOB_SIGMA = 0.04
"""Blob width as a fraction of the image's shorter side."""

ORBIT_RADIUS = 0.3
"""Radius of the blob's circle as a fraction of each side."""

ORBIT_PERIOD_S = 20.0
"""The blob goes round once in this time: moving, but slowly enough to follow by eye."""

NOISE_SHIFT = 1 << 18
"""Extra noise pixels beyond one frame: the range of random offsets (512 KB of uint16)."""

_UINT16_MAX = float(np.iinfo(np.uint16).max)


class AreaFrameGenerator:
    """Frames of one area detector at ``frame_rate_hz``, on a grid in wall-clock time."""

    def __init__(
        self, detector: AreaDetector, *, frame_rate_hz: float, rng: np.random.Generator
    ) -> None:
        if not (math.isfinite(frame_rate_hz) and 0 < frame_rate_hz <= MAX_FRAME_RATE_HZ):
            raise ValueError(
                f"frame rate must be in (0, {MAX_FRAME_RATE_HZ:g}] Hz, not {frame_rate_hz}"
            )
        if min(detector.shape) <= 0:
            raise ValueError(f"area detector {detector.name}: empty shape {detector.shape}")
        self.detector = detector
        self._period_ns = round(NS_PER_S / frame_rate_hz)
        self._rng = rng
        n_pixels = math.prod(detector.shape)
        self._shift = min(n_pixels, NOISE_SHIFT)
        self._noise = rng.poisson(BACKGROUND_COUNTS, size=n_pixels + self._shift).astype(np.uint16)
        self._last_tick: int | None = None
        self._next_id = 1

    def poll(self, now_ns: int) -> AreaFrame | None:
        """The frame due at ``now_ns``, if any; a late caller gets only the latest one."""
        tick = now_ns // self._period_ns
        if self._last_tick is not None and tick <= self._last_tick:
            return None
        self._last_tick = tick
        time = tick * self._period_ns
        frame = AreaFrame(unique_id=self._next_id, time=time, data=self.image_at(time))
        self._next_id = self._next_id % np.iinfo(np.int32).max + 1  # ad00 ids are int32
        return frame

    def blob_centre(self, time_ns: int) -> tuple[float, float]:
        """Row and column of the blob's centre at ``time_ns``."""
        rows, cols = self.detector.shape
        angle = 2 * math.pi * ((time_ns / NS_PER_S) % ORBIT_PERIOD_S) / ORBIT_PERIOD_S
        return (
            rows / 2 + ORBIT_RADIUS * rows * math.sin(angle),
            cols / 2 + ORBIT_RADIUS * cols * math.cos(angle),
        )

    def image_at(self, time_ns: int) -> npt.NDArray[np.uint16]:
        rows, cols = self.detector.shape
        start = int(self._rng.integers(0, self._shift))
        image = self._noise[start : start + rows * cols].reshape(rows, cols).copy()
        cy, cx = self.blob_centre(time_ns)
        sigma = max(1.0, BLOB_SIGMA * min(rows, cols))
        r0, r1 = max(0, int(cy - 4 * sigma)), min(rows, int(cy + 4 * sigma) + 1)
        c0, c1 = max(0, int(cx - 4 * sigma)), min(cols, int(cx + 4 * sigma) + 1)
        gy = np.exp(-0.5 * ((np.arange(r0, r1) + 0.5 - cy) / sigma) ** 2)
        gx = np.exp(-0.5 * ((np.arange(c0, c1) + 0.5 - cx) / sigma) ** 2)
        window = image[r0:r1, c0:c1]
        blob = window + BLOB_PEAK_COUNTS * np.outer(gy, gx)
        window[...] = np.minimum(blob, _UINT16_MAX).astype(np.uint16)
        return image
